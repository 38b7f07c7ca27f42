import type { Register } from "../support.js";
import { withTessera } from "../support.js";
import { validateInput } from "../validate.js";

export const registerInvite: Register = (program) => {
  program
    .command("invite")
    .description(
      "Invite an email to an organisation; prints the accept link alone on stdout, or says it was mailed (TESSERA_SMTP_URL)",
    )
    .requiredOption("--org <orgId>", "the organisation (org_…)")
    .requiredOption("--email <email>", "who is invited")
    .option("--role <role>", "owner, admin, member or viewer", "member")
    .option("--locale <locale>", "the invitee's language for the mail: en or it", "en")
    .action(async (o: { org: string; email: string; role: string; locale: string }) => {
      const [{ systemMeta }, { iso }] = await Promise.all([
        import("../../services/request-meta.js"),
        import("../../http/views.js"),
      ]);
      const options = { email: "--email", role: "--role", locale: "--locale" };
      const body = await validateInput("InviteBody", { email: o.email, role: o.role, locale: o.locale }, options);
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        const { invitation, acceptUrl } = await t.accounts.invite(access, body, systemMeta());
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
      }, options);
    });
};
