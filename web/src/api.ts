// The API client: JSON over fetch on the page's own origin, problem documents turned into
// sentences.

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public code?: string,
  ) {
    super(message);
  }
}

let token: string | null = sessionStorage.getItem("propledger.token");
let role: string | null = sessionStorage.getItem("propledger.role");

export function session(): { token: string | null; role: string | null } {
  return { token, role };
}

export function setSession(t: string | null, r: string | null): void {
  token = t;
  role = r;
  if (t && r) {
    sessionStorage.setItem("propledger.token", t);
    sessionStorage.setItem("propledger.role", r);
  } else {
    sessionStorage.removeItem("propledger.token");
    sessionStorage.removeItem("propledger.role");
  }
}

/// The sentence a problem document gives: its detail, or each field's error.
function sentence(p: any, status: number): string {
  if (p && Array.isArray(p.errors) && p.errors.length > 0) {
    return p.errors
      .map((e: any) => `${String(e.pointer || "").replace(/^\//, "") || "request"}: ${e.detail}`)
      .join("; ");
  }
  if (p && typeof p.detail === "string") return p.detail;
  if (p && typeof p.title === "string") return p.title;
  return `The request failed (${status}).`;
}

export async function call<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: { form?: FormData; raw?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (opts.form) {
    payload = opts.form;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload });
  if (!r.ok) {
    let p: any = null;
    try {
      p = await r.json();
    } catch {
      // Not a problem document.
    }
    throw new ApiError(r.status, sentence(p, r.status), p?.code);
  }
  if (opts.raw) return (await r.text()) as T;
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

export const get = <T = any>(path: string) => call<T>("GET", path);

/// A binary answer (a chart), with the session's token.
export async function blob(path: string): Promise<Blob> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, { headers });
  if (!r.ok) throw new ApiError(r.status, `The chart is not available (${r.status}).`);
  return r.blob();
}
export const post = <T = any>(path: string, body: unknown = {}) => call<T>("POST", path, body);
