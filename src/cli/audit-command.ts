import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { type ChainLink, ChainVerifier } from "../core/audit-chain.js";
import { csvHeader, csvLine, linkFromCsv, linkFromNdjson, ndjsonLine, parseCsv } from "../core/audit-export.js";
import type { ChainReport } from "../services/audit-chain-service.js";
import { auditGroup } from "./support.js";

/**
 * `tessera audit verify` and `tessera audit export` (SPEC §6, §8). Verify exits 0 when the chain holds,
 * 1 when it found a changed, removed or reordered event (naming the first), 2 on any other error.
 */
export function registerAuditCommands(program: Command): void {
  // Another command file may have made the group already (e.g. `audit replay-revocations`).
  const audit = auditGroup(program);

  audit
    .command("verify")
    .description("Check an organisation's audit hash chain in the database, or an exported file")
    .option("--org <orgId>", "the organisation whose chain to check")
    .option("--instance", "check the instance's own chain (events without an organisation)")
    .option("--file <path>", "an export (.ndjson or .csv) to check instead of the database")
    .action(async (o: { org?: string; instance?: boolean; file?: string }) => {
      const chosen = [o.org !== undefined, o.instance === true, o.file !== undefined].filter(Boolean).length;
      if (chosen !== 1) {
        process.stderr.write("tessera: audit verify needs exactly one of --org ID, --instance or --file PATH\n");
        process.exitCode = 2;
        return;
      }
      const report = o.file !== undefined ? await verifyFile(o.file) : await verifyDatabase(o.instance ? null : o.org!);
      print(report);
      process.exitCode = report.ok ? 0 : 1;
    });

  audit
    .command("export")
    .description("Write an organisation's audit log to standard output, oldest first, with its hashes")
    .requiredOption("--org <orgId>", "the organisation")
    .option("--format <format>", "ndjson or csv", "ndjson")
    .action(async (o: { org: string; format: string }) => {
      if (o.format !== "ndjson" && o.format !== "csv") {
        process.stderr.write(`tessera: --format must be ndjson or csv, not "${o.format.slice(0, 40)}"\n`);
        process.exitCode = 2;
        return;
      }
      const tessera = await (await import("../tessera.js")).createTessera(loadConfig(), { dispatch: false });
      try {
        const access = await (await import("../services/actor.js")).resolveOrgAccess(tessera.store.db, { type: "system" }, o.org);
        if (o.format === "csv") await write(csvHeader());
        for await (const e of tessera.audit.export(access, {})) await write(o.format === "csv" ? csvLine(e) : ndjsonLine(e));
      } finally {
        await tessera.close();
      }
    });
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once("drain", resolve).once("error", reject);
  });
}

async function verifyDatabase(orgId: string | null): Promise<ChainReport> {
  const tessera = await (await import("../tessera.js")).createTessera(loadConfig(), { dispatch: false });
  try {
    return await tessera.audit.verify(orgId);
  } finally {
    await tessera.close();
  }
}

/**
 * An exported file: each event's hash recomputed and linked to the one before. The first event's
 * prevHash is taken as given (an export may start after a retention checkpoint); a filtered export
 * has gaps, which are reported as such.
 */
export async function verifyFile(path: string): Promise<ChainReport> {
  let verifier: ChainVerifier | undefined;
  const add = (link: ChainLink) => {
    verifier ??= new ChainVerifier(link.prevHash, link.seq);
    return verifier.add(link);
  };
  if (path.endsWith(".csv")) {
    let header = true;
    for (const record of parseCsv(await readFile(path, "utf8"))) {
      if (header) {
        header = false;
        continue;
      }
      if (record.length === 1 && record[0] === "") continue;
      if (!add(linkFromCsv(record))) break;
    }
  } else {
    const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === "") continue;
      if (!add(linkFromNdjson(line))) break;
    }
  }
  const v = verifier ?? new ChainVerifier();
  return {
    orgId: null,
    ok: v.problem === null,
    events: v.count,
    headSeq: v.nextSeq - 1,
    fromSeq: 0,
    checkpointSigned: null,
    problem: v.problem,
  };
}

function print(report: ChainReport): void {
  if (report.ok) {
    const from = report.fromSeq > 0 ? ` from checkpoint ${report.fromSeq}` : "";
    const signed = report.checkpointSigned === false ? " (checkpoint unsigned: no TESSERA_PEPPER when it was written)" : "";
    process.stdout.write(`ok: ${report.events} events verified${from}, head at seq ${report.headSeq}${signed}\n`);
    return;
  }
  const p = report.problem!;
  process.stdout.write(`TAMPERED at seq ${p.seq}${p.id ? ` (${p.id})` : ""}: ${p.reason}\n`);
}
