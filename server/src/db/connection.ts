// Where the database is: parsed from DATABASE_URL or handed over by the embedded launcher.
// Both Prisma's MariaDB adapter and mysql2 (Agenda backend, migration runner) consume it.
import mysql from 'mysql2/promise';

export type DatabaseTarget = {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password?: string;
  database: string;
};

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`DATABASE_URL has no database name: ${redactUrl(url)}`);
  const socket = u.searchParams.get('socket') ?? u.searchParams.get('socketPath') ?? undefined;
  return {
    host: socket ? undefined : u.hostname || 'localhost',
    port: socket ? undefined : Number(u.port || 3306),
    socketPath: socket,
    user: decodeURIComponent(u.username || 'root'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
  };
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** A URL other fmd processes (a separate worker) can use to reach the same database. */
export function targetToUrl(t: DatabaseTarget): string {
  const auth = encodeURIComponent(t.user) + (t.password ? `:${encodeURIComponent(t.password)}` : '');
  if (t.socketPath) return `mysql://${auth}@localhost/${t.database}?socket=${encodeURIComponent(t.socketPath)}`;
  return `mysql://${auth}@${t.host}:${t.port}/${t.database}`;
}

export function describeTarget(t: DatabaseTarget): string {
  return t.socketPath ? `${t.database} via ${t.socketPath}` : `${t.database} on ${t.host}:${t.port}`;
}

/** A mysql2 pool for the raw-SQL parts (migrations, schema checks, the job store). */
export function createMysqlPool(t: DatabaseTarget, connectionLimit = 10): mysql.Pool {
  const pool = mysql.createPool({
    host: t.host,
    port: t.port,
    socketPath: t.socketPath,
    user: t.user,
    password: t.password,
    database: t.database,
    connectionLimit,
    waitForConnections: true,
    enableKeepAlive: true,
    dateStrings: false,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  // Row locks on this pool (the job store) are held for milliseconds; a wait that lasts is a
  // stall better failed and retried than endured for InnoDB's default 50 s, which showed up as
  // throughput collapsing in bench/fmd-jobs.ts.
  pool.on('connection', (conn) => {
    (conn as unknown as { query(sql: string): unknown }).query('SET SESSION innodb_lock_wait_timeout = 3');
  });
  return pool;
}

/** Creates the database if missing, connecting without selecting one. */
export async function ensureDatabase(t: DatabaseTarget): Promise<void> {
  const conn = await mysql.createConnection({
    host: t.host,
    port: t.port,
    socketPath: t.socketPath,
    user: t.user,
    password: t.password,
  });
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${t.database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await conn.end();
  }
}
