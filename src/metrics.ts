import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/** Prometheus metrics of one Tessera instance (its own registry, so several apps can share a process). */
export interface Metrics {
  registry: Registry;
  verifications: Counter<"code">;
  httpDuration: HttpDurationHistogram;
  /** Records one HTTP request's duration. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  /** {@link observeHttp} bound to one route, for a hot path: no label lookup per request beyond the status. */
  httpObserver(method: string, route: string): (status: number, seconds: number) => void;
}

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

type HttpLabels = { method: string; route: string; status: string };

interface SampleValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

interface Series {
  labels: HttpLabels;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * `tessera_http_request_duration_seconds`: a histogram by method, route and status, written for the
 * request path. prom-client's Histogram converts, validates and hashes the labels on every observation
 * (about a microsecond, as much as a warm verification); here a request adds to a series found once,
 * and the Prometheus text is built at scrape time. Registered in the registry like any prom-client metric.
 */
export class HttpDurationHistogram {
  readonly name = "tessera_http_request_duration_seconds";
  readonly help = "HTTP request latency by route";
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #series = new Map<string, Series>();

  series(method: string, route: string, status: number): Series {
    const key = `${method} ${route} ${status}`;
    let series = this.#series.get(key);
    if (!series) {
      series = {
        labels: { method, route, status: String(status) },
        counts: new Float64Array(HTTP_BUCKETS.length + 1),
        sum: 0,
        count: 0,
      };
      this.#series.set(key, series);
    }
    return series;
  }

  observe(series: Series, seconds: number): void {
    let i = 0;
    while (i < HTTP_BUCKETS.length && seconds > HTTP_BUCKETS[i]!) i++;
    series.counts[i]!++;
    series.sum += seconds;
    series.count++;
  }

  /** What prom-client's registry renders (the same shape its own Histogram returns). */
  get(): { name: string; help: string; type: "histogram"; aggregator: "sum"; values: SampleValue[] } {
    const values: SampleValue[] = [];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0;
      HTTP_BUCKETS.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...labels }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** The verifier cache's tallies since start, and its current size. */
export interface CacheTallies {
  hits: number;
  misses: number;
  refreshes: number;
  size: number;
  /** Of which "no such secret" answers (their own bounded pool). */
  negatives?: number;
}

const NO_CACHE: CacheTallies = { hits: 0, misses: 0, refreshes: 0, size: 0 };

/**
 * `verifications` and the cache figures read the verifier's own tallies at scrape time (no label lookup
 * or metric update per verification).
 */
export function createMetrics(
  verificationOutcomes: () => Record<string, number>,
  cacheTallies: () => CacheTallies = () => NO_CACHE,
  limitTallies: () => { fallbacks: number; redisErrors: number; redisUp: boolean; leased?: number } = () => ({
    fallbacks: 0,
    redisErrors: 0,
    redisUp: false,
  }),
): Metrics {
  const registry = new Registry();
  for (const [name, help, key] of [
    [
      "tessera_limits_fallbacks_total",
      "Limit checks answered without Redis because it was down (per-instance fallback, or refused when closed)",
      "fallbacks",
    ],
    ["tessera_limits_redis_errors_total", "Redis commands of the limiter that failed or timed out", "redisErrors"],
    ["tessera_limits_leased_total", "Limit checks answered from units this instance leased ahead from Redis", "leased"],
  ] as const) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(limitTallies()[key] ?? 0);
      },
    });
  }
  new Gauge({
    name: "tessera_limits_redis_up",
    help: "1 while the limiter's Redis answers (0 without Redis or while it is down)",
    registers: [registry],
    collect() {
      this.set(limitTallies().redisUp ? 1 : 0);
    },
  });
  for (const [name, help, key] of [
    ["tessera_verifier_cache_hits_total", "Verifications answered from the cache", "hits"],
    ["tessera_verifier_cache_misses_total", "Verifications that read storage (token not cached, or its entry stale)", "misses"],
    ["tessera_verifier_cache_refreshes_total", "Background re-reads of cached tokens in use, before their TTL ends", "refreshes"],
  ] as const) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(cacheTallies()[key]);
      },
    });
  }
  new Gauge({
    name: "tessera_verifier_cache_entries",
    help: "Tokens (and unknown secrets) the verifier cache holds now",
    registers: [registry],
    collect() {
      this.set(cacheTallies().size);
    },
  });
  new Gauge({
    name: "tessera_verifier_cache_negative_entries",
    help: "Unknown secrets the verifier cache remembers now (their own pool, bounded apart from real tokens)",
    registers: [registry],
    collect() {
      this.set(cacheTallies().negatives ?? 0);
    },
  });
  collectDefaultMetrics({ register: registry, prefix: "tessera_process_" });
  const httpDuration = new HttpDurationHistogram();
  registry.registerMetric(httpDuration as never);
  return {
    registry,
    httpDuration,
    observeHttp(method, route, status, seconds) {
      httpDuration.observe(httpDuration.series(method, route, status), seconds);
    },
    httpObserver(method, route) {
      const byStatus = new Map<number, Series>();
      return (status, seconds) => {
        let series = byStatus.get(status);
        if (!series) {
          series = httpDuration.series(method, route, status);
          byStatus.set(status, series);
        }
        httpDuration.observe(series, seconds);
      };
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
