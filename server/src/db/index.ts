// Opens fmd's database: the configured server or the embedded MariaDB, migrated and ready,
// with a Prisma client (services) and a mysql2 pool (job store, raw-SQL checks).
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import type { Pool } from 'mysql2/promise';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { FmdConfig } from '../config/index.ts';
import { createMysqlPool, describeTarget, ensureDatabase, parseDatabaseUrl, targetToUrl, type DatabaseTarget } from './connection.ts';
import { startEmbeddedMariaDb, type EmbeddedMariaDb } from './embedded-mariadb.ts';
import { migrate } from './migrate.ts';

export type Database = {
  target: DatabaseTarget;
  /** a URL another process can use to reach the same database */
  url: string;
  prisma: PrismaClient;
  pool: Pool;
  embedded: EmbeddedMariaDb | undefined;
  ping(): Promise<boolean>;
  close(): Promise<void>;
};

type Log = { info(msg: string): void; warn(msg: string): void };

export const embeddedDatabaseName = 'fmd';

export function createPrisma(t: DatabaseTarget, connectionLimit = 10): PrismaClient {
  const adapter = new PrismaMariaDb({
    host: t.host,
    port: t.port,
    socketPath: t.socketPath,
    user: t.user,
    password: t.password,
    database: t.database,
    connectionLimit,
    // The adapter's default (0) prepares and closes a statement around every query: two more
    // packets and a round trip per read. Prisma's SQL comes from a small set of shapes.
    prepareCacheLength: 256,
    // fail fast while the database is down instead of queueing requests for long
    acquireTimeout: 5000,
    connectTimeout: 5000,
  });
  return new PrismaClient({ adapter });
}

/**
 * `owner` decides what happens to an embedded MariaDB this process found already running:
 * the server owns it (and stops it on close); a helper command (token minting) leaves it be.
 */
export async function openDatabase(config: FmdConfig, log: Log, opts: { owner: boolean; migrate?: boolean } = { owner: true }): Promise<Database> {
  let embedded: EmbeddedMariaDb | undefined;
  let target: DatabaseTarget;
  if (config.databaseUrl) {
    target = parseDatabaseUrl(config.databaseUrl);
  } else {
    embedded = await startEmbeddedMariaDb(config.dataDir, embeddedDatabaseName, log);
    target = embedded.target;
  }
  const stopEmbedded = async () => {
    if (embedded && (opts.owner || !embedded.adopted)) await embedded.stop();
  };
  try {
    await ensureDatabase(target);
    const pool = createMysqlPool(target);
    if (opts.migrate !== false) await migrate(pool, log);
    const prisma = createPrisma(target);
    await prisma.$connect();
    log.info(`database ${describeTarget(target)}${embedded ? ' (embedded)' : ''}`);
    return {
      target,
      url: targetToUrl(target),
      prisma,
      pool,
      embedded,
      async ping() {
        try {
          await pool.query('SELECT 1');
          return true;
        } catch {
          return false;
        }
      },
      async close() {
        await prisma.$disconnect().catch(() => undefined);
        await pool.end().catch(() => undefined);
        await stopEmbedded();
      },
    };
  } catch (err) {
    await stopEmbedded();
    throw err;
  }
}

/** True for errors that mean "the database is unreachable right now" (answer 503, retry). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const o = e as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    const code = String(o.code ?? '');
    const msg = String(o.message ?? '');
    if (['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_GET_CONNECTION_TIMEOUT', 'P1001', 'P1017', 'P2024', 'ER_CON_COUNT_ERROR'].includes(code)) return true;
    if (/pool timeout|retrieve connection from pool|Connection lost|connect ECONNREFUSED|socket hang up|ENOENT.*sock|Can't reach database|DatabaseNotReachable|SocketTimeout|ConnectionClosed/i.test(msg)) return true;
    e = o.cause;
  }
  return false;
}

/**
 * The column of a write that failed because a value was longer than the column (Prisma P2000,
 * MariaDB 1406), or null for any other error. Domain rules should have refused such a value;
 * the HTTP boundary answers it as the client's mistake all the same.
 */
export function tooLongColumn(err: unknown): string | null {
  const o = err as { code?: unknown; message?: unknown; meta?: { column_name?: unknown } } | null;
  if (!o || typeof o !== 'object' || o.code !== 'P2000') return null;
  if (typeof o.meta?.column_name === 'string') return o.meta.column_name;
  const m = /Column: (\w+)/.exec(String(o.message ?? ''));
  return m ? m[1]! : 'a column';
}
