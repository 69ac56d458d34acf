// Who is signed in, and how. Inside Teams: the SSO token from teams-js and
// the host's theme. In a plain browser: the development sign-in of `handler
// local` (pick a demo user; the token is kept in sessionStorage for this tab
// only), or, where that does not exist (Azure), a note to open the app in
// Teams. Once a token works, GET me says what the user may do.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { ApiError, call, get, reasonOf, setTokenSource } from "./api";
import { bootIntercom, shutdownIntercom } from "./intercom";
import { connectToTeams, followTheme, teamsToken, type HostTheme } from "./teams";
import type { DevDirectory, DevToken, Me } from "./types";

const DEV_TOKEN_KEY = "salestim.devToken";

export type SessionState =
  | { kind: "starting" }
  | { kind: "picker"; directory: DevDirectory }
  | { kind: "teamsOnly" }
  | { kind: "failed"; message: string; interaction: boolean }
  | { kind: "ready"; me: Me };

export interface Session {
  state: SessionState;
  mode: "teams" | "dev" | "unknown";
  theme: HostTheme;
  /** Dev sign-in: sign in as this demo user. */
  signIn: (userId: string) => Promise<void>;
  /** Dev sign-in: forget the token and go back to the picker. */
  switchUser: () => void;
  retry: () => void;
  /** GET me again (after a role change). */
  refreshMe: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

/** The signed-in user (only under a ready session). */
export function useMe(): Me {
  const { state } = useSession();
  if (state.kind !== "ready") throw new Error("useMe before sign-in");
  return state.me;
}

interface StoredToken {
  token: string;
  expiresAt: number;
}

/** sessionStorage, or memory where the browser refuses storage to the page
 * (a framed page with third-party storage blocked): the token then lasts
 * as long as the page. */
let memoryToken: string | null = null;
const tokenStore = {
  get(): string | null {
    try {
      return sessionStorage.getItem(DEV_TOKEN_KEY);
    } catch {
      return memoryToken;
    }
  },
  set(value: string): void {
    memoryToken = value;
    try {
      sessionStorage.setItem(DEV_TOKEN_KEY, value);
    } catch {
      // memory only
    }
  },
  clear(): void {
    memoryToken = null;
    try {
      sessionStorage.removeItem(DEV_TOKEN_KEY);
    } catch {
      // memory only
    }
  },
};

function readDevToken(): StoredToken | null {
  try {
    const raw = tokenStore.get();
    if (!raw) return null;
    const t = JSON.parse(raw) as StoredToken;
    if (typeof t.token !== "string" || typeof t.expiresAt !== "number" || t.expiresAt <= Date.now() + 30_000) return null;
    return t;
  } catch {
    return null;
  }
}

function browserTheme(): HostTheme {
  if (window.matchMedia?.("(forced-colors: active)").matches) return "contrast";
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ kind: "starting" });
  const [mode, setMode] = useState<Session["mode"]>("unknown");
  const [theme, setTheme] = useState<HostTheme>(browserTheme);
  const [round, setRound] = useState(0);

  const loadMe = useCallback(async () => {
    try {
      const me = await get<Me>("me");
      setState({ kind: "ready", me });
      void bootIntercom();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && !e.interactionRequired && readDevToken() === null && mode !== "teams") {
        // the dev token was refused: `expired` already went back to the picker
        return;
      }
      setState({
        kind: "failed",
        message: reasonOf(e),
        interaction: e instanceof ApiError && e.interactionRequired,
      });
    }
  }, [mode]);

  const showPicker = useCallback(async () => {
    tokenStore.clear();
    setTokenSource(null);
    shutdownIntercom();
    try {
      const directory = await call<DevDirectory>("GET", "/api/dev/signin", { anonymous: true });
      setState({ kind: "picker", directory });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setState({ kind: "teamsOnly" });
      else setState({ kind: "failed", message: reasonOf(e), interaction: false });
    }
  }, []);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const host = await connectToTeams();
      if (cancelled) return;
      if (host) {
        setMode("teams");
        setTheme(host.theme);
        followTheme(setTheme);
        setTokenSource({
          token: teamsToken,
          invalidate: () => undefined,
          expired: () => undefined,
        });
        return;
      }
      setMode("dev");
      const media = window.matchMedia?.("(prefers-color-scheme: dark)");
      media?.addEventListener("change", () => setTheme(browserTheme()));
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  // (Re)start the session once the mode is known, and on retry.
  useEffect(() => {
    if (mode === "unknown") return;
    setState({ kind: "starting" });
    if (mode === "teams") {
      void loadMe();
      return;
    }
    const stored = readDevToken();
    if (!stored) {
      void showPicker();
      return;
    }
    setTokenSource({
      token: async () => {
        const t = readDevToken();
        if (!t) throw new ApiError(401, "Your session has ended. Sign in again.");
        return t.token;
      },
      invalidate: () => undefined,
      expired: () => void showPicker(),
    });
    void loadMe();
  }, [mode, round]);

  const signIn = useCallback(
    async (userId: string) => {
      const t = await call<DevToken>("POST", "/api/dev/signin", { body: { userId }, anonymous: true });
      const stored: StoredToken = { token: t.token, expiresAt: Date.now() + t.expiresIn * 1000 };
      tokenStore.set(JSON.stringify(stored));
      setRound((r) => r + 1);
    },
    [],
  );

  const switchUser = useCallback(() => {
    setState({ kind: "starting" });
    void showPicker();
  }, [showPicker]);

  const retry = useCallback(() => setRound((r) => r + 1), []);

  const refreshMe = useCallback(async () => {
    try {
      const me = await get<Me>("me");
      setState({ kind: "ready", me });
    } catch {
      // keep the current view; the next call shows its own error
    }
  }, []);

  return (
    <SessionContext.Provider value={{ state, mode, theme, signIn, switchUser, retry, refreshMe }}>
      {children}
    </SessionContext.Provider>
  );
}
