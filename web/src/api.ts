// The one client of the handler's HTTP API. Every call carries the bearer
// token of the signed-in user (Teams SSO or the development sign-in); every
// failure becomes an ApiError whose message is the server's short reason
// (problem+json `detail`, else `title`) or a plain sentence, never a stack
// trace or a raw body.

/** Where the token comes from; set once the user is signed in (auth.tsx). */
export interface TokenSource {
  token(): Promise<string>;
  /** The server refused the token: drop any cached copy. */
  invalidate(): void;
  /** A fresh token was refused too: the session is over (dev: back to the picker). */
  expired(): void;
}

export class ApiError extends Error {
  readonly status: number;
  /** The request field the server named (400). */
  readonly field: string | undefined;
  /** 401 with `WWW-Authenticate: … error="interaction_required"`: consent or MFA needed. */
  readonly interactionRequired: boolean;

  constructor(status: number, message: string, field?: string, interactionRequired = false) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
    this.interactionRequired = interactionRequired;
  }
}

let source: TokenSource | null = null;

export function setTokenSource(next: TokenSource | null): void {
  source = next;
}

/** `me` → /api/tab/me; a path starting with "/" is taken as is (/api/support/identity). */
export function apiUrl(path: string): string {
  return path.startsWith("/") ? path : `/api/tab/${path}`;
}

/** A query string from the filters that are set (empty values left out). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function fallbackMessage(status: number): string {
  switch (status) {
    case 400:
      return "The request was not valid.";
    case 401:
      return "Your session has ended. Sign in again.";
    case 403:
      return "You do not have access to this.";
    case 404:
      return "Not found.";
    case 409:
      return "Someone else changed this first.";
    case 413:
      return "The file is too large.";
    case 415:
      return "This type of file is not accepted.";
    case 429:
      return "Too many requests. Try again in a moment.";
    default:
      return status >= 500 ? `The service is not available right now (${status}).` : `The request failed (${status}).`;
  }
}

/** The short reason of a failed response: problem+json `detail`, else `title`. */
async function errorOf(res: Response): Promise<ApiError> {
  let message = fallbackMessage(res.status);
  let field: string | undefined;
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    try {
      const body = (await res.json()) as { detail?: unknown; title?: unknown; field?: unknown };
      const text = typeof body.detail === "string" && body.detail ? body.detail : body.title;
      // 403 keeps the fixed sentence unless the server says more.
      if (typeof text === "string" && text.trim()) message = text.trim();
      if (typeof body.field === "string") field = body.field;
    } catch {
      // not JSON after all: keep the sentence for the status
    }
  }
  const challenge = res.headers.get("www-authenticate") ?? "";
  const interaction = res.status === 401 && /interaction_required/i.test(challenge);
  return new ApiError(res.status, message, field, interaction);
}

export interface CallOptions {
  body?: unknown;
  /** Raw bytes (an icon upload) with their content type, instead of JSON. */
  raw?: { bytes: Blob; type: string };
  signal?: AbortSignal;
  /** No bearer (the development sign-in's own calls). */
  anonymous?: boolean;
}

async function send(method: string, path: string, opts: CallOptions, retried: boolean): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (!opts.anonymous) {
    if (!source) throw new ApiError(401, "You are not signed in.");
    let token: string;
    try {
      token = await source.token();
    } catch {
      throw new ApiError(401, "Could not get a sign-in token from Microsoft Teams.");
    }
    headers.authorization = `Bearer ${token}`;
  }
  let body: BodyInit | undefined;
  if (opts.raw) {
    headers["content-type"] = opts.raw.type;
    body = opts.raw.bytes;
  } else if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(apiUrl(path), { method, headers, body, signal: opts.signal, credentials: "same-origin" });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "The service could not be reached. Check your connection and try again.");
  }
  if (res.status === 401 && !opts.anonymous && source) {
    const challenge = res.headers.get("www-authenticate") ?? "";
    if (!/interaction_required/i.test(challenge)) {
      if (!retried) {
        source.invalidate();
        return send(method, path, opts, true);
      }
      source.expired();
    }
  }
  return res;
}

/** Calls the API and returns its JSON (undefined for an empty body). */
export async function call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const res = await send(method, path, opts, false);
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, "The service sent an answer this page cannot read.");
  }
}

export const get = <T>(path: string, signal?: AbortSignal) => call<T>("GET", path, { signal });
export const post = <T>(path: string, body: unknown = {}, signal?: AbortSignal) => call<T>("POST", path, { body, signal });
export const put = <T>(path: string, body: unknown) => call<T>("PUT", path, { body });
export const del = <T>(path: string) => call<T>("DELETE", path);

/** A file the API serves, fetched with the bearer (an icon): `/api/tab/...`
 * or a path relative to it. */
export async function fetchBlob(path: string, signal?: AbortSignal): Promise<Blob> {
  const relative = path.replace(/^\/api\/tab\//, "");
  const res = await send("GET", relative, { signal }, false);
  if (!res.ok) throw await errorOf(res);
  return res.blob();
}

/** Downloads a file the API serves (the audit CSV) with the bearer, and
 * hands it to the browser as a download. */
export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await send("GET", path, {}, false);
  if (!res.ok) throw await errorOf(res);
  const blob = await res.blob();
  const disposition = res.headers.get("content-disposition") ?? "";
  const named = /filename="?([^";]+)"?/i.exec(disposition);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = named ? named[1] : fallbackName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The message to show for anything thrown by a call. */
export function reasonOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return "Something went wrong. Try again.";
}
