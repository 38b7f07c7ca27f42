// First: keeps Node's nextTick records on their fast path (see the module).
import "../runtime/keep-tick-shape.js";
import { existsSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import fastifyCookie from "@fastify/cookie";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import fastifyUnderPressure from "@fastify/under-pressure";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import { Gauge } from "prom-client";
import { TesseraError } from "../core/errors.js";
import { traceIdFrom } from "../services/request-meta.js";
import type { Tessera } from "../tessera.js";
import { authenticate, isHttps } from "./auth.js";
import "./context.js";
import { consoleStaticOptions } from "./console-assets.js";
import { embedRouteAllowed, isEmbedPage } from "./embed-guard.js";
import { API_HEADERS, embedPageHeaders, HSTS, PAGE_HEADERS } from "./headers.js";
import { addComponents, swaggerOptions } from "./openapi.js";
import { HTTPS_REQUIRED_DETAIL, redactSecrets, sendProblem, toTesseraError } from "./problem.js";
import { accountRoutes } from "./routes/account-routes.js";
import { authRoutes } from "./routes/auth-routes.js";
import { embedRoutes, embedScriptRoute } from "./routes/embed-routes.js";
import { governanceRoutes } from "./routes/governance-routes.js";
import { healthRoutes } from "./routes/health-routes.js";
import { invitationRoutes } from "./routes/invitation-routes.js";
import { oidcRoutes } from "./routes/oidc-routes.js";
import { orgRoutes } from "./routes/org-routes.js";
import { rootTokenRoutes } from "./routes/root-token-routes.js";
import { secretScanningRoutes } from "./routes/secret-scanning-routes.js";
import { tokenRoutes } from "./routes/token-routes.js";
import { verifyRoutes } from "./routes/verify-routes.js";
import { webhookRoutes } from "./routes/webhook-routes.js";
import { trustFunction } from "./trust-proxy.js";
import { createValidatorCompiler, parseJsonBody } from "./validation.js";
import { createVerifyFastLane } from "./verify-fast-lane.js";

/**
 * Largest body any route reads when it does not say otherwise (Fastify's `bodyLimit` route option):
 * every body but the scope catalogue's fits in a few KiB, so an attacker cannot make the server buffer,
 * parse and validate a megabyte per request. See docs/api.md "Body limits".
 */
export const BODY_LIMIT = 64 * 1024;

/** Seconds a client is asked to wait when the server is under pressure. */
const PRESSURE_RETRY_AFTER = 5;
/** The one refusal under pressure: built once, nothing allocated per refused request. */
const OVERLOADED = new TesseraError("service_unavailable", "The server is overloaded; try again shortly", {
  retryAfterSeconds: PRESSURE_RETRY_AFTER,
});

/** Whether the request announces a body (which a refusal in onRequest leaves unread). */
/**
 * A refused request whose body was never read: answer with `Connection: close` and drop the socket as soon
 * as the answer is out, so that the rest of the body (up to a hostile 1 MiB and more) is neither read nor
 * discarded chunk by chunk by Node's server, only reset. Measured: about 1 ms of CPU per refused 938 KiB
 * request before, which a flood multiplies.
 */
function closeUnread(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("connection", "close");
  reply.raw.once("finish", () => request.raw.socket.destroy());
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined;
}

export interface AppOptions {
  /** Fastify logger options; false silences it (tests). Authorization headers and cookies are always redacted. */
  logger?: FastifyServerOptions["logger"];
  /** Where the log goes (tests capture it). */
  logStream?: NodeJS.WritableStream;
}

const REDACT = ["req.headers.authorization", "req.headers.cookie", 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'];

/** The Fastify app, without listening: tests drive it with `app.inject`, `server.ts` listens. */
export async function buildApp(tessera: Tessera, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = tessera;
  const logger =
    options.logger === false
      ? false
      : {
          level: config.logLevel,
          redact: { paths: REDACT, censor: "[redacted]" },
          serializers: {
            // A token pasted into a URL (by mistake or by an attacker probing) must not reach the log.
            req: (req: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
              method: req.method,
              url: redactSecrets(req.url),
              host: req.host,
              remoteAddress: req.ip,
            }),
          },
          ...(options.logStream ? { stream: options.logStream } : {}),
          ...(typeof options.logger === "object" ? options.logger : {}),
        };
  // The server (plain or TLS) comes from serverFactory; Fastify's types would otherwise follow `https`.
  let log: FastifyBaseLogger | undefined;
  const fastLane = createVerifyFastLane(tessera, () => log!);
  const serverOptions = {
    logger,
    // A function, never the raw setting: see trustFunction for how Fastify would misread `true` or a number.
    trustProxy: trustFunction(config.trustProxy) ?? false,
    bodyLimit: BODY_LIMIT,
    // Our own server, so that `POST /v1/verify` can take its fast lane before Fastify's pipeline.
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const dispatch = (req: IncomingMessage, res: ServerResponse) => {
        tessera.traffic.requests++;
        const call = fastLane.take(req);
        if (call) fastLane.handle(req, res, call);
        else handler(req, res);
      };
      const server = config.tls
        ? createHttpsServer({ cert: config.tls.cert, key: config.tls.key }, dispatch)
        : createHttpServer(dispatch);
      // Fastify's own default: keep idle keep-alive connections from busy backends for 72 s.
      server.keepAliveTimeout = 72_000;
      return server;
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Errors Fastify raises before routing (a malformed URL) answer problem+json like everything else.
    frameworkErrors: (error: Parameters<typeof toTesseraError>[0], request: FastifyRequest, reply: FastifyReply) => {
      const detail = error.code === "FST_ERR_BAD_URL" ? "The URL is malformed" : "The request could not be understood";
      return sendProblem(
        request,
        reply,
        new TesseraError("validation_failed", detail, { fields: [{ field: "url", message: "is malformed" }] }),
      );
    },
    // Our own trace ids; the default counter would collide across instances.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) =>
      traceIdFrom(req.headers.traceparent as string | undefined),
  } as FastifyServerOptions;
  const app = Fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>();
  log = app.log;

  app.setValidatorCompiler(createValidatorCompiler());
  app.decorate("tessera", tessera);
  app.decorateRequest("traceId", "");
  await app.register(fastifyCookie);
  addComponents(app);

  // Empty bodies are fine (POST …/suspend with a JSON content type); deep nesting is refused early.
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: BODY_LIMIT }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(typeof body === "string" ? body : body.toString("utf8")));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // A POST without a body (…/suspend, …/regenerate) validates as an empty object.
  app.addHook("preValidation", (request, _reply, done) => {
    if (request.body === undefined && request.method !== "GET" && request.method !== "HEAD") request.body = {};
    done();
  });

  // Security headers are fixed per kind of response (src/http/headers.ts): set once per request.
  const embedHeaders = embedPageHeaders(config.embedOrigins);
  app.addHook("onRequest", (request, reply, done) => {
    request.traceId = request.id;
    reply.headers(request.url.startsWith("/v1/") ? API_HEADERS : isEmbedPage(request.url) ? embedHeaders : PAGE_HEADERS);
    reply.header("x-trace-id", request.traceId);
    if (isHttps(request)) reply.header("strict-transport-security", HSTS);
    done();
  });

  // Production over plain HTTP (SPEC §8): nothing but the health checks, before any body is read or any
  // credential looked at, so that a password, session or secret sent by mistake is at least not used.
  // Page loads get the same 426 as the API: a redirect needs a host we can trust, which a plain-HTTP
  // request's Host header is not.
  if (config.production) {
    app.addHook("onRequest", (request, reply, done) => {
      if (isHttps(request)) return done();
      const path = request.url.split("?")[0];
      if (path === "/healthz" || path === "/readyz") return done();
      sendProblem(request, reply, new TesseraError("https_required", HTTPS_REQUIRED_DETAIL));
    });
  }

  // Before the loop drowns: while the event loop's mean delay (or the heap) over the last sample is over
  // its limit, requests are refused at once with 503 and Retry-After instead of queueing behind the work
  // that delays them. /healthz and /metrics still answer (liveness must not flap, and the operator needs
  // to see why); /readyz answers 503, so a load balancer sends traffic to another instance meanwhile. The
  // verification fast lane is not refused: a warm verification costs microseconds and is what the
  // operator's own users wait on. Thresholds: docs/api.md "Under pressure".
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.maxHeapMb * 1024 * 1024,
    sampleInterval: config.pressureSampleMs,
    pressureHandler: async (request: FastifyRequest, reply: FastifyReply) => {
      const route = request.routeOptions.url;
      if (route === "/healthz" || route === "/metrics") return;
      if (hasBody(request)) reply.header("connection", "close");
      throw OVERLOADED;
    },
  });
  const pressure = app as unknown as { isUnderPressure(): boolean };
  if (!tessera.metrics.registry.getSingleMetric("tessera_under_pressure")) {
    new Gauge({
      name: "tessera_under_pressure",
      help: "1 while requests are refused with 503 because the event loop or the heap is over its limit",
      registers: [tessera.metrics.registry],
      collect() {
        this.set(pressure.isUnderPressure() ? 1 : 0);
      },
    });
  }

  // Cheap refusal first (SPEC §4): every `/v1/` route authenticates its caller (and checks CSRF) here, in
  // onRequest, before its body is read, parsed or validated; an anonymous or forged request costs a
  // header check, never a JSON parse or a schema walk. Routes anyone may call say `config: { public:
  // true }`. Pages, /docs, /healthz, /readyz and /metrics are not under /v1/. The actor is memoised on the
  // request, so the handler's own `authenticate()`/`orgAccess()` decide nothing twice.
  app.decorateRequest("actor", null);
  app.addHook("onRequest", async (request, reply) => {
    const { url, config } = request.routeOptions;
    if (url === undefined || !url.startsWith("/v1/") || config.public === true) return;
    try {
      request.actor = await authenticate(request);
      if (request.actor.type === "user" && request.actor.embed !== undefined && !embedRouteAllowed(request.method, url)) {
        throw new TesseraError("forbidden", "An embedded session can use only its organisation's tokens screen");
      }
    } catch (error) {
      // A refused request's body is never read: close the connection after the answer rather than
      // receiving (and discarding) whatever the client still sends.
      if (hasBody(request)) closeUnread(request, reply);
      throw error;
    }
  });

  app.addHook("onResponse", (request, reply, done) => {
    tessera.metrics.observeHttp(
      request.method,
      request.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    let mapped = toTesseraError(error as Parameters<typeof toTesseraError>[0]);
    if (mapped.code === "payload_too_large") {
      const limit = request.routeOptions.bodyLimit ?? BODY_LIMIT;
      mapped = new TesseraError("payload_too_large", `The request body is larger than this route accepts (${limit} bytes)`);
    }
    if ((mapped.code === "internal_error" || mapped.code === "service_unavailable") && error !== OVERLOADED) {
      request.log.error({ err: error, traceId: request.traceId }, "request failed");
    }
    return sendProblem(request, reply, mapped);
  });

  await app.register(fastifySwagger, swaggerOptions);

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(oidcRoutes);
  await app.register(orgRoutes);
  await app.register(invitationRoutes);
  await app.register(accountRoutes);
  await app.register(tokenRoutes);
  await app.register(governanceRoutes);
  await app.register(webhookRoutes);
  await app.register(verifyRoutes);
  await app.register(rootTokenRoutes);
  await app.register(embedRoutes);
  await app.register(secretScanningRoutes);

  app.get("/v1/openapi.json", { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  await app.register(fastifySwaggerUi, {
    routePrefix: "/docs",
    uiConfig: { url: "/v1/openapi.json" } as never,
    uiHooks: {
      // The plugin sends /docs/static/index.html to /docs/ by rewriting the URL's end, which a query
      // string defeats: `/docs/static/index.html?x` was redirected to itself, for ever.
      onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
        if (request.routeOptions.url === "/docs/static/index.html") return reply.redirect("/docs/");
      },
    },
  });

  const consoleIndex = join(config.consoleDir, "index.html");
  const hasConsole = existsSync(consoleIndex);
  if (hasConsole) {
    await app.register(fastifyStatic, consoleStaticOptions(config.consoleDir));
  } else {
    app.get("/", { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type("text/html")
        .send(
          '<!doctype html><title>Tessera</title><p>Tessera is running. The console is not built: run <code>npm run build</code>.</p><p><a href="/docs">API documentation</a></p>',
        ),
    );
  }

  await app.register(embedScriptRoute(hasConsole));

  app.setNotFoundHandler((request, reply) => {
    const isPage = (request.method === "GET" || request.method === "HEAD") && !request.url.startsWith("/v1/") && hasConsole;
    if (isPage && (request.headers.accept ?? "").includes("text/html")) {
      return reply.type("text/html").sendFile("index.html");
    }
    return sendProblem(request, reply, new TesseraError("not_found", `No route ${request.method} ${request.url.split("?")[0]}`));
  });

  return app;
}
