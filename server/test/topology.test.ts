// Scale-out on one machine: two API processes (`fmd serve`, job-workers 0) and two job workers
// (`fmd worker`) as real child processes, on one MariaDB and one Redis and one data dir (the
// repos' "shared storage"), with a short job lock lifetime. Events cross processes, publishes to
// one repo stay serialized, and a SIGKILL of any one process loses no job and no upload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import type { RowDataPacket } from 'mysql2/promise';
import { localNeededFiles, localNeededMetadata, objectPath } from '@fmd/sdk/ostree';
import { createTestDatabase, type TestDatabase } from './kit/database.ts';
import { pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';

const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));
const LOCK_LIFETIME_MS = 3000;
const REPO = 'topo';

type Proc = { name: string; child: ChildProcess; out: string[]; url?: string };

let db: TestDatabase;
let dataDir: string;
let redis: { url: string; stop(): void } | null = null;
let skip: string | false = false;
let env: NodeJS.ProcessEnv;
let adminToken: string;
const procs: Proc[] = [];
let apiA: Proc, apiB: Proc;
let b: Builds;
let hookLog: string;
let hookDelay: string;
let hookRelease: string;
const t0 = Date.now();

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const c = net.connect(Number(u.port || 6379), u.hostname, () => (c.end(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

/** FMD_TEST_REDIS_URL's Redis, else a private redis-server, else none (the file is skipped). */
async function startRedis(): Promise<typeof redis> {
  if (process.env.FMD_TEST_REDIS_URL) return (await reachable(process.env.FMD_TEST_REDIS_URL)) ? { url: process.env.FMD_TEST_REDIS_URL, stop() {} } : null;
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await pollFor(() => reachable(url), 10_000, 50);
  return { url, stop: () => child.kill('SIGKILL') };
}

/** Starts `fmd <cmd>` and waits until it says it is ready. */
async function startFmd(name: string, cmd: 'serve' | 'worker', extra: NodeJS.ProcessEnv = {}, o: { adminToken?: boolean } = {}): Promise<Proc> {
  const child = spawn(process.execPath, [fmd, cmd], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { name, child, out: [] };
  procs.push(p);
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      p.out.push(d.toString());
      const text = p.out.join('');
      const m = /fmd is running at (http:\/\/\S+)/.exec(text);
      if (m) p.url = m[1];
      const token = /Admin token[^\n]*\n\n\s+(\S+)/.exec(text);
      if (token) adminToken ??= token[1]!;
      if ((cmd === 'serve' && m && (!o.adminToken || token)) || (cmd === 'worker' && /worker running/.test(text))) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => p.out.push(d.toString()));
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) while starting: ${p.out.join('')}`)));
  });
  await Promise.race([ready, new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} not ready: ${p.out.join('')}`)), 60_000))]);
  return p;
}

function sigkill(p: Proc): Promise<void> {
  const gone = new Promise<void>((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once('exit', () => r())));
  p.child.kill('SIGKILL');
  return gone;
}

const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

async function gql(p: Proc, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`${p.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify({ query, variables }) });
  return res.json();
}

/** What the kit's repo helpers need of a server, for one API process. */
const asServer = (p: Proc) => ({ url: p.url!, gql: async (q: string, v?: Record<string, unknown>) => ({ status: 200, body: await gql(p, q, v) }) }) as unknown as TestServer;

function ws(p: Proc): Client {
  return createClient({ url: `${p.url!.replace(/^http/, 'ws')}/graphql`, connectionParams: { authorization: `Bearer ${adminToken}` }, lazy: false, retryAttempts: 0, onNonLazyError: () => undefined });
}

/** buildsUpdated(repo) followed on one socket: the latest state per build number, and how it ended. */
function followBuilds(client: Client) {
  const sub = { latest: new Map<number, any>(), ended: null as null | { error?: unknown } };
  client.subscribe({ query: 'subscription($r: String!) { buildsUpdated(repo: $r) { number state publishedState } }', variables: { r: REPO } }, {
    next: (m: any) => m.data && sub.latest.set(m.data.buildsUpdated.number, m.data.buildsUpdated),
    error: (e) => (sub.ended = { error: e }),
    complete: () => (sub.ended ??= {}),
  });
  return sub;
}

async function runJob(client: FlatManagerClient, buildUrl: string, what: 'commit' | 'publish') {
  const started = await client.startJob(buildUrl, what);
  assert.equal(started.response.status, 200, started.response.text);
  const done = await client.waitForJob(started.url, 120_000);
  assert.equal(done.job.status, 2, `${what}: ${done.log}`);
  return done.job;
}

type HookRun = { pid: number; start: number; slept: number | null; end: number | null };

/** Runs of the repo's post-publish hook as it recorded them (times in ms). */
function hookRuns(): HookRun[] {
  const runs = new Map<number, HookRun>();
  for (const line of readFileSync(hookLog, 'utf8').split('\n')) {
    const m = /^(start|slept|end) (\d+) (\d+)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    const at = Number(m[3]) / 1e6;
    if (m[1] === 'start') runs.set(pid, { pid, start: at, slept: null, end: null });
    else runs.get(pid)![m[1] as 'slept' | 'end'] = at;
  }
  return [...runs.values()].sort((x, y) => x.start - y.start);
}

const ppid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);

before(async () => {
  redis = await startRedis();
  if (!redis) {
    skip = 'needs Redis: set FMD_TEST_REDIS_URL or install redis-server';
    return;
  }
  db = await createTestDatabase();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-topology-'));
  hookLog = path.join(dataDir, 'hook.log');
  hookDelay = path.join(dataDir, 'hook-delay');
  hookRelease = path.join(dataDir, 'hook-release');
  writeFileSync(hookLog, '');
  writeFileSync(hookDelay, '0.3');
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: db.url,
    FMD_DATA_DIR: dataDir,
    FMD_SECRET: randomBytes(32).toString('base64'),
    FMD_REDIS_URL: redis.url,
    FMD_HOST: '127.0.0.1',
    FMD_PORT: '0',
    FMD_JOB_LOCK_LIFETIME_MS: String(LOCK_LIFETIME_MS),
    FMD_JOB_POLL_MS: '500',
    FMD_LOG_LEVEL: 'info',
    FMD_WEB_DIR: path.join(dataDir, 'no-web'),
  };
  // A first, alone (it prints the admin token of the fresh database): it migrates the database and makes the master key in the shared data dir.
  const [builds] = await Promise.all([testBuilds(), (async () => (apiA = await startFmd('api A', 'serve', { FMD_JOB_WORKERS: '0' }, { adminToken: true })))()]);
  b = builds;
  [apiB] = await Promise.all([startFmd('api B', 'serve', { FMD_JOB_WORKERS: '0' }), startFmd('worker 1', 'worker', { FMD_JOB_WORKERS: '2' }), startFmd('worker 2', 'worker', { FMD_JOB_WORKERS: '2' })]);
  // Every update-repo runs this hook (under the repo lock, like the repo's tools): it records when it ran.
  // Its sleep runs in a subshell, a process of its own that a kill of the hook leaves behind (as
  // real hooks' children are): it still holds the repo lock until it has slept and said so.
  // With the delay "hold" it waits until the test creates the release file.
  const hook =
    `echo "start $$ $(date +%s%N)" >> ${hookLog}; ` +
    `( d=$(cat ${hookDelay}); if [ "$d" = hold ]; then while [ ! -e ${hookRelease} ]; do sleep 0.05; done; else sleep "$d"; fi; echo "slept $$ $(date +%s%N)" >> ${hookLog} ); ` +
    `echo "end $$ $(date +%s%N)" >> ${hookLog}`;
  await createSignedRepo(asServer(apiA), REPO, { hooks: { checks: [], postPublish: ['sh', '-c', hook] } });
});

after(async () => {
  await Promise.all(
    procs.filter(alive).map(async (p) => {
      const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
      p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(t);
    }),
  );
  redis?.stop();
  await db?.drop().catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (!skip) console.log(`# topology: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
});

test('a subscription on API A hears of builds made and published through API B, and publishes of one repo through both APIs stay serialized', { timeout: 180_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const onA = ws(apiA);
  try {
    const sub = followBuilds(onA);
    const clients = [new FlatManagerClient(apiB.url!, adminToken), new FlatManagerClient(apiA.url!, adminToken), new FlatManagerClient(apiB.url!, adminToken)];
    // Three builds of the same refs (no app id: none supersedes another), made through both APIs.
    const builds = await Promise.all(
      clients.map(async (c) => {
        const build = await c.createBuild(REPO);
        await c.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
        await runJob(c, build.url, 'commit');
        return build;
      }),
    );
    // The first one, all through B, was seen by A's subscriber.
    await pollFor(() => sub.latest.get(builds[0]!.id)?.state === 'READY', 30_000).catch(() => assert.fail(`A saw: ${JSON.stringify([...sub.latest.values()])}`));
    await Promise.all(builds.map((build, i) => runJob(clients[i]!, build.url, 'publish')));
    await pollFor(() => builds.every((x) => sub.latest.get(x.id)?.publishedState === 'PUBLISHED'), 30_000).catch(() =>
      assert.fail(`A saw: ${JSON.stringify([...sub.latest.values()])}`),
    );

    // Wait for the update-repo jobs they queued, then: no two jobs of the repo ran at once, in whichever worker.
    await pollFor(async () => {
      const [rows] = await db.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM jobs WHERE repo = ? AND status IN ('NEW', 'STARTED')", [REPO]);
      return rows[0]!.n === 0;
    }, 60_000, 100);
    const [jobs] = await db.pool.query<RowDataPacket[]>('SELECT id, kind, status, started_at, finished_at FROM jobs WHERE repo = ? AND started_at IS NOT NULL ORDER BY started_at', [REPO]);
    assert.ok(jobs.filter((j) => j.kind === 'publish').length === 3 && jobs.some((j) => j.kind === 'update-repo'), JSON.stringify(jobs));
    for (let i = 1; i < jobs.length; i++) {
      assert.ok(jobs[i]!.started_at >= jobs[i - 1]!.finished_at, `jobs ${jobs[i - 1]!.id} and ${jobs[i]!.id} of repo ${REPO} overlapped: ${JSON.stringify(jobs)}`);
    }
    for (const j of jobs) assert.equal(j.status, 'ENDED', JSON.stringify(j));
    console.log(`# one at a time in repo ${REPO}: ${jobs.map((j) => `${j.kind} ${j.finished_at - j.started_at} ms`).join(', ')}`);
    const runs = hookRuns();
    assert.ok(runs.length >= 1);
    for (let i = 1; i < runs.length; i++) assert.ok(runs[i]!.start >= runs[i - 1]!.end!, `update-repo hooks overlapped: ${JSON.stringify(runs)}`);
  } finally {
    await onA.dispose();
  }
});

test('a worker killed with SIGKILL while update-repo runs: its tools die with it; the other worker takes the job over, waits for the repo lock that a process its hook left behind still holds, and ends it', { timeout: 120_000 }, async (t) => {
  if (skip) return t.skip(skip);
  writeFileSync(hookDelay, 'hold');
  const before = hookRuns().length;
  const r = await gql(apiB, 'mutation($i: UpdateRepoInput!) { updateRepo(input: $i) { __typename ... on RepoPayload { job { number } } ... on Error { message } } }', { i: { name: REPO, title: 'Topology' } });
  const jobId = r.data?.updateRepo?.job?.number as number;
  assert.ok(jobId, JSON.stringify(r));
  const jobLog = async () => (await request('GET', `${apiB.url}/api/v1/job/${jobId}`, { token: adminToken, json: {} })).body.log as string;
  // The hook runs: kill the worker it runs in (its parent process).
  const run = await pollFor(() => hookRuns().slice(before).find((x) => x.end === null), 30_000, 50);
  const worker = procs.find((p) => p.child.pid === ppid(run.pid) && p.name.startsWith('worker'));
  assert.ok(worker, `the hook's parent ${ppid(run.pid)} is one of the workers`);
  writeFileSync(hookDelay, '0.2');
  const killedAt = Date.now();
  await sigkill(worker);
  // pdeathsig: the hook itself is gone with its worker at once (the subshell it started is not).
  await pollFor(() => !existsPid(run.pid), 5000, 20);

  // The other worker takes the job over once its lock expires, and waits for the repo lock that
  // the killed hook's leftover still holds, saying so; nothing of the job runs meanwhile.
  const waiting = await pollFor(async () => /^waiting for the repo lock .*$/m.exec(await jobLog())?.[0], 30_000, 100);
  const restartedMs = Date.now() - killedAt;
  assert.match(waiting, /^waiting for the repo lock held by pid \d+ on \S+ \(job \d+\), which is gone; its tools still run: pid \d+/);
  assert.equal(hookRuns().length, before + 1, 'the hook does not run again while the lock is held');
  writeFileSync(hookRelease, '');

  const [rows] = await pollFor(async () => {
    const q = await db.pool.query<RowDataPacket[]>('SELECT status, attempts, started_at, finished_at, error FROM jobs WHERE id = ?', [jobId]);
    return ['ENDED', 'BROKEN'].includes(q[0][0]!.status) ? q : null;
  }, 60_000, 100);
  const job = rows[0]!;
  const log = await jobLog();
  assert.equal(job.status, 'ENDED', `${JSON.stringify(job)}\n${log}`);
  assert.equal(job.attempts, 2, 'run twice: once in the killed worker, once in the other');
  const runs = hookRuns().slice(before);
  assert.equal(runs.length, 2, JSON.stringify(runs));
  const [killed, again] = runs as [HookRun, HookRun];
  assert.equal(killed.end, null, 'the first hook run never finished');
  assert.ok(killed.slept !== null, 'what the killed hook left behind ran on');
  assert.ok(again.start >= killed.slept!, `the re-run hook started before the killed one's leftover ended: ${JSON.stringify(runs)}`);
  assert.ok(again.end !== null, JSON.stringify(runs));
  assert.match(log, /^got the repo lock \S+ after [\d.]+ s$/m);
  console.log(
    `# takeover: update-repo job ${jobId} started again ${job.started_at.getTime() - killedAt} ms after the SIGKILL (job lock lifetime ${LOCK_LIFETIME_MS} ms;` +
      ` its log said it waited for the repo lock ${restartedMs} ms after), ended ${job.finished_at.getTime() - killedAt} ms after the SIGKILL (the test released the leftover after it saw the wait)`,
  );
  // The repo works on: its summary has the new title.
  const summary = await fetch(`${apiA.url}/repo/${REPO}.flatpakrepo`);
  assert.match(await summary.text(), /^Title=Topology$/m);
});

function existsPid(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('an API process killed with SIGKILL during an upload and while serving subscriptions: the client retries on the other API and the build commits; the other API keeps serving its subscribers', { timeout: 120_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const onA = ws(apiA);
  const onB = ws(apiB);
  try {
    const subA = followBuilds(onA);
    const subB = followBuilds(onB);
    const viaA = new FlatManagerClient(apiA.url!, adminToken);
    const build = await viaA.createBuild(REPO);
    await pollFor(() => subA.latest.has(build.id) && subB.latest.has(build.id), 15_000).catch(() => assert.fail('both subscribers saw the new build'));

    // An upload to A that sends half an object, then stalls: A dies under it.
    const metadata = await localNeededMetadata(b.appRepo, [b.app.commit]);
    const files = await localNeededFiles(b.appRepo, metadata);
    const name = files[0]!;
    const content = readFileSync(objectPath(b.appRepo, name));
    const boundary = `fmd${randomBytes(8).toString('hex')}`;
    const head = Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Length: ${content.length}\r\n\r\n`);
    let sentHalf!: () => void;
    const halfSent = new Promise<void>((r) => (sentHalf = r));
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const upload = request('POST', `${build.url}/upload`, {
      token: adminToken,
      headers: { 'content-type': `multipart/mixed; boundary=${boundary}` },
      length: head.length + content.length + 2 + boundary.length + 6,
      body: async function* () {
        yield Buffer.concat([head, content.subarray(0, Math.ceil(content.length / 2))]);
        sentHalf();
        await stalled;
      },
    }).then(
      (res) => ({ res }),
      (err: unknown) => ({ err }),
    );
    await halfSent;
    await sigkill(apiA);
    release();
    const outcome = (await upload) as { res?: { status: number }; err?: unknown };
    assert.ok(outcome.err || (outcome.res && outcome.res.status >= 500), `the upload to the killed API failed: ${JSON.stringify(outcome)}`);

    // A's socket closed; B's subscription goes on.
    await pollFor(() => subA.ended, 10_000).catch(() => assert.fail("A's subscription ended when A died"));
    assert.equal(subB.ended, null);

    // The client retries the whole push against B (uploads are idempotent), then commits there.
    const viaB = new FlatManagerClient(apiB.url!, adminToken);
    const bUrl = build.url.replace(apiA.url!, apiB.url!);
    await viaB.push(bUrl, b.appRepo, { [b.app.ref]: b.app.commit });
    await runJob(viaB, bUrl, 'commit');
    await pollFor(() => subB.latest.get(build.id)?.state === 'READY', 30_000).catch(() => assert.fail(`B saw: ${JSON.stringify(subB.latest.get(build.id))}`));
    assert.equal(subB.ended, null, "B's subscription still runs");
    const again = await gql(apiB, 'query($n: Int!) { build(number: $n) { state } }', { n: build.id });
    assert.equal(again.data?.build?.state, 'READY', JSON.stringify(again));
  } finally {
    await onA.dispose();
    await onB.dispose();
  }
});

test('fmd status names each API process given with --url, the dead one as not answering, and the worker left', { timeout: 60_000 }, async (t) => {
  if (skip) return t.skip(skip);
  assert.equal(alive(apiA), false, 'API A was killed by the test before');
  const child = spawn(process.execPath, [fmd, 'status', '--url', apiA.url!, '--url', apiB.url!], { env: { ...env, FMD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`^API servers\\n  ${apiA.url}: not answering .*\\n  ${apiB.url}: ready$`, 'm'));
  const left = procs.filter((p) => p.name.startsWith('worker') && alive(p));
  assert.equal(left.length, 1);
  assert.match(out, new RegExp(`^  \\S+:${left[0]!.child.pid}:\\w+  arches `, 'm'));
});
