// The database as doctor, status and token see it: the configured one (never created by a check)
// or the embedded default, started for the command when no server runs it and stopped after.
import mysql from 'mysql2/promise';
import type { FmdConfig } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { parseDatabaseUrl, redactUrl } from '../db/connection.ts';
import { quietLog } from './cli.ts';

/** Which database this is and where its setting came from, for messages. */
export function describeDatabase(config: FmdConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (!config.databaseUrl) return `the embedded MariaDB under ${config.dataDir}/mariadb (no DATABASE_URL set)`;
  const from = env.DATABASE_URL ? 'DATABASE_URL' : `database-url in ${config.configFile}`;
  return `${redactUrl(config.databaseUrl)} (${from})`;
}

/**
 * An error in one line: its message, else its code (a refused connection may carry only that).
 * Prisma's messages open with the call that failed and end with what went wrong: the end it is.
 */
export function reason(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: Array<{ message?: string }> };
  const lines = (e.message || e.errors?.[0]?.message || e.code || String(err)).split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.length > 1 && /^Invalid `/.test(lines[0]!) ? lines.at(-1) : lines[0]) ?? String(err);
}

/**
 * Opens the database without migrating it. A configured database is first reached with a plain
 * connection to it, so that a missing one is reported rather than created.
 */
export async function openExisting(config: FmdConfig): Promise<Database> {
  if (config.databaseUrl) {
    const t = parseDatabaseUrl(config.databaseUrl);
    const conn = await mysql.createConnection({ host: t.host, port: t.port, socketPath: t.socketPath, user: t.user, password: t.password, database: t.database, connectTimeout: 5000 });
    await conn.end();
  }
  // Loaded here, not at start: usage errors and --help need none of the database code.
  const { openDatabase } = await import('../db/index.ts');
  return openDatabase(config, quietLog, { owner: false, migrate: false });
}
