/**
 * Self-check of the benchmark baselines: builds each one, asserts it really verifies, and prints rough
 * figures. Not the benchmark itself (no rounds, no Tessera); run with `npm --prefix bench run selfcheck`.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { spawnBareVerifyServer } from "./baselines/bare-http.js";
import { createBetterAuthBaseline } from "./baselines/better-auth.js";
import { runAutocannon, verifyRequests } from "./lib/autocannon.js";
import { measureAsync, measureSync } from "./lib/throughput.js";

const KEYS = 1000;
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Tessera-shaped token strings (`tsr_live_` + 38 base62-ish chars); the bare server does not check them. */
function fakeTokens(n: number): string[] {
  return Array.from({ length: n }, () => `tsr_live_${randomBytes(29).toString("base64url").slice(0, 38)}`);
}

/** Flips the last character: same length and alphabet, certainly a different key. */
function corrupt(key: string): string {
  const last = key.at(-1) === "a" ? "b" : "a";
  return key.slice(0, -1) + last;
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? "?"}), ${process.platform}`,
  );
  const dir = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  try {
    // --- better-auth baseline ------------------------------------------------------------------------
    let t0 = performance.now();
    const ba = await createBetterAuthBaseline({ keys: KEYS, dir });
    console.log(`\nbetter-auth: migrated + ${KEYS} keys created in ${fmt(performance.now() - t0)} ms (${ba.file})`);
    try {
      const key = ba.keys[0] as string;
      assert.equal(await ba.verify(key), true, "a freshly created key must verify");
      assert.equal(await ba.verify(corrupt(key)), false, "a wrong key must not verify");
      assert.equal(await ba.verify("x"), false, "garbage must not verify");

      const before = ba.totalChanges();
      for (let i = 0; i < 100; i++) await ba.verify(ba.keys[i % KEYS] as string);
      console.log(`  rows written per successful verifyApiKey: ${(ba.totalChanges() - before) / 100}`);

      const rotate = (i: number): Promise<boolean> => ba.verify(ba.keys[i % KEYS] as string);
      for (const concurrency of [1, 16]) {
        const r = await measureAsync(rotate, { durationMs: 3000, warmupMs: 500, concurrency });
        console.log(
          `  verifyApiKey, ${concurrency === 1 ? "sequential awaits  " : `${concurrency} in flight        `}: ` +
            `${fmt(r.opsPerSec)} verif/s  p50 ${fmt(r.p50, 3)} ms  p99 ${fmt(r.p99, 3)} ms  (${fmt(r.ops)} ops)`,
        );
      }
    } finally {
      await ba.close();
    }

    // --- in-process limit: SHA-256 + Map lookup (scenario a's denominator) ---------------------------
    const tokens = fakeTokens(KEYS);
    const byHash = new Map(tokens.map((t, i) => [createHash("sha256").update(t).digest("hex"), i]));
    const loop = measureSync(
      (i) =>
        byHash.get(
          createHash("sha256")
            .update(tokens[i % KEYS] as string)
            .digest("hex"),
        ),
      {
        durationMs: 2000,
      },
    );
    console.log(`\nbare loop SHA-256 + Map.get (in-process limit): ${fmt(loop.opsPerSec)} ops/s`);

    // --- bare node:http server under autocannon -------------------------------------------------------
    const server = await spawnBareVerifyServer(tokens);
    try {
      const res = await fetch(`${server.url}/v1/verify`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: tokens[0] }),
      });
      const body = (await res.json()) as { valid: boolean; code: string; token?: { id: string } };
      assert.equal(res.status, 200);
      assert.equal(body.valid, true);
      assert.equal(body.code, "VALID");
      const miss = (await (
        await fetch(`${server.url}/v1/verify`, {
          method: "POST",
          body: JSON.stringify({ token: corrupt(tokens[0] as string) }),
        })
      ).json()) as { valid: boolean; code: string };
      assert.deepEqual(miss, { valid: false, code: "NOT_FOUND" });

      t0 = performance.now();
      const r = await runAutocannon({
        url: server.url,
        connections: 50,
        durationSeconds: 5,
        warmupSeconds: 1,
        requests: verifyRequests(tokens),
      });
      console.log(
        `bare node:http POST /v1/verify, autocannon 50 conns 5 s (child process): ${fmt(r.rps)} req/s  ` +
          `p50 ${fmt(r.p50, 3)} ms  p99 ${fmt(r.p99, 3)} ms  (autocannon p99 ${r.autocannonP99} ms)  ` +
          `total ${fmt(r.totalRequests)}  non2xx ${r.non2xx}  errors ${r.errors}  ` +
          `[${fmt((performance.now() - t0) / 1000, 1)} s wall incl. warm-up]`,
      );
      assert.equal(r.non2xx, 0, "bare server answered non-2xx");
      assert.equal(r.errors, 0, "connection errors against the bare server");
    } finally {
      await server.close();
    }
    console.log("\nselfcheck OK");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
