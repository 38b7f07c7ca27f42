import type { ErrorObject } from "ajv";
import type { Static } from "typebox";
import type { SetupBody } from "../http/routes/auth-routes.js";
import type { InviteBody } from "../http/routes/invitation-routes.js";
import type { CatalogueBody } from "../http/routes/org-routes.js";
import type { CreateTokenBody, Email, RevokeBody, TokenListQuery, UpdateTokenBody, VerifyBody } from "../http/schemas.js";
import type { InputName } from "./input-schemas.js";
import { CliError, type OptionNames, optionFor } from "./support.js";

/** Fields whose value is never repeated in an error. */
const SECRET_FIELDS = new Set(["password", "token"]);

/** What each input is once valid: the static type of the route schema it was generated from (types only: no TypeBox at run time). */
export interface Inputs extends Record<InputName, unknown> {
  CatalogueBody: Static<typeof CatalogueBody>;
  CreateTokenBody: Static<typeof CreateTokenBody>;
  Email: Static<typeof Email>;
  InviteBody: Static<typeof InviteBody>;
  RevokeBody: Static<typeof RevokeBody>;
  SetupBody: Static<typeof SetupBody>;
  TokenListQuery: Static<typeof TokenListQuery>;
  UpdateTokenBody: Static<typeof UpdateTokenBody>;
  VerifyBody: Static<typeof VerifyBody>;
}

type SchemaNode = {
  type?: string | string[];
  anyOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  format?: string;
};

/**
 * Checks a command's input against the API's own route schema (src/http/schemas.ts and the route files,
 * as generated into src/cli/input-schemas.ts), with the API's Ajv settings, so the CLI and the API refuse
 * the same things. The first error is reported by the option that set the field:
 * `--env: must be one of live, test (got "staging")`.
 */
export async function validateInput<K extends InputName>(name: K, value: unknown, options: OptionNames = {}): Promise<Inputs[K]> {
  const [{ createAjv }, { INPUT_COMPONENTS, INPUT_SCHEMAS }] = await Promise.all([
    import("../http/ajv.js"),
    import("./input-schemas.js"),
  ]);
  const schema = INPUT_SCHEMAS[name];
  const validate = createAjv(false, false, INPUT_COMPONENTS, false).compile(schema);
  if (validate(value)) return value as Inputs[K];
  throw new CliError(describe(validate.errors?.[0], schema as SchemaNode, value, options));
}

function describe(error: ErrorObject | undefined, schema: SchemaNode, value: unknown, options: OptionNames): string {
  if (!error) return "invalid input";
  const segments = error.instancePath.split("/").slice(1).map(decodePointer);
  if (error.keyword === "required") segments.push(String((error.params as { missingProperty: string }).missingProperty));
  const fields = segments.filter((s) => !/^\d+$/.test(s));
  const option = optionFor(fields, options) ?? "input";
  const node = nodeAt(schema, segments);
  const got = valueAt(value, segments);
  const shown = SECRET_FIELDS.has(fields.at(-1) ?? "") || got === undefined ? "" : ` (got ${JSON.stringify(got)})`;
  return `${option}: ${explain(error, node)}${shown}`;
}

function explain(error: ErrorObject, node: SchemaNode | undefined): string {
  const choices = node?.enum ?? (node?.anyOf?.every((b) => "const" in b) ? node.anyOf.map((b) => b.const) : undefined);
  if (choices) return `must be one of ${choices.join(", ")}`;
  switch (error.keyword) {
    case "required":
      return "is required";
    case "type": {
      const types = [node?.type ?? (error.params as { type: string }).type].flat().filter((t) => t !== "null");
      if (types.includes("integer")) return "must be a whole number";
      if (types.includes("number")) return "must be a number";
      if (types.includes("array")) return "must be a list";
      if (types.includes("object")) return "must be a JSON object";
      return "must be text";
    }
    case "format": {
      const format = (error.params as { format: string }).format;
      if (format === "email") return "must be an email address";
      if (format === "date-time") return "must be a date and time in ISO 8601, e.g. 2027-01-31T00:00:00Z";
      return `must be a valid ${format}`;
    }
    case "pattern":
      return "contains characters that are not allowed";
    case "minimum":
      return `must be at least ${(error.params as { limit: number }).limit}`;
    case "maximum":
      return `must be at most ${(error.params as { limit: number }).limit}`;
    case "minLength":
      return (error.params as { limit: number }).limit === 1 ? "must not be empty" : (error.message ?? "is too short");
    default:
      return error.message ?? "is not valid";
  }
}

function decodePointer(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

function nodeAt(schema: SchemaNode, segments: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const segment of segments) {
    if (!node) return undefined;
    const branches: SchemaNode[] = node.anyOf ?? [node];
    node = branches.map((b) => (/^\d+$/.test(segment) && b.items ? b.items : b.properties?.[segment])).find(Boolean);
  }
  return node;
}

function valueAt(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
