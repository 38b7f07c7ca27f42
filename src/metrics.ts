import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one Tessera instance (its own registry, so several apps can share a process). */
export interface Metrics {
  registry: Registry;
  verifications: Counter<"code">;
  httpDuration: Histogram<"method" | "route" | "status">;
  /**
   * Records one HTTP request's duration. One labelled child per (method, route, status) is kept, so
   * observing skips prom-client's label hashing on every request.
   */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
}

/** `verifications` reads the verifier's own tallies at scrape time (no label lookup per verification). */
export function createMetrics(verificationOutcomes: () => Record<string, number>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tessera_process_" });
  const httpDuration = new Histogram({
    name: "tessera_http_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const children = new Map<string, { observe(seconds: number): void }>();
  return {
    registry,
    httpDuration,
    observeHttp(method, route, status, seconds) {
      const key = `${method} ${route} ${status}`;
      let child = children.get(key);
      if (!child) {
        child = httpDuration.labels(method, route, String(status));
        children.set(key, child);
      }
      child.observe(seconds);
    },
    verifications: new Counter({
      name: "tessera_verifications_total",
      help: "Token verifications by result code",
      labelNames: ["code"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [code, count] of Object.entries(verificationOutcomes())) if (count > 0) this.inc({ code }, count);
      },
    }),
  };
}
