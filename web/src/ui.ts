// Small DOM helpers: elements are built with text nodes only, never from HTML strings, so
// nothing the API returns can inject markup.

export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// Replaces the main view's content.
export function show(...children: Child[]): void {
  const main = document.getElementById("main")!;
  main.replaceChildren();
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    main.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  main.focus();
}

/// A status line that screen readers announce.
export function status(text: string, kind: "info" | "error" | "ok" = "info"): HTMLElement {
  return h("p", { class: `status ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/// A table from rows of cells; the first row is the header.
export function table(caption: string, head: string[], rows: Child[][]): HTMLElement {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

/// A labelled input.
export function field(label: string, input: HTMLElement): HTMLElement {
  const id = `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  input.id = id;
  return h("p", { class: "field" }, h("label", { for: id }, label), input);
}

/// A short address for display.
export function short(addr: string): string {
  return addr.length > 12 ? `${addr.slice(0, 6)}…${addr.slice(-4)}` : addr;
}

/// Money as the API gives it ({amount, currency}).
export function money(m: { amount: string; currency?: string } | undefined | null): string {
  if (!m) return "–";
  return `${m.amount}${m.currency ? ` ${m.currency}` : ""}`;
}

/// A property as investors see it: its deed token id is long, so the last digits name it.
export function propertyLabel(tokenId: string): string {
  return tokenId.length > 10 ? `Property …${tokenId.slice(-6)}` : `Property ${tokenId}`;
}

/// A chart the API draws (SVG), fetched with the session's token and shown as an image.
export function chart(path: string, alt: string, load: (path: string) => Promise<Blob>): HTMLElement {
  const img = h("img", { alt, class: "chart", width: 640 }) as HTMLImageElement;
  void load(path)
    .then((b) => {
      img.src = URL.createObjectURL(b);
    })
    .catch(() => {
      img.alt = `${alt} (not available)`;
    });
  return img;
}

/// Base units of a token as whole units, exactly (`decimals` places, trailing zeros dropped).
export function units(text: string, decimals: number): string {
  const v = BigInt(text);
  const one = 10n ** BigInt(decimals);
  const whole = v / one;
  const frac = (v % one).toString().padStart(decimals, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}
