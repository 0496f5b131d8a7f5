// Job engine bench: fmd's MariaDB Agenda backend (server/src/jobs/mariadb-backend/, against its own
// embedded MariaDB) side by side with the official @agendajs/postgres-backend (against the local
// PostgreSQL, in a scratch database dropped at the end), both driven by the same worker script:
// - no-op job throughput with 1 and 2 worker processes at 1,000 and 10,000 queued jobs;
// - pickup latency (queued -> started) p50/p99 with each backend's cross-process notification
//   (Redis pub/sub through RedisNotificationChannel for MariaDB, LISTEN/NOTIFY for PostgreSQL)
//   and with polling only.
// Each figure is measured for both backends in turn, FMD_BENCH_ROUNDS times (default 2: A B A B),
// so a shared machine's load falls on both. A backend whose server is unreachable is skipped.
// Run from the repo root: npm exec -- node bench/jobs-throughput.ts
//   FMD_BENCH_REDIS_URL  Redis (default redis://127.0.0.1:6379)
//   FMD_BENCH_PG_URL     PostgreSQL server, user with CREATEDB (default postgres://postgres@127.0.0.1:5432)
//   FMD_BENCH_QUEUED     queue sizes for throughput (default 1000,10000; empty: latency only)
//   FMD_BENCH_ROUNDS     rounds per figure (default 2)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Agenda, type AgendaBackend } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import { startEmbeddedMariaDb } from '../server/src/db/embedded-mariadb.ts';
import { createMysqlPool, ensureDatabase, targetToUrl } from '../server/src/db/connection.ts';
import { MariaDbBackend, RedisNotificationChannel } from '../server/src/jobs/mariadb-backend/index.ts';

const workerScript = fileURLToPath(new URL('../server/src/jobs/mariadb-backend/test-worker.ts', import.meta.url));
const redisUrl = process.env.FMD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pgServerUrl = process.env.FMD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
const rounds = Number(process.env.FMD_BENCH_ROUNDS ?? 2);
const queueSizes = (process.env.FMD_BENCH_QUEUED ?? '1000,10000').split(',').map(Number).filter(Boolean); // '' for latency only
const workers = new Set<ChildProcess>();
// Agenda refills its queue only on each processEvery tick (and on notifications), so a worker tops
// out near lockLimit / processEvery: 2 x concurrency every 20 ms here.
const processEvery = process.env.FMD_BENCH_PROCESS_EVERY ?? '20';
const lockLimit = process.env.FMD_BENCH_LOCK_LIMIT ?? '40';

/** One backend under test: its job store, plain SQL on its database (`?` placeholders), workers' settings. */
interface Store {
  name: string;
  notification: string;
  backend: AgendaBackend;
  rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  workerEnv(notify: boolean, channelName: string): Record<string, string>;
  /** An Agenda that queues jobs, announcing them when `notify`. */
  producer(notify: boolean, channelName: string): Promise<{ agenda: Agenda; close(): Promise<void> }>;
  close(): Promise<void>;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-'));

async function openMariaDb(): Promise<Store> {
  const mariadb = await startEmbeddedMariaDb(dir, 'fmd_bench', { info() {}, warn: console.warn });
  await ensureDatabase(mariadb.target);
  const pool = createMysqlPool(mariadb.target, 10);
  const backend = new MariaDbBackend({ pool, ensureSchema: true });
  await backend.connect();
  await pool.query('CREATE TABLE IF NOT EXISTS bench_latency (id INT AUTO_INCREMENT PRIMARY KEY, ms INT NOT NULL)');
  return {
    name: 'mariadb (fmd)',
    notification: 'Redis pub/sub',
    backend,
    rows: async (sql, params) => (await pool.query<RowDataPacket[]>(sql, params))[0],
    workerEnv: (notify, channelName) => ({
      FMD_WORKER_DB: targetToUrl(mariadb.target),
      ...(notify ? { FMD_WORKER_REDIS: redisUrl, FMD_WORKER_CHANNEL: channelName } : {}),
    }),
    async producer(notify, channelName) {
      const channel = notify ? new RedisNotificationChannel({ url: redisUrl, channelName }) : undefined;
      const agenda = new Agenda({ backend: new MariaDbBackend({ pool, notificationChannel: channel }) });
      await agenda.ready;
      await channel?.connect();
      return { agenda, close: async () => channel?.disconnect() };
    },
    async close() {
      await pool.end();
      await mariadb.stop();
    },
  };
}

/** A scratch database on the PostgreSQL server, or undefined when the server does not answer. */
async function openPostgres(): Promise<Store | undefined> {
  const database = `fmd_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: pgServerUrl, connectionTimeoutMillis: 2000 });
  admin.on('error', () => {});
  try {
    await admin.connect();
  } catch (err) {
    console.log(`postgres: skipped, ${pgServerUrl} unreachable (${(err as Error).message})`);
    return undefined;
  }
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(pgServerUrl);
  url.pathname = `/${database}`;
  const pool = new pg.Pool({ connectionString: url.href, max: 10 });
  const backend = new PostgresBackend({ pool, disableNotifications: true });
  await backend.connect();
  await pool.query('CREATE TABLE IF NOT EXISTS bench_latency (id SERIAL PRIMARY KEY, ms INT NOT NULL)');
  return {
    name: 'postgres (@agendajs)',
    notification: 'LISTEN/NOTIFY',
    backend,
    async rows(sql, params) {
      let n = 0;
      return (await pool.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows;
    },
    workerEnv: (notify) => ({ FMD_WORKER_BACKEND: 'postgres', FMD_WORKER_DB: url.href, FMD_WORKER_NOTIFY: notify ? '1' : '0' }),
    async producer(notify) {
      const producerBackend = new PostgresBackend({ pool, disableNotifications: !notify });
      const agenda = new Agenda({ backend: producerBackend });
      await agenda.ready;
      // Agenda connects its channel only in start(), and a producer must not process jobs.
      await producerBackend.notificationChannel?.connect();
      return { agenda, close: async () => producerBackend.notificationChannel?.disconnect() };
    },
    async close() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    },
  };
}

function startWorker(id: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [workerScript], {
    env: { ...process.env, FMD_WORKER_ID: id, FMD_WORKER_CONCURRENCY: '20', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workers.add(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${id} exited (${code})`)));
    child.stdout?.on('data', (b: Buffer) => b.toString().includes('READY') && resolve(child));
  });
}

async function stopWorkers(): Promise<void> {
  await Promise.all(
    [...workers].map((c) => {
      workers.delete(c);
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      return exited;
    }),
  );
}

async function count(store: Store, sql: string): Promise<number> {
  return Number((await store.rows(sql))[0]?.n ?? 0);
}

/** Inserts `n` no-op jobs that are not due yet, so the clock starts when they all become due at once. */
async function queueParked(store: Store, n: number): Promise<void> {
  const later = new Date(Date.now() + 3600_000);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(store.backend.repository.saveJob({ name: 'noop', priority: 0, nextRunAt: later, type: 'normal', data: { i } }, undefined));
    if (pending.length === 8) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

async function throughput(store: Store, workerCount: number, queued: number): Promise<number> {
  await store.backend.repository.purgeAllJobs();
  await queueParked(store, queued);
  for (let i = 0; i < workerCount; i++) {
    await startWorker(`t${i}`, {
      ...store.workerEnv(false, ''),
      FMD_WORKER_PROCESS_EVERY: processEvery,
      FMD_WORKER_LOCK_LIMIT: lockLimit,
    });
  }
  const t0 = performance.now();
  await store.rows("UPDATE agenda_jobs SET next_run_at = ? WHERE name = 'noop'", [new Date()]);
  // Polled gently: a frequent full scan keeps read views open and holds back InnoDB's purge,
  // which slows the very lock queries being measured.
  while ((await count(store, "SELECT COUNT(*) AS n FROM agenda_jobs WHERE name = 'noop' AND last_finished_at IS NULL")) > 0) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - t0) / 1000;
  await stopWorkers();
  return queued / seconds;
}

async function redisReachable(): Promise<boolean> {
  const probe = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

type Latency = { p50: number; p99: number; max: number };

/** One worker process; the bench process queues jobs one at a time, `gapMs` apart. */
async function latency(store: Store, jobs: number, gapMs: number, notify: boolean): Promise<Latency> {
  await store.backend.repository.purgeAllJobs();
  await store.rows('DELETE FROM bench_latency');
  const channelName = `fmd-bench-${process.pid}`;
  await startWorker('lat', { ...store.workerEnv(notify, channelName), FMD_WORKER_PROCESS_EVERY: '5000' });
  const producer = await store.producer(notify, channelName);
  for (let i = 0; i < jobs; i++) {
    await producer.agenda.now('latency', { queuedAt: Date.now() });
    await new Promise((r) => setTimeout(r, gapMs * (0.5 + Math.random())));
  }
  while ((await count(store, 'SELECT COUNT(*) AS n FROM bench_latency')) < jobs) await new Promise((r) => setTimeout(r, 50));
  await producer.close();
  await stopWorkers();
  const rows = await store.rows('SELECT ms FROM bench_latency ORDER BY ms');
  const ms = rows.map((r) => Number(r.ms));
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: ms[ms.length - 1] ?? NaN };
}

const stores: Store[] = [];
try {
  stores.push(await openMariaDb());
  const postgres = await openPostgres();
  if (postgres) stores.push(postgres);
  console.log(
    `jobs bench: Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ` +
      `no-op jobs, worker concurrency 20, lockLimit ${lockLimit}, processEvery ${processEvery} ms, ${rounds} round(s) per figure`,
  );
  console.log(`${''.padEnd(72)}${stores.map((s) => s.name.padEnd(40)).join('')}`);
  // Both backends in turn within each round, so load from the rest of the machine falls on both.
  async function row(label: string, measure: (store: Store) => Promise<string>): Promise<void> {
    for (let round = 1; round <= rounds; round++) {
      const cells: string[] = [];
      for (const store of stores) cells.push((await measure(store)).padEnd(40));
      console.log(`${label.padEnd(64)}round ${round}  ${cells.join('')}`);
    }
  }
  for (const queued of queueSizes) {
    for (const workerCount of [1, 2]) {
      await row(`throughput ${queued} queued, ${workerCount} worker(s)`, async (store) =>
        `${(await throughput(store, workerCount, queued)).toFixed(0)} jobs/s`,
      );
    }
  }
  const fmt = (r: Latency) => `p50 ${r.p50}  p99 ${r.p99}  max ${r.max} ms`;
  const redisUp = await redisReachable();
  if (!redisUp) console.log(`mariadb notification latency: skipped, Redis unreachable at ${redisUrl}`);
  await row(`latency, notification (${stores.map((s) => s.notification).join(' | ')}), 200 jobs`, async (store) =>
    store.backend instanceof MariaDbBackend && !redisUp ? 'skipped' : fmt(await latency(store, 200, 20, true)),
  );
  await row('latency, polling only, processEvery 5 s, 40 jobs', async (store) => fmt(await latency(store, 40, 250, false)));
} catch (err) {
  // Keep the MariaDB server's own account of a failure.
  const log = path.join(dir, 'mariadb', 'error.log');
  console.error(err, existsSync(log) ? '\n' + readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '');
  process.exitCode = 1;
} finally {
  await stopWorkers();
  for (const store of stores) await store.close().catch((err) => console.error(`${store.name}: close:`, err));
  rmSync(dir, { recursive: true, force: true });
}
