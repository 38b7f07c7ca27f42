import { sep } from "node:path";
import type { FastifyStaticOptions } from "@fastify/static";

/** Vite names every file under `assets/` after its content hash: a changed file is a new URL. */
const HASHED_ASSETS = `${sep}assets${sep}`;

/**
 * How the console's files are served (SPEC §7): hashed assets compressed at build time (`.br`, `.gz`
 * beside each, chosen by Accept-Encoding) and cached for a year without revalidation; everything
 * else, `index.html` above all, revalidated on every load so that a new release is picked up at once.
 */
export function consoleStaticOptions(root: string): FastifyStaticOptions {
  return {
    root,
    prefix: "/",
    wildcard: false,
    index: ["index.html"],
    preCompressed: true,
    // Our own Cache-Control below; the plugin's would overwrite it.
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader("vary", "accept-encoding");
      res.setHeader("cache-control", path.includes(HASHED_ASSETS) ? "public, max-age=31536000, immutable" : "no-cache");
    },
  };
}
