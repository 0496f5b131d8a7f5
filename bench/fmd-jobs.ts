// Issue 3 bench at the level fmd uses the engine: fmd `noop` jobs (an fmd Job record, its
// Agenda job, status updates, log writer) run by `fmd worker` processes.
// - throughput with 1 and 2 worker processes at 1,000 and 10,000 queued jobs (first start to
//   last finish, from the job records);
// - pickup latency (queued -> started) p50/p99: in-process notification (server and worker in
//   one process) and polling only (a separate worker process without Redis, job-poll-ms 5000):
//   jobs arriving one by one (expect p50 near half the poll interval) and a burst of 40 jobs,
//   twice the worker's 20 (all of it should start at the poll after it arrives).
// Usage: npm exec -- node bench/fmd-jobs.ts [sizes=1000,10000]   ('' for the latency figures only)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { startEmbeddedMariaDb } from '../server/src/db/embedded-mariadb.ts';
import { ensureDatabase, targetToUrl } from '../server/src/db/connection.ts';
import { loadConfig } from '../server/src/config/index.ts';
import { openDatabase } from '../server/src/db/index.ts';
import { createServices, type Services } from '../server/src/services.ts';

const sizes = (process.argv[2] ?? '1000,10000').split(',').filter(Boolean).map(Number);
const fmd = fileURLToPath(new URL('../server/bin/fmd.js', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-jobsbench-'));
const mariadb = await startEmbeddedMariaDb(dir, 'fmd', { info() {}, warn: console.warn });
await ensureDatabase(mariadb.target);
const url = targetToUrl(mariadb.target);
const secret = randomBytes(32).toString('base64');
const log = pino({ level: 'warn' });

async function open(workers: number, pollMs = 1000): Promise<{ services: Services; close(): Promise<void> }> {
  const config = loadConfig({}, { 'data-dir': dir, 'database-url': url, secret, 'job-workers': workers, 'job-poll-ms': pollMs, 'log-level': 'warn' });
  const db = await openDatabase(config, log, { owner: false });
  const services = await createServices(config, db, log, secret);
  return { services, close: async () => { await services.close(); await db.close(); } };
}

function startWorkers(n: number, pollMs: number): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(process.execPath, [fmd, 'worker'], {
      env: { ...process.env, DATABASE_URL: url, FMD_SECRET: secret, FMD_DATA_DIR: dir, FMD_JOB_WORKERS: '20', FMD_JOB_POLL_MS: String(pollMs), FMD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
}
async function stopWorkers(ws: ChildProcess[]) {
  await Promise.all(ws.map((w) => { const e = new Promise((r) => w.once('exit', r)); w.kill('SIGTERM'); return e; }));
}

const producer = await open(0);
const { prisma } = producer.services;

async function throughput(queued: number, workers: number): Promise<number> {
  await prisma.jobLog.deleteMany();
  await prisma.job.deleteMany();
  await producer.services.db.pool.query('DELETE FROM agenda_jobs');
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < queued; i++) {
    pending.push(producer.services.jobs.enqueue('noop', {}));
    if (pending.length >= 16) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  // Agenda fills a worker's queue on each poll (or notification): a worker tops out near
  // job-workers / job-poll-ms, so the throughput runs poll every 50 ms.
  const ws = startWorkers(workers, Number(process.env.FMD_BENCH_POLL_MS ?? 50));
  while ((await prisma.job.count({ where: { status: { in: ['NEW', 'STARTED'] } } })) > 0) await new Promise((r) => setTimeout(r, 250));
  await stopWorkers(ws);
  if (process.env.FMD_BENCH_DEBUG) {
    const [st] = await producer.services.db.pool.query<any[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_deadlocks','Innodb_row_lock_waits','Innodb_row_lock_time','Com_select','Com_update','Com_delete','Com_insert','Handler_read_next')");
    const [inn] = await producer.services.db.pool.query<any[]>('SHOW ENGINE INNODB STATUS');
    console.log(JSON.stringify(Object.fromEntries(st.map((r: any) => [r.Variable_name, r.Value]))), /History list length \d+/.exec(inn[0].Status)?.[0]);
  }
  const agg = await prisma.job.aggregate({ _min: { startedAt: true }, _max: { finishedAt: true } });
  const seconds = (agg._max.finishedAt!.getTime() - agg._min.startedAt!.getTime()) / 1000;
  return queued / seconds;
}

/** Queues `jobs` noop jobs one at a time, `gapMs` apart on average. */
async function latency(services: Services, jobs: number, gapMs: number): Promise<{ p50: number; p99: number }> {
  const ids: number[] = [];
  for (let i = 0; i < jobs; i++) {
    ids.push((await services.jobs.enqueue('noop', {})).id);
    await new Promise((r) => setTimeout(r, gapMs * (0.5 + Math.random())));
  }
  while ((await prisma.job.count({ where: { id: { in: ids }, status: { in: ['NEW', 'STARTED'] } } })) > 0) await new Promise((r) => setTimeout(r, 100));
  const rows = await prisma.job.findMany({ where: { id: { in: ids } }, select: { createdAt: true, startedAt: true } });
  const ms = rows.map((r) => r.startedAt!.getTime() - r.createdAt.getTime()).sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)]!, p99: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))]! };
}

try {
  console.log(`fmd jobs bench: Node ${process.version}, ${os.cpus().length} CPUs, embedded MariaDB, fmd noop jobs, 20 per worker process`);
  for (const queued of sizes) {
    for (const workers of [1, 2]) {
      const rate = await throughput(queued, workers);
      console.log(`throughput  ${String(queued).padStart(6)} queued  ${workers} worker process(es)  ${rate.toFixed(0).padStart(5)} jobs/s`);
    }
  }
  const inProcess = await open(4);
  await inProcess.services.jobEngine.startWorker();
  const a = await latency(inProcess.services, 200, 20);
  await inProcess.close();
  console.log(`latency  in-process notification (200 jobs)                 p50 ${a.p50} ms  p99 ${a.p99} ms`);
  const ws = startWorkers(1, 5000);
  await new Promise((r) => setTimeout(r, 6000)); // past the worker's start-up and first poll
  const b = await latency(producer.services, 40, 500);
  const c = await latency(producer.services, 40, 20);
  await stopWorkers(ws);
  console.log(`latency  polling only, job-poll-ms 5000 (40 jobs over ~20 s) p50 ${b.p50} ms  p99 ${b.p99} ms`);
  console.log(`latency  polling only, job-poll-ms 5000 (burst of 40 jobs)   p50 ${c.p50} ms  p99 ${c.p99} ms`);
} finally {
  await producer.close();
  await mariadb.stop();
  rmSync(dir, { recursive: true, force: true });
}
