// Applies the hand-written migrations in prisma/migrations and records them in
// `_prisma_migrations` exactly as `prisma migrate deploy` does, so both tools agree.
// MariaDB commits each DDL statement on its own: a migration that fails half-way stays
// recorded as failed (finished_at NULL) and fmd refuses to start until it is resolved.
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, RowDataPacket } from 'mysql2/promise';

export const defaultMigrationsDir = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));

export type Migration = { name: string; sql: string; checksum: string };

type AppliedRow = RowDataPacket & {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  started_at: Date;
  logs: string | null;
};

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function readMigrations(dir = defaultMigrationsDir): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Splits a script into statements on `;`, outside quotes and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      cur += '\n';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length && sql[j] !== c) j += sql[j] === '\\' ? 2 : 1;
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i++;
      continue;
    }
    cur += c;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const createTableSql = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
  id VARCHAR(36) PRIMARY KEY NOT NULL,
  checksum VARCHAR(64) NOT NULL,
  finished_at DATETIME(3),
  migration_name VARCHAR(255) NOT NULL,
  logs TEXT,
  rolled_back_at DATETIME(3),
  started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  applied_steps_count INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;

type Log = { info(msg: string): void; warn(msg: string): void };

async function withLock<T>(pool: Pool, fn: () => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    // Several fmd processes may start at once; only one migrates.
    const [rows] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK('fmd_migrations', 120) AS got");
    if (rows[0]?.got !== 1) throw new MigrationError('timed out waiting for the migration lock held by another fmd process');
    try {
      return await fn();
    } finally {
      await conn.query("SELECT RELEASE_LOCK('fmd_migrations')");
    }
  } finally {
    conn.release();
  }
}

async function appliedRows(pool: Pool): Promise<AppliedRow[]> {
  const [rows] = await pool.query<AppliedRow[]>('SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name');
  return rows;
}

export type MigrateResult = { applied: string[] };

export async function migrate(pool: Pool, log: Log, migrations = readMigrations()): Promise<MigrateResult> {
  return withLock(pool, async () => {
    await pool.query(createTableSql);
    const rows = await appliedRows(pool);
    const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed.length > 0) {
      const f = failed[0]!;
      throw new MigrationError(
        `migration ${f.migration_name} failed at ${f.started_at.toISOString()} and left the database partly migrated:\n` +
          `  ${(f.logs ?? '').trim()}\n` +
          `Repair the database by hand, then run \`fmd migrate resolve --rolled-back ${f.migration_name}\` to retry it ` +
          `or \`fmd migrate resolve --applied ${f.migration_name}\` if you completed it yourself.`,
      );
    }
    const done = new Map(rows.filter((r) => r.finished_at !== null && r.rolled_back_at === null).map((r) => [r.migration_name, r]));
    const known = new Set(migrations.map((m) => m.name));
    for (const name of done.keys()) {
      if (!known.has(name)) log.warn(`migration ${name} is applied in the database but missing from ${defaultMigrationsDir}`);
    }
    const applied: string[] = [];
    for (const m of migrations) {
      const row = done.get(m.name);
      if (row) {
        if (row.checksum !== m.checksum) log.warn(`migration ${m.name} was modified after it was applied`);
        continue;
      }
      const id = randomUUID();
      await pool.query(
        'INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, NOW(3), 0)',
        [id, m.checksum, m.name],
      );
      try {
        for (const stmt of splitStatements(m.sql)) await pool.query(stmt);
      } catch (err) {
        const message = (err as Error).message;
        await pool.query('UPDATE _prisma_migrations SET logs = ? WHERE id = ?', [message, id]);
        throw new MigrationError(
          `migration ${m.name} failed: ${message}\nThe database may be partly migrated; fmd will not start until this is resolved ` +
            `(see \`fmd migrate --help\`).`,
        );
      }
      await pool.query('UPDATE _prisma_migrations SET finished_at = NOW(3), applied_steps_count = 1 WHERE id = ?', [id]);
      log.info(`applied migration ${m.name}`);
      applied.push(m.name);
    }
    return { applied };
  });
}

export type MigrationState = {
  name: string;
  /** applied; pending (not yet); failed (half-way, blocks start); modified (applied, its file changed since); unknown (applied, no file here) */
  state: 'applied' | 'pending' | 'failed' | 'modified' | 'unknown';
  /** when it finished (applied, modified, unknown) or started (failed) */
  at?: Date;
  logs?: string;
};

/** What `migrate` would find, read only: every migration here and every one the database records. */
export async function migrationStatus(pool: Pool, migrations = readMigrations()): Promise<MigrationState[]> {
  let rows: AppliedRow[] = [];
  try {
    rows = await appliedRows(pool);
  } catch (err) {
    // A fresh database has no table yet: everything is pending.
    if ((err as { errno?: number }).errno !== 1146) throw err;
  }
  const live = rows.filter((r) => r.rolled_back_at === null);
  const out: MigrationState[] = [];
  for (const m of migrations) {
    const failed = live.find((r) => r.migration_name === m.name && r.finished_at === null);
    const done = live.find((r) => r.migration_name === m.name && r.finished_at !== null);
    if (failed) out.push({ name: m.name, state: 'failed', at: failed.started_at, logs: (failed.logs ?? '').trim() });
    else if (done) out.push({ name: m.name, state: done.checksum === m.checksum ? 'applied' : 'modified', at: done.finished_at! });
    else out.push({ name: m.name, state: 'pending' });
  }
  const known = new Set(migrations.map((m) => m.name));
  for (const r of live) {
    if (known.has(r.migration_name) || out.some((o) => o.name === r.migration_name)) continue;
    if (r.finished_at === null) out.push({ name: r.migration_name, state: 'failed', at: r.started_at, logs: (r.logs ?? '').trim() });
    else out.push({ name: r.migration_name, state: 'unknown', at: r.finished_at });
  }
  return out;
}

/** `prisma migrate resolve` for a failed migration: mark it rolled back (to retry) or applied. */
export async function resolveMigration(pool: Pool, name: string, as: 'rolled-back' | 'applied', migrations = readMigrations()): Promise<void> {
  await pool.query(createTableSql);
  const rows = (await appliedRows(pool)).filter((r) => r.migration_name === name && r.finished_at === null && r.rolled_back_at === null);
  if (as === 'rolled-back') {
    if (rows.length === 0) throw new MigrationError(`migration ${name} is not in a failed state`);
    await pool.query('UPDATE _prisma_migrations SET rolled_back_at = NOW(3) WHERE migration_name = ? AND finished_at IS NULL', [name]);
    return;
  }
  const m = migrations.find((x) => x.name === name);
  if (!m) throw new MigrationError(`no migration named ${name} in ${defaultMigrationsDir}`);
  if (rows.length > 0) {
    await pool.query('UPDATE _prisma_migrations SET rolled_back_at = NOW(3) WHERE migration_name = ? AND finished_at IS NULL', [name]);
  }
  await pool.query(
    'INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES (?, ?, ?, NOW(3), NOW(3), 0)',
    [randomUUID(), m.checksum, name],
  );
}
