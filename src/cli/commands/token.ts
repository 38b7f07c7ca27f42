import type { Command } from "commander";
import type { TokenRecord } from "../../core/tokens.js";
import type { Register } from "../support.js";
import { CliError, credits, integer, jsonObject, list, printJson, rateLimit, refill, withTessera } from "../support.js";
import { validateInput } from "../validate.js";

const STATUSES = "active, inactive, expired, suspended or revoked";

/** Options shared by create and update, named as the API's fields (the errors use these names). */
const FIELD_OPTIONS = {
  name: "--name",
  description: "--description",
  scopes: "--scopes",
  allowedIps: "--allowed-ips",
  rateLimits: "--rate-limit",
  credits: "--credits",
  metadata: "--metadata",
};

/** `--rate-limit`, `--credits` and `--refill` as the API's `rateLimits` and `credits` (undefined: not given). */
function limitFields(o: { rateLimit?: unknown; credits?: unknown; refill?: unknown }): {
  rateLimits?: unknown;
  credits?: unknown;
} {
  const fields: { rateLimits?: unknown; credits?: unknown } = {};
  if (o.rateLimit !== undefined) fields.rateLimits = o.rateLimit ?? [];
  if (o.refill !== undefined && (o.credits === undefined || o.credits === null)) {
    throw new CliError("--refill: give --credits too (the balance to start from)");
  }
  if (o.credits !== undefined) fields.credits = o.credits === null ? null : { remaining: o.credits, refill: o.refill };
  return fields;
}

function editableOptions(command: Command): Command {
  return command
    .option("--description <text>", "a longer description (at most 1000 characters)")
    .option("--scopes <scopes>", "comma-separated scopes from the organisation's catalogue (`tessera scopes list`)", list)
    .option("--allowed-ips <cidrs>", "comma-separated IP addresses or CIDRs (v4 and v6) the token may be used from", list)
    .option(
      "--rate-limit <[name:]limit/window>",
      "at most LIMIT verifications per WINDOW seconds (or 30s, 5m, 1h, 1d), e.g. 100/60 or burst:10/1s; repeat for up to 5 named limits; none removes them",
      rateLimit,
    )
    .option("--credits <n>", "uses left: each verification takes its cost (default 1); none: unlimited", credits)
    .option(
      "--refill <amount/interval>",
      "set the credits to AMOUNT at the first use of each UTC day or month, e.g. 1000/day",
      refill,
    )
    .option("--metadata <json>", 'a JSON object kept with the token, e.g. \'{"team":"billing"}\'', jsonObject("--metadata"));
}

async function views() {
  return import("../../http/views.js");
}

function printLine(v: {
  id: string;
  status: string;
  kind: string;
  maskedToken: string;
  name: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}) {
  process.stdout.write(
    `${v.id}\t${v.status}\t${v.kind}\t${v.maskedToken}\t${v.name}\texpires ${v.expiresAt ?? "never"}\tlast used ${v.lastUsedAt ?? "never"}\n`,
  );
}

async function printToken(token: TokenRecord, json: boolean | undefined): Promise<void> {
  const { tokenView } = await views();
  const view = tokenView(token);
  if (json) {
    printJson(view);
    return;
  }
  for (const [key, value] of Object.entries(view)) {
    if (value === null || (Array.isArray(value) && value.length === 0)) continue;
    process.stdout.write(`${key}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}\n`);
  }
}

export const registerToken: Register = (program) => {
  const token = program
    .command("token")
    .description("Manage an organisation's tokens (as the system: every rule but the caller's role applies)");

  token
    .command("list")
    .description("List the organisation's tokens, newest first (never their secrets)")
    .requiredOption("--org <orgId>", "the organisation (org_…)")
    .option("--status <status>", `only tokens in this status: ${STATUSES}`)
    .option("--kind <kind>", "only tokens of this kind: personal or service")
    .option("--owner <userId>", "only personal tokens of this user (usr_…)")
    .option("--json", "print a JSON array of token views (as the API's)")
    .action(async (o: { org: string; status?: string; kind?: string; owner?: string; json?: boolean }) => {
      const { tokenView } = await views();
      const query = await validateInput(
        "TokenListQuery",
        { status: o.status, kind: o.kind, ownerId: o.owner },
        {
          status: "--status",
          kind: "--kind",
          ownerId: "--owner",
        },
      );
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        const items: ReturnType<typeof tokenView>[] = [];
        let cursor: string | undefined;
        do {
          const page = await t.tokens.list(access, { ...query, limit: 100, cursor });
          items.push(...page.items.map((x) => tokenView(x)));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        if (o.json) return printJson(items);
        for (const v of items) printLine(v);
      });
    });

  token
    .command("show")
    .description("Show one token (never its secret)")
    .argument("<tokenId>", "the token's id (tok_…)")
    .requiredOption("--org <orgId>", "the organisation (org_…)")
    .option("--json", "print the token view as JSON (as the API's)")
    .action(async (tokenId: string, o: { org: string; json?: boolean }) => {
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        await printToken(await t.tokens.get(access, tokenId), o.json);
      });
    });

  editableOptions(
    token
      .command("create")
      .description("Create a service token; prints its secret alone on stdout (with --json: {token, secret})")
      .requiredOption("--org <orgId>", "the organisation (org_…)")
      .requiredOption("--name <name>", "what the token is for (1–100 characters)")
      .option("--expires-in-days <days>", "lifetime in days, e.g. 30, 90, 365 (default: the organisation's policy)", integer)
      .option("--expires-at <date>", "expiry as an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z")
      .option("--env <environment>", "live or test (the secret starts tsr_live_ or tsr_test_)", "live")
      .option("--issued-for <app>", "the application or integration it represents")
      .option("--json", "print {token, secret} as JSON on stdout instead of the secret alone"),
  ).action(
    async (o: {
      org: string;
      name: string;
      description?: string;
      scopes?: string[];
      allowedIps?: string[];
      rateLimit?: unknown;
      credits?: unknown;
      refill?: unknown;
      metadata?: Record<string, unknown>;
      expiresInDays?: number;
      expiresAt?: string;
      env: string;
      issuedFor?: string;
      json?: boolean;
    }) => {
      const [{ systemMeta }, { iso, tokenView }] = await Promise.all([import("../../services/request-meta.js"), views()]);
      const options = {
        ...FIELD_OPTIONS,
        expiresInDays: "--expires-in-days",
        expiresAt: "--expires-at",
        environment: "--env",
        issuedFor: "--issued-for",
      };
      const body = await validateInput(
        "CreateTokenBody",
        {
          name: o.name,
          description: o.description,
          kind: "service",
          issuedFor: o.issuedFor,
          scopes: o.scopes,
          expiresAt: o.expiresAt,
          expiresInDays: o.expiresInDays,
          environment: o.env,
          allowedIps: o.allowedIps,
          ...limitFields(o),
          metadata: o.metadata,
        },
        options,
      );
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        const { token: created, secret } = await t.tokens.create(access, body, systemMeta());
        process.stderr.write(`Created ${created.id} (${created.prefix}…), expires ${iso(created.expiresAt) ?? "never"}.\n`);
        if (o.json) return printJson({ token: tokenView(created), secret });
        process.stdout.write(`${secret}\n`);
      }, options);
    },
  );

  editableOptions(
    token
      .command("update")
      .description("Edit a token's name, description, scopes, allowed IPs, rate limits, credits or metadata; prints the token")
      .argument("<tokenId>", "the token's id (tok_…)")
      .requiredOption("--org <orgId>", "the organisation (org_…)")
      .option("--name <name>", "a new name (1–100 characters)")
      .option("--json", "print the updated token view as JSON"),
  ).action(
    async (
      tokenId: string,
      o: {
        org: string;
        name?: string;
        description?: string;
        scopes?: string[];
        allowedIps?: string[];
        rateLimit?: unknown;
        credits?: unknown;
        refill?: unknown;
        metadata?: Record<string, unknown>;
        json?: boolean;
      },
    ) => {
      const { systemMeta } = await import("../../services/request-meta.js");
      const patch = Object.fromEntries(
        Object.keys(FIELD_OPTIONS)
          .map((field) => [field, o[field as keyof typeof o]])
          .filter(([field, value]) => value !== undefined && field !== "rateLimits" && field !== "credits"),
      );
      Object.assign(patch, limitFields(o));
      if (Object.keys(patch).length === 0) {
        throw new CliError(`nothing to change: give at least one of ${Object.values(FIELD_OPTIONS).join(", ")}`);
      }
      const body = await validateInput("UpdateTokenBody", patch, FIELD_OPTIONS);
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        await printToken(await t.tokens.update(access, tokenId, body, systemMeta()), o.json);
      }, FIELD_OPTIONS);
    },
  );

  token
    .command("revoke")
    .description("Revoke a token at once (irreversible; it stays listed as revoked)")
    .argument("<tokenId>", "the token's id (tok_…)")
    .requiredOption("--org <orgId>", "the organisation (org_…)")
    .option("--reason <reason>", "why, kept in the audit log (at most 500 characters)")
    .action(async (tokenId: string, o: { org: string; reason?: string }) => {
      const [{ systemMeta }, { iso }] = await Promise.all([import("../../services/request-meta.js"), views()]);
      const body = await validateInput("RevokeBody", { reason: o.reason }, { reason: "--reason" });
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        const revoked = await t.tokens.transition(access, tokenId, "revoke", body.reason, systemMeta());
        process.stderr.write(`Revoked ${revoked.id} at ${iso(revoked.revokedAt)}.\n`);
      });
    });
};
