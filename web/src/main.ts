// PropLedger's web app: one page, routed by the URL's fragment.

import { session, setSession } from "./api";
import * as investor from "./investor";
import * as staff from "./staff";
import { h, show, status } from "./ui";

function nav(): void {
  const { role } = session();
  const links: [string, string][] =
    role === "investor"
      ? [
          ["#/offerings", "Offerings"],
          ["#/portfolio", "Portfolio"],
          ["#/apply", "Application"],
        ]
      : role
        ? [
            ["#/staff/properties", "Properties"],
            ["#/staff/applications", "Applications"],
            ["#/staff/audit", "Audit"],
          ]
        : [
            ["#/", "Home"],
            ["#/staff", "Staff sign-in"],
          ];
  const out = h(
    "button",
    {
      type: "button",
      onclick: () => {
        setSession(null, null);
        location.hash = "#/";
        route();
      },
    },
    "Sign out",
  );
  const bar = document.getElementById("nav")!;
  bar.replaceChildren(
    h("ul", {}, ...links.map(([href, text]) => h("li", {}, h("a", { href, "aria-current": location.hash === href ? "page" : undefined }, text)))),
    role ? out : "",
  );
}

function home(): void {
  const note = h("p", { role: "status" });
  show(
    h("h1", {}, "Invest in real estate, share by share"),
    h(
      "p",
      {},
      "Connect your wallet to see the open offerings, apply, buy shares and claim your distributions. Your wallet signs every step; nothing moves without it.",
    ),
    h(
      "button",
      {
        type: "button",
        id: "connect",
        class: "primary",
        onclick: async () => {
          try {
            await investor.signIn(note);
          } catch (err) {
            note.replaceChildren(status(investor.errorText(err), "error"));
          }
        },
      },
      "Connect wallet",
    ),
    note,
  );
}

async function route(): Promise<void> {
  nav();
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const q = new URLSearchParams(query ?? "");
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "staff") {
      if (!staff.signedIn()) return staff.signInPage();
      if (parts[1] === "properties" && parts[2]) return await staff.property(parts[2]);
      if (parts[1] === "new-property") return staff.newProperty();
      if (parts[1] === "applications") return await staff.applications();
      if (parts[1] === "audit") return await staff.audit();
      return await staff.properties(q);
    }
    if (!investor.signedIn()) return home();
    if (parts[0] === "offerings" && parts[1]) return await investor.offering(parts[1]);
    if (parts[0] === "portfolio") return await investor.portfolio();
    if (parts[0] === "market" && parts[1]) return await investor.market(parts[1]);
    if (parts[0] === "apply") return await investor.apply();
    return await investor.offerings();
  } catch (err) {
    const e = err as any;
    if (e?.status === 401) {
      setSession(null, null);
      nav();
      show(status("Your session ended: sign in again.", "error"));
      return;
    }
    show(status(investor.errorText(err), "error"));
  }
}

window.addEventListener("hashchange", () => void route());
void route();
