import type { Register } from "../support.js";
import { list, printJson, withTessera } from "../support.js";

export const registerRootToken: Register = (program) => {
  const root = program.command("root-token").description("Instance-level tokens for the operator");
  root
    .command("create")
    .description("Create a root token; prints its secret alone on stdout")
    .requiredOption("--name <name>", "what the token is for (1–100 characters)")
    .option(
      "--scopes <scopes>",
      "comma-separated instance scopes: instance:admin, tokens:verify, orgs:provision (default: all three)",
      list,
    )
    .action(async (o: { name: string; scopes?: string[] }) => {
      const { systemMeta } = await import("../../services/request-meta.js");
      await withTessera(
        async (t) => {
          const { token, secret } = await t.tokens.createRoot(o.name, systemMeta(), o.scopes);
          process.stderr.write(
            `Created root token ${token.id} (${token.prefix}…). Store the secret now: it is not shown again.\n`,
          );
          process.stdout.write(`${secret}\n`);
        },
        { name: "--name", scopes: "--scopes" },
      );
    });

  root
    .command("list")
    .description("List root tokens, newest first (never their secrets)")
    .option("--json", "print a JSON array of token views (as the API's)")
    .action(async (o: { json?: boolean }) => {
      const { tokenView } = await import("../../http/views.js");
      await withTessera(async (t) => {
        const items: ReturnType<typeof tokenView>[] = [];
        let cursor: string | undefined;
        do {
          const page = await t.tokens.listRoot({ type: "system" }, { limit: 100, cursor });
          items.push(...page.items.map((x) => tokenView(x)));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        if (o.json) return printJson(items);
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
    .argument("<tokenId>", "the root token's id (tok_…)")
    .option("--reason <reason>", "why, kept in the audit log (at most 500 characters)")
    .action(async (tokenId: string, o: { reason?: string }) => {
      const [{ systemMeta }, { iso }] = await Promise.all([
        import("../../services/request-meta.js"),
        import("../../http/views.js"),
      ]);
      await withTessera(
        async (t) => {
          const revoked = await t.tokens.revokeRoot({ type: "system" }, tokenId, o.reason, systemMeta());
          process.stderr.write(`Revoked root token ${revoked.id} at ${iso(revoked.revokedAt)}.\n`);
        },
        { reason: "--reason" },
      );
    });
};
