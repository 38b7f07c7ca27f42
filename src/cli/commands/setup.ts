import { Option } from "commander";
import type { Register } from "../support.js";
import { withTessera } from "../support.js";
import { validateInput } from "../validate.js";

export const registerSetup: Register = (program) => {
  program
    .command("setup")
    .description("First run without the console: create the first user (owner) and organisation; prints both as JSON")
    .requiredOption("--email <email>", "the first user's email address (their sign-in)")
    .requiredOption("--name <name>", "the first user's display name")
    .requiredOption("--org <name>", "the organisation's name")
    .addOption(
      new Option("--password <password>", "the first user's password, at least 12 characters (prefer the variable)")
        .env("TESSERA_SETUP_PASSWORD")
        .makeOptionMandatory(),
    )
    .action(async (o: { email: string; name: string; org: string; password: string }) => {
      const { systemMeta } = await import("../../services/request-meta.js");
      const options = { email: "--email", name: "--name", "organization.name": "--org", password: "--password" };
      const body = await validateInput(
        "SetupBody",
        { email: o.email, password: o.password, name: o.name, organization: { name: o.org } },
        options,
      );
      await withTessera(async (t) => {
        const { user, organization } = await t.auth.setup(body, systemMeta());
        process.stdout.write(
          `${JSON.stringify({ user: { id: user.id, email: user.email }, organization: { id: organization.id, name: organization.name } })}\n`,
        );
      }, options);
    });
};
