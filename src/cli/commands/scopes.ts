import type { Command } from "commander";
import type { CatalogueEntry, CatalogueInput } from "../../services/org-service.js";
import type { Register } from "../support.js";
import { printJson, withTessera } from "../support.js";
import { validateInput } from "../validate.js";

const SCOPE_ARGUMENT = "scopes as NAME or NAME=DESCRIPTION, NAME being resource:action in lowercase (e.g. messages:send)";

/** `messages:send=Send messages` → `{name, description}`. */
function parseScope(value: string): CatalogueInput {
  const at = value.indexOf("=");
  return at < 0 ? { name: value.trim() } : { name: value.slice(0, at).trim(), description: value.slice(at + 1).trim() };
}

function printCatalogue(entries: readonly CatalogueEntry[], json: boolean | undefined): void {
  if (json) {
    printJson(entries);
    return;
  }
  for (const e of entries) process.stdout.write(`${e.name}\t${e.kind}\t${e.description}\n`);
}

/** Applies an edit of the product scopes in one transaction and prints the resulting catalogue. */
async function edit(
  o: { org: string; json?: boolean },
  scopes: readonly CatalogueInput[],
  next: (current: readonly CatalogueInput[]) => readonly CatalogueInput[],
  what: string,
): Promise<void> {
  const { systemMeta } = await import("../../services/request-meta.js");
  // Item errors name the argument: "<scope...>: [1].name …" reads as the second scope given.
  await validateInput("CatalogueBody", scopes, { "": "<scope...>" });
  await withTessera(
    async (t) => {
      const access = await t.orgs.access({ type: "system" }, o.org);
      const catalogue = await t.orgs.replaceCatalogue(access, next, systemMeta());
      process.stderr.write(
        `${what}; the organisation now has ${catalogue.filter((e) => e.kind === "product").length} product scope(s).\n`,
      );
      printCatalogue(catalogue, o.json);
    },
    { "": "<scope...>" },
  );
}

const withOrg = (command: Command) =>
  command
    .requiredOption("--org <orgId>", "the organisation (org_…)")
    .option("--json", "print the resulting catalogue as a JSON array of {name, description, kind}");

export const registerScopes: Register = (program) => {
  const scopes = program
    .command("scopes")
    .description("The organisation's scope catalogue: Tessera's management scopes and your product's own");

  withOrg(scopes.command("list").description("List the catalogue: name, kind (management or product), description")).action(
    async (o: { org: string; json?: boolean }) => {
      await withTessera(async (t) => {
        const access = await t.orgs.access({ type: "system" }, o.org);
        printCatalogue(await t.orgs.catalogue(access), o.json);
      });
    },
  );

  withOrg(
    scopes
      .command("set")
      .description("Replace the product scopes with these (management scopes are Tessera's and stay)")
      .argument("<scope...>", SCOPE_ARGUMENT),
  ).action(async (values: string[], o: { org: string; json?: boolean }) => {
    const given = values.map(parseScope);
    await edit(o, given, () => given, "Product scopes replaced");
  });

  withOrg(
    scopes
      .command("add")
      .description("Add product scopes, or change the description of existing ones")
      .argument("<scope...>", SCOPE_ARGUMENT),
  ).action(async (values: string[], o: { org: string; json?: boolean }) => {
    const given = values.map(parseScope);
    await edit(
      o,
      given,
      (current) => {
        const byName = new Map(current.map((s) => [s.name, s]));
        for (const s of given)
          byName.set(s.name, { name: s.name, description: s.description ?? byName.get(s.name)?.description });
        return [...byName.values()];
      },
      "Product scopes added",
    );
  });

  withOrg(
    scopes
      .command("remove")
      .description("Remove product scopes from the catalogue (tokens holding them keep them until edited)")
      .argument("<scope...>", "scope names, e.g. messages:send"),
  ).action(async (values: string[], o: { org: string; json?: boolean }) => {
    const names = new Set(values.map((v) => v.trim()));
    await edit(
      o,
      [...names].map((name) => ({ name })),
      (current) => current.filter((s) => !names.has(s.name)),
      "Product scopes removed",
    );
  });
};
