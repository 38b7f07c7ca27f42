import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

/** The API server the dev server proxies to (`npm run dev`); the production build is served by Tessera itself. */
const apiTarget = process.env.TESSERA_API_URL ?? "http://127.0.0.1:7070";

/** Compressed copies below this size cost more in headers and CPU than they save. */
const MIN_COMPRESS_BYTES = 1024;

/**
 * Writes `.br` and `.gz` beside every hashed asset so that the server sends them as they are
 * (`@fastify/static`'s `preCompressed`): maximum compression once at build time, none per request.
 */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "tessera-precompress",
    apply: "build",
    configResolved(config) {
      outDir = join(config.root, config.build.outDir);
    },
    closeBundle() {
      const assets = join(outDir, "assets");
      for (const name of readdirSync(assets)) {
        if (!/\.(js|css|svg|json|woff2?)$/.test(name)) continue;
        const file = join(assets, name);
        const content = readFileSync(file);
        if (content.length < MIN_COMPRESS_BYTES) continue;
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(content, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
              [constants.BROTLI_PARAM_SIZE_HINT]: content.length,
            },
          }),
        );
        writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), precompress()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // The first screen's budget (200 KB of gzip'd JS) is enforced by test/browser/weight.test.ts.
    chunkSizeWarningLimit: 600,
  },
  server: {
    port: 5173,
    proxy: {
      "/v1": { target: apiTarget, changeOrigin: false },
      "/healthz": { target: apiTarget, changeOrigin: false },
    },
  },
});
