import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * The Ajv settings of the API, with the given named components. Kept apart from the route schemas so
 * that the CLI (src/cli/validate.ts) gets the same validator without loading TypeBox. `checkSchemas`
 * false skips checking each schema against the JSON Schema meta-schema when it is compiled (half of a
 * CLI command's validation time): only for schemas already checked, the CLI's generated copies of the
 * API's (test/cli/input-schemas.test.ts compiles them with the check on).
 */
export function createAjv(
  coerceTypes: boolean | "array",
  removeAdditional: boolean,
  components: readonly object[],
  checkSchemas = true,
): Ajv {
  const ajv = new Ajv({
    validateSchema: checkSchemas,
    coerceTypes,
    useDefaults: true,
    removeAdditional,
    // Stop at the first error: with allErrors a hostile body (100,000 wrong array items, 100,000 unknown
    // keys) made Ajv build one error object per item, seconds of CPU and hundreds of MiB per request.
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  // A named component (`$ref: "Token#"`) means the same in a request schema as in a response.
  for (const schema of components) ajv.addSchema(schema);
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
