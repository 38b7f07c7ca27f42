// First: keeps Node's nextTick records on their fast path (see the module).
import "../runtime/keep-tick-shape.js";
import { Command, Option } from "commander";
import { ConfigError, loadConfig } from "../config.js";
import { TesseraError } from "../core/errors.js";
import { INSTANCE_SCOPE_NAMES } from "../core/instance-scopes.js";
import type { Role } from "../core/roles.js";
import { iso, tokenView } from "../http/views.js";
import { closeOnSignals, startServer } from "../server.js";
import type { MailLocale } from "../services/mailer.js";
import { systemMeta } from "../services/request-meta.js";
import { createStore, migrate } from "../store/database.js";
import { createTessera, type Tessera } from "../tessera.js";
import { registerBackupCommand } from "./backup-command.js";
import { printPendingMigrations } from "./migrate-dry-run.js";
import { registerReplayRevocationsCommand } from "./replay-revocations-command.js";
import { registerRestoreCommand } from "./restore-command.js";
import { registerAuditCommands } from "./audit-command.js";

/** Commands parse, call a service, print. Secrets go to stdout alone; everything else to stderr. */

async function withTessera<T>(run: (tessera: Tessera) => Promise<T>): Promise<T> {
  const tessera = await createTessera(loadConfig());
  try {
    return await run(tessera);
  } finally {
    await tessera.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const list = (value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

const program = new Command()
  .name("tessera")
  .description("Self-hosted API token service: issue, verify and govern API tokens.")
  .showHelpAfterError();

program
  .command("serve")
  .description("Run the API and console (TESSERA_PORT, default 7070)")
  .action(async () => {
    const server = await startServer(loadConfig());
    closeOnSignals(server);
    process.stderr.write(`Tessera is listening on ${server.url} (console at ${server.url}/, API docs at ${server.url}/docs)\n`);
  });

program
  .command("migrate")
  .description("Apply pending database migrations")
  .option("--dry-run", "list the pending migrations on stdout, one a line, without applying them")
  .action(async (o: { dryRun?: boolean }) => {
    const config = loadConfig();
    const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeoutMs: config.dbTimeoutMs });
    try {
      if (o.dryRun) return await printPendingMigrations(store);
      const applied = await migrate(store);
      process.stderr.write(applied.length ? `Applied: ${applied.join(", ")}\n` : "Already up to date\n");
    } finally {
      await store.close();
    }
  });

program
  .command("setup")
  .description("First run without the console: create the first user and organisation")
  .requiredOption("--email <email>")
  .requiredOption("--name <name>")
  .requiredOption("--org <name>", "organisation name")
  .addOption(new Option("--password <password>", "at least 12 characters").env("TESSERA_SETUP_PASSWORD").makeOptionMandatory())
  .action(async (o: { email: string; name: string; org: string; password: string }) => {
    await withTessera(async (t) => {
      const { user, organization } = await t.auth.setup(
        { email: o.email, name: o.name, password: o.password, organization: { name: o.org } },
        systemMeta(),
      );
      process.stdout.write(
        `${JSON.stringify({ user: { id: user.id, email: user.email }, organization: { id: organization.id, name: organization.name } })}\n`,
      );
    });
  });

program
  .command("invite")
  .description("Invite an email to an organisation; prints the accept link alone on stdout (or says it was mailed)")
  .requiredOption("--org <orgId>")
  .requiredOption("--email <email>")
  .addOption(new Option("--role <role>").choices(["owner", "admin", "member", "viewer"]).default("member"))
  .addOption(new Option("--locale <locale>", "the invitee's language for the mail").choices(["en", "it"]).default("en"))
  .action(async (o: { org: string; email: string; role: Role; locale: MailLocale }) => {
    await withTessera(async (t) => {
      const access = await t.orgs.access({ type: "system" }, o.org);
      const { invitation, acceptUrl } = await t.accounts.invite(
        access,
        { email: o.email, role: o.role, locale: o.locale },
        systemMeta(),
      );
      if (acceptUrl === null) {
        process.stderr.write(
          `Invitation ${invitation.id} mailed to ${invitation.email}; it expires ${iso(invitation.expiresAt)}.\n`,
        );
        return;
      }
      process.stderr.write(
        `Invitation ${invitation.id} for ${invitation.email} (${invitation.role}), expires ${iso(invitation.expiresAt)}. No SMTP: hand this link to the person.\n`,
      );
      process.stdout.write(`${acceptUrl}\n`);
    });
  });

const user = program.command("user").description("People's accounts");
user
  .command("reset-link")
  .description("A single-use password reset link (1 hour) for an account; prints it alone on stdout")
  .requiredOption("--email <email>")
  .action(async (o: { email: string }) => {
    await withTessera(async (t) => {
      const link = await t.accounts.resetLink(o.email, systemMeta());
      process.stderr.write("Hand this link to the account's owner only; it works once, within one hour.\n");
      process.stdout.write(`${link}\n`);
    });
  });

const root = program.command("root-token").description("Instance-level tokens for the operator");
root
  .command("create")
  .description("Create a root token; prints its secret alone on stdout")
  .requiredOption("--name <name>")
  .option("--scopes <scopes>", `comma-separated instance scopes: ${INSTANCE_SCOPE_NAMES.join(", ")} (default: all three)`, list)
  .action(async (o: { name: string; scopes?: string[] }) => {
    await withTessera(async (t) => {
      const { token, secret } = await t.tokens.createRoot(o.name, systemMeta(), o.scopes);
      process.stderr.write(`Created root token ${token.id} (${token.prefix}…). Store the secret now: it is not shown again.\n`);
      process.stdout.write(`${secret}\n`);
    });
  });

root
  .command("list")
  .description("List root tokens, newest first (never their secrets)")
  .option("--json", "print JSON")
  .action(async (o: { json?: boolean }) => {
    await withTessera(async (t) => {
      const items: ReturnType<typeof tokenView>[] = [];
      let cursor: string | undefined;
      do {
        const page = await t.tokens.listRoot({ type: "system" }, { limit: 100, cursor });
        items.push(...page.items.map((x) => tokenView(x)));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
        return;
      }
      for (const v of items) {
        process.stdout.write(
          `${v.id}\t${v.status}\t${v.maskedToken}\t${v.name}\t${v.scopes.join(",")}\tcreated ${v.createdAt}\tlast used ${v.lastUsedAt ?? "never"}\n`,
        );
      }
    });
  });

root
  .command("revoke")
  .description("Revoke a root token at once (irreversible)")
  .argument("<tokenId>")
  .option("--reason <reason>")
  .action(async (tokenId: string, o: { reason?: string }) => {
    await withTessera(async (t) => {
      const revoked = await t.tokens.revokeRoot({ type: "system" }, tokenId, o.reason, systemMeta());
      process.stderr.write(`Revoked root token ${revoked.id} at ${iso(revoked.revokedAt)}.\n`);
    });
  });

const token = program.command("token").description("Manage an organisation's tokens");
token
  .command("list")
  .requiredOption("--org <orgId>")
  .option("--status <status>")
  .option("--json", "print JSON")
  .action(async (o: { org: string; status?: "active"; json?: boolean }) => {
    await withTessera(async (t) => {
      const access = await t.orgs.access({ type: "system" }, o.org);
      const page = await t.tokens.list(access, { status: o.status, limit: 100 });
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify(
            page.items.map((x) => tokenView(x)),
            null,
            2,
          )}\n`,
        );
        return;
      }
      for (const x of page.items) {
        const v = tokenView(x);
        process.stdout.write(
          `${v.id}\t${v.status}\t${v.kind}\t${v.maskedToken}\t${v.name}\texpires ${v.expiresAt ?? "never"}\tlast used ${v.lastUsedAt ?? "never"}\n`,
        );
      }
    });
  });

token
  .command("create")
  .description("Create a service token; prints its secret alone on stdout")
  .requiredOption("--org <orgId>")
  .requiredOption("--name <name>")
  .option("--scopes <scopes>", "comma-separated", list)
  .option("--expires-in-days <days>", "lifetime in days", Number)
  .option("--env <environment>", "live or test", "live")
  .option("--issued-for <app>")
  .action(
    async (o: {
      org: string;
      name: string;
      scopes?: string[];
      expiresInDays?: number;
      env: "live" | "test";
      issuedFor?: string;
    }) => {
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        const { token: created, secret } = await t.tokens.create(
          access,
          {
            name: o.name,
            kind: "service",
            scopes: o.scopes,
            expiresInDays: o.expiresInDays,
            environment: o.env,
            issuedFor: o.issuedFor,
          },
          systemMeta(),
        );
        process.stderr.write(`Created ${created.id} (${created.prefix}…), expires ${iso(created.expiresAt) ?? "never"}.\n`);
        process.stdout.write(`${secret}\n`);
      });
    },
  );

token
  .command("revoke")
  .requiredOption("--org <orgId>")
  .argument("<tokenId>")
  .option("--reason <reason>")
  .action(async (tokenId: string, o: { org: string; reason?: string }) => {
    await withTessera(async (t) => {
      const access = await t.orgs.access({ type: "system" }, o.org);
      const revoked = await t.tokens.transition(access, tokenId, "revoke", o.reason, systemMeta());
      process.stderr.write(`Revoked ${revoked.id} at ${iso(revoked.revokedAt)}.\n`);
    });
  });

program
  .command("verify")
  .description("Verify a token against this instance's storage; exit code 0 when valid")
  .argument("<token>", 'the token, or "-" to read it from standard input (keeps it out of the process list and shell history)')
  .option("--scopes <scopes>", "required scopes, comma-separated", list)
  .option("--ip <ip>")
  .action(async (argument: string, o: { scopes?: string[]; ip?: string }) => {
    const secret = argument === "-" ? (await readStdin()).trim() : argument;
    await withTessera(async (t) => {
      const result = await t.verifier.verify({ token: secret, scopes: o.scopes, ip: o.ip });
      const view = {
        valid: result.valid,
        code: result.code,
        token: result.token
          ? {
              id: result.token.id,
              orgId: result.token.orgId,
              name: result.token.name,
              kind: result.token.kind,
              scopes: result.scopes,
            }
          : undefined,
      };
      process.stdout.write(`${JSON.stringify(view)}\n`);
      process.exitCode = result.valid ? 0 : 1;
    });
  });

registerBackupCommand(program);
registerRestoreCommand(program);
registerReplayRevocationsCommand(program);
registerAuditCommands(program);

program.parseAsync().catch((error: unknown) => {
  if (error instanceof TesseraError || error instanceof ConfigError) {
    process.stderr.write(`tessera: ${error.message}\n`);
  } else {
    process.stderr.write(`tessera: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 2;
});
