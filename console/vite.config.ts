import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** The API server the dev server proxies to (`npm run dev`); the production build is served by Tessera itself. */
const apiTarget = process.env.TESSERA_API_URL ?? "http://127.0.0.1:7070";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    port: 5173,
    proxy: {
      "/v1": { target: apiTarget, changeOrigin: false },
      "/healthz": { target: apiTarget, changeOrigin: false },
    },
  },
});
