import type { Register } from "../support.js";
import { withTessera } from "../support.js";
import { validateInput } from "../validate.js";

export const registerUser: Register = (program) => {
  const user = program.command("user").description("People's accounts");
  user
    .command("reset-link")
    .description("A single-use password reset link (1 hour) for an account; prints it alone on stdout")
    .requiredOption("--email <email>", "the account's email address")
    .action(async (o: { email: string }) => {
      const { systemMeta } = await import("../../services/request-meta.js");
      await validateInput("Email", o.email, { "": "--email" });
      await withTessera(async (t) => {
        const link = await t.accounts.resetLink(o.email, systemMeta());
        process.stderr.write("Hand this link to the account's owner only; it works once, within one hour.\n");
        process.stdout.write(`${link}\n`);
      });
    });
};
