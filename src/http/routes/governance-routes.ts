import { Readable } from "node:stream";
import { csvHeader, csvLine, ndjsonLine } from "../../core/audit-export.js";
import { orgAccess } from "../auth.js";
import { metaOf } from "../context.js";
import { problemResponse } from "../problem.js";
import {
  AuditExportQuery,
  BatchBody,
  BatchResult,
  OrgParams,
  PageQuery,
  TokenParams,
  TokenRequestPage,
  Type,
} from "../schemas.js";
import { iso } from "../views.js";
import { problemResponses, type Routes } from "./types.js";

/**
 * Issue 11's governance routes: bulk transitions, a token's request history, the audit export. The
 * single-token routes are in token-routes.ts.
 */
export const governanceRoutes: Routes = async (app) => {
  const { tokens, audit } = app.tessera;

  app.post(
    "/v1/orgs/:orgId/tokens/batch",
    {
      schema: {
        operationId: "batchTokens",
        tags: ["tokens"],
        summary: "Revoke, suspend, resume, deactivate or activate up to 100 tokens",
        description:
          "Each id is handled exactly as the single-token transition would handle it (same rules, its own " +
          "transaction): one refusal never undoes the others. Results come back in the order of `ids`, each " +
          "with the token's new status or the problem the single-token call would have answered " +
          "(`not_found` for a token you cannot see or of another organisation, `forbidden`, `invalid_state`).",
        params: OrgParams,
        body: BatchBody,
        response: { 200: BatchResult, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const { action, ids, reason } = request.body;
      const results = await tokens.batch(access, action, ids, reason, metaOf(request));
      return {
        results: results.map((r) =>
          r.ok
            ? { id: r.id, ok: true, ...(r.status ? { status: r.status } : {}) }
            : { id: r.id, ok: false, problem: problemResponse(r.error!, request.traceId, false).problem },
        ),
      };
    },
  );

  app.get(
    "/v1/orgs/:orgId/tokens/:tokenId/requests",
    {
      schema: {
        operationId: "listTokenRequests",
        tags: ["tokens"],
        summary: "The token's recent verifications, newest first",
        description:
          "Time, outcome code, the client address and user agent the verify call passed, and the scopes it " +
          "asked for. Recorded off the verification path (a few seconds behind) and kept 30 days or the " +
          "last 10,000 per token; above 1,000 a second per token the newest of each second are kept.",
        params: TokenParams,
        querystring: PageQuery,
        response: { 200: TokenRequestPage, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const page = await tokens.requests(access, request.params.tokenId, request.query);
      return {
        items: page.items.map((r) => ({ at: iso(r.at)!, code: r.code, ip: r.ip, userAgent: r.userAgent, scopes: r.scopes })),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    "/v1/orgs/:orgId/audit/export",
    {
      schema: {
        operationId: "exportAudit",
        tags: ["audit"],
        summary: "Export the audit log as CSV or NDJSON, streamed",
        description:
          "Oldest first (chain order), with the audit filters. Every event carries `seq`, `prevHash` and " +
          "`hash`, so the file can be checked with `tessera audit verify --file`. Streamed a page at a time: " +
          "memory stays flat whatever the log's size.",
        params: OrgParams,
        querystring: AuditExportQuery,
        response: {
          200: {
            description: "The events, one per line (NDJSON) or record (CSV, with a header)",
            content: {
              "text/csv": { schema: Type.String() },
              "application/x-ndjson": { schema: Type.String() },
            },
          },
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      const { format, ...filters } = request.query;
      const events = audit.export(access, filters)[Symbol.asyncIterator]();
      // The first page before the headers: a refusal (audit:read) or bad filter is still a problem response.
      const first = await events.next();
      const line = format === "csv" ? csvLine : ndjsonLine;
      async function* lines() {
        if (format === "csv") yield csvHeader();
        if (first.done) return;
        let batch = line(first.value);
        for (let next = await events.next(); !next.done; next = await events.next()) {
          batch += line(next.value);
          // A chunk of ~64 KiB per write: one per event would cost a stream round trip per line.
          if (batch.length >= 65_536) {
            yield batch;
            batch = "";
          }
        }
        if (batch) yield batch;
      }
      return (
        reply
          .header("content-type", format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8")
          .header("content-disposition", `attachment; filename="audit-${access.org.id}.${format}"`)
          .header("cache-control", "no-store")
          // A stream is sent as is (no serialiser); the schema above documents what it carries.
          .send(Readable.from(lines()) as unknown as string)
      );
    },
  );
};
