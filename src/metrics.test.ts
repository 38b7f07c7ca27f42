import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";

describe("HTTP duration histogram", () => {
  it("renders cumulative buckets, +Inf, sum and count per method, route and status", async () => {
    const metrics = createMetrics(() => ({}));
    metrics.observeHttp("GET", "/v1/me", 200, 0.0004);
    metrics.observeHttp("GET", "/v1/me", 200, 0.001); // on a bound: counted in le="0.001"
    metrics.observeHttp("GET", "/v1/me", 200, 7); // beyond the last bound: only +Inf
    const verify = metrics.httpObserver("POST", "/v1/verify");
    verify(200, 0.003);
    verify(401, 0.0001);
    verify(200, 0.02);

    const text = await metrics.registry.metrics();
    const line = (labels: string, suffix = "bucket") =>
      text.split("\n").find((l) => l.startsWith(`tessera_http_request_duration_seconds_${suffix}{${labels}}`));
    const me = 'method="GET",route="/v1/me",status="200"';
    expect(line(`le="0.0005",${me}`)).toMatch(/ 1$/);
    expect(line(`le="0.001",${me}`)).toMatch(/ 2$/);
    expect(line(`le="2.5",${me}`)).toMatch(/ 2$/);
    expect(line(`le="+Inf",${me}`)).toMatch(/ 3$/);
    expect(line(me, "sum")).toMatch(/ 7\.0014$/);
    expect(line(me, "count")).toMatch(/ 3$/);

    const ok = 'method="POST",route="/v1/verify",status="200"';
    expect(line(`le="0.0025",${ok}`)).toMatch(/ 0$/);
    expect(line(`le="0.005",${ok}`)).toMatch(/ 1$/);
    expect(line(`le="0.025",${ok}`)).toMatch(/ 2$/);
    expect(line('method="POST",route="/v1/verify",status="401"', "count")).toMatch(/ 1$/);
    expect(text).toContain("# TYPE tessera_http_request_duration_seconds histogram");
  });
});

describe("verifier cache metrics", () => {
  it("render the verifier's tallies as they are at scrape time", async () => {
    const tallies = { hits: 5, misses: 2, refreshes: 1, size: 7 };
    const metrics = createMetrics(
      () => ({}),
      () => tallies,
    );
    const value = (text: string, name: string) => text.split("\n").find((l) => l.startsWith(`${name} `));
    let text = await metrics.registry.metrics();
    expect(value(text, "tessera_verifier_cache_hits_total")).toBe("tessera_verifier_cache_hits_total 5");
    expect(value(text, "tessera_verifier_cache_misses_total")).toBe("tessera_verifier_cache_misses_total 2");
    expect(value(text, "tessera_verifier_cache_refreshes_total")).toBe("tessera_verifier_cache_refreshes_total 1");
    expect(value(text, "tessera_verifier_cache_entries")).toBe("tessera_verifier_cache_entries 7");
    Object.assign(tallies, { hits: 9, size: 3 });
    text = await metrics.registry.metrics();
    expect(value(text, "tessera_verifier_cache_hits_total")).toBe("tessera_verifier_cache_hits_total 9");
    expect(value(text, "tessera_verifier_cache_entries")).toBe("tessera_verifier_cache_entries 3");
  });
});
