import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyBaseLogger } from "fastify";
import proxyAddr from "proxy-addr";
import secureJson from "secure-json-parse";
import type { Static } from "typebox";
import { TesseraError } from "../core/errors.js";
import { traceIdFrom } from "../services/request-meta.js";
import type { Tessera } from "../tessera.js";
import { authenticateBearer } from "./auth.js";
import { API_HEADERS, HSTS } from "./headers.js";
import { problemResponse, toTesseraError } from "./problem.js";
import { verifyAs } from "./routes/verify-routes.js";
import { VerifyBody } from "./schemas.js";
import { createValidatorCompiler, jsonDepthExceeds, MAX_JSON_DEPTH } from "./validation.js";

/** Bodies the fast lane reads itself; anything larger goes through Fastify (which allows up to 1 MiB). */
const MAX_FAST_BODY = 16 * 1024;

export interface VerifyFastLane {
  /** From the request line and headers alone: whether this request is the common verification call. */
  takes(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

type Trust = (address: string, hop: number) => boolean;

/** Fastify's reading of `trustProxy`, so both entry points agree on the client's address and scheme. */
function trustOf(setting: boolean | number | string): Trust | undefined {
  if (setting === false) return undefined;
  if (setting === true) return () => true;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting.split(",").map((s) => s.trim()));
}

/**
 * `POST /v1/verify` without Fastify's request pipeline: the call the operator's backend makes for every
 * request it serves. It runs the same steps with the same code (bearer authentication, JSON parsing
 * with the same limits, the route's compiled schema, `verifyAs`, problem responses, headers, metrics),
 * only without the framework's per-request machinery, which costs more than verification itself. It takes
 * only the plain case (JSON body of at most 16 KiB with a Content-Length, a Bearer credential, no query
 * string); everything else, and `app.inject` in tests, goes through the Fastify route, and a test checks
 * that both answer the same.
 */
export function createVerifyFastLane(tessera: Tessera, log: () => FastifyBaseLogger): VerifyFastLane {
  const validate = createValidatorCompiler()({ schema: VerifyBody, httpPart: "body", method: "POST", url: "/v1/verify" }) as ((
    value: unknown,
  ) => boolean) & { errors?: unknown[] | null };
  const trust = trustOf(tessera.config.trustProxy);

  function observe(status: number, started: bigint): void {
    tessera.metrics.observeHttp("POST", "/v1/verify", status, Number(process.hrtime.bigint() - started) / 1e9);
  }

  function clientOf(req: IncomingMessage): { ip: string | null; https: boolean } {
    const encrypted = Boolean((req.socket as TLSSocket).encrypted);
    if (!trust) return { ip: req.socket.remoteAddress ?? null, https: encrypted };
    const forwarded = req.headers["x-forwarded-proto"];
    const proto = typeof forwarded === "string" ? forwarded.slice(forwarded.lastIndexOf(",") + 1).trim() : undefined;
    return { ip: proxyAddr(req, trust), https: encrypted || proto === "https" };
  }

  function send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    https: boolean,
    traceId: string,
    extra?: Record<string, string>,
  ) {
    const headers: Record<string, string | number> = {
      ...API_HEADERS,
      "x-trace-id": traceId,
      ...extra,
      "content-type": type,
      "content-length": Buffer.byteLength(body),
    };
    if (https) headers["strict-transport-security"] = HSTS;
    res.writeHead(status, headers);
    res.end(body);
  }

  async function answer(req: IncomingMessage, text: string, traceId: string, ip: string | null, https: boolean) {
    let body: unknown;
    if (text.trim() === "") {
      body = {};
    } else {
      try {
        body = secureJson.parse(text, undefined, { protoAction: "error", constructorAction: "error" });
      } catch (error) {
        throw toTesseraError(Object.assign(error as Error, { statusCode: 400 }) as Parameters<typeof toTesseraError>[0]);
      }
      if (jsonDepthExceeds(body, MAX_JSON_DEPTH)) {
        throw new TesseraError("validation_failed", `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
          fields: [{ field: "body", message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }],
        });
      }
    }
    if (!validate(body)) {
      const failure = Object.assign(new Error("body validation"), {
        validation: validate.errors ?? [],
        validationContext: "body",
      });
      throw toTesseraError(failure as unknown as Parameters<typeof toTesseraError>[0]);
    }
    const ua = req.headers["user-agent"];
    const meta = { ip, userAgent: ua ? ua.slice(0, 512) : null, traceId };
    const actor = await authenticateBearer(tessera, req.headers.authorization!, https, meta);
    return verifyAs(tessera, actor, body as Static<typeof VerifyBody>);
  }

  return {
    takes(req) {
      if (req.method !== "POST" || req.url !== "/v1/verify") return false;
      const type = req.headers["content-type"];
      const length = req.headers["content-length"];
      const authorization = req.headers.authorization;
      return (
        typeof type === "string" &&
        (type === "application/json" || type.toLowerCase().startsWith("application/json")) &&
        typeof authorization === "string" &&
        /^bearer /i.test(authorization) &&
        typeof length === "string" &&
        /^\d{1,5}$/.test(length) &&
        Number(length) <= MAX_FAST_BODY &&
        req.headers["transfer-encoding"] === undefined
      );
    },

    handle(req, res) {
      const started = process.hrtime.bigint();
      const traceId = traceIdFrom(req.headers.traceparent as string | undefined);
      const { ip, https } = clientOf(req);
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("error", () => res.destroy());
      req.on("end", () => {
        const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
        answer(req, text, traceId, ip, https).then(
          (view) => {
            send(res, 200, "application/json; charset=utf-8", JSON.stringify(view), https, traceId);
            observe(200, started);
          },
          (error: unknown) => {
            const mapped = toTesseraError(error as Parameters<typeof toTesseraError>[0]);
            if (mapped.code === "internal_error" || mapped.code === "service_unavailable") {
              log().error({ err: error, traceId }, "request failed");
            }
            const { problem, headers } = problemResponse(mapped, traceId, true);
            send(
              res,
              problem.status,
              "application/problem+json; charset=utf-8",
              JSON.stringify(problem),
              https,
              traceId,
              headers,
            );
            observe(problem.status, started);
          },
        );
      });
    },
  };
}
