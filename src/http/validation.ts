import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerceTypes: boolean | "array", removeAdditional: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional,
    allErrors: true,
    strict: false,
  });
  addFormats(ajv);
  // RFC 3339 allows a leap second (`23:59:60Z`) but Date.parse answers NaN for it, which would reach
  // storage as a bound (PostgreSQL: 500; SQLite: silently empty results). Only dates JS can read pass.
  const rfc3339 = ajv.formats["date-time"] as { validate: (value: string) => boolean; compare?: unknown };
  ajv.addFormat("date-time", {
    type: "string",
    validate: (value: string) => rfc3339.validate(value) && !Number.isNaN(Date.parse(value)),
    ...(rfc3339.compare ? { compare: rfc3339.compare as (a: string, b: string) => number } : {}),
  });
  return ajv;
}

/**
 * JSON bodies are validated as sent: no type coercion (`"name": 5` is an error, not "5") and unknown
 * fields are refused (a typo such as `scope` for `scopes` must not silently create a token with default
 * scopes). Query strings and path parameters are text by nature: coerced to their schema's types, and
 * unknown query parameters are ignored.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodies = makeAjv(false, false);
  const params = makeAjv("array", true);
  return ({ schema, httpPart }) => {
    const ajv = httpPart === "body" ? bodies : params;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}

/** Deepest JSON nesting accepted in a body; deeper is refused before it reaches any validator. */
export const MAX_JSON_DEPTH = 32;

export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}
