// Sign-In with Ethereum (EIP-4361): the message the API asks the wallet to sign.
import { keccak_256 } from "@noble/hashes/sha3";

/// The address with its EIP-55 checksum.
export function checksum(address: string): string {
  const hex = address.toLowerCase().replace(/^0x/, "");
  const hash = keccak_256(new TextEncoder().encode(hex));
  let out = "0x";
  for (let i = 0; i < hex.length; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
  }
  return out;
}

export interface Grant {
  domain: string;
  uri: string;
  statement: string;
  chain_id: number;
  nonce: string;
}

/// RFC 3339 in UTC without fractions, as the API writes times.
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function message(g: Grant, address: string, now: Date = new Date()): string {
  const expires = new Date(now.getTime() + 10 * 60 * 1000);
  return [
    `${g.domain} wants you to sign in with your Ethereum account:`,
    checksum(address),
    "",
    g.statement,
    "",
    `URI: ${g.uri}`,
    "Version: 1",
    `Chain ID: ${g.chain_id}`,
    `Nonce: ${g.nonce}`,
    `Issued At: ${rfc3339(now)}`,
    `Expiration Time: ${rfc3339(expires)}`,
  ].join("\n");
}
