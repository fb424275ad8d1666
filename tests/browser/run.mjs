// The web app in a real browser (Debian's headless Chromium, driven by playwright-core) against a
// running node on its embedded chain. Each investor's browser has a wallet injected as
// `window.ethereum`: an EIP-1193 provider that signs with the investor's own key here and sends
// to the node's JSON-RPC endpoint.
//
// An operator adds and tokenizes a property and approves applications in the page; an investor
// from the US connects, signs in, applies, is shown as eligible, buys shares (checked against the
// books through the API, not only the page) and claims a distribution; an investor from Canada
// sees the reason sentence and no buy button. Screenshots go to --shots.
//
// Usage: node tests/browser/run.mjs --api URL --rpc URL --admin-key KEY --shots DIR

import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { createPublicClient, createWalletClient, defineChain, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const { api: apiUrl, rpc: rpcUrl, shots } = args;
const adminKey = args["admin-key"];
if (!apiUrl || !rpcUrl || !adminKey || !shots) {
  throw new Error("usage: run.mjs --api URL --rpc URL --admin-key KEY --shots DIR");
}
mkdirSync(shots, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function api(method, path, body, token = adminKey) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${apiUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function until(what, f, tries = 240) {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function confirmed(actions) {
  for (const a of actions) {
    const id = typeof a === "string" ? a : a.id;
    const done = await until(`action ${id}`, async () => {
      const s = await api("GET", `/v1/actions/${id}`);
      return s.status === "confirmed" || s.status === "failed" ? s : null;
    });
    check(done.status === "confirmed", `action ${id} confirmed: ${JSON.stringify(done)}`);
  }
}

const network = await api("GET", "/v1/network");
const chain = defineChain({
  id: network.chain_id,
  name: "PropLedger",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});
const reader = createPublicClient({ chain, transport: http(rpcUrl) });

/// An address's test dollars, in base units.
async function usdOf(address) {
  return reader.readContract({
    address: network.contracts.settlement_token,
    abi: [
      {
        type: "function",
        name: "balanceOf",
        stateMutability: "view",
        inputs: [{ type: "address" }],
        outputs: [{ type: "uint256" }],
      },
    ],
    functionName: "balanceOf",
    args: [address],
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/// A browser context with a wallet of `key` injected, and what it signed.
async function walletContext(key) {
  const account = privateKeyToAccount(key);
  const signer = createWalletClient({ account, chain, transport: http(rpcUrl) });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.exposeFunction("__propledgerWallet", async (method, paramsJson) => {
    const params = JSON.parse(paramsJson);
    try {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return JSON.stringify({ result: [account.address] });
        case "eth_chainId":
          return JSON.stringify({ result: `0x${network.chain_id.toString(16)}` });
        case "wallet_switchEthereumChain":
        case "wallet_addEthereumChain":
          return JSON.stringify({ result: null });
        case "personal_sign":
          return JSON.stringify({ result: await account.signMessage({ message: { raw: params[0] } }) });
        case "eth_sendTransaction": {
          const t = params[0];
          const hash = await signer.sendTransaction({
            to: t.to,
            data: t.data,
            value: BigInt(t.value ?? "0x0"),
            gas: t.gas ? BigInt(t.gas) : undefined,
          });
          return JSON.stringify({ result: hash });
        }
        default:
          return JSON.stringify({ result: await reader.request({ method, params }) });
      }
    } catch (e) {
      return JSON.stringify({ error: { code: e.code ?? -32603, message: String(e.shortMessage ?? e.message) } });
    }
  });
  await context.addInitScript(() => {
    window.ethereum = {
      isPropLedgerTestWallet: true,
      async request({ method, params }) {
        const out = JSON.parse(await window.__propledgerWallet(method, JSON.stringify(params ?? [])));
        if (out.error) {
          const e = new Error(out.error.message);
          e.code = out.error.code;
          throw e;
        }
        return out.result;
      },
      on() {},
      removeListener() {},
    };
  });
  return { context, account };
}

async function shot(page, name) {
  for (const [label, size] of [
    ["desktop", { width: 1280, height: 900 }],
    ["phone", { width: 390, height: 844 }],
  ]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(shots, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

const failures = [];
const pages = [];
const requests = [];
function watch(page, who) {
  pages.push(page);
  page.on("pageerror", (e) => failures.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    // A 404 of an optional read (a property not yet tokenized) is logged by the browser, not
    // the page.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      failures.push(`${who}: console error: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    if (r.url().includes("/v1/")) requests.push(`${who}: ${r.request().method()} ${r.url()} ${r.status()}`);
  });
}

try {
  // The operator adds a property with its deed and tokenizes it: ten shares at 100 USD.
  const staff = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const op = await staff.newPage();
  watch(op, "operator");
  await op.goto(`${apiUrl}/#/staff`);
  await op.getByLabel("API key").fill(adminKey);
  await op.getByRole("button", { name: "Sign in" }).first().click();
  await op.getByRole("heading", { name: "Properties" }).waitFor();
  await op.getByRole("link", { name: "Add a property" }).click();
  await op.getByLabel("Street").fill("77 Browser Lane");
  await op.getByLabel("City").fill("Springfield");
  await op.getByLabel("State").fill("IL");
  await op.getByLabel("Postal code").fill("62701");
  await op.getByLabel("List price (USD)").fill("250000.00");
  await op.getByLabel("Deed (PDF)").setInputFiles({
    name: "deed.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.7 a browser test's deed"),
  });
  await op.getByRole("button", { name: "Add" }).click();
  await op.getByRole("heading", { name: /77 Browser Lane/ }).waitFor();
  const property = op.url().split("/").pop();
  await op.getByLabel("Share name").fill("Browser Lane Shares");
  await op.getByLabel("Symbol").fill("BRL");
  await op.getByLabel("Parcel id").fill("111-222-333");
  await op.getByLabel("Shares for sale").fill("10");
  await op.getByLabel("Most per investor").fill("10");
  await op.getByLabel("Soft cap (USD)").fill("100");
  await op.getByRole("button", { name: "Tokenize" }).click();
  await op.getByText("Tokenization queued").waitFor();
  const tokenization = await until("tokenization", async () => {
    const t = await api("GET", `/v1/properties/${property}/tokenization`);
    return t.contracts?.offering ? t : null;
  });
  const { offering, shares } = tokenization.contracts;
  // Only US investors. The share token is known once the index has read its deployment, which
  // may trail the tokenization's confirmation: until then the rules are refused with 404.
  const rules = await until("the share token in the index", async () => {
    try {
      return await api("PUT", `/v1/tokens/${shares}/rules`, {
        accredited_only: false,
        countries_restricted: true,
        allowed_countries: ["US"],
        max_investors: 0,
        lockup_until: null,
        max_balance_per_investor: "0",
        min_holding: "0",
      });
    } catch (e) {
      if (String(e.message).includes(": 404 ")) return null;
      throw e;
    }
  });
  await confirmed(rules.actions);
  await until("the index", async () => (await api("GET", `/v1/offerings/${offering}`)).status === "open");

  // Investors: a wallet each, funded by the dev chain's faucet.
  async function investor(name, country) {
    const { context, account } = await walletContext(generatePrivateKey());
    const page = await context.newPage();
    watch(page, name);
    await page.goto(`${apiUrl}/`);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByRole("heading", { name: "Offerings" }).waitFor();
    // The development chain's faucet, from the page: 10,000 test dollars and gas money.
    await page.getByRole("link", { name: "Portfolio" }).click();
    await page.getByRole("button", { name: "Get test funds" }).click();
    await page.getByText("Test funds are on their way").waitFor();
    await until(`${name}'s test dollars`, async () => (await usdOf(account.address)) === 10_000_000_000n);
    await page.getByRole("link", { name: "Application" }).click();
    await page.getByLabel("Legal name").fill(`${name} Browser`);
    await page.getByLabel("Email").fill(`${name.toLowerCase()}@example.com`);
    await page.getByLabel("Country (two letters)").fill(country);
    await page.getByLabel("I am an accredited investor").check();
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("heading", { name: "Your application" }).waitFor();
    await page.getByLabel("File").setInputFiles({
      name: "passport.pdf",
      mimeType: "application/pdf",
      buffer: Buffer.from(`%PDF-1.7 ${name}'s passport`),
    });
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("cell", { name: "passport.pdf" }).waitFor();
    // The operator approves the application in the page.
    await op.goto(`${apiUrl}/#/staff/applications`);
    await op.reload();
    const row = op.getByRole("row", { name: new RegExp(`${name} Browser`) });
    await row.getByRole("button", { name: "Approve" }).click();
    await row.waitFor({ state: "detached" });
    const inv = (await api("GET", "/v1/investors?status=approved&limit=200")).items.find(
      (i) => i.legal_name === `${name} Browser`,
    );
    check(inv, `${name} approved`);
    const detail = await api("GET", `/v1/investors/${inv.id}`);
    await confirmed(detail.actions);
    return { page, account, investor: inv };
  }

  const ada = await investor("Ada", "US");
  // Chen, from Canada: the reason and no buy button (while the offering is open).
  const chen = await investor("Chen", "CA");
  await chen.page.goto(`${apiUrl}/#/offerings/${offering}`);
  const reason = await chen.page.locator("#reason").textContent({ timeout: 30_000 });
  check(/country/i.test(reason) && /code 7/.test(reason), `Chen's reason: ${reason}`);
  check((await chen.page.getByRole("button", { name: "Buy shares" }).count()) === 0, "no buy button for Chen");
  await shot(chen.page, "investor-not-eligible");

  await ada.page.goto(`${apiUrl}/#/offerings/${offering}`);
  await ada.page.getByText("You may buy in this offering.").waitFor();
  // The offering's documents: the deed, downloadable.
  await ada.page.getByRole("cell", { name: "deed.pdf" }).waitFor();
  const [saved] = await Promise.all([
    ada.page.waitForEvent("download"),
    ada.page.getByRole("button", { name: "Download" }).first().click(),
  ]);
  check(saved.suggestedFilename() === "deed.pdf", `downloaded ${saved.suggestedFilename()}`);
  await shot(ada.page, "investor-offering");
  await ada.page.getByLabel("Shares to buy").fill("10");
  await ada.page.getByRole("button", { name: "Buy shares" }).click();
  await ada.page.getByText("Your shares are booked.").waitFor({ timeout: 60_000 });
  // The books, not only the page: Ada's capital account holds the 1,000 she paid.
  const capital = await until("Ada's capital in the books", async () => {
    const c = await api("GET", `/v1/books/${property}/capital-accounts`);
    return c.accounts?.find((a) => Number(a.contributed.amount) === 1000) ? c : null;
  });
  check(capital, "capital account");

  // Sold out: finalized; the operator declares a distribution of 100 in the page.
  const fin = await api("POST", `/v1/offerings/${offering}/finalize`, {});
  await confirmed([fin]);
  await op.goto(`${apiUrl}/#/staff/properties/${property}`);
  await op.getByLabel("Amount (USD)").fill("100.00");
  await op.getByRole("button", { name: "Declare" }).click();
  const declared = await op.getByText(/Distribution .* declared/).textContent();
  const distribution = declared.split(" ")[1];
  await until("the distribution funded", async () => {
    const d = await api("GET", `/v1/distributions/${distribution}`);
    return d.status === "funded";
  });

  // A rehab project with a draw another operator requested: the operator approves and releases
  // it in the page; the treasury pays the contractor.
  const requester = (
    await api("POST", "/v1/api-keys", { name: "browser requester", role: "operator", service: "browser-requester" })
  ).secret;
  const deal = await api(
    "POST",
    "/v1/deals",
    { property_id: property, strategy: "hold", purchase_price: { amount: "250000.00", currency: "USD" } },
    requester,
  );
  const project = await api("POST", "/v1/rehab-projects", { deal_id: deal.id }, requester);
  const line = await api(
    "POST",
    `/v1/rehab-projects/${project.id}/lines`,
    { category: "roof", budget: { amount: "500.00", currency: "USD" } },
    requester,
  );
  await confirmed(line.budget_actions);
  const payee = privateKeyToAccount(generatePrivateKey()).address;
  const contractor = await api(
    "POST",
    "/v1/contractors",
    {
      company: "Browser Roofing",
      trade: "roofing",
      contact_name: "Sam",
      email: "sam@example.com",
      license_number: "L-7",
      license_expires_on: "2099-01-01",
      insurance_expires_on: "2099-01-01",
      rating: 4,
      payout_wallet: payee,
    },
    requester,
  );
  const bid = await api(
    "POST",
    `/v1/rehab-lines/${line.id}/bids`,
    { contractor_id: contractor.id, amount: { amount: "450.00", currency: "USD" }, scope: "new roof", valid_until: "2099-01-01" },
    requester,
  );
  await api("POST", `/v1/rehab-bids/${bid.id}/accept`, {}, requester);
  const form = new FormData();
  form.append("kind", "invoice");
  form.append("file", new Blob([Buffer.from("%PDF-1.7 invoice 1")], { type: "application/pdf" }), "invoice-1.pdf");
  const invoice = await (
    await fetch(`${apiUrl}/v1/properties/${property}/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${requester}` },
      body: form,
    })
  ).json();
  const draw = await api(
    "POST",
    `/v1/rehab-lines/${line.id}/draws`,
    { contractor_id: contractor.id, amount: { amount: "300.00", currency: "USD" }, invoice_document_id: invoice.id },
    requester,
  );
  await op.goto(`${apiUrl}/#/staff/properties/${property}`);
  await op.reload();
  await op.getByRole("button", { name: "Approve" }).click();
  await op.getByText("Draw approved.").waitFor();
  await op.getByRole("button", { name: "Release" }).click();
  await op.getByText("Draw released").waitFor();
  const released = await until("the draw released", async () => {
    const v = await api("GET", `/v1/rehab-projects/${project.id}`);
    const d = v.draws.find((x) => x.id === draw.id);
    return d?.status === "released" && d.action_id ? d : null;
  });
  await confirmed([released.action_id]);
  const contractorPaid = await usdOf(payee);
  check(contractorPaid === 300_000_000n, `the contractor's balance ${contractorPaid}`);
  await op.reload();
  await op.getByRole("heading", { name: "Rehab budget" }).waitFor();
  await shot(op, "operator-property");

  // Ada claims it in her portfolio.
  await ada.page.goto(`${apiUrl}/#/portfolio`);
  await ada.page.getByRole("cell", { name: "10" }).first().waitFor();
  await shot(ada.page, "investor-portfolio");
  await ada.page.getByRole("button", { name: "Claim" }).click();
  await ada.page.getByText("Done.").waitFor({ timeout: 60_000 });
  // A transfer to Chen is refused before anything is signed: the compliance pre-check's
  // sentence is shown.
  await ada.page.goto(`${apiUrl}/#/portfolio`);
  await ada.page.reload();
  await ada.page.getByLabel("To wallet").fill(chen.account.address);
  await ada.page.getByLabel("Number of shares").fill("1");
  await ada.page.getByRole("button", { name: "Transfer" }).click();
  const refusal = await ada.page.locator(".status.error").first().textContent({ timeout: 30_000 });
  check(/country/i.test(refusal), `the transfer's refusal: ${refusal}`);
  // The statement, as CSV.
  const [statement] = await Promise.all([
    ada.page.waitForEvent("download"),
    ada.page.getByRole("button", { name: "Download statement (CSV)" }).click(),
  ]);
  check(statement.suggestedFilename() === "statement.csv", `statement ${statement.suggestedFilename()}`);
  const csvText = await (await import("node:fs/promises")).readFile(await statement.path(), "utf8");
  check(csvText.startsWith("property,contributed,"), `statement: ${csvText}`);
  // This year's tax statement: the distribution she was owed, all of it returning capital.
  const [tax] = await Promise.all([
    ada.page.waitForEvent("download"),
    ada.page.getByRole("button", { name: "Download tax statement (CSV)" }).click(),
  ]);
  const taxText = await (await import("node:fs/promises")).readFile(await tax.path(), "utf8");
  const total = taxText.split("\n").find((l) => l.includes(",total,"));
  check(total && total.split(",")[7] === "100" && total.split(",")[9] === "100", `tax statement: ${taxText}`);
  const register = await until("the claim", async () => {
    const r = await api("GET", `/v1/distributions/${distribution}/register`);
    return r.holders.find((l) => l.holder.toLowerCase() === ada.account.address.toLowerCase() && l.claim === "paid")
      ? r
      : null;
  });
  check(register, "Ada's claim paid");
  const paid = await usdOf(ada.account.address);
  // 10,000 from the faucet, 1,000 for the shares, 100 back.
  check(paid === 9_100_000_000n, `Ada's balance ${paid}`);

  // The market: Ada offers 5 of her shares at 105 from the page, Bea (from the US) buys 4 of them
  // from hers, and Ada cancels the one left. Both balances move by the exact amounts (a fee of
  // 0.25% out of Ada's proceeds), and Ada's page shows what the sale realized.
  await until("the market listing", async () => (await api("GET", `/v1/market/orders?token=${shares}`)).listed);
  const bea = await investor("Bea", "US");
  await ada.page.goto(`${apiUrl}/#/offerings/${offering}`);
  await ada.page.getByRole("link", { name: "Trade these shares on the market" }).click();
  await ada.page.getByRole("heading", { name: "Market" }).waitFor();
  await ada.page.getByLabel("Side").selectOption("sell");
  await ada.page.getByLabel("Number of shares").fill("5");
  await ada.page.getByLabel("Price per share (USD)").fill("105");
  await ada.page.getByRole("button", { name: "Place order" }).click();
  await ada.page.getByText("Your order is on the market.").waitFor({ timeout: 60_000 });
  await bea.page.goto(`${apiUrl}/#/market/${shares}`);
  await bea.page.getByRole("cell", { name: "105 USD" }).waitFor();
  await bea.page.getByLabel("Shares to take (empty: all)").fill("4");
  await bea.page.getByRole("button", { name: "Buy", exact: true }).click();
  await bea.page.getByText("Your trade is booked.").waitFor({ timeout: 60_000 });
  await bea.page.getByRole("cell", { name: "Bought" }).waitFor();
  await shot(bea.page, "investor-market");
  check((await usdOf(bea.account.address)) === 9_580_000_000n, "Bea paid 420");
  const proceeds = await usdOf(ada.account.address);
  check(proceeds === 9_518_950_000n, `Ada's balance after the sale ${proceeds}`);
  await ada.page.goto(`${apiUrl}/#/market/${shares}`);
  await ada.page.reload();
  const realized = await ada.page.locator("#realized").textContent();
  check(realized.includes("18.95 USD"), `Ada's realized gain: ${realized}`);
  await ada.page.getByRole("button", { name: "Cancel" }).click();
  await ada.page.getByText("Your order is cancelled.").waitFor({ timeout: 60_000 });
  const book = await api("GET", `/v1/market/orders?token=${shares}`);
  check(book.orders.length === 0, `the book after the cancel: ${JSON.stringify(book.orders)}`);

  // The audit page: the books' checks, the reconciliation and the property verified against the
  // chain, all clean.
  await op.goto(`${apiUrl}/#/staff/audit`);
  await op.getByRole("heading", { name: "Audit" }).waitFor();
  await op.locator("caption", { hasText: "Reconciliation at block" }).waitFor({ timeout: 60_000 });
  await op.getByLabel("Property").selectOption(property);
  await op.getByRole("button", { name: "Verify" }).click();
  await op.locator("caption", { hasText: "Blocks " }).waitFor({ timeout: 60_000 });
  const findings = await op.getByText("Findings: see below.").count();
  check(findings === 0, `the audit page has ${findings} sections with findings: ${await op.locator("main").innerText()}`);
  check((await op.getByText("Clean.").count()) >= 3, "clean checks on the audit page");
  await shot(op, "auditor-audit");

  check(failures.length === 0, failures.join("\n"));
  console.log(JSON.stringify({ ok: true, property, offering, distribution }));
} catch (e) {
  // What each page showed when it failed.
  for (const [i, p] of pages.entries()) {
    try {
      const path = join(tmpdir(), `propledger-browser-failure-${i}.png`);
      await p.screenshot({ path, fullPage: true });
      console.error(`(screenshot: ${path})`);
      console.error(`--- page ${i} (${p.url()}):\n${await p.locator("body").innerText()}`);
    } catch {
      // The page is gone.
    }
  }
  console.error(failures.join("\n"));
  console.error(requests.join("\n"));
  throw e;
} finally {
  await browser.close();
}
