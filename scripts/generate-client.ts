import { writeFileSync } from "node:fs";
import { clientFiles, DOCUMENT_FILE, openApiDocument, SCHEMA_FILE } from "./client-files.js";

// `npm run generate:client`: rewrites src/client/openapi.json and src/client/schema.ts from the routes.
const files = await clientFiles(await openApiDocument());
writeFileSync(DOCUMENT_FILE, files.document);
writeFileSync(SCHEMA_FILE, files.schema);
console.log(`Wrote ${DOCUMENT_FILE} and ${SCHEMA_FILE}`);
