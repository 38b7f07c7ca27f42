import { readFileSync } from "node:fs";
import { Command } from "commander";
import { COMMANDS } from "./commands/index.js";

/** Shown by `tessera --help`: what configures every command (README, "Configuration", has them all). */
const ENVIRONMENT = `
Environment:
  TESSERA_DATA_DIR       where embedded SQLite keeps its file (default ./tessera-data)
  TESSERA_DATABASE_URL   postgres://user:password@host:port/name selects PostgreSQL instead
  TESSERA_HOST           address serve listens on (default 127.0.0.1)
  TESSERA_PORT           port serve listens on, 1–65535 (default 7070)
  TESSERA_PUBLIC_URL     base of the links Tessera hands out (default http://localhost:<port>)
  TESSERA_LOG_LEVEL      fatal, error, warn, info (default), debug, trace or silent
  TESSERA_PEPPER         HMAC key for token hashes (changing it invalidates every token)
  TESSERA_SMTP_URL       smtp:// or smtps:// URL: invitations and reset links are mailed
  TESSERA_MAIL_FROM      sender of those mails (default Tessera <tessera@localhost>)
  TESSERA_TLS_CERT       PEM certificate file for HTTPS (with TESSERA_TLS_KEY)
  TESSERA_TRUST_PROXY    true, a hop count or proxy addresses/CIDRs in front of Tessera
  TESSERA_SETUP_PASSWORD the first user's password for \`tessera setup\`
  NODE_ENV=production    refuse plain HTTP (except /healthz, /readyz)
  … and the limits and retention settings in the README's configuration table.

Exit status:
  0  done (verify: the token is valid)
  1  refused: invalid input or option, a rule said no, an unknown id, an invalid token (verify)
  2  could not run: a configuration error, storage unreachable, an unexpected failure

From a clone, without reinstalling: ./bin/tessera.js <command>  or  npm run tessera -- <command>
`;

function packageVersion(): string {
  // ../../package.json from src/cli/ and from dist/cli/ alike.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** The `tessera` program: every command registered, help and errors as documented. */
export function createProgram(): Command {
  const program = new Command()
    .name("tessera")
    .description("Self-hosted API token service: issue, verify and govern API tokens.")
    .version(packageVersion(), "-V, --version", "print Tessera's version")
    .helpOption("-h, --help", "show help for a command (e.g. tessera token create --help)")
    .helpCommand("help [command]", "show help for a command")
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, "tessera: ")) })
    .addHelpText("after", ENVIRONMENT);
  for (const register of COMMANDS) register(program);
  return program;
}
