// A build step that prints, for each tab, the gzipped JavaScript and CSS a
// browser loads to show it (the entry chunk, the tab's own chunk, and every
// chunk they import statically), so a tab that grows past its budget shows
// up in the build output rather than in the field.
import { gzipSync } from "node:zlib";
import type { Plugin } from "vite";

/** What each figure covers: the modules whose chunks (and their static
 * imports) are loaded, with the Teams SDK chunk (what a tab in Teams loads). */
const VIEWS: Record<string, string[]> = {
  home: [],
  request: ["src/tabs/RequestTab.tsx"],
  my: ["src/tabs/MyTab.tsx"],
  approvals: ["src/tabs/ApprovalsTab.tsx"],
  dashboard: ["src/tabs/DashboardTab.tsx"],
  "dashboard + charts": ["src/tabs/DashboardTab.tsx", "src/tabs/Charts.tsx"],
  "admin (settings)": ["src/tabs/admin/AdminTab.tsx", "src/tabs/admin/Settings.tsx"],
  "admin (templates)": ["src/tabs/admin/AdminTab.tsx", "src/tabs/admin/Templates.tsx"],
};

/** The budget the issue sets for the first tab opened. */
const BUDGET_BYTES = 300 * 1024;

interface ChunkLike {
  type: "chunk";
  fileName: string;
  code: string;
  isEntry: boolean;
  facadeModuleId: string | null;
  imports: string[];
  viteMetadata?: { importedCss: Set<string> };
}

export function tabSizes(): Plugin {
  return {
    name: "salestim-tab-sizes",
    apply: "build",
    generateBundle(_options, bundle) {
      const gz = new Map<string, number>();
      for (const [name, item] of Object.entries(bundle)) {
        const body = item.type === "chunk" ? item.code : item.source;
        gz.set(name, gzipSync(typeof body === "string" ? Buffer.from(body) : Buffer.from(body)).length);
      }
      const chunks = Object.values(bundle).filter((i) => i.type === "chunk") as unknown as ChunkLike[];
      const byModule = (suffix: string) => chunks.find((c) => c.facadeModuleId?.replaceAll("\\", "/").endsWith(suffix));
      const entry = chunks.find((c) => c.isEntry);
      if (!entry) return;
      const closure = (start: ChunkLike[]) => {
        const seen = new Set<string>();
        const walk = (c: ChunkLike) => {
          if (seen.has(c.fileName)) return;
          seen.add(c.fileName);
          for (const css of c.viteMetadata?.importedCss ?? []) seen.add(css);
          for (const dep of c.imports) {
            const d = bundle[dep] as unknown as ChunkLike | undefined;
            if (d && d.type === "chunk") walk(d);
          }
        };
        start.forEach(walk);
        return seen;
      };
      // Inside Teams the SDK chunk loads too (a plain browser skips it).
      const teamsJs = chunks.find((c) => c.facadeModuleId?.replaceAll("\\", "/").endsWith("/src/teams-sdk.ts"));
      const lines: string[] = [];
      let over = false;
      for (const [view, modules] of Object.entries(VIEWS)) {
        const start = [entry, ...modules.map((m) => byModule(m)).filter((c): c is ChunkLike => c !== undefined)];
        if (teamsJs) start.push(teamsJs);
        const files = [...closure(start)];
        const js = files.filter((f) => f.endsWith(".js")).reduce((n, f) => n + (gz.get(f) ?? 0), 0);
        const css = files.filter((f) => f.endsWith(".css")).reduce((n, f) => n + (gz.get(f) ?? 0), 0);
        if (js + css > BUDGET_BYTES) over = true;
        lines.push(`  ${view.padEnd(20)} js ${(js / 1024).toFixed(1).padStart(6)} KiB  css ${(css / 1024).toFixed(1).padStart(5)} KiB  (gzip)`);
      }
      console.log(`\nbytes loaded per tab inside Teams (gzip; budget ${BUDGET_BYTES / 1024} KiB for the first tab):\n${lines.join("\n")}`);
      if (over) this.warn("a tab loads more than the budget");
    },
  };
}
