import type { Ajv, ErrorObject, ValidateFunction } from "ajv";
import type { FastifySchemaCompiler } from "fastify";
import secureJson from "secure-json-parse";
import { TesseraError } from "../core/errors.js";
import { createAjv } from "./ajv.js";
import { COMPONENT_SCHEMAS, ProblemSchema } from "./schemas.js";

/** The Ajv the routes use (the CLI builds the same one from src/cli/input-schemas.ts: both refuse the same input). */
export function makeAjv(coerceTypes: boolean | "array", removeAdditional: boolean): Ajv {
  return createAjv(coerceTypes, removeAdditional, [ProblemSchema, ...COMPONENT_SCHEMAS]);
}

/**
 * JSON bodies are validated as sent: no type coercion (`"name": 5` is an error, not "5") and unknown
 * fields are refused (a typo such as `scope` for `scopes` must not silently create a token with default
 * scopes). Query strings and path parameters are text by nature: coerced to their schema's types;
 * unknown query parameters are ignored, except where the schema says `additionalProperties: false`
 * (then refused, naming the parameter: a misspelt `sort` must not silently list in another order).
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodies = makeAjv(false, false);
  const params = makeAjv("array", false);
  return ({ schema, httpPart }) => {
    const ajv = httpPart === "body" ? bodies : params;
    return forgetful(ajv.compile(schema as object)) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}

/**
 * What a compiled validator answers: true, or the errors of this call (Fastify's custom-compiler
 * `{ error }` shape, which it turns into a validation error as it does Ajv's own `.errors`).
 */
export type Validator = ((data: unknown, context?: object) => true | { error: ErrorObject[] }) & {
  schemaEnv?: unknown;
};

/**
 * An Ajv validator that keeps nothing between requests. Ajv leaves the last failure's `.errors` on the
 * compiled function, shared by every request to the route: a hostile body's errors (and whatever they
 * reference) stayed reachable until the route's next failure. Here they are handed to this call's
 * caller and cleared at once.
 */
export function forgetful(validate: ValidateFunction): Validator {
  const run: Validator = (data, context) => {
    if (validate(data, context as Parameters<ValidateFunction>[1])) return true;
    const errors = validate.errors ?? [];
    validate.errors = null;
    return { error: errors };
  };
  // Fastify passes the parent object (so Ajv may replace a coerced root value) when `schemaEnv` is set.
  run.schemaEnv = validate.schemaEnv;
  return run;
}

/** Deepest JSON nesting accepted in a body; deeper is refused before it reaches any validator. */
export const MAX_JSON_DEPTH = 32;

/**
 * A request body's JSON, read the one way both entry points (Fastify's parser and the verify fast lane)
 * read it: undefined for an empty body; refused with a `body` field issue when it is not JSON, when a key
 * would rewrite a prototype (`__proto__`, `constructor.prototype`: refused rather than dropped, so
 * nothing sent is silently lost), or when it nests deeper than {@link MAX_JSON_DEPTH}.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = secureJson.parse(text, undefined, { protoAction: "error", constructorAction: "error" });
  } catch (error) {
    if ((error as Error).message === PROTOTYPE_POISONING) {
      throw bodyProblem(
        "The body uses the key __proto__ or constructor.prototype, which is refused",
        "uses the key __proto__ or constructor.prototype, which is refused",
      );
    }
    throw bodyProblem("The body is not valid JSON", "is not valid JSON");
  }
  if (jsonDepthExceeds(value, MAX_JSON_DEPTH)) {
    throw bodyProblem(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, `is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value;
}

/** What secure-json-parse throws for a `__proto__` or `constructor.prototype` key. */
const PROTOTYPE_POISONING = "Object contains forbidden prototype property";

function bodyProblem(detail: string, message: string): TesseraError {
  return new TesseraError("validation_failed", detail, { fields: [{ field: "body", message }] });
}

/** Whether a parsed JSON value nests deeper than `max` levels (recursion stops at `max`, so it cannot overflow). */
export function jsonDepthExceeds(value: unknown, max: number, depth = 1): boolean {
  if (value === null || typeof value !== "object") return false;
  if (depth > max) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (jsonDepthExceeds(item, max, depth + 1)) return true;
    return false;
  }
  for (const key of Object.keys(value))
    if (jsonDepthExceeds((value as Record<string, unknown>)[key], max, depth + 1)) return true;
  return false;
}
