import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compileAllowlist, normalizeIp, parseCidr } from "../../src/core/ip.js";
import { FREE_TEXT_PATTERN, forbiddenNameCharacter } from "../../src/core/names.js";
import { DEFAULT_QUOTAS } from "../../src/core/quotas.js";
import { isWildcard, MANAGEMENT_SCOPE_NAMES, resourceOf, SCOPE_RE, scopeSet, unknownScopes } from "../../src/core/scopes.js";
import { generateToken, isWellFormedToken, MAX_TOKEN_LENGTH, parseToken } from "../../src/core/token-format.js";
import { BODY_LIMIT } from "../../src/http/app.js";
import { CATALOGUE_BODY_LIMIT } from "../../src/http/routes/org-routes.js";
import { MAX_JSON_DEPTH } from "../../src/http/validation.js";
import { type DialectName, dialects } from "../support/databases.js";
import {
  type Call,
  type Credentials,
  call,
  createToken,
  headersFor,
  linkSecret,
  login,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/**
 * Hostile input (issue 5 point 2), driven by the OpenAPI document so that a route added later is fuzzed
 * without touching this file: every JSON body, every query parameter and every path parameter gets
 * arbitrary JSON, schema-shaped values with hostile contents (unicode, SQL-looking text, very long
 * strings, deep nesting, prototype keys), sent as the owner with real ids. Never a 5xx, never a stack
 * trace, always problem+json with a `code` (and `errors[].field` for a 400). The parsers underneath
 * (tokens, scopes, CIDRs) get their own properties; unicode and SQL-looking strings come back verbatim.
 */

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface JsonSchema {
  /** One JSON type, or several (`["string", "null"]` for nullable fields). */
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

interface Operation {
  key: string;
  method: Method;
  /** OpenAPI form: `/v1/orgs/{orgId}/tokens`. */
  path: string;
  pathParams: string[];
  query: { name: string; schema: JsonSchema }[];
  body: JsonSchema | undefined;
}

interface OpenApiOperation {
  parameters?: { in: string; name: string; schema: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema: JsonSchema }> };
}

function operationsOf(app: FastifyInstance): Operation[] {
  const doc = app.swagger() as { paths: Record<string, Record<string, OpenApiOperation>> };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (method === "head") continue;
      const params = op.parameters ?? [];
      ops.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase() as Method,
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query").map((p) => ({ name: p.name, schema: p.schema })),
        body: op.requestBody?.content?.["application/json"]?.schema,
      });
    }
  }
  return ops;
}

/** The route list is read once, at collection time, from a throwaway app: one test per route. */
const OPERATIONS = await (async () => {
  const t = await startTestApp("sqlite");
  try {
    return operationsOf(t.app);
  } finally {
    await t.close();
  }
})();
const BODY_OPS = OPERATIONS.filter((op) => op.body);
const QUERY_OPS = OPERATIONS.filter((op) => op.query.length > 0);
const PATH_OPS = OPERATIONS.filter((op) => op.pathParams.length > 0);

/** Routes called with the root token rather than the owner's session (a session is refused there). */
const BEARER_ROUTES = new Set(["POST /v1/verify"]);
/** Routes whose valid bodies cost a password hash (scrypt, ~50-100 ms): fewer runs keep the suite fast. */
const hashesPasswords = (op: Operation) => Boolean(op.body?.properties?.password);

// ---------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------

const SQLISH = [
  "'; DROP TABLE tokens; --",
  "Robert'); DROP TABLE users;--",
  "' OR '1'='1",
  '" OR "1"="1" --',
  "1; SELECT pg_sleep(5); --",
  "' UNION SELECT secret_hash, null FROM tokens --",
  "'); DELETE FROM memberships WHERE ('a'='a",
  "admin'--",
  "%",
  "_",
  "%_%",
  "\\",
  "\\'",
  "''",
  "$1",
  "$$ body $$",
  "?",
  ":name",
  "@p0",
  "/* */",
  "`id`",
  "[x]",
  "E'\\\\x00'",
  "COPY tokens TO PROGRAM 'id'",
  "; ATTACH DATABASE '/tmp/x' AS x; --",
  "PRAGMA writable_schema=1",
  "$" + "{jndi:ldap://x}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "../../../../etc/passwd",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e309",
  "true",
  "[]",
  "{}",
];

const UNICODE = [
  "名前 🚀",
  "Ünïcödé — “quotes” ‘single’ «guillemets»",
  "👩‍👩‍👧‍👦 family 🇮🇹 flag",
  "right-to-left \u202e txet",
  "zero\u200bwidth\u200djoiner",
  "\ufeffBOM",
  "ｆｕｌｌｗｉｄｔｈ",
  "İıſK ß ﬁ",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
  "e\u0301\u0301\u0301 combining",
  "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
  "مرحبا שלום",
  "line\u2028separator\u2029",
  "\ufffd\uffff",
  "한국어 日本語 中文",
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const oddChar = fc.oneof(
  loneSurrogate,
  fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
  fc.constantFrom("\u007f", "\u0085", "\u00a0", "\u2028", "\u2029", "\u202e", "\u200b", "\ufeff", "\ufffd", "\uffff", "'", '"'),
);
/** Up to 300 000 characters: some bodies cross 1 MiB (413), most stay under it. */
const longString = fc
  .tuple(fc.string({ unit: "binary", minLength: 1, maxLength: 6 }), fc.integer({ min: 101, max: 300_000 }))
  .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 120 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SQLISH, ...UNICODE) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom(...SQLISH, ...UNICODE, " ", "x"), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.join("")),
  },
  { weight: 1, arbitrary: fc.string({ unit: oddChar, maxLength: 20 }) },
  { weight: 1, arbitrary: longString },
);

const edgeNumber = fc.constantFrom(
  0,
  -0,
  -1,
  0.5,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  -(2 ** 63),
);

/** Nested arrays or objects, some deeper than the parser accepts. */
const deep = fc.tuple(fc.integer({ min: 2, max: 80 }), fc.boolean()).map(([depth, arrays]) => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
  return value;
});

const trickyKey = fc.oneof(
  { weight: 4, arbitrary: hostileString.filter((s) => s.length < 300) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", " ", "$where"),
  },
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }) },
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: edgeNumber },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, "", " ") },
  {
    weight: 1,
    arbitrary: fc.dictionary(trickyKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  },
);

/** Whether a parsed JSON value holds a `__proto__` key or a `constructor.prototype`, which the parser refuses. */
function hasPrototypeKey(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  if (Object.hasOwn(value, "__proto__")) return true;
  const ctor = (value as Record<string, unknown>).constructor;
  if (Object.hasOwn(value, "constructor") && ctor !== null && typeof ctor === "object" && Object.hasOwn(ctor, "prototype")) {
    return true;
  }
  return Object.values(value).some(hasPrototypeKey);
}

const LEAP_SECOND = "2030-06-30T23:59:60Z";
const dateTime: fc.Arbitrary<string> = fc.oneof(
  fc
    .date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2040-01-01T00:00:00Z"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc
    .integer({ min: -30, max: 4000 })
    .map((days) => new Date(Date.now() + days * 86_400_000).toISOString().replace("Z", "+00:00")),
  fc.constantFrom(
    LEAP_SECOND,
    "2030-02-30T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2030-01-01T00:00:00+14:00",
    "2030-01-01T00:00:00-23:59",
    "2030-01-01t00:00:00z",
    "2030-01-01 00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:00.123456789Z",
    "+275760-09-13T00:00:00.000Z",
    "2030-01-01",
    "now",
  ),
);

/**
 * Values that pass the service's own checks for keys found in the schemas (scopes in the catalogue,
 * CIDRs, expiries within policy…). Mixed into the schema-shaped bodies so that many requests get past
 * validation into the services and storage, where hostile text in the other fields then lands.
 */
const HINTS: Record<string, fc.Arbitrary<unknown>> = {
  scopes: fc.constantFrom([], ["tokens:read"], ["tokens:*", "audit:read"]),
  allowedIps: fc.constantFrom([], ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"], [" 10.1.2.3 "]),
  expiresInDays: fc.constantFrom(1, 30, 365, null),
  expiresAt: fc.constantFrom(null, new Date(Date.now() + 7 * 86_400_000).toISOString()),
  graceSeconds: fc.constantFrom(0, 60, 3600),
  tokenPrefix: fc.constantFrom("abc", "tsr", "zz"),
  defaultExpiryDays: fc.constantFrom(null, 30),
  maxExpiryDays: fc.constantFrom(null, 365),
  rateLimit: fc.constantFrom(null, { limit: 10, windowSeconds: 60 }),
  password: fc.constantFrom("a long enough password"),
  token: fc.constantFrom(generateToken("tsr", "live").secret, generateToken("abc", "test").secret),
  ip: fc.constantFrom(null, "10.1.2.3", "::1", "::ffff:192.0.2.1"),
  environment: fc.constantFrom("live", "test"),
  kind: fc.constantFrom("personal", "service"),
};

function stringFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [hostileString];
  if (schema.format === "email")
    options.push(
      fc.emailAddress(),
      fc.emailAddress().map((e) => ` ${e.toUpperCase()} `),
    );
  if (schema.format === "date-time") options.push(dateTime, dateTime);
  if (schema.format === "ipv4" || schema.format === "ipv6") options.push(fc.ipV4(), fc.ipV6(), fc.ipV4Extended());
  if (schema.pattern) options.push(fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= 200));
  if (schema.maxLength !== undefined) {
    // Right at the limit and one over, in code points and in UTF-16 units.
    const max = schema.maxLength;
    options.push(fc.constantFrom("x".repeat(max), "x".repeat(max + 1), "🚀".repeat(max), "é".repeat(max + 1)));
  }
  return fc.oneof(...options);
}

/** Values shaped like the schema (right keys, right types most of the time) with hostile contents. */
function guided(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  let shaped: fc.Arbitrary<unknown>;
  if (Array.isArray(schema.type)) {
    shaped = fc.oneof(...schema.type.map((type) => guided({ ...schema, type }, depth)));
  } else if (schema.anyOf && schema.anyOf.length > 0) {
    // `{type: "string", anyOf: [{format: "ipv4"}, {format: "ipv6"}]}`: the branches inherit the rest.
    const { anyOf, ...rest } = schema;
    shaped = fc.oneof(...anyOf.map((s) => guided({ ...rest, ...s }, depth + 1)));
  } else if (schema.enum) {
    shaped = fc.constantFrom(...schema.enum);
  } else if (schema.const !== undefined) {
    shaped = fc.constant(schema.const);
  } else if (schema.type === "string") {
    shaped = stringFor(schema);
  } else if (schema.type === "integer" || schema.type === "number") {
    const min = schema.minimum ?? -1_000_000;
    const max = schema.maximum ?? 1_000_000;
    shaped = fc.oneof(
      fc.integer({ min: Math.max(min - 2, Number.MIN_SAFE_INTEGER), max: Math.min(max + 2, Number.MAX_SAFE_INTEGER) }),
      fc.constantFrom(min, max, min - 1, max + 1, 1.5, -0),
      edgeNumber,
    );
  } else if (schema.type === "boolean") {
    shaped = fc.boolean();
  } else if (schema.type === "null") {
    shaped = fc.constant(null);
  } else if (schema.type === "array") {
    shaped = fc.array(schema.items ? guided(schema.items, depth + 1) : hostileValue, { maxLength: depth === 0 ? 8 : 4 });
  } else if (schema.type === "object" && schema.properties && depth < 6) {
    const props = Object.fromEntries(
      Object.entries(schema.properties).map(([k, s]) => {
        const hint = HINTS[k];
        return [
          k,
          hint ? fc.oneof({ weight: 3, arbitrary: hint }, { weight: 2, arbitrary: guided(s, depth + 1) }) : guided(s, depth + 1),
        ];
      }),
    );
    const required = (schema.required ?? []).filter((k) => k in props);
    const record = fc.oneof(fc.record(props, { requiredKeys: required }), fc.record(props, { requiredKeys: [] }));
    shaped = fc
      .tuple(
        record,
        fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(trickyKey, hostileValue) }),
      )
      .map(([r, extra]) => (extra ? { ...(r as object), [extra[0]]: extra[1] } : r));
  } else if (schema.type === "object") {
    shaped = fc.dictionary(trickyKey, hostileValue, { maxKeys: 6 });
  } else {
    shaped = hostileValue;
  }
  // Mostly the right type with hostile contents; now and then anything at all in its place.
  return fc.oneof({ weight: 12, arbitrary: shaped }, { weight: 1, arbitrary: hostileValue });
}

/** Names refuse control characters (C0 and DEL). */
const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c === "\u007f");

/** Text every free-text field accepts (no control characters, not blank), still unicode and SQL-looking. */
const validText = fc
  .oneof(
    fc.constantFrom(...SQLISH, ...UNICODE),
    fc.array(fc.constantFrom(...SQLISH, ...UNICODE, "x"), { minLength: 1, maxLength: 3 }).map((p) => p.join(" ")),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
  )
  .filter((s) => !hasControl(s) && s.trim() !== "" && [...s].length <= 100);

/** A value the schema (and, through HINTS, the service) accepts for this key. */
function safeFor(name: string, schema: JsonSchema): fc.Arbitrary<unknown> {
  const hint = HINTS[name];
  if (hint) return hint;
  if (Array.isArray(schema.type)) return fc.oneof(...schema.type.map((type) => safeFor(name, { ...schema, type })));
  if (schema.anyOf && schema.anyOf.length > 0) {
    const { anyOf, ...rest } = schema;
    return safeFor(name, { ...rest, ...anyOf[0] });
  }
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  switch (schema.type) {
    case "string": {
      if (schema.format === "email") return fc.emailAddress().filter((e) => e.length <= 200);
      if (schema.format) return fc.constant(exampleOf(schema));
      const max = schema.maxLength ?? 100;
      const fits = (s: string) => [...s].length <= max && (!schema.pattern || new RegExp(schema.pattern, "u").test(s));
      return schema.pattern && !fits("x") ? fc.stringMatching(new RegExp(schema.pattern)) : validText.filter(fits);
    }
    case "boolean":
      return fc.boolean();
    case "array":
      return schema.items ? fc.array(safeFor(name, schema.items), { maxLength: 3 }) : fc.constant([]);
    case "object":
      if (schema.properties) return nearValid(schema);
      return fc.dictionary(validText, fc.oneof(validText, fc.integer(), fc.boolean()), { maxKeys: 3 });
    default:
      return fc.constant(exampleOf(schema));
  }
}

/** A body the route should accept, with zero to two of its fields replaced by hostile values. */
function nearValid(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.type === "array") return safeFor("", schema);
  const props = schema.properties ?? {};
  const keys = Object.keys(props);
  if (keys.length === 0) return guided(schema);
  const base = fc.record(Object.fromEntries(keys.map((k) => [k, safeFor(k, props[k]!)])), {
    requiredKeys: (schema.required ?? []).filter((k) => k in props),
  });
  const overrides = fc
    .subarray(keys, { maxLength: Math.min(2, keys.length) })
    .chain((picked) => fc.tuple(...picked.map((k) => guided(props[k]!, 1).map((v) => [k, v] as const))));
  return fc.tuple(base, overrides).map(([b, over]) => ({ ...(b as object), ...Object.fromEntries(over) }));
}

/** Any body for a route: near-valid, schema-shaped with hostile contents, or plain arbitrary JSON. */
function bodyFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: nearValid(schema) },
    { weight: 4, arbitrary: guided(schema) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4, stringUnit: "binary" }) },
    { weight: 1, arbitrary: hostileValue },
  );
}

/** Text for a query or path parameter: schema-shaped, hostile, or raw bytes that are not even UTF-8. */
function paramText(schema: JsonSchema | undefined): fc.Arbitrary<string> {
  const shaped = schema ? guided(schema).map((v) => (typeof v === "string" ? v : (JSON.stringify(v) ?? ""))) : hostileString;
  return fc.oneof(
    shaped,
    hostileString.filter((s) => s.length < 5000),
  );
}

// ---------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------

/** A stack frame in plain text: JSON escapes newlines, so a raw newline + "at " is never data. */
const STACK = /\n\s+at |\bat [^\s"]+ \((?:node:|file:|\/)[^)"]*:\d+:\d+\)/;

function wellFormed(res: Call, what: string): void {
  const context = `${what} → ${res.status} ${res.raw.slice(0, 500)}`;
  if (res.status >= 500) throw new Error(`5xx: ${context}`);
  if (STACK.test(res.raw) || /"stack"\s*:/.test(res.raw)) throw new Error(`stack trace in the body: ${context}`);
  if (res.status < 400) {
    // The audit export streams the format it was asked for; every other success is JSON.
    const expected = /\/audit\/export\?/.test(what) ? /^(?:text\/csv|application\/x-ndjson)/ : /^application\/json/;
    if (res.raw !== "") expect(res.headers["content-type"], context).toMatch(expected);
    return;
  }
  expect(res.headers["content-type"], context).toMatch(/^application\/problem\+json/);
  expect(typeof res.body?.code, context).toBe("string");
  expect(res.body.status, context).toBe(res.status);
  expect(res.body.type, context).toBe(`urn:tessera:problem:${res.body.code}`);
  if (res.status === 400) {
    expect(res.body.code, context).toBe("validation_failed");
    expect(Array.isArray(res.body.errors) && res.body.errors.length > 0, context).toBe(true);
    for (const issue of res.body.errors) {
      expect(typeof issue.field === "string" && issue.field.length > 0, context).toBe(true);
      expect(typeof issue.message, context).toBe("string");
    }
  }
}

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses) becomes its three UTF-8-looking
 * bytes (%ED%A0%80…): invalid UTF-8 on the wire, exactly what a hostile client can send.
 */
function encode(text: string): string {
  return text.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (ch) => {
    const code = ch.charCodeAt(0);
    if (ch.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join("");
    }
    return encodeURIComponent(ch);
  });
}

function fill(path: string, ids: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no id for path parameter {${name}}: teach hostile-input.test.ts about it`);
    return encodeURIComponent(id);
  });
}

/** Smallest body that the route's schema accepts: lets path and query fuzzing reach the handler. */
function exampleOf(schema: JsonSchema | undefined): unknown {
  if (!schema) return undefined;
  if (Array.isArray(schema.type)) return exampleOf({ ...schema, type: schema.type[0] });
  if (schema.anyOf) return exampleOf(schema.anyOf[0]);
  if (schema.enum) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  switch (schema.type) {
    case "object":
      return Object.fromEntries((schema.required ?? []).map((k) => [k, exampleOf(schema.properties?.[k])]));
    case "array":
      return [];
    case "string":
      if (schema.format === "email") return "example@acme.test";
      if (schema.format === "date-time") return new Date(Date.now() + 86_400_000).toISOString();
      return "example value long enough";
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return false;
    default:
      return null;
  }
}

/** FC_SEED replays a failure; FUZZ_SCALE=10 (or more) runs the API properties that many times longer. */
const PROPERTY_SEED = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1) || 1);

// ---------------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------------

const RUNS: Record<DialectName, { body: number; hashing: number; params: number; verbatim: number }> = {
  sqlite: { body: 100, hashing: 25, params: 60, verbatim: 40 },
  // One quick pass on PostgreSQL: its own text rules (NUL, encodings) and its own SQL.
  postgres: { body: 20, hashing: 6, params: 15, verbatim: 12 },
};

describe.each(await dialects())("hostile input on %s", (dialect) => {
  const runs = Object.fromEntries(Object.entries(RUNS[dialect]).map(([k, n]) => [k, n * SCALE])) as (typeof RUNS)[DialectName];
  let t: TestApp;
  let w: World;
  let owner: Credentials;
  let root: Credentials;
  /** Per route: its own organisation, token and member, so one route's fuzzing cannot starve another. */
  const ids = new Map<string, Record<string, string>>();

  beforeAll(async () => {
    // The properties below create hundreds of organisations as one person: lift that quota (tested in quotas.test.ts).
    t = await startTestApp(dialect, { quotas: { ...DEFAULT_QUOTAS, organizationsPerUser: 100_000 } });
    w = await seedWorld(t.app);
    owner = w.owner.creds;
    root = { bearer: await rootToken(t.tessera) };
    for (const op of OPERATIONS) {
      if (op.pathParams.length === 0) continue;
      const org = await call(t.app, "POST", "/v1/orgs", owner, { name: `Fuzz ${op.key}` });
      expect(org.status, org.raw).toBe(201);
      const orgId = org.body.id as string;
      // Max joins with his existing session (no password hashing: this runs once per route).
      const join = await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
        email: "member2@acme.test",
        role: "member",
      });
      const joined = await call(t.app, "POST", "/v1/invitations/accept", w.member2.creds, {
        token: linkSecret(join.body.acceptUrl),
      });
      expect(joined.status, joined.raw).toBe(200);
      const token = await createToken(t.app, owner, orgId, { name: "fuzz target" });
      // An open invitation: its id ({id}) and its link's secret ({token}).
      const invited = await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
        email: "fuzz@acme.test",
        role: "viewer",
      });
      expect(invited.status, invited.raw).toBe(201);
      ids.set(op.key, {
        orgId,
        tokenId: token.id,
        userId: w.member2.id,
        id: invited.body.invitation.id,
        token: linkSecret(invited.body.acceptUrl),
      });
    }
  }, 180_000);
  afterAll(() => t?.close());

  /**
   * The session routes act on the caller's own sessions, and a fuzzed `/v1/me/sessions/.` is
   * `DELETE /v1/me/sessions` (sign out everywhere): they get a session of an account no other test uses.
   */
  const credsFor = (op: Operation) => (BEARER_ROUTES.has(op.key) ? root : op.path.startsWith("/v1/me/") ? w.viewer.creds : owner);
  // A fuzzed session route may have signed that account out everywhere (or changed nothing but ended
  // the session): the next test gets a live session again, so it tests its own property, not a 401.
  afterEach(async () => {
    if ((await call(t.app, "GET", "/v1/me", w.viewer.creds)).status === 401)
      w.viewer.creds = await login(t.app, "viewer@acme.test");
  });
  const idsFor = (op: Operation) => ids.get(op.key) ?? {};

  it("reads a sensible route list from the OpenAPI document", () => {
    expect(BODY_OPS.map((op) => op.key)).toEqual(
      expect.arrayContaining([
        "POST /v1/setup",
        "POST /v1/auth/login",
        "POST /v1/orgs/{orgId}/tokens",
        "PATCH /v1/orgs/{orgId}/tokens/{tokenId}",
        "PUT /v1/orgs/{orgId}/scopes",
        "POST /v1/verify",
      ]),
    );
    expect(BODY_OPS.length).toBeGreaterThanOrEqual(11);
    expect(QUERY_OPS.length).toBeGreaterThanOrEqual(3);
  });

  it.each(BODY_OPS.map((op) => [op.key, op] as const))(
    "property: any JSON body for %s is a 2xx or a problem, never a 5xx",
    async (_key, op) => {
      const url = fill(op.path, idsFor(op));
      await fc.assert(
        fc.asyncProperty(bodyFor(op.body!), async (body) => {
          const res = await call(t.app, op.method, url, credsFor(op), body);
          wellFormed(res, `${op.method} ${url} ${JSON.stringify(body)?.slice(0, 300)}`);
        }),
        { numRuns: hashesPasswords(op) ? runs.hashing : runs.body, ...PROPERTY_SEED },
      );
    },
  );

  it.each(QUERY_OPS.map((op) => [op.key, op] as const))(
    "property: any query string for %s is a 2xx or a problem, never a 5xx",
    async (_key, op) => {
      const url = fill(op.path, idsFor(op));
      const pair = fc.oneof(
        ...op.query.map((q) => fc.tuple(fc.constant(q.name), paramText(q.schema))),
        fc.tuple(
          trickyKey,
          hostileString.filter((s) => s.length < 2000),
        ),
      );
      const query = fc
        .array(pair, { minLength: 1, maxLength: 4 })
        .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&"));
      await fc.assert(
        fc.asyncProperty(query, async (qs) => {
          const res = await call(t.app, op.method, `${url}?${qs}`, credsFor(op), exampleOf(op.body));
          wellFormed(res, `${op.method} ${url}?${qs}`);
        }),
        { numRuns: runs.params, ...PROPERTY_SEED },
      );
    },
  );

  it.each(PATH_OPS.map((op) => [op.key, op] as const))(
    "property: any path parameter for %s is a 2xx or a problem, never a 5xx",
    async (_key, op) => {
      // Encoded hostile text, or raw characters (stray `%`, dots, quotes) exactly as a client may send them.
      const raw = fc.string({ unit: fc.constantFrom(..."%.'\"<>\\~!$&()*+,;=:@ aZ09-_é"), maxLength: 30 });
      const segment = fc.oneof(
        paramText(undefined).map(encode),
        raw.map((s) => s.replace(/ /g, "%20")),
        fc.constantFrom("%ff", "%", "%2", "%00", "%2F", "..", ".", "%2e%2e", "tok_%00", "org_' OR 1=1 --".replace(/ /g, "%20")),
      );
      const valid = idsFor(op);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...op.pathParams), segment, async (param, value) => {
          const url = op.path.replace(/\{(\w+)\}/g, (_, name: string) =>
            name === param ? value : encodeURIComponent(valid[name] ?? ""),
          );
          const res = await call(t.app, op.method, url, credsFor(op), exampleOf(op.body));
          wellFormed(res, `${op.method} ${url}`);
        }),
        { numRuns: runs.params, ...PROPERTY_SEED },
      );
    },
  );

  it("property: hostile header values are a 2xx or a problem, never a 5xx", async () => {
    const printable = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 300,
    });
    const headers = fc.record(
      {
        authorization: fc.oneof(
          printable,
          printable.map((s) => `Bearer ${s}`),
          fc.constant("Bearer tsr_live_"),
        ),
        cookie: fc.oneof(
          printable,
          printable.map((s) => `tessera_session=${s}; tessera_csrf=${s}`),
          printable.map((s) => `tessera_session=${s.repeat(10)}`),
        ),
        "x-csrf-token": printable,
        traceparent: printable,
        "x-forwarded-for": printable,
        "content-type": fc.oneof(printable, fc.constant("application/json; charset=latin1")),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(headers, fc.constantFrom("GET /v1/me", `POST /v1/orgs`, "POST /v1/verify"), async (h, route) => {
        const [method, url] = route.split(" ") as [Method, string];
        const res = await t.app.inject({
          method,
          url,
          headers: h,
          ...(method === "POST" ? { payload: JSON.stringify({ name: "header fuzz", token: "x" }) } : {}),
        });
        let body: unknown;
        try {
          body = JSON.parse(res.body);
        } catch {}
        wellFormed({ status: res.statusCode, body, headers: res.headers, raw: res.body }, `${route} ${JSON.stringify(h)}`);
      }),
      { numRuns: runs.params, ...PROPERTY_SEED },
    );
  });

  it("answers 413 payload_too_large for a body over the route's limit on every JSON route", async () => {
    // Over every route's limit, the scope catalogue's (the largest) included.
    const huge = "x".repeat(CATALOGUE_BODY_LIMIT + 1);
    for (const op of BODY_OPS) {
      const url = fill(op.path, idsFor(op));
      const payload =
        op.body?.type === "array" ? JSON.stringify([{ name: "a:b", description: huge }]) : JSON.stringify({ x: huge });
      const res = await t.app.inject({
        method: op.method,
        url,
        headers: { ...headersFor(credsFor(op)), "content-type": "application/json" },
        payload,
      });
      const answer: Call = { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers, raw: res.body };
      wellFormed(answer, op.key);
      expect(answer.status, `${op.key}: ${res.body}`).toBe(413);
      expect(answer.body.code).toBe("payload_too_large");
    }
    // Just under the limit is not a 413: it is parsed, then refused for what it says.
    const under = JSON.stringify({ name: "under", description: "x".repeat(BODY_LIMIT - 100) });
    expect(Buffer.byteLength(under)).toBeLessThanOrEqual(BODY_LIMIT);
    const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, JSON.parse(under));
    wellFormed(res, "just under the limit");
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain("description");
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels with a 400 naming the body, on every JSON route`, async () => {
    const nest = (depth: number, arrays: boolean) => {
      let value: unknown = 1;
      for (let i = 1; i < depth; i++) value = arrays ? [value] : { a: value };
      return arrays ? [value] : { a: value };
    };
    for (const op of BODY_OPS) {
      const url = fill(op.path, idsFor(op));
      for (const payload of [
        JSON.stringify(nest(MAX_JSON_DEPTH + 1, false)),
        JSON.stringify(nest(MAX_JSON_DEPTH + 1, true)),
        // As deep as fits in the smallest body limit (verify's 19 KiB).
        `${"[".repeat(9000)}${"]".repeat(9000)}`,
        `${'{"a":'.repeat(3000)}1${"}".repeat(3000)}`,
      ]) {
        const res = await t.app.inject({
          method: op.method,
          url,
          headers: { ...headersFor(credsFor(op)), "content-type": "application/json" },
          payload,
        });
        const answer: Call = { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers, raw: res.body };
        wellFormed(answer, `${op.key} nested`);
        expect(answer.status).toBe(400);
        expect(answer.body.errors.map((e: { field: string }) => e.field)).toContain("body");
      }
    }
    // Exactly at the limit the parser lets it through: metadata 31 levels deep inside the body (32 in all).
    let metadata: unknown = { leaf: "bottom" };
    for (let i = 2; i < MAX_JSON_DEPTH; i++) metadata = { a: metadata };
    const ok = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, { name: "deep but fine", metadata });
    expect(ok.status, ok.raw).toBe(201);
    expect(ok.body.token.metadata).toEqual(metadata);
  });

  describe("unicode and SQL-looking strings are stored and returned verbatim", () => {
    /** Text the storage can hold: well-formed UTF-16 (no lone surrogates), no NUL on PostgreSQL. */
    const storable = (s: string) =>
      Buffer.from(s, "utf8").toString("utf8") === s && (dialect === "sqlite" || !s.includes("\u0000"));
    /**
     * Names refuse control, bidi-override and zero-width characters (src/core/names.ts; refusals are
     * tested in account-hardening.test.ts) and are trimmed (service).
     */
    const nameLike = fc
      .oneof(
        fc.constantFrom(...SQLISH, ...UNICODE),
        fc.array(fc.constantFrom(...SQLISH, ...UNICODE, " ", "x"), { minLength: 1, maxLength: 4 }).map((p) => p.join(" ")),
        fc.string({ unit: "binary", minLength: 1, maxLength: 60 }),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
      )
      .filter(
        (s) => storable(s) && !hasControl(s) && forbiddenNameCharacter(s) === null && s.trim() !== "" && [...s].length <= 90,
      );
    const textLike = fc
      .oneof(nameLike, fc.string({ unit: oddChar, minLength: 1, maxLength: 20 }), fc.string({ unit: "binary", maxLength: 300 }))
      .filter((s) => storable(s) && s.trim() !== "" && [...s].length <= 300);
    /** A token's description: the names rule, with tabs and line breaks allowed. */
    const freeText = new RegExp(FREE_TEXT_PATTERN, "u");
    const descriptionLike = textLike.filter((s) => freeText.test(s));

    it("property: token name, description, issuedFor and metadata; search by name finds it", async () => {
      const orgId = (await call(t.app, "POST", "/v1/orgs", owner, { name: "Verbatim tokens" })).body.id as string;
      await fc.assert(
        fc.asyncProperty(
          nameLike,
          descriptionLike,
          fc.dictionary(
            textLike.filter((s) => [...s].length <= 200),
            fc.oneof(textLike, fc.jsonValue({ maxDepth: 2 })),
            {
              maxKeys: 3,
            },
          ),
          async (name, text, extra) => {
            const metadata = JSON.parse(JSON.stringify({ [name]: text, nested: { value: text, list: [name, text] }, ...extra }));
            if (Buffer.byteLength(JSON.stringify(metadata)) > 4096) return;
            // Keys that would rewrite a prototype are refused on purpose (validation.test.ts), not stored.
            fc.pre(!hasPrototypeKey(metadata));
            const body = { name, description: text, issuedFor: name, metadata };
            const created = await call(t.app, "POST", `/v1/orgs/${orgId}/tokens`, owner, body);
            expect(created.status, created.raw).toBe(201);
            const expected = { name: name.trim(), description: text.trim(), issuedFor: name.trim(), metadata };
            expect(created.body.token).toMatchObject(expected);
            expect(created.body.token.metadata).toEqual(metadata);
            const detail = await call(t.app, "GET", `/v1/orgs/${orgId}/tokens/${created.body.token.id}`, owner);
            expect(detail.body).toMatchObject(expected);
            expect(detail.body.metadata).toEqual(metadata);
            const found = await call(
              t.app,
              "GET",
              `/v1/orgs/${orgId}/tokens?limit=100&q=${encodeURIComponent(name.trim())}`,
              owner,
            );
            expect(found.status, found.raw).toBe(200);
            expect(found.body.items.map((x: { id: string }) => x.id)).toContain(created.body.token.id);
            // …and an edit keeps them too.
            const edited = await call(t.app, "PATCH", `/v1/orgs/${orgId}/tokens/${created.body.token.id}`, owner, {
              description: name,
              metadata: { edited: text },
            });
            expect(edited.status, edited.raw).toBe(200);
            expect(edited.body).toMatchObject({ description: name.trim(), metadata: { edited: text } });
          },
        ),
        { numRuns: runs.verbatim, ...PROPERTY_SEED },
      );
    });

    it("property: organisation names, scope descriptions and revocation reasons", async () => {
      await fc.assert(
        fc.asyncProperty(nameLike, textLike, async (name, text) => {
          const org = await call(t.app, "POST", "/v1/orgs", owner, { name });
          expect(org.status, org.raw).toBe(201);
          expect(org.body.name).toBe(name.trim());
          const orgId = org.body.id as string;
          expect((await call(t.app, "GET", `/v1/orgs/${orgId}`, owner)).body.name).toBe(name.trim());
          const renamed = await call(t.app, "PATCH", `/v1/orgs/${orgId}`, owner, { name: `${name} 2` });
          expect(renamed.body.name).toBe(`${name} 2`.trim());

          const scopes = await call(t.app, "PUT", `/v1/orgs/${orgId}/scopes`, owner, [
            { name: "reports:read", description: text },
          ]);
          expect(scopes.status, scopes.raw).toBe(200);
          const catalogue = await call(t.app, "GET", `/v1/orgs/${orgId}/scopes`, owner);
          expect(catalogue.body).toContainEqual({ name: "reports:read", description: text.trim(), kind: "product" });

          const token = await createToken(t.app, owner, orgId, { name });
          const revoked = await call(t.app, "POST", `/v1/orgs/${orgId}/tokens/${token.id}/revoke`, owner, {
            reason: text,
          });
          expect(revoked.status, revoked.raw).toBe(200);
          expect(revoked.body.revokeReason).toBe(text.trim());
          const audit = await call(t.app, "GET", `/v1/orgs/${orgId}/audit?action=token.revoked`, owner);
          expect(audit.body.items[0].target.name).toBe(name.trim());
        }),
        { numRuns: Math.ceil(runs.verbatim / 2), ...PROPERTY_SEED },
      );
    });

    it("property: member names (new accounts)", async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(nameLike, async (name) => {
          n += 1;
          const email = `verbatim-${dialect}-${n}@acme.test`;
          const invited = await call(t.app, "POST", `/v1/orgs/${w.orgId}/invitations`, owner, { email, role: "viewer" });
          expect(invited.status, invited.raw).toBe(201);
          const added = await call(t.app, "POST", "/v1/invitations/accept", null, {
            token: linkSecret(invited.body.acceptUrl),
            name,
            password: "a long enough password",
          });
          expect(added.status, added.raw).toBe(200);
          expect(added.body.user.name).toBe(name.trim());
          const members = await call(t.app, "GET", `/v1/orgs/${w.orgId}/members`, owner);
          expect(members.body.items).toContainEqual(expect.objectContaining({ email, name: name.trim() }));
        }),
        { numRuns: runs.hashing, ...PROPERTY_SEED },
      );
    });
  });

  it("names an unknown key in the 400, on every JSON route with an object body", async () => {
    for (const op of BODY_OPS) {
      if (op.body?.type !== "object") continue;
      const url = fill(op.path, idsFor(op));
      const body = { ...(exampleOf(op.body) as object), unexpectedKey: 1 };
      const res = await call(t.app, op.method, url, credsFor(op), body);
      wellFormed(res, op.key);
      expect(res.status, `${op.key}: ${res.raw}`).toBe(400);
      expect(res.body.errors).toContainEqual({ field: "unexpectedKey", message: "is not allowed" });
    }
    // Nested, and an absurdly long key is cut short rather than echoed whole.
    // (Validation stops at the first error, so one problem each.)
    const nested = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, {
      name: "x",
      rateLimit: { limit: 1, windowSeconds: 1, burst: 5 },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.errors.map((e: { field: string }) => e.field)).toContain("rateLimit.burst");
    const long = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, { name: "x", ["k".repeat(10_000)]: 1 });
    expect(long.status).toBe(400);
    expect(long.body.errors.map((e: { field: string }) => e.field)).toContain("k".repeat(100));
    expect(long.raw.length).toBeLessThan(2000);
  });

  it("returns metadata keys holding line breaks (regression: the response serialiser dropped them)", async () => {
    const metadata = { "line\nbreak": 1, "carriage\rreturn": "v", "sep\u2028\u2029": { "inner\nkey": ["x"] }, plain: "p" };
    const created = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, { name: "keys", metadata });
    expect(created.status, created.raw).toBe(201);
    expect(created.body.token.metadata).toEqual(metadata);
    const detail = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${created.body.token.id}`, owner);
    expect(detail.body.metadata).toEqual(metadata);
    // The protected API sees the same metadata in the verify answer.
    const verified = await call(t.app, "POST", "/v1/verify", root, { token: created.body.secret });
    expect(verified.body.valid).toBe(true);
    expect(verified.body.token.metadata).toEqual(metadata);
    // Keys longer than 200 characters are refused (the schema said so, but the old Record type never applied it).
    const long = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, {
      name: "k",
      metadata: { ["k".repeat(201)]: 1 },
    });
    expect(long.status).toBe(400);
    expect(long.body.errors.map((e: { field: string }) => e.field)).toContain("metadata");
  });

  it("answers a repeated first run with 409 before hashing its password (no unauthenticated scrypt sink)", async () => {
    const setup = t.tessera.auth.setup.bind(t.tessera.auth);
    let reached = 0;
    t.tessera.auth.setup = (...args: Parameters<typeof setup>) => {
      reached += 1;
      return setup(...args);
    };
    try {
      const res = await call(t.app, "POST", "/v1/setup", null, {
        email: "late@acme.test",
        password: "p".repeat(1024),
        name: "Late",
        organization: { name: "Late" },
      });
      wellFormed(res, "second setup");
      expect(res.status).toBe(409);
      expect(reached).toBe(0);
    } finally {
      t.tessera.auth.setup = setup;
    }
  });

  it("refuses leap-second date-times (RFC 3339 allows them, Date.parse does not) with a 400, not a 5xx", async () => {
    const { id } = await createToken(t.app, owner, w.orgId, { name: "leap" });
    for (const url of [
      `/v1/orgs/${w.orgId}/audit?from=${LEAP_SECOND}`,
      `/v1/orgs/${w.orgId}/audit?to=${LEAP_SECOND}`,
      `/v1/orgs/${w.orgId}/tokens/${id}/audit?from=${LEAP_SECOND}`,
      `/v1/orgs/${w.orgId}/tokens/${id}/usage?from=${LEAP_SECOND}`,
      `/v1/orgs/${w.orgId}/tokens/${id}/usage?to=${LEAP_SECOND}`,
    ]) {
      const res = await call(t.app, "GET", url, owner);
      wellFormed(res, url);
      expect(res.status, url).toBe(400);
    }
    const body = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, owner, { name: "x", expiresAt: LEAP_SECOND });
    wellFormed(body, "expiresAt leap second");
    expect(body.body.errors.map((e: { field: string }) => e.field)).toContain("expiresAt");
  });
});

// ---------------------------------------------------------------------------------------------------
// The parsers underneath
// ---------------------------------------------------------------------------------------------------

const anyText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 120 }),
  fc.string({ unit: oddChar, maxLength: 40 }),
  longString.map((s) => s.slice(0, 5000)),
  hostileString.map((s) => s.slice(0, 5000)),
);
const tokenPrefix = fc.stringMatching(/^[a-z]{2,8}$/);
const environment = fc.constantFrom("live" as const, "test" as const);
const generated = fc.tuple(tokenPrefix, environment).map(([prefix, env]) => ({ prefix, env, ...generateToken(prefix, env) }));
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe("token parser", () => {
  it("property: never throws, whatever it is given", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.anything() as fc.Arbitrary<unknown>), (value) => {
        const wellFormed = isWellFormedToken(value as string);
        const parsed = parseToken(value as string);
        expect(typeof wellFormed).toBe("boolean");
        expect(parsed !== null).toBe(wellFormed);
      }),
      { numRuns: 2000, ...PROPERTY_SEED },
    );
  });

  it("property: every generated token is well formed and parses back into its parts", () => {
    fc.assert(
      fc.property(generated, ({ prefix, env, secret, displayPrefix, last4 }) => {
        expect(secret.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
        expect(isWellFormedToken(secret)).toBe(true);
        expect(parseToken(secret)).toEqual({ prefix, environment: env, displayPrefix, last4 });
        expect(secret.startsWith(`${prefix}_${env}_`)).toBe(true);
        expect(last4).toBe(secret.slice(-4));
      }),
      { numRuns: 1000, ...PROPERTY_SEED },
    );
  });

  it("property: any one-character change, or swap of two neighbours, makes a token malformed", () => {
    const changed = generated.chain(({ secret }) =>
      fc.record({
        secret: fc.constant(secret),
        at: fc.nat({ max: secret.length - 1 }),
        by: fc.oneof(
          fc.constantFrom(...BASE62, "_", "-", " ", "\u0000", "é", "🚀"),
          fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
        ),
        swap: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(changed, ({ secret, at, by, swap }) => {
        let mutated: string;
        if (swap && at + 1 < secret.length && secret[at] !== secret[at + 1]) {
          mutated = secret.slice(0, at) + secret[at + 1] + secret[at] + secret.slice(at + 2);
        } else {
          fc.pre(by !== secret[at]);
          mutated = secret.slice(0, at) + by + secret.slice(at + 1);
        }
        expect(isWellFormedToken(mutated)).toBe(false);
        expect(parseToken(mutated)).toBeNull();
      }),
      { numRuns: 3000, ...PROPERTY_SEED },
    );
  });

  it("property: a parse result always describes the string that was parsed", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          generated.map((g) => g.secret),
        ),
        (value) => {
          const parsed = parseToken(value);
          if (!parsed) return;
          expect(value.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
          expect(value.startsWith(`${parsed.prefix}_${parsed.environment}_`)).toBe(true);
          expect(parsed.displayPrefix.startsWith(`${parsed.prefix}_${parsed.environment}_`)).toBe(true);
          expect(value.startsWith(parsed.displayPrefix)).toBe(true);
          expect(parsed.last4).toBe(value.slice(-4));
        },
      ),
      { numRuns: 1000, ...PROPERTY_SEED },
    );
  });

  it("refuses upper-case prefixes, wrong environments, trimmed and padded tokens", () => {
    const { secret } = generateToken("tsr", "live");
    for (const bad of [
      secret.toUpperCase(),
      secret.replace("tsr_", "TSR_"),
      secret.replace("_live_", "_prod_"),
      ` ${secret}`,
      `${secret} `,
      `${secret}\n`,
      secret.slice(0, -1),
      `${secret}a`,
      `Bearer ${secret}`,
      `${secret.slice(0, 9)}а${secret.slice(10)}`, // a Cyrillic а in the entropy
    ]) {
      expect(isWellFormedToken(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

const scopeName = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,10}:[a-z][a-z0-9_.-]{0,10}$/);

describe("scopes", () => {
  it("property: SCOPE_RE and unknownScopes never throw; anything not shaped like a scope is unknown", () => {
    fc.assert(
      fc.property(
        fc.array(anyText, { maxLength: 10 }),
        fc.array(fc.oneof(anyText, scopeName), { maxLength: 10 }),
        (requested, catalogue) => {
          const unknown = unknownScopes(requested, catalogue);
          // A subset of the request, in order.
          expect(unknown.every((s) => requested.includes(s))).toBe(true);
          for (const s of requested) {
            if (!SCOPE_RE.test(s)) expect(unknown).toContain(s);
          }
        },
      ),
      { numRuns: 1000, ...PROPERTY_SEED },
    );
  });

  it("property: a catalogue knows its own scopes and wildcards of its resources, and nothing else", () => {
    fc.assert(
      fc.property(fc.array(scopeName, { minLength: 1, maxLength: 10 }), scopeName, (catalogue, other) => {
        const all = [...MANAGEMENT_SCOPE_NAMES, ...catalogue];
        expect(unknownScopes(all, all)).toEqual([]);
        const wildcards = all.map((s) => `${resourceOf(s)}:*`);
        expect(unknownScopes(wildcards, all)).toEqual([]);
        expect(unknownScopes([other], all)).toEqual(all.includes(other) ? [] : [other]);
        const otherWildcard = `${resourceOf(other)}:*`;
        const knowsResource = all.some((s) => resourceOf(s) === resourceOf(other));
        expect(unknownScopes([otherWildcard], all)).toEqual(knowsResource ? [] : [otherWildcard]);
        // Case, whitespace and unicode look-alikes are different, unknown scopes.
        for (const s of catalogue) {
          for (const variant of [s.toUpperCase(), ` ${s}`, `${s} `, `${s}\u0000`, s.replace(":", "："), `${s}:extra`]) {
            if (variant !== s && !all.includes(variant)) expect(unknownScopes([variant], all)).toEqual([variant]);
          }
        }
      }),
      { numRuns: 500, ...PROPERTY_SEED },
    );
  });

  it("property: a permission set grants what it lists, and a wildcard grants every action of its resource only", () => {
    fc.assert(
      fc.property(fc.array(scopeName, { maxLength: 8 }), scopeName, fc.oneof(anyText, scopeName), (granted, asked, junk) => {
        const set = scopeSet(granted);
        for (const s of granted) expect(set.grants(s)).toBe(true);
        const wild = scopeSet([`${resourceOf(asked)}:*`]);
        expect(wild.grants(asked)).toBe(true);
        expect(wild.grants(`${resourceOf(asked)}x:${asked.split(":")[1]}`)).toBe(false);
        expect(typeof set.grants(junk)).toBe("boolean");
        if (!isWildcard(junk) && !granted.includes(junk) && !granted.some((g) => isWildcard(g)))
          expect(set.grants(junk)).toBe(false);
      }),
      { numRuns: 500, ...PROPERTY_SEED },
    );
  });
});

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

describe("CIDRs and allowlists", () => {
  it("property: parseCidr and compileAllowlist never throw, whatever they are given", () => {
    const entry = fc.oneof(
      anyText,
      fc.ipV4Extended(),
      fc.ipV6(),
      fc
        .tuple(fc.oneof(fc.ipV4(), fc.ipV6(), anyText), fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), anyText))
        .map(([a, p]) => `${a}/${p}`),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.oneof(entry, fc.constant(null), fc.constant(undefined)), (cidrs, ip) => {
        for (const c of cidrs) {
          const parsed = parseCidr(c);
          if (parsed) {
            expect(parsed.prefix).toBeGreaterThanOrEqual(0);
            expect(parsed.prefix).toBeLessThanOrEqual(parsed.family === "ipv4" ? 32 : 128);
          }
        }
        expect(typeof compileAllowlist(cidrs).allows(ip)).toBe("boolean");
      }),
      { numRuns: 1500, ...PROPERTY_SEED },
    );
  });

  it("property: an IPv4 CIDR allows exactly the addresses that share its first n bits", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (network, bits, ip) => {
        const cidr = `${network}/${bits}`;
        expect(parseCidr(cidr)).toEqual({ address: network, prefix: bits, family: "ipv4" });
        const inside = bits === 0 || ipv4ToInt(network) >>> (32 - bits) === ipv4ToInt(ip) >>> (32 - bits);
        const list = compileAllowlist([cidr]);
        expect(list.allows(ip)).toBe(inside);
        expect(list.allows(`::ffff:${ip}`)).toBe(inside);
        expect(list.allows(network)).toBe(true);
      }),
      { numRuns: 2000, ...PROPERTY_SEED },
    );
  });

  it("property: IPv6 CIDRs parse up to /128, refuse anything longer, and always allow their own address", () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 200 }), (address, bits) => {
        const parsed = parseCidr(`${address}/${bits}`);
        if (bits > 128) {
          expect(parsed).toBeNull();
          return;
        }
        expect(parsed).toEqual({ address, prefix: bits, family: "ipv6" });
        expect(compileAllowlist([`${address}/${bits}`]).allows(normalizeIp(address))).toBe(true);
      }),
      { numRuns: 1000, ...PROPERTY_SEED },
    );
  });

  it("property: IPv4 prefixes over 32, signs, spaces and non-digits are refused; an empty list allows everyone", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 33, max: 999 }), (address, bits) => {
        for (const bad of [
          `${address}/${bits}`,
          `${address}/-1`,
          `${address}/+8`,
          `${address}/ 8`,
          `${address}/8 `,
          `${address}/`,
          `${address}/0x8`,
        ]) {
          expect(parseCidr(bad), bad).toBeNull();
        }
        expect(compileAllowlist([]).allows(address)).toBe(true);
        expect(compileAllowlist(null).allows(address)).toBe(true);
        // Unparseable entries are skipped, never widened into "allow everyone".
        expect(compileAllowlist(["not an address"]).allows(address)).toBe(false);
      }),
      { numRuns: 300, ...PROPERTY_SEED },
    );
  });
});
