import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * The storage dialects every storage and HTTP suite runs against. PostgreSQL is the machine's server
 * (TESSERA_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres); each suite creates and
 * drops its own database. Without PostgreSQL the suites are skipped locally, but fail under CI=true.
 */
export type DialectName = "sqlite" | "postgres";

export const ADMIN_PG_URL = process.env.TESSERA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const IN_CI = process.env.CI === "true";

let pgAvailable: Promise<boolean> | undefined;

export function postgresAvailable(): Promise<boolean> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("select 1");
      return true;
    } catch (error) {
      if (IN_CI) throw new Error(`PostgreSQL is required under CI=true but unreachable at ${ADMIN_PG_URL}: ${String(error)}`);
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgAvailable;
}

/** The dialects to run: both, or SQLite only when PostgreSQL is missing outside CI. */
export async function dialects(): Promise<DialectName[]> {
  return (await postgresAvailable()) ? ["sqlite", "postgres"] : ["sqlite"];
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database for one suite. */
export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = `tessera_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_PG_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
