import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { noopJob } from '../src/domain/jobs/noop.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ 'job-workers': 2 });
});
after(async () => {
  await s.stop();
});

const jobQuery = `query($n: Int!, $o: Int) { job(number: $n) { number kind status statusCode attempts error results logSize log(offset: $o) { offset text nextOffset } } }`;
const getJob = async (n: number, offset = 0) => (await s.gql(jobQuery, { n, o: offset })).body.data.job;
const waitDone = (n: number, timeout = 20_000) => pollFor(async () => {
  const j = await getJob(n);
  return j.status === 'ENDED' || j.status === 'BROKEN' ? j : null;
}, timeout);

test('a queued job runs, stores its log line by line and its results, readable from any byte offset', async () => {
  const job = await s.services.jobs.enqueue('noop', { lines: 5 });
  const done = await waitDone(job.id);
  assert.equal(done.status, 'ENDED');
  assert.equal(done.statusCode, 2);
  assert.equal(done.results.lines, 5);
  const full = done.log.text;
  assert.equal(full, [1, 2, 3, 4, 5].map((i) => `line ${i} of 5\n`).join(''));
  assert.equal(done.logSize, Buffer.byteLength(full));
  const tail = await getJob(job.id, 14);
  assert.equal(tail.log.text, full.slice(14));
  assert.equal((await getJob(job.id, 100_000)).log.text, '');
});

test('a client subscribed mid-run from offset 0 receives every log line exactly once, in order', async () => {
  const lines = 300;
  const job = await s.services.jobs.enqueue('noop', { lines, ms: 1500 });
  await pollFor(async () => (await getJob(job.id)).logSize > 200);
  const client = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, retryAttempts: 0 });
  let text = '';
  let expectedOffset = 0;
  await new Promise<void>((resolve, reject) => {
    client.subscribe<{ jobLog: { offset: number; text: string; nextOffset: number } }>(
      { query: 'subscription($n: Int!) { jobLog(number: $n, fromOffset: 0) { offset text nextOffset } }', variables: { n: job.id } },
      {
        next: (v) => {
          const c = v.data!.jobLog;
          if (c.offset !== expectedOffset) reject(new Error(`gap or duplicate: chunk at ${c.offset}, expected ${expectedOffset}`));
          expectedOffset = c.nextOffset;
          text += c.text;
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  await client.dispose();
  const expected = Array.from({ length: lines }, (_, i) => `line ${i + 1} of ${lines}\n`).join('');
  assert.equal(text, expected);
});

test('jobUpdated streams status changes until the job is over', async () => {
  const job = await s.services.jobs.enqueue('noop', { ms: 600 });
  const client = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, retryAttempts: 0 });
  const statuses: string[] = [];
  await new Promise<void>((resolve, reject) => {
    client.subscribe<{ jobUpdated: { status: string } }>(
      { query: 'subscription($n: Int!) { jobUpdated(number: $n) { status progress } }', variables: { n: job.id } },
      { next: (v) => statuses.push(v.data!.jobUpdated.status), error: reject, complete: resolve },
    );
  });
  await client.dispose();
  assert.equal(statuses.at(-1), 'ENDED');
  assert.ok(statuses.includes('STARTED') || statuses[0] === 'STARTED', statuses.join(','));
});

test('dependencies: a job waits for the one it depends on, and fails when that one fails', async () => {
  const first = await s.services.jobs.enqueue('noop', { ms: 700 });
  const second = await s.services.jobs.enqueue('noop', { lines: 1 }, { dependsOn: first.id });
  const a = await waitDone(first.id);
  const b = await waitDone(second.id);
  assert.equal(b.status, 'ENDED');
  const aRow = await s.services.prisma.job.findUniqueOrThrow({ where: { id: a.number } });
  const bRow = await s.services.prisma.job.findUniqueOrThrow({ where: { id: b.number } });
  assert.ok(bRow.startedAt! >= aRow.finishedAt!, 'started only after its dependency ended');

  const failing = await s.services.jobs.enqueue('noop', { fail: true });
  const dependent = await s.services.jobs.enqueue('noop', {}, { dependsOn: failing.id });
  assert.equal((await waitDone(failing.id)).status, 'BROKEN');
  const d = await waitDone(dependent.id);
  assert.equal(d.status, 'BROKEN');
  assert.match(d.error, new RegExp(`job ${failing.id}.*failed`));
});

test('retries with backoff for jobs that allow them, then broken with the error', async () => {
  const job = await s.services.jobs.enqueue('noop', { fail: true, lines: 1 }, { maxAttempts: 2 });
  const done = await waitDone(job.id);
  assert.equal(done.status, 'BROKEN');
  assert.equal(done.attempts, 2);
  assert.equal(done.error, 'failed on request');
  assert.match(done.log.text, /retrying in 1 s \(attempt 2 of 2\)/);
});

test('cancellation stops a queued job at once and a running one at its next checkpoint', async () => {
  const running = await s.services.jobs.enqueue('noop', { ms: 10_000 });
  await pollFor(async () => (await getJob(running.id)).status === 'STARTED');
  const res = await s.gql('mutation($n: Int!) { cancelJob(input: { number: $n }) { __typename ... on CancelJobPayload { job { cancelRequested } } } }', { n: running.id });
  assert.equal(res.body.data.cancelJob.job.cancelRequested, true);
  const done = await waitDone(running.id, 5000);
  assert.equal(done.status, 'BROKEN');
  assert.equal(done.error, 'cancelled');

  const later = await s.services.jobs.enqueue('noop', {}, { startAfter: new Date(Date.now() + 60_000) });
  const agendaJobs = async () => (await s.services.jobEngine.agenda.queryJobs({ data: { jobId: later.id } })).total;
  assert.equal(await agendaJobs(), 1);
  await s.services.jobs.cancel(later.id);
  assert.equal((await getJob(later.id)).status, 'BROKEN');
  assert.equal(await agendaJobs(), 0, 'its Agenda job is removed');
});

test('job listing filters by kind, status and repo', async () => {
  await Promise.all([
    s.services.jobs.enqueue('noop', {}, { repo: 'beta' }),
    s.services.jobs.enqueue('noop', {}, { repo: 'stable' }),
    s.services.jobs.enqueue('prune', { repo: 'beta' }, { repo: 'beta', startAfter: new Date(Date.now() + 3_600_000) }),
  ]);
  const r = await s.gql('{ jobs(first: 50, kind: "noop", repo: "beta") { totalCount edges { node { kind repo status } } } }');
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.equal(r.body.data.jobs.totalCount, 1);
  assert.deepEqual(r.body.data.jobs.edges.map((e: any) => [e.node.kind, e.node.repo]), [['noop', 'beta']]);
  const broken = await s.gql('{ jobs(first: 50, status: BROKEN) { edges { node { status } } } }');
  assert.ok(broken.body.data.jobs.edges.length > 0, 'the tests above left broken jobs');
  assert.ok(broken.body.data.jobs.edges.every((e: any) => e.node.status === 'BROKEN'));
  const metrics = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminToken}` } })).text();
  assert.match(metrics, /fmd_jobs_finished_total\{kind="noop",result="ended"\} \d+/);
  assert.match(metrics, /fmd_jobs_by_status\{status="ENDED"\} \d+/);
});

test('a kind\'s concurrency limit holds across its lanes; a job in a lane no worker serves waits until one does', async () => {
  const engine = s.services.jobEngine;
  engine.define('noop', { ...noopJob, concurrency: 1, lanes: ['a'] });
  try {
    // Two Agenda names (no lane, lane a) with the server's two workers: only the kind's limit keeps them apart.
    const jobs = await Promise.all([undefined, 'a', undefined, 'a'].map((lane) => s.services.jobs.enqueue('noop', { ms: 300 }, { lane })));
    const elsewhere = await s.services.jobs.enqueue('noop', { ms: 10 }, { lane: 'b' });
    for (const j of jobs) assert.equal((await waitDone(j.id, 30_000)).status, 'ENDED');
    const spans = (await s.services.prisma.job.findMany({ where: { id: { in: jobs.map((j) => j.id) } }, orderBy: { startedAt: 'asc' } }))
      .map((j) => ({ start: j.startedAt!.getTime(), end: j.finishedAt!.getTime() }));
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]!.start >= spans[i - 1]!.end, `jobs of a kind limited to 1 overlapped: ${JSON.stringify(spans)}`);
    assert.equal((await s.services.jobs.get(elsewhere.id))!.status, 'NEW', 'no worker serves lane b');
    engine.define('noop', { ...noopJob, concurrency: 1, lanes: ['a', 'b'] });
    assert.equal((await waitDone(elsewhere.id, 15_000)).status, 'ENDED');
  } finally {
    engine.define('noop', noopJob);
  }
});

const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));
function startWorker(env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [fmd, 'worker'], {
    env: { PATH: process.env.PATH, DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir, FMD_JOB_WORKERS: '2', FMD_JOB_LOCK_LIFETIME_MS: '2000', FMD_JOB_POLL_MS: '200', FMD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

const recordingWorker = fileURLToPath(new URL('./kit/recording-worker.ts', import.meta.url));

test('jobs of repo-serialized kinds run one at a time per repo across two worker processes, while other repos\' jobs run beside them', async () => {
  await s.services.jobEngine.stop(1000);
  const workers = [0, 1].map(() =>
    spawn(process.execPath, [recordingWorker], {
      env: { PATH: process.env.PATH, DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir, FMD_JOB_WORKERS: '2', FMD_JOB_POLL_MS: '200', FMD_LOG_LEVEL: 'warn', RECORDING_MS: '400' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      w.once('exit', (code) => reject(new Error(`recording worker exited (${code})`)));
    })));
    // 'prune' is repo-serialized: each repo's jobs must not overlap, two repos' jobs must.
    const jobs = await Promise.all(['stable', 'beta'].flatMap((repo) => Array.from({ length: 4 }, () => s.services.jobs.enqueue('prune', { repo }, { repo }))));
    for (const j of jobs) assert.equal((await waitDone(j.id, 60_000)).status, 'ENDED');
    const spans = (await s.services.prisma.job.findMany({ where: { id: { in: jobs.map((j) => j.id) } } })).map((j) => j.results as { repo: string; start: number; end: number; pid: number });
    assert.equal(spans.length, 8);
    for (const repo of ['stable', 'beta']) {
      const mine = spans.filter((x) => x.repo === repo).sort((a, b) => a.start - b.start);
      assert.equal(mine.length, 4);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.start >= mine[i - 1]!.end, `${repo} jobs overlapped: ${JSON.stringify(mine)}`);
    }
    assert.equal(new Set(spans.map((x) => x.pid)).size, 2, 'both worker processes ran jobs');
    const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;
    const stable = spans.filter((x) => x.repo === 'stable');
    assert.ok(
      spans.filter((x) => x.repo === 'beta').some((b) => stable.some((a) => overlap(a, b))),
      `no beta job ran beside a stable job: jobs were serialized across repos (${JSON.stringify(spans)})`,
    );
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : undefined)));
  }
});

test('stop(): a job still running after the grace period is aborted and left STARTED for recovery; nothing of it is written afterwards', async () => {
  const t2 = await startTestServer({ 'job-workers': 1 });
  try {
    const job = await t2.services.jobs.enqueue('noop', { lines: 1000, ms: 60_000 });
    await pollFor(async () => ((await t2.services.jobs.get(job.id))?.logSize ?? 0) > 0, 20_000);
    await t2.services.jobEngine.stop(200);
    assert.deepEqual(t2.services.jobEngine.runningJobs(), []);
    const stopped = (await t2.services.jobs.get(job.id))!;
    assert.equal(stopped.status, 'STARTED', 'left to the kind\'s recovery rule, as after a crash');
    const log = (await t2.gql(`query($n: Int!) { job(number: $n) { log { text } } }`, { n: job.id })).body.data.job.log.text as string;
    assert.match(log, /stopped: this worker shut down while the job ran\n$/);
    // The job wrote a line every 60 ms while it ran: half a second shows whether it still does.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await t2.services.jobs.get(job.id))!.logSize, stopped.logSize);
  } finally {
    await t2.stop();
  }
});

test('a worker killed mid-job loses nothing: another worker re-runs requeue kinds and fails the others', async () => {
  // Stop this process's worker so the separate workers take the jobs.
  await s.services.jobEngine.stop(1000);
  const victim = startWorker();
  try {
    const requeue = await s.services.jobs.enqueue('noop', { ms: 4000 });
    const failing = await s.services.jobs.enqueue('noop', { ms: 4000, recovery: 'fail' });
    const queued = await Promise.all(Array.from({ length: 10 }, () => s.services.jobs.enqueue('noop', { lines: 1 }, { startAfter: new Date(Date.now() + 3000) })));
    await pollFor(async () => {
      const rows = await s.services.prisma.job.findMany({ where: { id: { in: [requeue.id, failing.id] } } });
      return rows.length === 2 && rows.every((r) => r.status === 'STARTED');
    }, 15_000);
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    const rescuer = startWorker();
    try {
      const a = await waitDone(requeue.id, 30_000);
      const b = await waitDone(failing.id, 30_000);
      assert.equal(a.status, 'ENDED');
      assert.equal(a.attempts, 2, 'the interrupted job ran again');
      assert.equal(b.status, 'BROKEN');
      assert.match(b.error, /interrupted/);
      for (const q of queued) assert.equal((await waitDone(q.id, 30_000)).status, 'ENDED');
    } finally {
      rescuer.kill('SIGTERM');
      await new Promise((r) => rescuer.once('exit', r));
    }
  } finally {
    if (victim.exitCode === null) victim.kill('SIGKILL');
  }
});

test('a polling worker runs a backlog larger than its job-workers without waiting a poll per job', async () => {
  await s.services.jobEngine.stop(1000);
  const jobs = await Promise.all(Array.from({ length: 4 }, () => s.services.jobs.enqueue('noop', {})));
  const worker = startWorker({ FMD_JOB_WORKERS: '1', FMD_JOB_POLL_MS: '4000' });
  try {
    for (const j of jobs) assert.equal((await waitDone(j.id, 30_000)).status, 'ENDED');
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  }
  const started = (await s.services.prisma.job.findMany({ where: { id: { in: jobs.map((j) => j.id) } } })).map((j) => j.startedAt!.getTime());
  assert.ok(Math.max(...started) - Math.min(...started) < 2000, 'the jobs after the first waited for a poll');
});

test('a worker stopped with SIGTERM finishes its running job and hands back the one it locked ahead', async () => {
  await s.services.jobEngine.stop(1000);
  // A long lock lifetime: a job left locked by the stopped worker would wait for it to expire.
  const env = { FMD_JOB_WORKERS: '1', FMD_JOB_LOCK_LIFETIME_MS: '60000' };
  const first = startWorker(env);
  let second: ChildProcess | undefined;
  try {
    const running = await s.services.jobs.enqueue('noop', { ms: 1500 });
    const next = await s.services.jobs.enqueue('noop', {});
    await pollFor(async () => (await s.services.jobs.get(running.id))?.status === 'STARTED', 20_000);
    const stopping = Date.now();
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
    assert.ok(Date.now() - stopping < 10_000, `the worker took ${Date.now() - stopping} ms to stop`);
    assert.equal((await s.services.jobs.get(running.id))?.status, 'ENDED', 'the running job finished before the worker exited');
    second = startWorker(env);
    assert.equal((await waitDone(next.id, 15_000)).status, 'ENDED');
  } finally {
    if (first.exitCode === null) first.kill('SIGKILL');
    if (second) {
      second.kill('SIGTERM');
      await new Promise((r) => second!.once('exit', r));
    }
  }
});

test('a job queued for later starts when it is due, not at the next poll', async () => {
  // Polls every 5 s from its start: a job due 2.5 s in would otherwise wait ~2.5 s more.
  const slow = await startTestServer({ 'job-poll-ms': 5000 });
  try {
    const due = Date.now() + 2500;
    const job = await slow.services.jobs.enqueue('noop', {}, { startAfter: new Date(due) });
    const started = await pollFor(async () => (await slow.services.jobs.get(job.id))?.startedAt, 15_000, 20);
    const late = started.getTime() - due;
    assert.ok(late >= 0 && late < 2000, `started ${late} ms after it was due`);
  } finally {
    await slow.stop();
  }
});

test('the job dashboard (agendash) is served to admins only', async () => {
  assert.equal((await fetch(`${s.url}/admin/jobs/`)).status, 401);
  const builder = await s.services.tokens.mint({ name: 'b', scope: ['build'], duration: 60 });
  assert.equal((await fetch(`${s.url}/admin/jobs/`, { headers: { authorization: `Bearer ${builder.token}` } })).status, 403);
  const page = await fetch(`${s.url}/admin/jobs/`, { headers: { authorization: `Basic ${Buffer.from(`admin:${s.adminToken}`).toString('base64')}` } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const api = await fetch(`${s.url}/admin/jobs/api?limit=5`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  assert.equal(api.status, 200);
});
