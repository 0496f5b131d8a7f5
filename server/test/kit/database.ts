// Test databases: one embedded MariaDB per test process (or FMD_TEST_DATABASE_URL's server),
// and a fresh, empty database for every caller.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import mysql from 'mysql2/promise';
import { startEmbeddedMariaDb, type EmbeddedMariaDb } from '../../src/db/embedded-mariadb.ts';
import { createMysqlPool, parseDatabaseUrl, targetToUrl, type DatabaseTarget } from '../../src/db/connection.ts';

const quiet = { info() {}, warn() {} };
let server: Promise<{ base: DatabaseTarget; embedded?: EmbeddedMariaDb; dir?: string }> | undefined;

// Databases not dropped by their test are dropped when the file's tests are done (a hook
// registered at import time belongs to the file, not to one test). node:test runs this hook
// before the test file's own `after` hooks, so a database a test server runs on is left to that
// server's stop() (see ownedByServer): dropping it here took the tables from under a server the
// file had not stopped yet, and its last jobs failed writing their logs.
const created = new Set<() => Promise<void>>();
after(async () => {
  for (const drop of created) await drop().catch(() => undefined);
});

// The server outlives every test's own clean-up: it is stopped when the test process exits.
let cleanup: (() => void) | undefined;
process.once('exit', () => cleanup?.());

function startServer() {
  server ??= (async () => {
    const url = process.env.FMD_TEST_DATABASE_URL;
    if (url) return { base: parseDatabaseUrl(url) };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-testdb-'));
    const embedded = await startEmbeddedMariaDb(dir, 'unused', quiet);
    cleanup = () => {
      embedded.kill();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    };
    return { base: embedded.target, embedded, dir };
  })();
  return server;
}

export type TestDatabase = {
  target: DatabaseTarget;
  url: string;
  pool: mysql.Pool;
  drop(): Promise<void>;
  /** takes the database out of the file's end-of-tests clean-up: its owner's stop() drops it */
  ownedByServer(): void;
};

/** A new empty database on the shared test server; call drop() or let the file's end remove the server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { base } = await startServer();
  const name = `fmd_test_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ host: base.host, port: base.port, socketPath: base.socketPath, user: base.user, password: base.password });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const target = { ...base, database: name };
  const pool = createMysqlPool(target, 5);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    created.delete(drop);
    await pool.end();
    const c = await mysql.createConnection({ host: base.host, port: base.port, socketPath: base.socketPath, user: base.user, password: base.password });
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await c.end();
  };
  created.add(drop);
  return { target, url: targetToUrl(target), pool, drop, ownedByServer: () => void created.delete(drop) };
}
