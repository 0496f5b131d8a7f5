// Several worker processes on one job store: every job runs exactly once, none is lost, and a job
// whose worker is SIGKILLed mid-run is picked up again after its lock lifetime.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase } from '../../../test/kit/database.ts';
import { MariaDbBackend } from './index.ts';

const workerScript = fileURLToPath(new URL('./test-worker.ts', import.meta.url));
const db = await createTestDatabase();
const backend = new MariaDbBackend({ pool: db.pool, ensureSchema: true });
await backend.connect();
await db.pool.query(
  'CREATE TABLE executions (id INT AUTO_INCREMENT PRIMARY KEY, job_id CHAR(36) NOT NULL, worker VARCHAR(32) NOT NULL, event VARCHAR(8) NOT NULL, at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))',
);

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function startWorker(id: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [workerScript], {
    env: { ...process.env, FMD_WORKER_DB: db.url, FMD_WORKER_ID: id, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${id} exited (${code}) before it was ready`)));
    child.stdout?.on('data', (b: Buffer) => b.toString().includes('READY') && resolve(child));
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function rows(sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await db.pool.query<RowDataPacket[]>(sql, params);
  return r;
}

async function pollFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function queue(name: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const job = await backend.repository.saveJob({ name, priority: 0, nextRunAt: new Date(), type: 'normal', data: { i } }, undefined);
    ids.push(String(job._id));
  }
  return ids;
}

test('4 worker processes run 500 jobs, each exactly once', async () => {
  const workers = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((id) => startWorker(id)));
  const ids = await queue('record', 500);
  await pollFor('500 executions', async () => (await rows('SELECT COUNT(*) AS n FROM executions'))[0]?.n >= 500);
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would show up late
  await Promise.all(workers.map(stopWorker));

  const runs = await rows("SELECT job_id, COUNT(*) AS n FROM executions WHERE event = 'run' GROUP BY job_id");
  assert.equal(runs.length, 500, 'every job ran');
  assert.deepEqual(runs.filter((r) => Number(r.n) !== 1), [], 'no job ran twice');
  assert.deepEqual(new Set(runs.map((r) => r.job_id)), new Set(ids));
  const byWorker = await rows('SELECT worker, COUNT(*) AS n FROM executions GROUP BY worker ORDER BY worker');
  assert.ok(byWorker.length >= 2, `work was shared: ${JSON.stringify(byWorker)}`);
  const leftOver = await backend.repository.queryJobs({ name: 'record', state: 'queued' });
  assert.equal(leftOver.total, 0);
});

test('a worker killed mid-job: the others finish everything and take over its job after the lock lifetime', async () => {
  await db.pool.query('DELETE FROM executions');
  await backend.repository.purgeAllJobs();
  const lockLifetime = 1500;
  const env = { FMD_WORKER_LOCK_LIFETIME: String(lockLifetime), FMD_WORKER_PROCESS_EVERY: '200' };
  const workers = new Map<string, ChildProcess>();
  for (const id of ['k1', 'k2', 'k3']) workers.set(id, await startWorker(id, env));

  const [slowId] = await queue('slow', 1);
  const first = await pollFor('the slow job to start', async () => (await rows("SELECT worker FROM executions WHERE event = 'start'"))[0]);
  const victim = workers.get(first.worker) as ChildProcess;
  const killedAt = Date.now();
  victim.kill('SIGKILL');
  await new Promise((r) => victim.once('exit', r));

  const ids = await queue('record', 100);
  await pollFor('100 executions', async () => (await rows("SELECT COUNT(*) AS n FROM executions WHERE event = 'run'"))[0]?.n >= 100);
  const done = await pollFor('the slow job to finish elsewhere', async () => (await rows("SELECT worker FROM executions WHERE event = 'done'"))[0], 30_000);
  const starts = await rows("SELECT worker, UNIX_TIMESTAMP(at) * 1000 AS at FROM executions WHERE event = 'start' ORDER BY id");
  await Promise.all([...workers.values()].map(stopWorker));

  assert.notEqual(done.worker, first.worker);
  assert.equal(starts.length, 2, 'the killed job ran again, once');
  assert.equal(starts[1]?.worker, done.worker);
  // Its last touch() was at most 250 ms before the kill.
  const takenOverAfter = Number(starts[1]?.at) - killedAt;
  assert.ok(takenOverAfter >= lockLifetime - 300, `taken over ${takenOverAfter} ms after the kill`);
  const runs = await rows("SELECT job_id, COUNT(*) AS n FROM executions WHERE event = 'run' GROUP BY job_id");
  assert.equal(runs.length, 100);
  assert.ok(runs.every((r) => Number(r.n) === 1 && ids.includes(r.job_id)));
  assert.equal((await rows("SELECT COUNT(*) AS n FROM executions WHERE worker = ? AND event = 'run'", [first.worker]))[0]?.n, 0);
  assert.ok((await backend.repository.getJobById(String(slowId)))?.lastFinishedAt);
});
