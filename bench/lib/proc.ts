import { readdirSync, readFileSync } from "node:fs";

/** CPU time per clock tick of /proc's stat files (USER_HZ), in µs. */
const TICK_US = 1e6 / 100;

/** Fields after the command name of a /proc stat line (the name may hold spaces and parentheses). */
function statFields(stat: string): { name: string; fields: string[] } {
  const close = stat.lastIndexOf(")");
  return { name: stat.slice(stat.indexOf("(") + 1, close), fields: stat.slice(close + 2).split(" ") };
}

/** User + system CPU of one stat line, µs. */
function cpuOf(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

/** CPU µs used so far by each thread of a process, by thread name ("main" for the main thread). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { name, fields } = statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
      const key = tid === String(pid) ? "main" : name;
      out.set(key, (out.get(key) ?? 0) + cpuOf(fields));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** CPU µs used so far by every process whose command name is `comm` (e.g. PostgreSQL's backends). */
export function commandCpu(comm: string): number {
  let sum = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const { name, fields } = statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
      if (name === comm) sum += cpuOf(fields);
    } catch {
      // The process ended meanwhile.
    }
  }
  return sum;
}
