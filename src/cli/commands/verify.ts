import type { Register } from "../support.js";
import { EXIT, list, readStdin, withTessera } from "../support.js";
import { validateInput } from "../validate.js";

export const registerVerify: Register = (program) => {
  program
    .command("verify")
    .description(
      "Verify a token against this instance's storage; prints the result as JSON; exit status 0 when valid, 1 when not",
    )
    .argument("<token>", 'the token, or "-" to read it from standard input (keeps it out of the process list and shell history)')
    .option("--scopes <scopes>", "scopes the token must hold, comma-separated", list)
    .option("--ip <ip>", "the client's address, for tokens with an IP allowlist")
    .action(async (argument: string, o: { scopes?: string[]; ip?: string }) => {
      const secret = argument === "-" ? (await readStdin()).trim() : argument;
      const options = { token: "<token>", scopes: "--scopes", ip: "--ip" };
      const input = await validateInput("VerifyBody", { token: secret, scopes: o.scopes, ip: o.ip }, options);
      await withTessera(async (t) => {
        const result = await t.verifier.verify({ token: input.token, scopes: input.scopes, ip: input.ip ?? null });
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
        process.exitCode = result.valid ? EXIT.ok : EXIT.refused;
      }, options);
    });
};
