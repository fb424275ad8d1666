// The staff's pages: sign in with an API key or a password and TOTP code; properties with
// search, a property's page (tokenization, offering progress, books, distributions, on-chain
// history), creating and tokenizing a property, and reviewing investor applications.

import { ApiError, blob, call, get, post, session, setSession } from "./api";
import { errorText } from "./investor";
import { chart, h, field, money, short, show, status, table, units } from "./ui";

export function signedIn(): boolean {
  const r = session().role;
  return r !== null && r !== "investor";
}

export function signInPage(): void {
  const key = h("input", { type: "password", required: true, autocomplete: "off" }) as HTMLInputElement;
  const user = h("input", { type: "text", autocomplete: "username" }) as HTMLInputElement;
  const pass = h("input", { type: "password", autocomplete: "current-password" }) as HTMLInputElement;
  const code = h("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code" }) as HTMLInputElement;
  const note = h("div", {});
  const finish = async (token: string) => {
    setSession(token, "staff");
    const me = await get("/v1/auth/session");
    setSession(token, me.role);
    location.hash = "#/staff/properties";
  };
  show(
    h("h1", {}, "Staff sign-in"),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await finish(key.value.trim());
          } catch (err) {
            setSession(null, null);
            note.replaceChildren(status(errorText(err), "error"));
          }
        },
      },
      h("h2", {}, "With an API key"),
      field("API key", key),
      h("button", { type: "submit" }, "Sign in"),
    ),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const s = await post("/v1/auth/sessions", {
              username: user.value,
              password: pass.value,
              totp_code: code.value,
            });
            await finish(s.token);
          } catch (err) {
            setSession(null, null);
            note.replaceChildren(status(errorText(err), "error"));
          }
        },
      },
      h("h2", {}, "With a password"),
      field("Username", user),
      field("Password", pass),
      field("Authenticator code", code),
      h("button", { type: "submit" }, "Sign in"),
    ),
    note,
  );
}

function address(p: any): string {
  const a = p.address ?? {};
  return [a.line1, a.city, a.region].filter(Boolean).join(", ");
}

export async function properties(query: URLSearchParams): Promise<void> {
  const params = new URLSearchParams();
  for (const k of ["city", "status"]) {
    const v = query.get(k);
    if (v) params.set(k, v);
  }
  params.set("limit", "100");
  const page = await get(`/v1/properties?${params}`);
  const city = h("input", { type: "search", value: query.get("city") ?? "" }) as HTMLInputElement;
  const st = h(
    "select",
    {},
    h("option", { value: "" }, "any"),
    ...["prospect", "under_contract", "owned", "rehab", "listed", "sold"].map((s) =>
      h("option", { value: s, selected: query.get("status") === s }, s.replace(/_/g, " ")),
    ),
  ) as HTMLSelectElement;
  show(
    h("h1", {}, "Properties"),
    h(
      "form",
      {
        class: "search",
        role: "search",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const q = new URLSearchParams();
          if (city.value) q.set("city", city.value);
          if (st.value) q.set("status", st.value);
          location.hash = `#/staff/properties?${q}`;
        },
      },
      field("City", city),
      field("Status", st),
      h("button", { type: "submit" }, "Search"),
    ),
    h("p", {}, h("a", { href: "#/staff/new-property" }, "Add a property")),
    table(
      "Properties",
      ["Address", "Type", "Status", "List price"],
      page.items.map((p: any) => [
        h("a", { href: `#/staff/properties/${p.id}` }, address(p) || p.id),
        p.property_type,
        p.status,
        money(p.list_price),
      ]),
    ),
  );
}

/// The property's area: its market trend, and its value from comparable sales next to the
/// area's learned model, when the area has sales before today.
async function market(p: any): Promise<Node[]> {
  const area = new URLSearchParams({ city: p.address.city, region: p.address.region ?? "" });
  const trend = await optional(`/v1/market/trends?${area}`);
  if (!trend || trend.quarters.length === 0) return [];
  const out: Node[] = [
    h("h2", {}, "Market"),
    chart(`/v1/market/trends/chart?${area}`, "Chart: the area's median price per square foot by quarter", blob),
  ];
  if (!p.square_feet) return out;
  let v: any = null;
  try {
    v = await post("/v1/valuations/comps", {
      city: p.address.city,
      region: p.address.region ?? "",
      living_area_sqft: p.square_feet,
      bedrooms: p.bedrooms ?? null,
      bathrooms: p.bathrooms ? Number(p.bathrooms) : null,
      year_built: p.year_built ?? null,
      lot_size_sqft: p.lot_size_sqft ?? null,
      latitude: p.location?.latitude ?? null,
      longitude: p.location?.longitude ?? null,
    });
  } catch (e) {
    // No sales before today (409), or facts the comps do not take (422): no valuation shown.
    if (e instanceof ApiError && (e.status === 409 || e.status === 422)) return out;
    throw e;
  }
  out.push(
    table("Valuation", ["", ""], [
      ["After-repair value from comps", money(v.arv)],
      ["Learned model", v.model ? `${money(v.model.value)} (version ${v.model.version})` : `– (${v.model_unavailable})`],
      ["Area price per square foot", money(v.market_price_per_sqft)],
    ]),
    table(
      "Comparable sales",
      ["Address", "Sold", "Price", "Adjusted", "Weight"],
      v.comps.map((c: any) => [c.address, c.sale_date, money(c.price), money(c.adjusted_price), `${c.weight_percent}%`]),
    ),
  );
  return out;
}

async function optional(path: string): Promise<any | null> {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return null;
    throw e;
  }
}

export async function property(id: string): Promise<void> {
  const p = await get(`/v1/properties/${id}`);
  const [tok, docs, tb, events] = await Promise.all([
    optional(`/v1/properties/${id}/tokenization`),
    optional(`/v1/properties/${id}/documents`),
    optional(`/v1/books/${id}/trial-balance`),
    optional(`/v1/audit/properties/${id}/events?limit=50`),
  ]);
  const deals = await optional(`/v1/deals?property_id=${id}&limit=20`);
  const perf = await optional(`/v1/properties/${id}/analytics`);
  const offeringAddr = tok?.contracts?.offering;
  const offering = offeringAddr ? await optional(`/v1/offerings/${offeringAddr}`) : null;
  const note = h("div", {});
  const parts: (Node | null)[] = [
    h("h1", {}, address(p) || `Property ${id}`),
    table("Details", ["", ""], [
      ["Type", p.property_type],
      ["Status", p.status],
      ["List price", money(p.list_price)],
      ["Square feet", p.square_feet ?? "–"],
      ["Bedrooms", p.bedrooms ?? "–"],
    ]),
  ];
  if (perf) {
    const pct = (v: string | null, name: string) =>
      v === null ? `– (${perf.unavailable?.[name] ?? "not available"})` : `${v}%`;
    parts.push(
      table(`Performance, ${perf.from} to ${perf.to}`, ["", ""], [
        ["Net operating income", money(perf.noi)],
        ["Cap rate", pct(perf.cap_rate_percent, "cap_rate_percent")],
        ["Cash-on-cash", pct(perf.cash_on_cash_percent, "cash_on_cash_percent")],
        ["IRR", pct(perf.irr_percent, "irr_percent")],
        ["Equity multiple", perf.equity_multiple ?? `– (${perf.unavailable?.equity_multiple ?? "not available"})`],
        ["Occupancy", `${perf.occupancy_percent}%`],
      ]),
      chart(
        `/v1/properties/${id}/analytics/chart`,
        "Chart: the twelve months' income, expenses, NOI and the investors' capital",
        blob,
      ),
      h(
        "p",
        {},
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                const pdf = await blob(`/v1/properties/${id}/analytics/statement`);
                const a = h("a", { href: URL.createObjectURL(pdf), download: `performance-${id}.pdf` }) as HTMLAnchorElement;
                a.click();
                setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
              } catch (err) {
                note.replaceChildren(status(errorText(err), "error"));
              }
            },
          },
          "Download the performance statement (PDF)",
        ),
      ),
    );
  }
  parts.push(...(await market(p)));
  if (deals && deals.items.length > 0) {
    parts.push(
      table(
        "Deals",
        ["Strategy", "Status", "Purchase price", "Estimated repairs"],
        deals.items.map((d: any) => [d.strategy, d.status, money(d.purchase_price), money(d.estimated_repairs)]),
      ),
    );
  }
  if (docs) {
    const items: any[] = docs.items ?? docs;
    parts.push(table("Documents", ["Kind", "File", "Id"], items.map((d: any) => [d.kind, d.filename ?? "", d.id])));
  }
  if (tok?.contracts) {
    parts.push(
      table(
        "Contracts",
        ["Contract", "Address"],
        Object.entries(tok.contracts).map(([k, v]) => [k, String(v)]),
      ),
    );
  } else {
    parts.push(tokenizeForm(id, docs, note));
  }
  if (offering) {
    parts.push(chart(`/v1/offerings/${offeringAddr}/chart`, "Chart: offering progress", blob));
    const sold = Number(offering.sold.amount);
    const max = Number(offering.terms.shares_for_sale.amount);
    parts.push(
      h("h2", {}, "Offering"),
      h(
        "p",
        {},
        h("label", { for: "offering-progress" }, `Sold ${offering.sold.amount} of ${max} shares, raised ${offering.raised.amount} ${offering.currency} (${offering.status}) `),
        h("progress", { id: "offering-progress", max, value: sold }, String(sold)),
      ),
    );
  }
  const projects = await optional(`/v1/rehab-projects?property_id=${id}`);
  for (const pr of projects ?? []) {
    parts.push(await rehab(pr.id, () => void property(id), note));
  }
  if (tb) {
    parts.push(chart(`/v1/books/${id}/cash-chart`, "Chart: the property's cash over time", blob));
    parts.push(
      table(
        "Books: trial balance",
        ["Account", "Name", "Debit", "Credit"],
        tb.lines.map((l: any) => [l.code, l.name, l.debit.amount, l.credit.amount]),
      ),
    );
  }
  if (tok?.contracts) {
    const amount = h("input", { type: "text", inputmode: "decimal", required: true, placeholder: "1000.00" }) as HTMLInputElement;
    parts.push(
      h(
        "form",
        {
          onsubmit: async (e: Event) => {
            e.preventDefault();
            try {
              const d = await post("/v1/distributions", {
                property: id,
                amount: { amount: amount.value, currency: "USD" },
              });
              note.replaceChildren(status(`Distribution ${d.id} declared: it is being funded.`, "ok"));
            } catch (err) {
              note.replaceChildren(status(errorText(err), "error"));
            }
          },
        },
        h("h2", {}, "Declare a distribution"),
        field("Amount (USD)", amount),
        h("button", { type: "submit" }, "Declare"),
      ),
    );
  }
  const cap = tok?.contracts ? await optional(`/v1/audit/properties/${id}/cap-table`) : null;
  if (cap) {
    parts.push(
      table(
        `Cap table at block ${cap.block}${cap.checked_against_chain ? " (checked against the chain)" : ""}`,
        ["Wallet", "Investor", "Shares"],
        cap.holders.map((x: any) => [
          h("code", { title: x.wallet }, short(x.wallet)),
          x.investor_id ?? "–",
          units(x.shares, 18),
        ]),
      ),
    );
  }
  if (events) {
    parts.push(history(events.items));
  }
  parts.push(note);
  show(...parts);
}

/// A rehab project: each line's budget against what was committed and drawn, and the draws
/// with what may be done next (approve a requested one, release an approved one).
async function rehab(projectId: string, again: () => void, note: HTMLElement): Promise<HTMLElement> {
  const v = await get(`/v1/rehab-projects/${projectId}`);
  const category = new Map<string, string>(v.lines.map((l: any) => [l.id, l.category]));
  const act = async (path: string, done: string) => {
    try {
      await post(path, {});
      note.replaceChildren(status(done, "ok"));
      again();
    } catch (err) {
      note.replaceChildren(status(errorText(err), "error"));
    }
  };
  return h(
    "section",
    { class: "rehab" },
    h("h2", {}, "Rehab budget"),
    chart(`/v1/rehab-projects/${projectId}/chart`, "Chart: each line's budget, committed and drawn", blob),
    table(
      "Budget against actual",
      ["Line", "Budget", "Drawn", "Pending draws", "Remaining"],
      v.lines.map((l: any) => [l.category, money(l.budget), money(l.drawn), money(l.pending_draws), money(l.remaining)]),
    ),
    table(
      "Draws",
      ["Line", "Amount", "Status", ""],
      v.draws.map((d: any) => [
        category.get(d.line_id) ?? d.line_id,
        money(d.amount),
        d.status,
        d.status === "requested"
          ? h("button", { type: "button", onclick: () => void act(`/v1/rehab-draws/${d.id}/approve`, "Draw approved.") }, "Approve")
          : d.status === "approved"
            ? h("button", { type: "button", onclick: () => void act(`/v1/rehab-draws/${d.id}/release`, "Draw released: the treasury pays the contractor.") }, "Release")
            : "",
      ]),
    ),
  );
}

/// The on-chain history; a transaction's hash shows only that transaction's events.
function history(items: any[], only?: string): HTMLElement {
  const box = h("section", { class: "history" });
  const shown = only ? items.filter((e) => e.tx_hash === only) : items;
  box.append(
    only
      ? h(
          "p",
          {},
          `Transaction ${only} `,
          h("button", { type: "button", onclick: () => box.replaceWith(history(items)) }, "Show all"),
        )
      : "",
    table(
      "On-chain history",
      ["Block", "Contract", "Event", "Transaction"],
      shown.map((e: any) => [
        e.block_number,
        e.contract,
        e.event,
        h(
          "a",
          {
            href: `#tx-${e.tx_hash}`,
            title: e.tx_hash,
            onclick: (ev: Event) => {
              ev.preventDefault();
              box.replaceWith(history(items, e.tx_hash));
            },
          },
          short(e.tx_hash),
        ),
      ]),
    ),
  );
  return box;
}

/// The auditor's page: the books' own checks, the anchors, the reconciliation with the chain,
/// and a property's verification against a chain endpoint.
export async function audit(): Promise<void> {
  const [ledger, anchors, props, net, flags] = await Promise.all([
    get("/v1/audit/ledger"),
    get("/v1/audit/anchors"),
    get("/v1/properties?limit=100"),
    get("/v1/network"),
    get("/v1/audit/anomalies"),
  ]);
  const verdict = (clean: boolean) => (clean ? status("Clean.", "ok") : status("Findings: see below.", "error"));
  const rec = h("div", {}, status("Reconciling the books with the chain…"));
  void get("/v1/audit/reconciliation")
    .then((r: any) => {
      const findings =
        r.unmatched_in_books.length + r.unmatched_on_chain.length + r.amount_differences.length + r.cap_tables.length;
      rec.replaceChildren(
        verdict(findings === 0),
        table(`Reconciliation at block ${r.block}`, ["", ""], [
          ["Matched", r.matched.length],
          ["On chain, not in the books", r.unmatched_in_books.length],
          ["In the books, not on chain", r.unmatched_on_chain.length],
          ["Amounts differing", r.amount_differences.length],
          ["Cap tables differing", r.cap_tables.length],
          ["Balances checked", r.balances.length],
        ]),
      );
    })
    .catch((err) => rec.replaceChildren(status(errorText(err), "error")));
  const which = h(
    "select",
    {},
    ...props.items.map((p: any) => h("option", { value: p.id }, address(p) || p.id)),
  ) as HTMLSelectElement;
  const out = h("div", {});
  show(
    h("h1", {}, "Audit"),
    h("h2", {}, "The books' own checks"),
    verdict(ledger.clean),
    table("Hash chain", ["", ""], [
      ["Entries chained", ledger.chained_entries],
      ["Head", h("code", {}, short(ledger.head_hash))],
    ]),
    h("h2", {}, "Anchors"),
    verdict(anchors.clean),
    table("Anchored on chain", ["", ""], [
      ["Entries", anchors.ledger_entries],
      ["Not yet anchored", anchors.unanchored_entries],
      ["Anchors", anchors.anchors.length],
    ]),
    h("h2", {}, "Reconciliation"),
    rec,
    h("h2", {}, "Anomalies"),
    (flags as any[]).length === 0
      ? status("Nothing to look at.", "ok")
      : table(
          "Flags to look at (business hours 08:00 to 18:00 UTC on weekdays)",
          ["Kind", "About", "Why"],
          (flags as any[]).map((a) => [a.kind.replace(/_/g, " "), a.subject, a.explanation]),
        ),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          out.replaceChildren(status("Verifying against the chain…"));
          try {
            const v = await post("/v1/audit/verifications", { property: which.value, rpc_url: net.rpc_url });
            out.replaceChildren(
              verdict(v.clean),
              table(`Blocks ${v.from_block} to ${v.to_block} at ${v.rpc_url}`, ["", ""], [
                ["Events on chain", v.events_on_chain],
                ["Events stored", v.events_stored],
                ["Missing", v.missing.length],
                ["Extra", v.extra.length],
                ["Changed", v.changed.length],
                ["Entries checked", v.entries_checked],
                ["Entries without an event", v.entries_without_event.length],
                ["Entries differing", v.entries_differing.length],
              ]),
            );
          } catch (err) {
            out.replaceChildren(status(errorText(err), "error"));
          }
        },
      },
      h("h2", {}, "Verify a property against the chain"),
      field("Property", which),
      h("button", { type: "submit" }, "Verify"),
    ),
    out,
  );
}

function tokenizeForm(id: string, docs: any, note: HTMLElement): HTMLElement {
  const items: any[] = docs ? (docs.items ?? docs) : [];
  const deeds = items.filter((d: any) => d.kind === "deed");
  if (deeds.length === 0) {
    return status("Upload the deed to tokenize this property.");
  }
  const inputs = {
    name: h("input", { type: "text", required: true }) as HTMLInputElement,
    symbol: h("input", { type: "text", required: true, maxlength: 11 }) as HTMLInputElement,
    parcel: h("input", { type: "text", required: true }) as HTMLInputElement,
    price: h("input", { type: "number", min: "1", value: "100", required: true }) as HTMLInputElement,
    shares: h("input", { type: "number", min: "1", value: "1000", required: true }) as HTMLInputElement,
    max: h("input", { type: "number", min: "1", value: "400", required: true }) as HTMLInputElement,
    cap: h("input", { type: "number", min: "0", value: "1000", required: true }) as HTMLInputElement,
    days: h("input", { type: "number", min: "1", value: "30", required: true }) as HTMLInputElement,
  };
  return h(
    "form",
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const now = Date.now();
        try {
          await post(`/v1/properties/${id}/tokenization`, {
            name: inputs.name.value,
            symbol: inputs.symbol.value,
            parcel_id: inputs.parcel.value,
            document_id: deeds[0].id,
            offering: {
              price_per_share: inputs.price.value,
              min_purchase: "1",
              max_per_investor: inputs.max.value,
              shares_for_sale: inputs.shares.value,
              soft_cap: inputs.cap.value,
              opens_at: new Date(now - 60_000).toISOString(),
              closes_at: new Date(now + Number(inputs.days.value) * 86_400_000).toISOString(),
            },
          });
          note.replaceChildren(status("Tokenization queued: the deed, shares and offering are being deployed.", "ok"));
        } catch (err) {
          note.replaceChildren(status(errorText(err), "error"));
        }
      },
    },
    h("h2", {}, "Tokenize"),
    field("Share name", inputs.name),
    field("Symbol", inputs.symbol),
    field("Parcel id", inputs.parcel),
    field("Price per share (USD)", inputs.price),
    field("Shares for sale", inputs.shares),
    field("Most per investor", inputs.max),
    field("Soft cap (USD)", inputs.cap),
    field("Days open", inputs.days),
    h("button", { type: "submit" }, "Tokenize"),
  );
}

export function newProperty(): void {
  const i = {
    line1: h("input", { type: "text", required: true }) as HTMLInputElement,
    city: h("input", { type: "text", required: true }) as HTMLInputElement,
    region: h("input", { type: "text", required: true }) as HTMLInputElement,
    postal: h("input", { type: "text", required: true }) as HTMLInputElement,
    price: h("input", { type: "text", inputmode: "decimal", required: true }) as HTMLInputElement,
    deed: h("input", { type: "file", required: true, accept: "application/pdf" }) as HTMLInputElement,
  };
  const note = h("div", {});
  show(
    h("h1", {}, "Add a property"),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const p = await post("/v1/properties", {
              address: { line1: i.line1.value, city: i.city.value, region: i.region.value, postal_code: i.postal.value, country: "US" },
              property_type: "single_family",
              status: "prospect",
              list_price: { amount: i.price.value, currency: "USD" },
            });
            const f = i.deed.files?.[0];
            if (f) {
              const form = new FormData();
              form.append("kind", "deed");
              form.append("file", f, f.name);
              await call("POST", `/v1/properties/${p.id}/documents`, undefined, { form });
            }
            location.hash = `#/staff/properties/${p.id}`;
          } catch (err) {
            note.replaceChildren(status(errorText(err), "error"));
          }
        },
      },
      field("Street", i.line1),
      field("City", i.city),
      field("State", i.region),
      field("Postal code", i.postal),
      field("List price (USD)", i.price),
      field("Deed (PDF)", i.deed),
      h("button", { type: "submit" }, "Add"),
    ),
    note,
  );
}

export async function applications(): Promise<void> {
  const page = await get("/v1/investors?status=submitted&limit=100");
  const note = h("div", {});
  const decide = async (id: string, approve: boolean) => {
    try {
      if (approve) {
        await post(`/v1/investors/${id}/approve`, { accredited: true, kyc_expires_on: `${new Date().getUTCFullYear() + 1}-12-31` });
      } else {
        await post(`/v1/investors/${id}/reject`, { reason: "The documents do not match the application." });
      }
      void applications();
    } catch (err) {
      note.replaceChildren(status(errorText(err), "error"));
    }
  };
  show(
    h("h1", {}, "Applications to review"),
    table(
      "Submitted applications",
      ["Name", "Country", "Accredited (claimed)", "Wallets", ""],
      page.items.map((i: any) => [
        i.legal_name,
        i.country,
        i.accredited_claim ? "yes" : "no",
        (i.wallets ?? []).map(short).join(", "),
        h(
          "span",
          {},
          h("button", { type: "button", onclick: () => void decide(i.id, true) }, "Approve"),
          " ",
          h("button", { type: "button", onclick: () => void decide(i.id, false) }, "Reject"),
        ),
      ]),
    ),
    note,
  );
}
