import { writeFileSync } from "node:fs";
import { CLI_SCHEMAS_FILE, cliSchemasSource } from "./cli-schemas.js";
import { clientFiles, DOCUMENT_FILE, openApiDocument, SCHEMA_FILE } from "./client-files.js";

// `npm run generate:client`: rewrites src/client/openapi.json and src/client/schema.ts from the routes, and
// src/cli/input-schemas.ts (the request schemas the CLI validates with) from the same route schemas.
const files = await clientFiles(await openApiDocument());
writeFileSync(DOCUMENT_FILE, files.document);
writeFileSync(SCHEMA_FILE, files.schema);
writeFileSync(CLI_SCHEMAS_FILE, cliSchemasSource());
console.log(`Wrote ${DOCUMENT_FILE}, ${SCHEMA_FILE} and ${CLI_SCHEMAS_FILE}`);
