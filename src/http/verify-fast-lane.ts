import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyBaseLogger } from "fastify";
import type { Static } from "typebox";
import { TesseraError } from "../core/errors.js";
import { type RequestMeta, traceIdFrom } from "../services/request-meta.js";
import { verificationBody } from "../services/verification-view.js";
import type { VerifyResult } from "../services/verifier.js";
import type { Tessera } from "../tessera.js";
import { authenticateBearer, type BearerMemo } from "./auth.js";
import { API_HEADERS, HSTS } from "./headers.js";
import { HTTPS_REQUIRED_DETAIL, problemResponse, toTesseraError } from "./problem.js";
import { VERIFY_BODY_LIMIT, verifyAs } from "./routes/verify-routes.js";
import { VerifyBody } from "./schemas.js";
import { clientAddress, isHttpsRequest, type Trust, trustFunction } from "./trust-proxy.js";
import { createValidatorCompiler, parseJsonBody, type Validator } from "./validation.js";

/** Bodies the fast lane reads itself: the route's own limit; anything larger goes to Fastify, which answers 413. */
const MAX_FAST_BODY = VERIFY_BODY_LIMIT;

/** What the fast lane reads of a plain verification call's headers (see {@link VerifyFastLane.take}). */
export interface PlainVerifyCall {
  /** Content-Length. */
  length: number;
  /** Undefined only for an oversize call without credentials. */
  authorization: string | undefined;
  traceparent: string | undefined;
  userAgent: string | undefined;
  /**
   * Content-Length over the route's limit: refused from the headers alone (401 or the bearer's own
   * refusal, else 413), the connection closed with the body unread. Under a flood of such bodies this
   * keeps their refusal on the lane's warm code instead of Fastify's pipeline (bench i).
   */
  oversize: boolean;
}

export interface VerifyFastLane {
  /**
   * From the request line and headers alone: the common verification call's headers, or undefined when
   * the request should go through Fastify.
   */
  take(req: IncomingMessage): PlainVerifyCall | undefined;
  handle(req: IncomingMessage, res: ServerResponse, call: PlainVerifyCall): void;
}

const JSON_TYPE_RE = /^application\/json\s*(?:;|$)/i;
const BEARER_PREFIX_RE = /^bearer /i;
const LENGTH_RE = /^\d{1,5}$/;
const ANY_LENGTH_RE = /^\d{1,15}$/;
/** The embedded page's bearer, which Fastify's route authenticates (src/http/auth.ts). */
const EMBED_BEARER_RE = /^bearer +tse\./i;
const NO_CREDENTIALS_DETAIL = "Sign in, or send Authorization: Bearer <token>";
const TOO_LARGE_DETAIL = `The request body is larger than this route accepts (${VERIFY_BODY_LIMIT} bytes)`;

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
  if (length !== undefined && +length > MAX_FAST_BODY) return oversizeCall(req, length);
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
  return callOf(req, +length, authorization, false);
}

function callOf(req: IncomingMessage, length: number, authorization: string | undefined, oversize: boolean): PlainVerifyCall {
  const traceparent = req.headers.traceparent;
  return {
    length,
    authorization,
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
    userAgent: req.headers["user-agent"],
    oversize,
  };
}

/**
 * A body over the route's limit, refused as the Fastify route would before reading it: with no
 * credentials at all (no Authorization, no cookie) 401; with a (non-embed) Bearer and a JSON
 * Content-Type, the bearer's refusal or 413. Anything else (a session cookie, another scheme or type)
 * goes to Fastify, which decides it the same way at its own cost.
 */
function oversizeCall(req: IncomingMessage, length: string): PlainVerifyCall | undefined {
  const { headers } = req;
  const authorization = headers.authorization;
  if (!ANY_LENGTH_RE.test(length) || headers["transfer-encoding"] !== undefined) return undefined;
  if (authorization === undefined) {
    if (headers.cookie !== undefined) return undefined;
  } else {
    const type = headers["content-type"];
    if (!BEARER_PREFIX_RE.test(authorization) || EMBED_BEARER_RE.test(authorization)) return undefined;
    if (type === undefined || !JSON_TYPE_RE.test(type)) return undefined;
  }
  return callOf(req, +length, authorization, true);
}

const TOKEN_MAX_LENGTH = (VerifyBody.properties.token as unknown as { maxLength: number }).maxLength;

/**
 * `{"token": "<string>"}` and nothing else, the string without escapes or control characters (so it
 * means exactly its characters): one regular expression instead of JSON.parse, the prototype-poisoning
 * scan, the depth walk and the schema check, which together cost more than a warm verification.
 */
const TOKEN_ONLY_BODY_RE = /^[\t\n\r ]*\{[\t\n\r ]*"token"[\t\n\r ]*:[\t\n\r ]*"([ !#-[\]-\uffff]*)"[\t\n\r ]*\}[\t\n\r ]*$/;

/** One request on its way through the lane. */
class Exchange {
  readonly chunks: Buffer[] = [];
  received = 0;
  /** Answer with `Connection: close` and drop the socket once the answer is out (the body is not read). */
  close = false;
  constructor(
    readonly res: ServerResponse,
    readonly call: PlainVerifyCall,
    readonly started: number,
    readonly traceId: string,
    readonly meta: RequestMeta,
    readonly https: boolean,
    /** The connection's last bearer and its digest (see {@link BearerMemo}). */
    readonly memo: BearerMemo,
  ) {}
}

const BEARER = Symbol("tessera.bearerMemo");
type LaneSocket = TLSSocket & { [BEARER]?: BearerMemo };

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
    this.#trust = trustFunction(tessera.config.trustProxy);
    this.#record = tessera.metrics.httpObserver("POST", "/v1/verify");
  }

  take(req: IncomingMessage): PlainVerifyCall | undefined {
    return plainCall(req);
  }

  handle(req: IncomingMessage, res: ServerResponse, call: PlainVerifyCall): void {
    const started = performance.now();
    const traceId = traceIdFrom(call.traceparent);
    const socket = req.socket as LaneSocket;
    // The same reading of the proxy chain as Fastify's routes (src/http/trust-proxy.ts).
    const ip = clientAddress(req, this.#trust);
    const https = isHttpsRequest(req, this.#trust);
    const meta: RequestMeta = { ip, userAgent: call.userAgent ? call.userAgent.slice(0, 512) : null, traceId };
    socket[BEARER] ??= { header: undefined, digest: null };
    const x = new Exchange(res, call, started, traceId, meta, https, socket[BEARER]);
    req.on("error", () => res.destroy());
    if (call.oversize) {
      this.#refuseOversize(x);
      return;
    }
    if (!https && this.#tessera.config.production) {
      // As on every other route in production (src/http/app.ts): nothing, not even the body, over plain HTTP.
      req.resume();
      this.#fail(x, new TesseraError("https_required", HTTPS_REQUIRED_DETAIL));
      return;
    }
    if (call.length === 0) {
      req.on("end", () => this.#respond(x, ""));
      req.resume();
    } else {
      req.on("data", (chunk: Buffer) => this.#onData(x, chunk));
    }
  }

  /** See {@link oversizeCall}: the same answers as the route's onRequest step and body limit, body unread. */
  #refuseOversize(x: Exchange): void {
    x.close = true;
    const { authorization } = x.call;
    if (!x.https && this.#tessera.config.production) {
      this.#fail(x, new TesseraError("https_required", HTTPS_REQUIRED_DETAIL));
      return;
    }
    if (authorization === undefined) {
      this.#fail(x, new TesseraError("unauthorized", NO_CREDENTIALS_DETAIL));
      return;
    }
    const tooLarge = () => this.#fail(x, new TesseraError("payload_too_large", TOO_LARGE_DETAIL));
    let actor: ReturnType<typeof authenticateBearer>;
    try {
      actor = authenticateBearer(this.#tessera, authorization, x.https, x.meta, x.memo);
    } catch (error) {
      this.#fail(x, error);
      return;
    }
    if (actor instanceof Promise) actor.then(tooLarge, (error: unknown) => this.#fail(x, error));
    else tooLarge();
  }

  #onData(x: Exchange, chunk: Buffer): void {
    x.chunks.push(chunk);
    x.received += chunk.length;
    // Answered as soon as Content-Length bytes are in (the parser has then finished the request), not a
    // tick later on 'end'.
    if (x.received === x.call.length) {
      this.#respond(x, x.chunks.length === 1 ? x.chunks[0]!.toString("utf8") : Buffer.concat(x.chunks).toString("utf8"));
    }
  }

  #respond(x: Exchange, text: string): void {
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
    const tessera = this.#tessera;
    // The caller first, the body after (SPEC §4, as on the route): a refused bearer costs no parse.
    // A call that is not oversize always has its Bearer (see plainCall).
    const actor = authenticateBearer(tessera, x.call.authorization!, x.https, x.meta, x.memo);
    return actor instanceof Promise
      ? actor.then((a) => verifyAs(tessera, a, this.#parse(text)))
      : verifyAs(tessera, actor, this.#parse(text));
  }

  #succeed(x: Exchange, result: VerifyResult): void {
    const body = verificationBody(result);
    this.#send(x, 200, "application/json; charset=utf-8", body.text, undefined, body.bytes);
  }

  #fail(x: Exchange, error: unknown): void {
    const mapped = toTesseraError(error as Parameters<typeof toTesseraError>[0]);
    if (mapped.code === "internal_error" || mapped.code === "service_unavailable") {
      this.#log().error({ err: error, traceId: x.traceId }, "request failed");
    }
    const { problem, headers } = problemResponse(mapped, x.traceId, x.call.authorization !== undefined);
    this.#send(x, problem.status, "application/problem+json; charset=utf-8", JSON.stringify(problem), headers);
  }

  #send(x: Exchange, status: number, type: string, body: string, extra?: Record<string, string>, bytes?: number): void {
    const headers: (string | number)[] = [...this.#fixed, "x-trace-id", x.traceId];
    if (extra) for (const name in extra) headers.push(name, extra[name]!);
    headers.push("content-type", type, "content-length", bytes ?? Buffer.byteLength(body));
    if (x.https) headers.push("strict-transport-security", HSTS);
    if (x.close) headers.push("connection", "close");
    x.res.writeHead(status, headers);
    x.res.end(body);
    if (x.close) {
      // The answer is in the kernel's hands once nothing is left to write: drop the socket now, before
      // the loop reads (and the parser copies) another chunk of the unread body; else once it is out.
      const socket = x.res.socket;
      if (socket && socket.writableLength === 0) socket.destroy();
      else x.res.once("finish", () => x.res.socket?.destroy());
    }
    this.#record(status, (performance.now() - x.started) / 1000);
  }

  /** The parsed, validated body, or a thrown validation problem. */
  #parse(text: string): Static<typeof VerifyBody> {
    // The common body, `{"token": "…"}` with a plain string, is read without the general machinery
    // below, which decides everything else (and every error) exactly as the Fastify route does.
    const plain = TOKEN_ONLY_BODY_RE.exec(text);
    if (plain !== null && plain[1]!.length <= TOKEN_MAX_LENGTH) return { token: plain[1]! };
    const parsed = parseJsonBody(text);
    const body = parsed === undefined ? {} : parsed; // an empty body validates as {}, as on the route; `null` does not
    const checked = this.#validate(body);
    if (checked !== true) {
      const failure = Object.assign(new Error("body validation"), { validation: checked.error, validationContext: "body" });
      throw toTesseraError(failure as unknown as Parameters<typeof toTesseraError>[0]);
    }
    return body as Static<typeof VerifyBody>;
  }
}
