import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import internals from '@prisma/internals';
import type { RowDataPacket } from 'mysql2/promise';
import { migrate, readMigrations, resolveMigration, splitStatements, MigrationError } from '../src/db/migrate.ts';
import { compareSchema, type DmmfDatamodel } from '../src/db/schema-check.ts';
import { jobStoreSchemaSql } from '../src/jobs/mariadb-backend/index.ts';
import { createTestDatabase } from './kit/database.ts';

const schemaPath = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));
const quiet = { info() {}, warn() {} };
/** Tables that Agenda's backend owns; they are not Prisma models. */
export const jobStoreTables = ['agenda_jobs', 'agenda_job_logs'];

test('all migrations applied to an empty database match schema.prisma', async () => {
  const db = await createTestDatabase();
  const result = await migrate(db.pool, quiet);
  assert.deepEqual(result.applied, readMigrations().map((m) => m.name));
  const dmmf = await internals.getDMMF({ datamodel: readFileSync(schemaPath, 'utf8') });
  const problems = await compareSchema(db.pool, dmmf.datamodel as unknown as DmmfDatamodel, jobStoreTables);
  assert.deepEqual(problems, []);
});

test('the migrations build the job store that jobStoreSchemaSql() describes', async () => {
  const migrated = await createTestDatabase();
  await migrate(migrated.pool, quiet);
  const created = await createTestDatabase();
  for (const statement of splitStatements(jobStoreSchemaSql())) await created.pool.query(statement);
  for (const table of jobStoreTables) {
    const show = async (pool: typeof migrated.pool) => (await pool.query<RowDataPacket[]>(`SHOW CREATE TABLE \`${table}\``))[0][0]!['Create Table'];
    assert.equal(await show(migrated.pool), await show(created.pool));
  }
});

test('migrations are recorded like prisma migrate deploy and re-running applies nothing', async () => {
  const db = await createTestDatabase();
  await migrate(db.pool, quiet);
  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT * FROM _prisma_migrations ORDER BY migration_name');
  const files = readMigrations();
  assert.equal(rows.length, files.length);
  for (const [i, m] of files.entries()) {
    assert.equal(rows[i]!.migration_name, m.name);
    assert.equal(rows[i]!.checksum, m.checksum);
    assert.ok(rows[i]!.finished_at instanceof Date);
    assert.equal(rows[i]!.applied_steps_count, 1);
    assert.match(rows[i]!.id, /^[0-9a-f-]{36}$/);
  }
  assert.deepEqual((await migrate(db.pool, quiet)).applied, []);
});

test('the drift check notices a column that differs from schema.prisma', async () => {
  const db = await createTestDatabase();
  await migrate(db.pool, quiet);
  await db.pool.query('ALTER TABLE api_tokens MODIFY name VARCHAR(100) NULL');
  await db.pool.query('ALTER TABLE users ADD COLUMN surprise INT');
  await db.pool.query('ALTER TABLE repos MODIFY name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL');
  const dmmf = await internals.getDMMF({ datamodel: readFileSync(schemaPath, 'utf8') });
  const problems = await compareSchema(db.pool, dmmf.datamodel as unknown as DmmfDatamodel, jobStoreTables);
  assert.ok(problems.some((p) => p.includes('api_tokens.name: type is varchar(100)')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('api_tokens.name: nullable')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('users.surprise')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('repos.name: collation is utf8mb4_unicode_ci, schema.prisma says utf8mb4_bin')), problems.join('\n'));
});

test('a migration that fails half-way is recorded as failed and blocks until resolved', async () => {
  const db = await createTestDatabase();
  const good = readMigrations();
  const broken = {
    name: '29990101000000_broken',
    sql: 'CREATE TABLE half_done (id INT PRIMARY KEY);\nALTER TABLE no_such_table ADD COLUMN x INT;\n',
    checksum: 'x'.repeat(64),
  };
  await assert.rejects(migrate(db.pool, quiet, [...good, broken]), (err: Error) => {
    assert.ok(err instanceof MigrationError);
    assert.match(err.message, /29990101000000_broken failed/);
    return true;
  });
  // The first statement was committed: the state is partial, and recorded as such.
  const [rows] = await db.pool.query<RowDataPacket[]>("SELECT finished_at, logs FROM _prisma_migrations WHERE migration_name = '29990101000000_broken'");
  assert.equal(rows[0]!.finished_at, null);
  assert.match(rows[0]!.logs, /no_such_table/);
  await assert.rejects(migrate(db.pool, quiet, [...good, broken]), /left the database partly migrated[\s\S]*resolve --rolled-back 29990101000000_broken/);

  await db.pool.query('DROP TABLE half_done');
  await resolveMigration(db.pool, '29990101000000_broken', 'rolled-back', [...good, broken]);
  const fixed = { ...broken, sql: 'CREATE TABLE half_done (id INT PRIMARY KEY);\n' };
  assert.deepEqual((await migrate(db.pool, quiet, [...good, fixed])).applied, ['29990101000000_broken']);
});

test('statement splitting respects quotes and comments', () => {
  assert.deepEqual(splitStatements("-- a; comment\nSELECT 'a;b'; /* x; */ SELECT `c;`;\n"), ["SELECT 'a;b'", 'SELECT `c;`']);
});
