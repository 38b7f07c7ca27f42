import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
export default defineConfig({
  plugins: [react(), {
    name: "analyze",
    generateBundle(_o, bundle) {
      for (const [name, chunk] of Object.entries(bundle)) {
        if (chunk.type !== "chunk" || !/floating-ui|ScrollArea/.test(name)) continue; console.log("== " + name);
        const byPkg = new Map<string, number>();
        for (const [id, m] of Object.entries(chunk.modules)) {
          const mm = id.match(/@mantine\/core\/esm\/components\/([^/]+)/) || id.match(/@mantine\/core\/esm\/(core\/[^/]+)/) || id.match(/src\/(.*)/) || id.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
          if (!mm) continue;
          byPkg.set(mm[1], (byPkg.get(mm[1]) ?? 0) + m.renderedLength);
        }
        for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 70)) console.log("  ", k, v);
      }
    },
  }],
  build: { outDir: "/tmp/analyze-dist", emptyOutDir: true },
});
