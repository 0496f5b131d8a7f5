// Job engine bench on the MariaDB Agenda backend, against its own embedded MariaDB:
// - no-op job throughput with 1 and 2 worker processes at 1,000 and 10,000 queued jobs;
// - pickup latency (queued -> started) p50/p99 with Redis notification and with polling only.
// Run from the repo root: npm exec -- node bench/jobs-throughput.ts   (FMD_BENCH_REDIS_URL to change Redis)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { Agenda } from 'agenda';
import { startEmbeddedMariaDb } from '../server/src/db/embedded-mariadb.ts';
import { createMysqlPool, ensureDatabase, targetToUrl } from '../server/src/db/connection.ts';
import { MariaDbBackend, RedisNotificationChannel } from '../server/src/jobs/mariadb-backend/index.ts';

const workerScript = fileURLToPath(new URL('../server/src/jobs/mariadb-backend/test-worker.ts', import.meta.url));
const redisUrl = process.env.FMD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-'));
const mariadb = await startEmbeddedMariaDb(dir, 'fmd_bench', { info() {}, warn: console.warn });
await ensureDatabase(mariadb.target);
const url = targetToUrl(mariadb.target);
const pool = createMysqlPool(mariadb.target, 10);
const backend = new MariaDbBackend({ pool, ensureSchema: true });
await backend.connect();
await pool.query('CREATE TABLE IF NOT EXISTS bench_latency (id INT AUTO_INCREMENT PRIMARY KEY, ms INT NOT NULL)');
const workers = new Set<ChildProcess>();
// Agenda refills its queue only on each processEvery tick (and on notifications), so a worker tops
// out near lockLimit / processEvery: 2 x concurrency every 20 ms here.
const processEvery = process.env.FMD_BENCH_PROCESS_EVERY ?? '20';
const lockLimit = process.env.FMD_BENCH_LOCK_LIMIT ?? '40';

function startWorker(id: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [workerScript], {
    env: { ...process.env, FMD_WORKER_DB: url, FMD_WORKER_ID: id, FMD_WORKER_CONCURRENCY: '20', ...env },
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

async function count(sql: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>(sql);
  return Number(rows[0]?.n ?? 0);
}

/** Inserts `n` no-op jobs that are not due yet, so the clock starts when they all become due at once. */
async function queueParked(n: number): Promise<void> {
  const later = new Date(Date.now() + 3600_000);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(backend.repository.saveJob({ name: 'noop', priority: 0, nextRunAt: later, type: 'normal', data: { i } }, undefined));
    if (pending.length === 8) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

async function throughput(workerCount: number, queued: number): Promise<number> {
  await backend.repository.purgeAllJobs();
  await queueParked(queued);
  for (let i = 0; i < workerCount; i++) {
    await startWorker(`t${i}`, { FMD_WORKER_PROCESS_EVERY: processEvery, FMD_WORKER_LOCK_LIMIT: lockLimit });
  }
  const t0 = performance.now();
  await pool.query("UPDATE agenda_jobs SET next_run_at = ? WHERE name = 'noop'", [new Date()]);
  // Polled gently: a frequent full scan keeps read views open and holds back InnoDB's purge,
  // which slows the very lock queries being measured.
  while ((await count("SELECT COUNT(*) AS n FROM agenda_jobs WHERE name = 'noop' AND last_finished_at IS NULL")) > 0) {
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

/** One worker process; the bench process queues jobs one at a time, `gapMs` apart. */
async function latency(jobs: number, gapMs: number, redis: boolean): Promise<{ p50: number; p99: number; max: number }> {
  await backend.repository.purgeAllJobs();
  await pool.query('DELETE FROM bench_latency');
  const channelName = `fmd-bench-${process.pid}`;
  const env: Record<string, string> = redis
    ? { FMD_WORKER_REDIS: redisUrl, FMD_WORKER_CHANNEL: channelName, FMD_WORKER_PROCESS_EVERY: '5000' }
    : { FMD_WORKER_PROCESS_EVERY: '5000' };
  await startWorker('lat', env);
  const channel = redis ? new RedisNotificationChannel({ url: redisUrl, channelName }) : undefined;
  const producer = new Agenda({ backend: new MariaDbBackend({ pool, notificationChannel: channel }) });
  await producer.ready;
  await channel?.connect();
  for (let i = 0; i < jobs; i++) {
    await producer.now('latency', { queuedAt: Date.now() });
    await new Promise((r) => setTimeout(r, gapMs * (0.5 + Math.random())));
  }
  while ((await count('SELECT COUNT(*) AS n FROM bench_latency')) < jobs) await new Promise((r) => setTimeout(r, 50));
  await channel?.disconnect();
  await stopWorkers();
  const [rows] = await pool.query<RowDataPacket[]>('SELECT ms FROM bench_latency ORDER BY ms');
  const ms = rows.map((r) => Number(r.ms));
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: ms[ms.length - 1] ?? NaN };
}

try {
  console.log(
    `jobs bench: Node ${process.version}, ${os.cpus().length} CPUs, embedded MariaDB, no-op jobs, ` +
      `worker concurrency 20, lockLimit ${lockLimit}, processEvery ${processEvery} ms`,
  );
  for (const queued of [1000, 10000]) {
    for (const workerCount of [1, 2]) {
      const rate = await throughput(workerCount, queued);
      console.log(`throughput  ${String(queued).padStart(6)} queued  ${workerCount} worker(s)  ${rate.toFixed(0).padStart(6)} jobs/s`);
    }
  }
  const fmt = (r: { p50: number; p99: number; max: number }) => `p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms`;
  if (await redisReachable()) {
    console.log(`latency     redis notification (cross-process, 200 jobs)   ${fmt(await latency(200, 20, true))}`);
  } else {
    console.log(`latency     redis notification: skipped, Redis unreachable at ${redisUrl}`);
  }
  console.log(`latency     polling only, processEvery 5 s (40 jobs)       ${fmt(await latency(40, 250, false))}`);
} catch (err) {
  // Keep the server's own account of a failure.
  console.error(err, '\n' + readFileSync(path.join(dir, 'mariadb', 'error.log'), 'utf8').split('\n').slice(-30).join('\n'));
  process.exitCode = 1;
} finally {
  await stopWorkers();
  await pool.end();
  await mariadb.stop();
  rmSync(dir, { recursive: true, force: true });
}
