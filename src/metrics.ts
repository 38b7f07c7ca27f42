import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one Tessera instance (its own registry, so several apps can share a process). */
export interface Metrics {
  registry: Registry;
  verifications: Counter<"code">;
  httpDuration: Histogram<"method" | "route" | "status">;
}

/** `verifications` reads the verifier's own tallies at scrape time (no label lookup per verification). */
export function createMetrics(verificationOutcomes: () => Record<string, number>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tessera_process_" });
  return {
    registry,
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
    httpDuration: new Histogram({
      name: "tessera_http_request_duration_seconds",
      help: "HTTP request latency by route",
      labelNames: ["method", "route", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
