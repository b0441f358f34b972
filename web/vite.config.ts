/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The API the dev and preview servers proxy to (tacos-local). The built app never knows it:
// it reads `api_base_url` from /config.json at run time.
const api = process.env.TACOS_API_URL ?? "http://127.0.0.1:8100";
const proxy = {
  "/api": { target: api, changeOrigin: false },
  "/metrics": { target: api, changeOrigin: false },
  "/config.json": { target: api, changeOrigin: false },
};

// The policy the embedded server gives the app's pages (same-origin API): the dev and preview
// servers send it too, so the browser tests fail on anything it would block.
const csp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Same input, same bytes: no build-time values, deterministic chunk names (content hashes).
    assetsInlineLimit: 0,
  },
  // The dev server needs inline scripts for hot reload: no CSP there.
  server: { port: 8150, strictPort: true, proxy },
  preview: { port: 8151, strictPort: true, proxy, headers: { "Content-Security-Policy": csp } },
  test: { include: ["src/**/*.test.ts"] },
});
