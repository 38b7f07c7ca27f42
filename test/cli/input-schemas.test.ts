import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLI_INPUTS, CLI_SCHEMAS_FILE, cliSchemasSource } from "../../scripts/cli-schemas.js";
import { INPUT_COMPONENTS, INPUT_SCHEMAS } from "../../src/cli/input-schemas.js";
import { makeAjv } from "../../src/http/validation.js";

/**
 * The CLI validates with generated JSON copies of the API's request schemas (so that a command does not
 * load TypeBox: issue 12's start-up). One source still: the copies must be exactly the route schemas.
 */
describe("the CLI's input schemas", () => {
  it("are generated from the current route schemas (npm run generate:client)", () => {
    expect(
      readFileSync(CLI_SCHEMAS_FILE, "utf8") === cliSchemasSource(),
      "src/cli/input-schemas.ts is stale: npm run generate:client",
    ).toBe(true);
    for (const [name, schema] of Object.entries(CLI_INPUTS)) {
      expect(INPUT_SCHEMAS[name as keyof typeof INPUT_SCHEMAS]).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });

  it("are valid JSON Schema for the API's Ajv (the CLI compiles them without that check)", () => {
    const ajv = makeAjv(false, false);
    for (const component of INPUT_COMPONENTS) expect(ajv.validateSchema(component)).toBe(true);
    for (const schema of Object.values(INPUT_SCHEMAS)) {
      expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
      expect(() => ajv.compile(schema)).not.toThrow();
    }
  });
});
