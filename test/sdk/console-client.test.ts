import { readdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dialects } from "../support/databases.js";
import { createToken, seedWorld, startTestApp, type TestApp } from "../support/harness.js";

/**
 * The console speaks to the server only through the generated typed client (openapi-fetch over
 * src/client/schema.ts, which the contract test keeps equal to the OpenAPI document), and declares no
 * wire type of its own: a hand-written copy of a shape the server sends or accepts could drift from it
 * unnoticed. These rules read the console's sources with the TypeScript parser.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const CONSOLE_SRC = join(ROOT, "console", "src");
const DOCUMENT = JSON.parse(readFileSync(join(ROOT, "src", "client", "openapi.json"), "utf8")) as unknown;

/** The wire layer: the client, the type names, and every feature's queries and mutations. */
const isWireLayer = (file: string) => /^api\/[^/]+\.ts$|^features\/[^/]+\/api\.ts$/.test(file);
/**
 * Declarations with an object type allowed in the wire layer, none of them a wire shape: the embed
 * page's in-memory bearer hooks, the helpers that read bodies and answers out of the generated
 * `operations` by operationId, and `Me`, which picks the person out of the generated `Me` union
 * (`Extract<…, { user: User }>`).
 */
const NOT_WIRE = new Set(["api/client.ts:EmbedBearer", "api/types.ts:RequestBody", "api/types.ts:Answer", "api/types.ts:Me"]);
/** An object this small (`{ id, name }`) is too common to say it was copied from the document. */
const MIN_SHAPE_PROPERTIES = 3;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Every object shape in the document (components, bodies, answers, nested ones), as its sorted property names. */
function documentShapes(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) documentShapes(item, into);
  } else if (node && typeof node === "object") {
    const record = node as Record<string, unknown>;
    const properties = record.properties;
    if (properties && typeof properties === "object" && !Array.isArray(properties)) {
      const names = Object.keys(properties);
      if (names.length >= MIN_SHAPE_PROPERTIES) into.add(names.sort().join(","));
      const required = Array.isArray(record.required) ? (record.required as string[]) : [];
      if (required.length >= MIN_SHAPE_PROPERTIES) into.add([...required].sort().join(","));
    }
    for (const value of Object.values(record)) documentShapes(value, into);
  }
  return into;
}

interface Finding {
  file: string;
  rule: string;
  name: string;
}

/** What one source file does against the rules. */
function check(file: string, text: string, shapes: Set<string>): Finding[] {
  const source = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const findings: Finding[] = [];
  const wire = isWireLayer(file);

  const shapeOf = (members: ts.NodeArray<ts.TypeElement>) =>
    members
      .filter((m) => ts.isPropertySignature(m) && m.name !== undefined)
      .map((m) => (m.name as ts.PropertyName).getText(source).replace(/^["']|["']$/g, ""))
      .sort()
      .join(",");
  const containsObjectType = (node: ts.Node): boolean =>
    ts.isTypeLiteralNode(node) || ts.forEachChild(node, (child) => (containsObjectType(child) ? true : undefined)) === true;

  const visit = (node: ts.Node, declaration: string | null) => {
    let name = declaration;
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) {
      name = node.name.text;
      const objectType = ts.isInterfaceDeclaration(node) || containsObjectType(node.type);
      if (wire && objectType && !NOT_WIRE.has(`${file}:${name}`)) {
        findings.push({ file, rule: "the wire layer declares an object type instead of naming a generated one", name });
      }
    }
    if (ts.isInterfaceDeclaration(node) || ts.isTypeLiteralNode(node)) {
      const shape = shapeOf(node.members);
      if (shape.split(",").length >= MIN_SHAPE_PROPERTIES && shapes.has(shape)) {
        findings.push({ file, rule: `a hand-written copy of a document shape {${shape}}`, name: name ?? "(inline)" });
      }
    }
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const callee = node.expression.getText(source);
      if (/^(window\.|globalThis\.|self\.)?(fetch|XMLHttpRequest|EventSource)$/.test(callee)) {
        findings.push({ file, rule: "a request outside the typed client", name: callee });
      }
    }
    ts.forEachChild(node, (child) => visit(child, name));
  };
  visit(source, null);
  return findings;
}

describe("the console's API layer", () => {
  const shapes = documentShapes(DOCUMENT);

  it("sends every request through the generated client and declares no wire type by hand", () => {
    const files = sources(CONSOLE_SRC);
    expect(files.length).toBeGreaterThan(50);
    const findings = files.flatMap((path) => {
      const file = relative(CONSOLE_SRC, path).split("\\").join("/");
      return check(file, readFileSync(path, "utf8"), shapes);
    });
    expect(findings).toEqual([]);
  });

  it("builds its client from the generated paths and names its types from the generated schema only", () => {
    const client = readFileSync(join(CONSOLE_SRC, "api", "client.ts"), "utf8");
    expect(client).toMatch(/import createClient, \{[^}]*\} from "openapi-fetch";/);
    expect(client).toMatch(/import type \{[^}]*\bpaths\b[^}]*\} from "\.\.\/\.\.\/\.\.\/src\/client\/schema";/);
    expect(client).toMatch(/createClient<paths>\(/);
    const types = readFileSync(join(CONSOLE_SRC, "api", "types.ts"), "utf8");
    const imports = [...types.matchAll(/^import .* from "(.+)";$/gm)].map((m) => m[1]);
    expect(imports).toEqual(["../../../src/client/schema"]);
  });

  it("would catch a hand-written wire type, a copied shape and a bare fetch (the rules can fail)", () => {
    expect(shapes.size).toBeGreaterThan(20);
    const planted = [
      "export interface TokenRequest { at: string; code: string; ip: string | null; userAgent: string | null; scopes: string[] }",
      "export type SignInMethods = { password: boolean; oidc: { name: string } | null };",
    ].join("\n");
    expect(check("features/tokens/api.ts", planted, shapes).map((f) => f.name)).toEqual([
      "TokenRequest",
      "TokenRequest",
      "SignInMethods",
    ]);
    const page = [
      "type Grant = { accessToken: string; expiresAt: string; user: { id: string; email: string; name: string } };",
      'const answer = await fetch("/v1/me");',
      'const other = await window.fetch("/v1/orgs");',
    ].join("\n");
    expect(check("features/embed/embed-page.tsx", page, shapes)).toEqual([
      expect.objectContaining({ name: "Grant", rule: expect.stringContaining("{email,id,name}") }),
      expect.objectContaining({ name: "fetch" }),
      expect.objectContaining({ name: "window.fetch" }),
    ]);
  });
});

/**
 * What the console's client module offers, as this test uses it. It is loaded at run time: it is
 * browser code (`document`, extensionless imports), outside the server's TypeScript project.
 */
interface ConsoleClient {
  api: {
    GET(path: string, init?: Record<string, unknown>): Promise<{ data?: unknown; error?: unknown; response: Response }>;
    POST(path: string, init?: Record<string, unknown>): Promise<{ data?: unknown; error?: unknown; response: Response }>;
  };
  unwrap(pending: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<unknown>;
  setEmbedBearer(bearer: { token: string; onExpired(): void; onTokenCreated(id: string): void } | null): void;
  ApiError: new (...args: never[]) => Error & { status: number; code: string; fieldErrors: { field: string; message: string }[] };
}

/**
 * The console's client against a real server, from Node: the browser's part is the `document.cookie`
 * the middleware reads (stubbed with the real CSRF cookie) and the session cookie a browser would add
 * (sent by hand; Node's fetch keeps no cookies). Everything else is the module the console ships.
 */
describe.each(await dialects())("the console's client middleware on %s", (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  let orgId: string;
  let session: { session: string; csrf: string };
  let bearer: string;
  let client: ConsoleClient;
  /** The `document` the middleware reads the CSRF cookie from. */
  const browser = { cookie: "" };
  const cookieHeader = () => ({ cookie: `tessera_session=${session.session}; tessera_csrf=${session.csrf}` });

  beforeAll(async () => {
    t = await startTestApp(dialect);
    const world = await seedWorld(t.app);
    orgId = world.orgId;
    session = world.owner.creds as { session: string; csrf: string };
    bearer = (await createToken(t.app, session, orgId, { name: "embed stand-in", scopes: ["tokens:read", "tokens:write"] }))
      .secret;
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    vi.stubGlobal("document", browser);
    client = (await import(pathToFileURL(join(CONSOLE_SRC, "api", "client.ts")).href)) as ConsoleClient;
  });
  afterAll(async () => {
    client?.setEmbedBearer(null);
    vi.unstubAllGlobals();
    await t?.close();
  });

  const createBody = (name: string) => ({ name, kind: "personal", scopes: ["tokens:read"] });

  it("sends the CSRF cookie's value as x-csrf-token on a mutating request, read at call time", async () => {
    const path = { params: { path: { orgId } }, baseUrl, headers: cookieHeader() };
    browser.cookie = "";
    const refused = await client.api.POST("/v1/orgs/{orgId}/tokens", { ...path, body: createBody("no csrf") });
    expect(refused.response.status).toBe(403);
    expect(refused.error).toMatchObject({ code: "csrf_failed" });
    browser.cookie = `theme=dark; tessera_csrf=${encodeURIComponent(session.csrf)}`;
    const created = await client.unwrap(client.api.POST("/v1/orgs/{orgId}/tokens", { ...path, body: createBody("with csrf") }));
    expect(created).toMatchObject({ token: { name: "with csrf" }, secret: expect.any(String) });
    const read = await client.unwrap(client.api.GET("/v1/orgs/{orgId}", path));
    expect(read).toMatchObject({ id: orgId });
  });

  it("throws a refusal as the console's ApiError, with the problem's code and field errors", async () => {
    browser.cookie = `tessera_csrf=${session.csrf}`;
    const init = { params: { path: { orgId } }, baseUrl, headers: cookieHeader(), body: { name: "", kind: "personal" } };
    const error = await client.unwrap(client.api.POST("/v1/orgs/{orgId}/tokens", init)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(client.ApiError);
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect((error as { fieldErrors: { field: string }[] }).fieldErrors.map((f) => f.field)).toContain("name");
    const other = await client
      .unwrap(
        client.api.GET("/v1/orgs/{orgId}", { params: { path: { orgId: "org_elsewhere" } }, baseUrl, headers: cookieHeader() }),
      )
      .catch((e: unknown) => e);
    expect(other).toMatchObject({ status: 404, code: "not_found" });
    const signedOut = await client.unwrap(client.api.GET("/v1/me", { baseUrl })).catch((e: unknown) => e);
    expect(signedOut).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("turns a failed connection into a network_error ApiError", async () => {
    const closed = await startTestApp(dialect);
    await closed.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (closed.app.server.address() as AddressInfo).port;
    await closed.close();
    const error = await client.unwrap(client.api.GET("/v1/me", { baseUrl: `http://127.0.0.1:${port}` })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(client.ApiError);
    expect(error).toMatchObject({ status: 0, code: "network_error" });
  });

  it("embed mode: the bearer instead of cookies, the created token announced, a 401 ends the session", async () => {
    browser.cookie = `tessera_csrf=${session.csrf}`;
    const created: string[] = [];
    let expired = 0;
    client.setEmbedBearer({ token: bearer, onExpired: () => expired++, onTokenCreated: (id) => created.push(id) });
    try {
      const answer = (await client.unwrap(
        client.api.POST("/v1/orgs/{orgId}/tokens", { params: { path: { orgId } }, baseUrl, body: createBody("from the frame") }),
      )) as { token: { id: string } };
      expect(created).toEqual([answer.token.id]);
      // Other answers announce nothing.
      await client.unwrap(client.api.GET("/v1/orgs/{orgId}/tokens", { params: { path: { orgId } }, baseUrl }));
      expect(created).toHaveLength(1);
      expect(expired).toBe(0);

      client.setEmbedBearer({ token: "tsr_live_ended", onExpired: () => expired++, onTokenCreated: (id) => created.push(id) });
      const error = await client
        .unwrap(client.api.GET("/v1/orgs/{orgId}/tokens", { params: { path: { orgId } }, baseUrl }))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 401 });
      expect(expired).toBe(1);
      // Not a console session's 401: without a bearer, nothing is ended.
      client.setEmbedBearer(null);
      await client.unwrap(client.api.GET("/v1/me", { baseUrl })).catch(() => undefined);
      expect(expired).toBe(1);
    } finally {
      client.setEmbedBearer(null);
    }
  });
});
