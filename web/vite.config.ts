/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { basemap } from "./basemap.ts";

export default defineConfig({
  plugins: [basemap()],
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  // `npm run dev`: the page with hot reload, the API forwarded to a local `limes serve`.
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:8080", changeOrigin: false } },
  },
  build: {
    // The bundle is embedded in the `limes` binary; no source maps, nothing inline.
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
  },
});
