// The tabs and their paths under /api/tabs/ (the manifest's contentUrls),
// and a tiny history-based router: each Teams tab opens its own path, and a
// plain browser moves between them without reloading.
import { useEffect, useState } from "react";
import type { Me } from "./types";

export const BASE = "/api/tabs/";

export type TabId = "request" | "my" | "approvals" | "dashboard" | "admin";

export interface TabInfo {
  id: TabId;
  title: string;
  blurb: string;
  allowed: (me: Me) => boolean;
}

export const TABS: TabInfo[] = [
  { id: "request", title: "Request a team", blurb: "Pick a template and ask for a new team.", allowed: (me) => me.can.request },
  { id: "my", title: "My teams and requests", blurb: "Your teams, their expiry, and your requests.", allowed: () => true },
  { id: "approvals", title: "Approvals", blurb: "Requests waiting for your decision.", allowed: (me) => me.can.approve },
  { id: "dashboard", title: "Governance dashboard", blurb: "Lifecycle, findings, sweeps and the audit trail.", allowed: (me) => me.can.dashboard },
  {
    id: "admin",
    title: "Administration",
    blurb: "Settings, templates, policies, roles and billing.",
    allowed: (me) => me.can.admin || me.can.templates || me.can.policies || me.can.roles || me.can.billing,
  },
];

/** The route of a location: "" for the home page, a tab id, or null (unknown). */
export function routeOf(pathname: string): TabId | "" | null {
  let rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname === BASE.slice(0, -1) ? "" : null;
  if (rest === null) return null;
  rest = rest.replace(/\/+$/, "");
  if (rest === "" || rest === "index.html") return "";
  return TABS.some((t) => t.id === rest) ? (rest as TabId) : null;
}

export function hrefOf(route: TabId | ""): string {
  return BASE + route;
}

export function navigate(route: TabId | ""): void {
  const href = hrefOf(route);
  if (window.location.pathname !== href) window.history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): TabId | "" | null {
  const [route, setRoute] = useState(() => routeOf(window.location.pathname));
  useEffect(() => {
    const on = () => setRoute(routeOf(window.location.pathname));
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return route;
}
