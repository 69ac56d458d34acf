// Build configuration of the Teams tabs: one single-page app served by the
// handler's `Tabs` function under /api/tabs/, hashed assets under assets/ so
// they can be cached for a long time while index.html is not.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { tabSizes } from "./tab-sizes";

export default defineConfig({
  base: "/api/tabs/",
  plugins: [react(), tabSizes()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // Each tab is its own chunk (React.lazy); a warning above this size means
    // a chunk has grown past what one tab should load.
    chunkSizeWarningLimit: 600,
  },
});
