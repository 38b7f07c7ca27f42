import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyBaseLogger } from "fastify";
import proxyAddr from "proxy-addr";
import secureJson from "secure-json-parse";
import type { Static } from "typebox";
import { TesseraError } from "../core/errors.js";
import { type RequestMeta, traceIdFrom } from "../services/request-meta.js";
import { verificationJson } from "../services/verification-view.js";
import type { VerifyResult } from "../services/verifier.js";
import type { Tessera } from "../tessera.js";
import { authenticateBearer } from "./auth.js";
import { API_HEADERS, HSTS } from "./headers.js";
import { problemResponse, toTesseraError } from "./problem.js";
import { verifyAs } from "./routes/verify-routes.js";
import { VerifyBody } from "./schemas.js";
import { createValidatorCompiler, jsonDepthExceeds, MAX_JSON_DEPTH } from "./validation.js";

/** Bodies the fast lane reads itself; anything larger goes through Fastify (which allows up to 1 MiB). */
const MAX_FAST_BODY = 16 * 1024;

/** What the fast lane reads of a request's headers (straight from `rawHeaders`, see {@link VerifyFastLane.take}). */
export interface PlainVerifyCall {
  authorization: string;
  traceparent: string | undefined;
  userAgent: string | undefined;
}

export interface VerifyFastLane {
  /**
   * From the request line and headers alone: the common verification call's headers, or undefined when
   * the request should go through Fastify.
   */
  take(req: IncomingMessage): PlainVerifyCall | undefined;
  handle(req: IncomingMessage, res: ServerResponse, call: PlainVerifyCall): void;
}

type Trust = (address: string, hop: number) => boolean;

/** Fastify's reading of `trustProxy`, so both entry points agree on the client's address and scheme. */
function trustOf(setting: boolean | number | string): Trust | undefined {
  if (setting === false) return undefined;
  if (setting === true) return () => true;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting.split(",").map((s) => s.trim()));
}

const JSON_TYPE_RE = /^application\/json\s*(?:;|$)/i;
const BEARER_PREFIX_RE = /^bearer /i;
const LENGTH_RE = /^\d{1,5}$/;

/**
 * The headers the fast lane needs, read from `rawHeaders` without building `req.headers` (Node builds
 * that object on first use, which costs about as much as a warm verification). Undefined unless the
 * request is the plain case: one JSON Content-Type, one Bearer Authorization, one Content-Length of at
 * most 16 KiB, no Transfer-Encoding, and no repeated header among these (Node's rules for duplicates are
 * left to Fastify's path).
 */
function plainCall(raw: string[]): PlainVerifyCall | undefined {
  let type: string | undefined;
  let length: string | undefined;
  let authorization: string | undefined;
  let traceparent: string | undefined;
  let userAgent: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const value = raw[i + 1]!;
    switch (raw[i]!.toLowerCase()) {
      case "content-type":
        if (type !== undefined) return undefined;
        type = value;
        break;
      case "content-length":
        if (length !== undefined) return undefined;
        length = value;
        break;
      case "authorization":
        if (authorization !== undefined) return undefined;
        authorization = value;
        break;
      case "traceparent":
        if (traceparent !== undefined) return undefined;
        traceparent = value;
        break;
      case "user-agent":
        if (userAgent !== undefined) return undefined;
        userAgent = value;
        break;
      case "transfer-encoding":
        return undefined;
    }
  }
  if (
    type === undefined ||
    !JSON_TYPE_RE.test(type) ||
    authorization === undefined ||
    !BEARER_PREFIX_RE.test(authorization) ||
    length === undefined ||
    !LENGTH_RE.test(length) ||
    Number(length) > MAX_FAST_BODY
  ) {
    return undefined;
  }
  return { authorization, traceparent, userAgent };
}

/**
 * `POST /v1/verify` without Fastify's request pipeline: the call the operator's backend makes for every
 * request it serves. It runs the same steps with the same code (bearer authentication, JSON parsing
 * with the same limits, the route's compiled schema, `verifyAs`, problem responses, headers, metrics),
 * only without the framework's per-request machinery, which costs more than verification itself. When
 * both tokens are warm nothing on the way is asynchronous: the answer is written in the same tick the
 * body arrives. It takes only the plain case (see {@link plainCall}, and no query string); everything
 * else, and `app.inject` in tests, goes through the Fastify route, and a test checks that both answer
 * the same.
 */
export function createVerifyFastLane(tessera: Tessera, log: () => FastifyBaseLogger): VerifyFastLane {
  const validate = createValidatorCompiler()({ schema: VerifyBody, httpPart: "body", method: "POST", url: "/v1/verify" }) as ((
    value: unknown,
  ) => boolean) & { errors?: unknown[] | null };
  const trust = trustOf(tessera.config.trustProxy);

  const record = tessera.metrics.httpObserver("POST", "/v1/verify");
  function observe(status: number, started: bigint): void {
    record(status, Number(process.hrtime.bigint() - started) / 1e9);
  }

  function clientOf(req: IncomingMessage): { ip: string | null; https: boolean } {
    const encrypted = Boolean((req.socket as TLSSocket).encrypted);
    if (!trust) return { ip: req.socket.remoteAddress ?? null, https: encrypted };
    const forwarded = req.headers["x-forwarded-proto"];
    const proto = typeof forwarded === "string" ? forwarded.slice(forwarded.lastIndexOf(",") + 1).trim() : undefined;
    return { ip: proxyAddr(req, trust), https: encrypted || proto === "https" };
  }

  /** The fixed response headers as a flat name/value list, which `writeHead` takes without building an object. */
  const fixed = Object.entries(API_HEADERS).flat();

  function send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    https: boolean,
    traceId: string,
    extra?: Record<string, string>,
  ) {
    const headers: (string | number)[] = [...fixed, "x-trace-id", traceId];
    if (extra) for (const name in extra) headers.push(name, extra[name]!);
    headers.push("content-type", type, "content-length", Buffer.byteLength(body));
    if (https) headers.push("strict-transport-security", HSTS);
    res.writeHead(status, headers);
    res.end(body);
  }

  /** The parsed, validated body, or a thrown validation problem. */
  function parse(text: string): Static<typeof VerifyBody> {
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
    return body as Static<typeof VerifyBody>;
  }

  /**
   * Authenticates the caller and verifies the token: the result at once when both tokens are warm (no
   * promise on the hot path), a promise when storage or a wait is involved; refusals are thrown or rejected.
   */
  function answer(call: PlainVerifyCall, text: string, meta: RequestMeta, https: boolean): VerifyResult | Promise<VerifyResult> {
    const body = parse(text);
    const actor = authenticateBearer(tessera, call.authorization, https, meta);
    return actor instanceof Promise ? actor.then((a) => verifyAs(tessera, a, body)) : verifyAs(tessera, actor, body);
  }

  return {
    take(req) {
      return req.method === "POST" && req.url === "/v1/verify" ? plainCall(req.rawHeaders) : undefined;
    },

    handle(req, res, call) {
      const started = process.hrtime.bigint();
      const traceId = traceIdFrom(call.traceparent);
      const { ip, https } = clientOf(req);
      const meta: RequestMeta = { ip, userAgent: call.userAgent ? call.userAgent.slice(0, 512) : null, traceId };
      const succeed = (result: VerifyResult) => {
        send(res, 200, "application/json; charset=utf-8", verificationJson(result), https, traceId);
        observe(200, started);
      };
      const fail = (error: unknown) => {
        const mapped = toTesseraError(error as Parameters<typeof toTesseraError>[0]);
        if (mapped.code === "internal_error" || mapped.code === "service_unavailable") {
          log().error({ err: error, traceId }, "request failed");
        }
        const { problem, headers } = problemResponse(mapped, traceId, true);
        send(res, problem.status, "application/problem+json; charset=utf-8", JSON.stringify(problem), https, traceId, headers);
        observe(problem.status, started);
      };
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("error", () => res.destroy());
      req.on("end", () => {
        const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
        let result: VerifyResult | Promise<VerifyResult>;
        try {
          result = answer(call, text, meta, https);
        } catch (error) {
          fail(error);
          return;
        }
        if (result instanceof Promise) result.then(succeed, fail);
        else succeed(result);
      });
    },
  };
}
