// The Microsoft Teams host, when there is one: whether the app runs inside
// Teams (or another Microsoft 365 host), its theme, its SSO token, and how a
// link leaves the app. Outside Teams every function here says so and the app
// falls back to the development sign-in (see session.tsx).
//
// teams-js is loaded only when the page may be hosted (framed, or in a
// mobile host's web view): a plain browser never downloads it, nor makes the
// request for Microsoft's list of valid host origins that it starts on load.
type TeamsJs = typeof import("./teams-sdk");

export type HostTheme = "light" | "dark" | "contrast";

export interface TeamsHost {
  theme: HostTheme;
  /** Entra tenant id from the host's context: shown, never sent (the server reads `tid`). */
  tenantId: string | undefined;
}

/** How long the host gets to answer `app.initialize()` before the app
 * decides it runs in a plain browser. */
const INIT_TIMEOUT_MS = 4000;

let host: TeamsHost | null = null;
let sdk: TeamsJs | null = null;

/** The host theme names Teams uses ("default", "dark", "contrast"; newer
 * hosts may say "glass", shown as light). */
export function themeOf(name: string | undefined): HostTheme {
  if (name === "dark") return "dark";
  if (name === "contrast") return "contrast";
  return "light";
}

/** A page that is neither framed nor in a mobile host's web view cannot be
 * in Teams: no need to wait for a handshake that never comes. */
function mayBeHosted(): boolean {
  const w = window as unknown as { nativeInterface?: unknown };
  let framed = true;
  try {
    framed = window.self !== window.top;
  } catch {
    framed = true; // a cross-origin parent: framed
  }
  return framed || w.nativeInterface !== undefined;
}

/** Connects to the Teams host with a short timeout. Returns null outside Teams. */
export async function connectToTeams(): Promise<TeamsHost | null> {
  if (!mayBeHosted()) return null;
  let teams: TeamsJs;
  try {
    teams = await import("./teams-sdk");
  } catch {
    return null;
  }
  const { app } = teams;
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), INIT_TIMEOUT_MS));
  try {
    const outcome = await Promise.race([app.initialize().then(() => "ok" as const), timeout]);
    if (outcome !== "ok") return null;
    const context = await app.getContext();
    host = { theme: themeOf(context.app.theme), tenantId: context.user?.tenant?.id };
    sdk = teams;
    app.notifyAppLoaded();
    app.notifySuccess().catch(() => undefined);
    return host;
  } catch {
    return null;
  }
}

export function inTeams(): boolean {
  return host !== null;
}

/** Calls `onChange` whenever the user switches the Teams theme. */
export function followTheme(onChange: (theme: HostTheme) => void): void {
  if (!sdk) return;
  sdk.app.registerOnThemeChangeHandler((name) => onChange(themeOf(name)));
}

/** The Teams SSO token for this app (teams-js caches it until it expires). */
export async function teamsToken(): Promise<string> {
  if (!sdk) throw new Error("not in Teams");
  return sdk.authentication.getAuthToken();
}

/** Opens a Teams or web link: through the host inside Teams (deep links
 * stay in Teams), in a new browser tab outside. */
export function openLink(url: string): void {
  if (sdk) {
    sdk.app.openLink(url).catch(() => window.open(url, "_blank", "noopener"));
  } else {
    window.open(url, "_blank", "noopener");
  }
}
