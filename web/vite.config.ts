/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { basemap } from "./basemap.ts";

export default defineConfig({
  plugins: [basemap()],
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
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
