// The Intercom Messenger, booted for the signed-in user with the identity
// the handler signs (GET /api/support/identity). 503 means support is not
// configured: no Messenger. Only the signed JWT identifies the user; user_id,
// email and name are never set as plain settings next to it.
import { ApiError, get } from "./api";
import type { SupportIdentity } from "./types";

interface IntercomSettings {
  app_id: string;
  intercom_user_jwt: string;
  api_base?: string;
}

type IntercomFn = (command: string, arg?: unknown) => void;

declare global {
  interface Window {
    intercomSettings?: IntercomSettings;
    Intercom?: IntercomFn;
  }
}

let loadedFor: string | null = null;

function settingsOf(identity: SupportIdentity): IntercomSettings {
  const settings: IntercomSettings = { app_id: identity.app_id, intercom_user_jwt: identity.intercom_user_jwt };
  if (identity.api_base) settings.api_base = identity.api_base;
  return settings;
}

/** Boots (or re-boots, after a user switch) the Messenger; errors are
 * swallowed: support chat never gets in the way of the tabs. */
export async function bootIntercom(): Promise<void> {
  let identity: SupportIdentity;
  try {
    identity = await get<SupportIdentity>("/api/support/identity");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 503) console.info("support chat unavailable");
    shutdownIntercom();
    return;
  }
  if (!identity.app_id || !identity.intercom_user_jwt || !/^[a-z0-9]+$/i.test(identity.app_id)) return;
  const settings = settingsOf(identity);
  window.intercomSettings = settings;
  if (window.Intercom && loadedFor) {
    window.Intercom("shutdown");
    window.Intercom("boot", settings);
    return;
  }
  if (loadedFor) return;
  loadedFor = identity.app_id;
  const script = document.createElement("script");
  script.async = true;
  script.src = `https://widget.intercom.io/widget/${encodeURIComponent(identity.app_id)}`;
  document.head.appendChild(script);
}

/** Ends the Messenger's session (switch user, sign-out). */
export function shutdownIntercom(): void {
  if (window.Intercom) window.Intercom("shutdown");
  delete window.intercomSettings;
}
