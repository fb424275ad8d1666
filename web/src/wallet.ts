// The investor's own wallet, through the EIP-1193 provider a browser extension injects.

interface Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<any>;
}

declare global {
  interface Window {
    ethereum?: Provider;
  }
}

export class WalletError extends Error {}

function provider(): Provider {
  if (!window.ethereum) {
    throw new WalletError(
      "No wallet found in this browser. Install a wallet extension such as MetaMask or Rabby, then reload.",
    );
  }
  return window.ethereum;
}

export async function connect(): Promise<string> {
  const accounts: string[] = await provider().request({ method: "eth_requestAccounts" });
  if (!accounts || accounts.length === 0) throw new WalletError("The wallet shared no account.");
  return accounts[0];
}

export interface Network {
  chain_id: number;
  name?: string;
  rpc_url: string;
}

/// Switches the wallet to the platform's chain, adding it first when the wallet does not know it.
export async function useChain(net: Network): Promise<void> {
  const p = provider();
  const chainId = `0x${net.chain_id.toString(16)}`;
  const current: string = await p.request({ method: "eth_chainId" });
  if (parseInt(current, 16) === net.chain_id) return;
  try {
    await p.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (e: any) {
    if (e?.code !== 4902) throw e;
    await p.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId,
          chainName: net.name || "PropLedger",
          rpcUrls: [net.rpc_url],
          nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        },
      ],
    });
  }
}

function hexOf(text: string): string {
  return (
    "0x" +
    Array.from(new TextEncoder().encode(text))
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")
  );
}

export async function signMessage(address: string, text: string): Promise<string> {
  return provider().request({ method: "personal_sign", params: [hexOf(text), address] });
}

export interface UnsignedTx {
  description: string;
  from: string;
  to: string;
  data: string;
  value: string;
  gas?: number;
}

/// Sends one prepared transaction from the wallet: its hash.
export async function send(tx: UnsignedTx): Promise<string> {
  const params: Record<string, string> = {
    from: tx.from,
    to: tx.to,
    data: tx.data,
    value: `0x${BigInt(tx.value || "0").toString(16)}`,
  };
  if (tx.gas) params.gas = `0x${tx.gas.toString(16)}`;
  return provider().request({ method: "eth_sendTransaction", params: [params] });
}

/// Waits for a transaction's receipt: whether it succeeded, and its block.
export async function mined(hash: string): Promise<{ ok: boolean; block: number }> {
  for (let i = 0; i < 600; i++) {
    const r = await provider().request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (r) return { ok: r.status === "0x1", block: parseInt(r.blockNumber, 16) };
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new WalletError("The transaction was not mined in five minutes.");
}
