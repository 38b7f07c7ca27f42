import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, any>;

/** An HTTP answer as a proxy sees it. */
export interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/** One request and its answer, checked against the document. */
export interface Exchange {
  method: string;
  url: string;
  /** `GET /v1/orgs/{orgId}`, or undefined when no documented operation matches the URL. */
  operation: string | undefined;
  status: number;
  mismatches: string[];
}

/**
 * Checks answers against the OpenAPI document the way an independent validating proxy would: the
 * operation exists, the status is documented, the media type is documented for it, and the body is valid
 * against its schema (Ajv, JSON Schema 2020-12 as OpenAPI 3.1 says). Nothing here knows Tessera's routes.
 */
export class ResponseValidator {
  readonly exchanges: Exchange[] = [];
  readonly #doc: Json;
  readonly #ajv: Ajv2020;
  readonly #routes: { method: string; template: string; pattern: RegExp; literals: number }[] = [];

  constructor(doc: Json) {
    this.#doc = doc;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema({ ...doc, $id: "tessera-openapi" });
    for (const [template, item] of Object.entries(doc.paths as Json)) {
      const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+");
      const literals = template.split("/").filter((s) => s && !s.startsWith("{")).length;
      for (const method of Object.keys(item)) {
        this.#routes.push({ method: method.toUpperCase(), template, pattern: new RegExp(`^${source}$`), literals });
      }
    }
  }

  /** Every documented operation, as `METHOD /template`. */
  get operations(): string[] {
    return this.#routes.map((r) => `${r.method} ${r.template}`);
  }

  #operation(method: string, path: string) {
    return this.#routes.filter((r) => r.method === method && r.pattern.test(path)).sort((a, b) => b.literals - a.literals)[0];
  }

  #deref(value: Json): Json {
    let node = value;
    while (node && typeof node.$ref === "string" && node.$ref.startsWith("#/")) {
      node = node.$ref
        .slice(2)
        .split("/")
        .reduce((at: Json, key: string) => at?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], this.#doc);
    }
    return node;
  }

  check(method: string, url: string, res: Answer): Exchange {
    const path = url.split("?")[0]!;
    const route = this.#operation(method, path);
    const status = res.status;
    const mismatches: string[] = [];
    const exchange: Exchange = { method, url, operation: route && `${route.method} ${route.template}`, status, mismatches };
    this.exchanges.push(exchange);
    if (!route) {
      mismatches.push("no documented operation");
      return exchange;
    }
    const escaped = route.template.replace(/~/g, "~0").replace(/\//g, "~1");
    const op = this.#doc.paths[route.template][route.method.toLowerCase()];
    const key = op.responses[String(status)]
      ? String(status)
      : op.responses[`${String(status)[0]}XX`]
        ? `${String(status)[0]}XX`
        : "default";
    const response = op.responses[key] && this.#deref(op.responses[key]);
    if (!response) {
      mismatches.push(`status ${status} is not documented`);
      return exchange;
    }
    for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
      if (this.#deref(header).required && res.headers.get(name) === null) mismatches.push(`header ${name} missing`);
    }
    const contentType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    const content = response.content as Json | undefined;
    if (!content) {
      if (res.body.length > 0) mismatches.push(`a body (${contentType}) where none is documented`);
      return exchange;
    }
    if (!content[contentType]) {
      mismatches.push(`content type ${contentType || "(none)"} not documented (documented: ${Object.keys(content).join(", ")})`);
      return exchange;
    }
    if (!content[contentType].schema) return exchange;
    let body: unknown = res.body;
    if (contentType === "application/x-ndjson") {
      // One JSON value a line; the document describes the stream as a string.
      const lines = res.body.split("\n").filter((line) => line !== "");
      if (lines.some((line) => !isJson(line))) mismatches.push("a line of the NDJSON body is not JSON");
    } else if (/^application\/(?:[\w.-]+\+)?json$/.test(contentType)) {
      try {
        body = JSON.parse(res.body);
      } catch {
        mismatches.push("body is not JSON");
        return exchange;
      }
    }
    const pointer = op.responses[key].$ref
      ? `${op.responses[key].$ref}/content/${contentType.replace(/\//g, "~1")}/schema`
      : `#/paths/${escaped}/${route.method.toLowerCase()}/responses/${key}/content/${contentType.replace(/\//g, "~1")}/schema`;
    const validate = this.#ajv.getSchema(`tessera-openapi${pointer}`);
    if (!validate) {
      mismatches.push(`cannot compile ${pointer}`);
    } else if (!validate(body)) {
      for (const e of validate.errors ?? []) mismatches.push(`body${e.instancePath} ${e.message} (${e.schemaPath})`);
    }
    return exchange;
  }

  /** Every mismatch, one line each: `POST /v1/verify → 200: body/code must be …`. */
  mismatches(): string[] {
    return this.exchanges.flatMap((x) => x.mismatches.map((m) => `${x.method} ${x.url} → ${x.status}: ${m}`));
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
