// The investor's pages: sign in with the wallet, apply, offerings with eligibility, buying,
// holdings, distributions and claims, transfers, refunds, statements.

import { ApiError, blob, call, get, post, session, setSession } from "./api";
import { message } from "./siwe";
import { chart, h, field, propertyLabel, short, show, status, table } from "./ui";
import * as wallet from "./wallet";

/// Signs in with the wallet (EIP-4361), switching it to the platform's chain first.
export async function signIn(note: HTMLElement): Promise<void> {
  note.textContent = "Waiting for the wallet…";
  const address = await wallet.connect();
  const net = await get("/v1/network");
  await wallet.useChain({ chain_id: net.chain_id, rpc_url: net.rpc_url, name: "PropLedger" });
  const grant = await post("/v1/auth/siwe/nonce");
  const text = message(grant, address);
  note.textContent = "Sign the message in your wallet to sign in.";
  const signature = await wallet.signMessage(address, text);
  const s = await post("/v1/auth/siwe/verify", { message: text, signature });
  setSession(s.token, "investor");
  sessionStorage.setItem("propledger.wallet", address);
  location.hash = "#/offerings";
}

/// Runs prepared transactions through the wallet one by one, reporting progress in `log`;
/// then waits until the index has read the last one's block (`booked`).
export async function runPrepared(prepared: any, log: HTMLElement): Promise<boolean> {
  for (const tx of prepared.transactions as wallet.UnsignedTx[]) {
    const line = h("li", {}, `${tx.description}: waiting for your signature…`);
    log.append(line);
    const hash = await wallet.send(tx);
    line.textContent = `${tx.description}: pending (${short(hash)})`;
    const r = await wallet.mined(hash);
    if (!r.ok) {
      line.textContent = `${tx.description}: the chain refused it (${short(hash)}).`;
      line.className = "error";
      return false;
    }
    line.textContent = `${tx.description}: mined in block ${r.block}`;
    line.dataset.block = String(r.block);
  }
  const last = Number((log.lastElementChild as HTMLElement | null)?.dataset.block || 0);
  const booked = h("li", {}, "Waiting for the books…");
  log.append(booked);
  for (let i = 0; i < 240; i++) {
    const me = await get("/v1/me");
    if (me.block_number >= last) {
      booked.textContent = "Booked.";
      booked.className = "ok";
      return true;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  booked.textContent = "Mined, but the books have not caught up yet; check again shortly.";
  return true;
}

function verdictOf(me: any, offering: string): any | undefined {
  return me.offerings?.find((o: any) => o.offering.toLowerCase() === offering.toLowerCase())?.verdict;
}

export async function offerings(): Promise<void> {
  const [me, list] = await Promise.all([get("/v1/me"), get("/v1/offerings")]);
  const items: any[] = list.items ?? list;
  const rows = items.map((o: any) => {
    const v = verdictOf(me, o.address);
    return [
      h("a", { href: `#/offerings/${o.address}` }, propertyLabel(o.property_id)),
      `${o.terms.price_per_share.amount} ${o.currency}`,
      `${o.sold.amount} of ${o.terms.shares_for_sale.amount}`,
      o.status,
      v ? (v.allowed ? "You may buy" : v.sentence) : "–",
    ];
  });
  show(
    h("h1", {}, "Offerings"),
    items.length === 0
      ? status("No offering is open right now.")
      : table("Open and past offerings", ["Property", "Price per share", "Sold", "Status", "Eligibility"], rows),
  );
}

export async function offering(address: string): Promise<void> {
  const [o, me, docs] = await Promise.all([
    get(`/v1/offerings/${address}`),
    get("/v1/me"),
    get(`/v1/offerings/${address}/documents`),
  ]);
  const v = verdictOf(me, address);
  const t = o.terms;
  const sold = Number(o.sold.amount);
  const forSale = Number(t.shares_for_sale.amount);
  const log = h("ol", { class: "progress-log", "aria-live": "polite" });
  const note = h("div", {});
  let buy: HTMLElement | null = null;
  if (v?.allowed && o.status === "open") {
    const amount = h("input", {
      type: "number",
      min: t.min_purchase.amount,
      step: "1",
      value: t.min_purchase.amount,
      required: true,
    }) as HTMLInputElement;
    const button = h("button", { type: "submit" }, "Buy shares");
    buy = h(
      "form",
      {
        class: "buy",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          note.replaceChildren();
          log.replaceChildren();
          button.setAttribute("disabled", "");
          try {
            const prepared = await post("/v1/me/purchases", { offering: address, amount: amount.value });
            note.append(
              status(`${prepared.shares.amount} shares for ${prepared.amount?.amount ?? "?"} ${o.currency}: sign each step in your wallet.`),
            );
            if (await runPrepared(prepared, log)) note.append(status("Your shares are booked.", "ok"));
          } catch (err) {
            note.append(status(errorText(err), "error"));
          } finally {
            button.removeAttribute("disabled");
          }
        },
      },
      field("Shares to buy", amount),
      button,
    );
  }
  show(
    h("h1", {}, `Offering: ${propertyLabel(o.property_id)}`),
    h("p", {}, h("a", { href: `#/market/${o.shares}` }, "Trade these shares on the market")),
    table("Terms", ["", ""], [
      ["Price per share", `${t.price_per_share.amount} ${o.currency}`],
      ["Smallest purchase", `${t.min_purchase.amount} shares`],
      ["Most per investor", `${t.max_per_investor.amount} shares`],
      ["Shares for sale", t.shares_for_sale.amount],
      ["Soft cap", `${t.soft_cap.amount} ${o.currency}`],
      ["Opens", t.opens_at],
      ["Closes", t.closes_at],
      ["Status", o.status],
    ]),
    h(
      "p",
      {},
      h("label", { for: "sold" }, `Sold: ${o.sold.amount} of ${t.shares_for_sale.amount} shares `),
      h("progress", { id: "sold", max: forSale, value: sold }, `${sold}`),
    ),
    chart(`/v1/offerings/${address}/chart`, `Chart: ${sold} of ${forSale} shares sold`, blob),
    table(
      "Documents",
      ["Kind", "File", "SHA-256", ""],
      (docs as any[]).map((d) => [
        d.kind,
        d.filename ?? d.title,
        h("code", { title: d.sha256 }, short(d.sha256)),
        h(
          "button",
          { type: "button", onclick: () => void save(d.content_url, d.filename ?? "document") },
          "Download",
        ),
      ]),
    ),
    h("h2", {}, "Your eligibility"),
    o.status !== "open"
      ? status(`This offering is not open (${o.status}).`)
      : v
        ? v.allowed
          ? status("You may buy in this offering.", "ok")
          : h("p", { class: "status error", id: "reason" }, `${v.sentence} (${v.name}, code ${v.code})`)
        : status("Your eligibility is not known yet; try again in a moment."),
    buy,
    note,
    log,
  );
}

/// The market for one property's shares: the open orders, placing an offer or a bid, taking an
/// order, cancelling one's own, and the trades (the market's and the investor's own, with what
/// each sale realized).
export async function market(token: string): Promise<void> {
  const [book, trades, mine] = await Promise.all([
    get(`/v1/market/orders?token=${token}`),
    get(`/v1/market/trades?token=${token}`),
    get("/v1/me/trades"),
  ]);
  const me = (sessionStorage.getItem("propledger.wallet") ?? "").toLowerCase();
  const log = h("ol", { class: "progress-log", "aria-live": "polite" });
  const note = h("div", {});
  const currency: string = mine.currency ?? "USD";
  // Runs one step (the API prepares, the wallet signs), then shows the page again.
  const act = async (button: HTMLElement, prepare: () => Promise<any>, done: string) => {
    note.replaceChildren();
    log.replaceChildren();
    button.setAttribute("disabled", "");
    try {
      const prepared = await prepare();
      if (await runPrepared(prepared, log)) {
        await market(token);
        document.getElementById("main")?.append(status(done, "ok"));
      }
    } catch (err) {
      note.append(status(errorText(err), "error"));
    } finally {
      button.removeAttribute("disabled");
    }
  };
  const takeAmount = h("input", { type: "number", min: "0", step: "any", required: true }) as HTMLInputElement;
  const orders = (book.orders as any[]).map((o) => {
    const own = o.maker.toLowerCase() === me;
    const button = h("button", { type: "button" }, own ? "Cancel" : o.side === "sell" ? "Buy" : "Sell");
    button.onclick = () =>
      void act(
        button,
        async () => {
          if (own) return { transactions: [await post(`/v1/me/orders/${o.id}/cancel`)] };
          const amount = takeAmount.value || o.remaining.amount;
          return post(`/v1/me/orders/${o.id}/take`, { amount });
        },
        own ? "Your order is cancelled." : "Your trade is booked.",
      );
    return [
      `${o.side === "sell" ? "Offer" : "Bid"}${own ? " (yours)" : ""}`,
      o.remaining.amount,
      `${o.price.amount} ${currency}`,
      new Date(o.expires_at * 1000).toISOString().slice(0, 10),
      book.listed ? button : "–",
    ];
  });
  const side = h(
    "select",
    {},
    h("option", { value: "sell" }, "Sell (an offer)"),
    h("option", { value: "buy" }, "Buy (a bid)"),
  ) as HTMLSelectElement;
  const amount = h("input", { type: "number", min: "0", step: "any", required: true }) as HTMLInputElement;
  const price = h("input", { type: "number", min: "0", step: "any", required: true }) as HTMLInputElement;
  const place = h("button", { type: "submit" }, "Place order");
  const form = h(
    "form",
    {
      class: "buy",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(
          place,
          () => post("/v1/me/orders", { token, side: side.value, amount: amount.value, price: price.value }),
          "Your order is on the market.",
        );
      },
    },
    field("Side", side),
    field("Number of shares", amount),
    field(`Price per share (${currency})`, price),
    place,
  );
  const own = (mine.items as any[]).filter((t) => t.token.toLowerCase() === token.toLowerCase());
  show(
    h("h1", {}, "Market"),
    status(
      book.listed
        ? `Orders settle shares against ${currency} in one transaction. The fee is ${book.fee_bps / 100}% of each payment, out of the seller's proceeds${book.approval_required ? "; each trade waits for the transfer agent's approval" : ""}.`
        : "These shares are not listed on the market yet.",
    ),
    table("Open orders", ["Side", "Shares", "Price", "Expires", ""], orders),
    book.listed && orders.length > 0 ? field("Shares to take (empty: all)", takeAmount) : null,
    h("h2", {}, "Place an order"),
    form,
    note,
    log,
    table(
      "Recent trades",
      ["Shares", "Paid", "Fee", "Block"],
      (trades.items as any[]).map((t) => [t.shares.amount, `${t.payment.amount} ${currency}`, t.fee.amount, String(t.block_number)]),
    ),
    table(
      "Your trades",
      ["Side", "Shares", "Paid", "Fee", "Cost basis", "Realized gain"],
      own.map((t) => [
        t.side === "sell" ? "Sold" : "Bought",
        t.shares.amount,
        `${t.payment.amount} ${currency}`,
        t.fee.amount,
        t.cost_basis ?? "–",
        t.realized_gain ?? "–",
      ]),
    ),
    h("p", { id: "realized" }, `Realized on all your sales: ${mine.realized_total} ${currency}`),
  );
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError || err instanceof wallet.WalletError) return err.message;
  const e = err as any;
  if (e?.code === 4001) return "You declined the request in your wallet.";
  return e?.message ? String(e.message) : String(err);
}

/// Saves a file the API serves (with the session's token).
async function save(path: string, name: string): Promise<void> {
  const b = await blob(path);
  const url = URL.createObjectURL(b);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

async function download(path: string, name: string): Promise<void> {
  const text = await call<string>("GET", path, undefined, { raw: true });
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

export async function portfolio(): Promise<void> {
  const [me, dists, statement, net] = await Promise.all([
    get("/v1/me"),
    get("/v1/me/distributions"),
    get("/v1/me/statements"),
    get("/v1/network"),
  ]);
  const log = h("ol", { class: "progress-log", "aria-live": "polite" });
  const note = h("div", {});
  const act = async (path: string, body: unknown) => {
    note.replaceChildren();
    log.replaceChildren();
    try {
      const prepared = await post(path, body);
      if (await runPrepared(prepared, log)) {
        note.append(status("Done.", "ok"));
        setTimeout(() => void portfolio(), 1000);
      }
    } catch (err) {
      note.append(status(errorText(err), "error"));
    }
  };
  const holdings = table(
    "Your shares",
    ["Property", "Wallet", "Shares", "Frozen"],
    me.holdings.map((x: any) => [propertyLabel(x.property_id), short(x.wallet), x.shares.amount, x.frozen.amount]),
  );
  const purchases = table(
    "Your purchases",
    ["Property", "Shares", "Paid", "Settled"],
    me.purchases.map((p: any) => [propertyLabel(p.property_id), p.shares.amount, p.paid.amount, p.settled ? "yes" : "pending"]),
  );
  const distRows = (dists as any[]).map((d) => {
    const claimable = Number(d.claimable.amount) > 0;
    return [
      propertyLabel(d.distribution.property),
      d.distribution.amount.amount,
      d.received.amount,
      d.claimable.amount,
      claimable
        ? h(
            "button",
            {
              type: "button",
              class: "claim",
              onclick: () => void act(`/v1/me/distributions/${d.distribution.id}/claim`, {}),
            },
            "Claim",
          )
        : "",
    ];
  });
  const refunds = me.refunds_due.map((r: any) => [
    short(r.offering),
    r.shares.amount,
    r.amount.amount,
    h("button", { type: "button", onclick: () => void act("/v1/me/refunds", { offering: r.offering }) }, "Take refund"),
  ]);
  const token = h("select", {}, ...me.holdings.map((x: any) => h("option", { value: x.token }, propertyLabel(x.property_id))));
  const to = h("input", { type: "text", placeholder: "0x…", required: true, pattern: "0x[0-9a-fA-F]{40}" }) as HTMLInputElement;
  const amount = h("input", { type: "number", min: "1", step: "1", required: true }) as HTMLInputElement;
  const transfer = h(
    "form",
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act("/v1/me/transfers", { token: (token as HTMLSelectElement).value, to: to.value, amount: amount.value });
      },
    },
    field("Shares of", token),
    field("To wallet", to),
    field("Number of shares", amount),
    h("button", { type: "submit" }, "Transfer"),
  );
  const faucetNote = h("div", {});
  const faucet = net.test_funds
    ? h(
        "p",
        {},
        h(
          "button",
          {
            type: "button",
            id: "faucet",
            onclick: async () => {
              try {
                const f = await post("/v1/me/test-funds");
                faucetNote.replaceChildren(
                  status(`Test funds are on their way: ${f.usd} test dollars and gas money.`, "ok"),
                );
              } catch (err) {
                faucetNote.replaceChildren(status(errorText(err), "error"));
              }
            },
          },
          "Get test funds",
        ),
        " This is a development chain: its dollars are for testing only.",
      )
    : null;
  const capital = table(
    "Your capital accounts",
    ["Property", "Contributed", "Returned", "Distributed", "Balance", "Ownership %"],
    statement.properties.map((s: any) => [
      propertyLabel(s.property),
      s.contributed,
      s.returned,
      s.distributed,
      s.balance,
      s.ownership_percent,
    ]),
  );
  show(
    h("h1", {}, "Your portfolio"),
    h("p", { class: "addr" }, `Wallet ${me.wallet}`),
    faucet,
    faucetNote,
    holdings,
    capital,
    purchases,
    table("Distributions", ["Property", "Declared", "Received", "Claimable", ""], distRows),
    refunds.length > 0 ? table("Refunds due", ["Offering", "Shares", "Amount", ""], refunds) : null,
    note,
    log,
    me.holdings.length > 0 ? h("section", {}, h("h2", {}, "Transfer shares"), transfer) : null,
    h("h2", {}, "Statements"),
    h(
      "button",
      { type: "button", onclick: () => void download("/v1/me/statements?format=csv", "statement.csv") },
      "Download statement (CSV)",
    ),
    taxForm(),
  );
}

/// The yearly tax statement: distributions as income and return of capital, purchases and
/// disposals with their cost basis.
function taxForm(): HTMLElement {
  const now = new Date().getUTCFullYear();
  const year = h(
    "select",
    {},
    ...[now, now - 1, now - 2, now - 3].map((y) => h("option", { value: y }, String(y))),
  ) as HTMLSelectElement;
  return h(
    "form",
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        void download(`/v1/me/tax-statements/${year.value}?format=csv`, `tax-${year.value}.csv`);
      },
    },
    field("Tax year", year),
    h("button", { type: "submit" }, "Download tax statement (CSV)"),
  );
}

export async function apply(): Promise<void> {
  const me = await get("/v1/me");
  const inv = me.investor;
  if (inv) {
    const kind = h(
      "select",
      {},
      ...["passport", "id_card", "proof_of_address", "accreditation", "other"].map((k) =>
        h("option", { value: k }, k.replace(/_/g, " ")),
      ),
    ) as HTMLSelectElement;
    const file = h("input", { type: "file", required: true }) as HTMLInputElement;
    const note = h("div", {});
    show(
      h("h1", {}, "Your application"),
      table("Application", ["", ""], [
        ["Status", inv.status],
        ["Name", inv.legal_name],
        ["Country", inv.country],
        ["KYC valid until", inv.kyc_expires_on ?? "–"],
        ["Reason", inv.rejection_reason ?? "–"],
      ]),
      table(
        "Documents",
        ["Kind", "File", "Size"],
        (me.investor.documents ?? []).map((d: any) => [d.kind, d.filename ?? d.id, d.size ?? ""]),
      ),
      h(
        "form",
        {
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const f = file.files?.[0];
            if (!f) return;
            const form = new FormData();
            form.append("kind", kind.value);
            form.append("file", f, f.name);
            try {
              await call("POST", "/v1/me/application/documents", undefined, { form });
              void apply();
            } catch (err) {
              note.replaceChildren(status(errorText(err), "error"));
            }
          },
        },
        h("h2", {}, "Add a KYC document"),
        field("Kind", kind),
        field("File", file),
        h("button", { type: "submit" }, "Upload"),
      ),
      note,
    );
    return;
  }
  const name = h("input", { type: "text", required: true, autocomplete: "name" }) as HTMLInputElement;
  const email = h("input", { type: "email", required: true, autocomplete: "email" }) as HTMLInputElement;
  const country = h("input", { type: "text", required: true, maxlength: 2, placeholder: "US" }) as HTMLInputElement;
  const accredited = h("input", { type: "checkbox" }) as HTMLInputElement;
  const note = h("div", {});
  show(
    h("h1", {}, "Apply to invest"),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await post("/v1/me/application", {
              legal_name: name.value,
              email: email.value,
              country: country.value.toUpperCase(),
              accredited_claim: accredited.checked,
            });
            void apply();
          } catch (err) {
            note.replaceChildren(status(errorText(err), "error"));
          }
        },
      },
      field("Legal name", name),
      field("Email", email),
      field("Country (two letters)", country),
      field("I am an accredited investor", accredited),
      h("button", { type: "submit" }, "Apply"),
    ),
    note,
  );
}

export function signedIn(): boolean {
  return session().role === "investor";
}
