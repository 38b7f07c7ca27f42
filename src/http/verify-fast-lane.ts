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
import { authenticateBearer, type BearerMemo } from "./auth.js";
import { API_HEADERS, HSTS } from "./headers.js";
import { problemResponse, toTesseraError } from "./problem.js";
import { verifyAs } from "./routes/verify-routes.js";
import { VerifyBody } from "./schemas.js";
import { createValidatorCompiler, jsonDepthExceeds, MAX_JSON_DEPTH } from "./validation.js";

/** Bodies the fast lane reads itself; anything larger goes through Fastify (which allows up to 1 MiB). */
const MAX_FAST_BODY = 16 * 1024;

/** What the fast lane reads of a plain verification call's headers (see {@link VerifyFastLane.take}). */
export interface PlainVerifyCall {
  /** Content-Length. */
  length: number;
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
 * The plain case, from the request line and headers: a JSON Content-Type, a Bearer Authorization, a
 * Content-Length of at most 16 KiB, no Transfer-Encoding, no query string. Undefined otherwise.
 */
function plainCall(req: IncomingMessage): PlainVerifyCall | undefined {
  if (req.method !== "POST" || req.url !== "/v1/verify") return undefined;
  const { headers } = req; // built by Node for every request anyway
  const type = headers["content-type"];
  const length = headers["content-length"];
  const authorization = headers.authorization;
  if (
    type === undefined ||
    !JSON_TYPE_RE.test(type) ||
    authorization === undefined ||
    !BEARER_PREFIX_RE.test(authorization) ||
    length === undefined ||
    !LENGTH_RE.test(length) ||
    +length > MAX_FAST_BODY ||
    headers["transfer-encoding"] !== undefined
  ) {
    return undefined;
  }
  const traceparent = headers.traceparent;
  return {
    length: +length,
    authorization,
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
    userAgent: headers["user-agent"],
  };
}

/** One request on its way through the lane (kept on the request object, so its listeners need no closures). */
interface Exchange {
  lane: Lane;
  res: ServerResponse;
  call: PlainVerifyCall;
  started: number;
  traceId: string;
  meta: RequestMeta;
  https: boolean;
  /** The connection's last bearer and its digest (see {@link BearerMemo}). */
  memo: BearerMemo;
  chunks: Buffer[];
  received: number;
}

const EXCHANGE = Symbol("tessera.verifyExchange");
const BEARER = Symbol("tessera.bearerMemo");
type LaneRequest = IncomingMessage & { [EXCHANGE]?: Exchange };
type LaneSocket = TLSSocket & { [BEARER]?: BearerMemo };

function onData(this: LaneRequest, chunk: Buffer): void {
  const x = this[EXCHANGE]!;
  x.chunks.push(chunk);
  x.received += chunk.length;
  // Answered as soon as Content-Length bytes are in (the parser has then finished the request), not a
  // tick later on 'end'.
  if (x.received === x.call.length) {
    x.lane.respond(x, x.chunks.length === 1 ? x.chunks[0]!.toString("utf8") : Buffer.concat(x.chunks).toString("utf8"));
  }
}

function onEmptyEnd(this: LaneRequest): void {
  const x = this[EXCHANGE]!;
  x.lane.respond(x, "");
}

function onError(this: LaneRequest): void {
  this[EXCHANGE]!.res.destroy();
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
  return new Lane(tessera, log);
}

type Validator = ((value: unknown) => boolean) & { errors?: unknown[] | null };

class Lane implements VerifyFastLane {
  readonly #tessera: Tessera;
  readonly #log: () => FastifyBaseLogger;
  readonly #validate: Validator;
  readonly #trust: Trust | undefined;
  readonly #record: (status: number, seconds: number) => void;
  /** The fixed response headers as a flat name/value list, which `writeHead` takes without building an object. */
  readonly #fixed = Object.entries(API_HEADERS).flat();

  constructor(tessera: Tessera, log: () => FastifyBaseLogger) {
    this.#tessera = tessera;
    this.#log = log;
    this.#validate = createValidatorCompiler()({
      schema: VerifyBody,
      httpPart: "body",
      method: "POST",
      url: "/v1/verify",
    }) as Validator;
    this.#trust = trustOf(tessera.config.trustProxy);
    this.#record = tessera.metrics.httpObserver("POST", "/v1/verify");
  }

  take(req: IncomingMessage): PlainVerifyCall | undefined {
    return plainCall(req);
  }

  handle(req: LaneRequest, res: ServerResponse, call: PlainVerifyCall): void {
    const started = performance.now();
    const traceId = traceIdFrom(call.traceparent);
    const socket = req.socket as LaneSocket;
    let ip: string | null;
    let https = Boolean(socket.encrypted);
    if (this.#trust) {
      ip = proxyAddr(req, this.#trust);
      const forwarded = req.headers["x-forwarded-proto"];
      if (typeof forwarded === "string" && forwarded.slice(forwarded.lastIndexOf(",") + 1).trim() === "https") https = true;
    } else {
      ip = socket.remoteAddress ?? null;
    }
    const meta: RequestMeta = { ip, userAgent: call.userAgent ? call.userAgent.slice(0, 512) : null, traceId };
    socket[BEARER] ??= { header: undefined, digest: null };
    req[EXCHANGE] = { lane: this, res, call, started, traceId, meta, https, memo: socket[BEARER], chunks: [], received: 0 };
    req.on("error", onError);
    if (call.length === 0) {
      req.on("end", onEmptyEnd);
      req.resume();
    } else {
      req.on("data", onData);
    }
  }

  respond(x: Exchange, text: string): void {
    let result: VerifyResult | Promise<VerifyResult>;
    try {
      result = this.#answer(x, text);
    } catch (error) {
      this.#fail(x, error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (r) => this.#succeed(x, r),
        (error: unknown) => this.#fail(x, error),
      );
    } else {
      this.#succeed(x, result);
    }
  }

  /**
   * Authenticates the caller and verifies the token: the result at once when both tokens are warm (no
   * promise on the hot path), a promise when storage or a wait is involved; refusals are thrown or rejected.
   */
  #answer(x: Exchange, text: string): VerifyResult | Promise<VerifyResult> {
    const body = this.#parse(text);
    const tessera = this.#tessera;
    const actor = authenticateBearer(tessera, x.call.authorization, x.https, x.meta, x.memo);
    return actor instanceof Promise ? actor.then((a) => verifyAs(tessera, a, body)) : verifyAs(tessera, actor, body);
  }

  #succeed(x: Exchange, result: VerifyResult): void {
    this.#send(x, 200, "application/json; charset=utf-8", verificationJson(result));
  }

  #fail(x: Exchange, error: unknown): void {
    const mapped = toTesseraError(error as Parameters<typeof toTesseraError>[0]);
    if (mapped.code === "internal_error" || mapped.code === "service_unavailable") {
      this.#log().error({ err: error, traceId: x.traceId }, "request failed");
    }
    const { problem, headers } = problemResponse(mapped, x.traceId, true);
    this.#send(x, problem.status, "application/problem+json; charset=utf-8", JSON.stringify(problem), headers);
  }

  #send(x: Exchange, status: number, type: string, body: string, extra?: Record<string, string>): void {
    const headers: (string | number)[] = [...this.#fixed, "x-trace-id", x.traceId];
    if (extra) for (const name in extra) headers.push(name, extra[name]!);
    headers.push("content-type", type, "content-length", Buffer.byteLength(body));
    if (x.https) headers.push("strict-transport-security", HSTS);
    x.res.writeHead(status, headers);
    x.res.end(body);
    this.#record(status, (performance.now() - x.started) / 1000);
  }

  /** The parsed, validated body, or a thrown validation problem. */
  #parse(text: string): Static<typeof VerifyBody> {
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
    if (!this.#validate(body)) {
      const failure = Object.assign(new Error("body validation"), {
        validation: this.#validate.errors ?? [],
        validationContext: "body",
      });
      throw toTesseraError(failure as unknown as Parameters<typeof toTesseraError>[0]);
    }
    return body as Static<typeof VerifyBody>;
  }
}
