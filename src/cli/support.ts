import type { Command } from "commander";
import type { Config } from "../config.js";
import type { Tessera } from "../tessera.js";

/**
 * Shared by every command. Heavy modules (the services, storage drivers, Fastify, Ajv) are imported
 * inside the actions, never at the top of a command file: `tessera --help` must not pay for them.
 */

/** A command's registration: `program` gets one more command (or group). */
export type Register = (program: Command) => void;

/** The `audit` command group, shared by the commands that live under it (whichever registers first makes it). */
export function auditGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === "audit") ?? program.command("audit").description("The audit log");
}

/** Exit statuses, as documented in `tessera --help` and the README. */
export const EXIT = {
  ok: 0,
  /** Refused: invalid input, a rule said no, an invalid token (verify), findings (scan). */
  refused: 1,
  /** Could not run: configuration error, storage unreachable, unexpected failure. */
  runtime: 2,
} as const;

/** A refusal the CLI decided on; the message names the option at fault. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Which option sets each input field (`environment` → `--env`), so errors name what the user typed. */
export type OptionNames = Record<string, string>;

export async function loadCliConfig(): Promise<Config> {
  const { loadConfig } = await import("../config.js");
  return loadConfig();
}

/** Opens Tessera (storage, migrations) for one command and closes it after, whatever happens. */
export async function withTessera<T>(run: (tessera: Tessera) => Promise<T>, options: OptionNames = {}): Promise<T> {
  const config = await loadCliConfig();
  const { createTessera } = await import("../tessera.js");
  const tessera = await createTessera(config, { dispatch: false });
  try {
    return await run(tessera);
  } catch (error) {
    throw await asCliError(error, options);
  } finally {
    await tessera.close();
  }
}

/** A service's refusal (`validation_failed` on `scopes`) named by its option (`--scopes`). */
async function asCliError(error: unknown, options: OptionNames): Promise<unknown> {
  const { TesseraError } = await import("../core/errors.js");
  if (!(error instanceof TesseraError)) return error;
  if (error.code === "service_unavailable" || error.code === "internal_error") return new CliError(error.message, EXIT.runtime);
  const field = error.fields?.[0]?.field;
  const option = field === undefined ? undefined : optionFor(field.replace(/\[\d+\].*$/, "").split("."), options);
  return new CliError(option && field ? `${option}: ${error.fields?.[0]?.message}` : error.message);
}

/** The option for a field path: the longest prefix the command named, else `--kebab-case` of the field. */
export function optionFor(segments: readonly string[], options: OptionNames): string | undefined {
  for (let n = segments.length; n > 0; n--) {
    const named = options[segments.slice(0, n).join(".")];
    if (named) return named;
  }
  const first = segments[0];
  if (first === undefined) return options[""];
  return first ? `--${first.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : undefined;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Comma-separated values: `a, b,,c` → `["a", "b", "c"]`. */
export const list = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * A whole number typed on the command line; anything else is kept as text so that the schema refuses
 * it with the option's name (`--expires-in-days abc`), rather than becoming NaN here.
 */
export const integer = (value: string): number | string => (/^\d{1,15}$/.test(value) ? Number(value) : value);

/** `--metadata '{"team":"billing"}'`: a JSON object. */
export function jsonObject(option: string): (value: string) => Record<string, unknown> {
  return (value) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new CliError(`${option}: must be a JSON object, e.g. '{"team":"billing"}'`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new CliError(`${option}: must be a JSON object, e.g. '{"team":"billing"}'`);
    }
    return parsed as Record<string, unknown>;
  };
}

type CliLimit = { name: string; limit: number | string; windowSeconds: number | string };
const WINDOW_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * `--rate-limit [NAME:]LIMIT/WINDOW`, repeatable: at most LIMIT verifications (units of cost) per
 * WINDOW seconds (or `30s`, `5m`, `1h`, `1d`); without a name the limit is `default`. `none` (alone)
 * removes every limit.
 */
export function rateLimit(value: string, previous: CliLimit[] | null | undefined): CliLimit[] | null {
  if (value === "none") return null;
  const match = /^(?:([^:/]+):)?([^/:]+)\/(\d+)([smhd]?)$/.exec(value);
  if (!match) {
    throw new CliError(
      `--rate-limit: must be [NAME:]LIMIT/WINDOW, e.g. 100/60, burst:10/1s or daily:10000/1d (or none), got ${JSON.stringify(value)}`,
    );
  }
  const seconds = integer(match[3]!);
  const windowSeconds = typeof seconds === "number" ? seconds * WINDOW_UNITS[match[4] ?? ""]! : seconds;
  return [...(previous ?? []), { name: match[1] ?? "default", limit: integer(match[2]!), windowSeconds }];
}

/** `--credits N` (uses left) or `none` (unlimited). */
export function credits(value: string): number | string | null {
  return value === "none" ? null : integer(value);
}

/** `--refill AMOUNT/day|month`: the balance is set to AMOUNT at the first use of each UTC day or month. */
export function refill(value: string): { amount: number | string; interval: string } {
  const match = /^([^/]+)\/(day|month)$/.exec(value);
  if (!match) throw new CliError(`--refill: must be AMOUNT/day or AMOUNT/month, e.g. 1000/day, got ${JSON.stringify(value)}`);
  return { amount: integer(match[1]!), interval: match[2]! };
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
