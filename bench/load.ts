// Load: CLIENTS=20 CI clients push, commit and publish small builds to REPOS=3 signed repos for
// DURATION_S=120 s while SUBSCRIBERS=200 dashboard users follow them over graphql-ws, against one
// fmd process (its default job-workers, JOB_WORKERS to change it). Targets (issue 13): 0 lost
// builds, 0 5xx.
// - A client's loop: createBuild (GraphQL), pushRepo of @fmd/sdk/push (what `fmdc push` runs;
//   the same small commit each time, FILES=20 files of FILE_KB=4 KiB, under the client's own app
//   id so that no client's build supersedes another's), commitBuild, wait for READY on a
//   buildUpdated subscription, publishBuild, wait for PUBLISHED (or FAILED) on it, and a
//   `builds` page of its repo as a dashboard reads it. No new build starts after DURATION_S; the
//   last ones get GRACE_S=180 s to end.
// - Subscribers, each on its own WebSocket: half follow job logs (jobLog of each new commit or
//   publish job, replayed from offset 0 to its end), half watch a repo's builds (buildsUpdated);
//   FOLLOW=jobLog or FOLLOW=buildsUpdated gives all of them to one kind.
// Prints builds/min, publishes, p50/p99 of every GraphQL query and mutation round trip (and per
// operation), subscription events, errors by kind, lost builds (created but neither published
// nor failed by the end), the 5xx answers fmd counted itself (its /metrics) and the clients saw,
// and fmd's process CPU per published build (on a shared machine the wall times mostly measure
// the other load; CPU per build much less).
// Run from the repo root: npm run bench -- load   (or: npm exec -- node bench/load.ts)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFmdClient, FmdRequestError, type FmdClient } from '@fmd/sdk';
import { pushRepo } from '@fmd/sdk/push';
import { FlatManagerError } from '../sdk/src/push/rest.ts';
import { machineArch } from '../server/src/config/index.ts';
import { runTool } from '../server/src/ostree/exec.ts';
import { startFmd } from './support/fmd-process.ts';
import { writeAppFiles } from './support/gen-app.ts';

const durationS = Number(process.env.DURATION_S ?? 120);
const clients = Number(process.env.CLIENTS ?? 20);
const subscribers = Number(process.env.SUBSCRIBERS ?? 200);
const repoCount = Number(process.env.REPOS ?? 3);
const graceS = Number(process.env.GRACE_S ?? 180);
/** What subscribers follow: `both` (half each), `jobLog` or `buildsUpdated` (all of them): to see what each costs. */
const follow = process.env.FOLLOW ?? 'both';
if (!['both', 'jobLog', 'buildsUpdated'].includes(follow)) throw new Error(`FOLLOW: both, jobLog or buildsUpdated, not ${follow}`);

const arch = machineArch();
const appId = (i: number) => `org.bench.Load.C${i}`;
const refOf = (i: number) => `app/${appId(i)}/${arch}/stable`;
const repos = Array.from({ length: repoCount }, (_, i) => `load${i}`);

const latencies = new Map<string, number[]>();
const errors = new Map<string, number>();
let client5xx = 0;
const builds = new Map<number, { created: number; outcome?: 'published' | 'failed'; ended?: number }>();
const followJobs: number[] = [];
let logEvents = 0;
let buildEvents = 0;
let subscriptionsStarted = 0;

function error(kind: string, err: unknown): void {
  const status = err instanceof FmdRequestError || err instanceof FlatManagerError ? err.status : 0;
  if (status >= 500 && status < 600) client5xx++;
  const what = err instanceof FmdRequestError ? `${err.code ?? 'http'} ${err.status}` : err instanceof FlatManagerError ? `${err.kind} ${err.status}` : (err as Error).message.slice(0, 80);
  const key = `${kind}: ${what}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
}

/** One GraphQL round trip, timed under `op`. */
async function timedOp<T>(op: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    (latencies.get(op) ?? latencies.set(op, []).get(op)!).push(ms);
  }
}

/** The error a typed mutation result carries, thrown. */
function ok<T extends { __typename: string }>(r: T, op: string): T {
  if (r.__typename.endsWith('Error')) throw new Error(`${op}: ${r.__typename}: ${(r as { message?: string }).message ?? ''}`);
  return r;
}

/** CPU seconds (user + system) a process has used so far: steadier than wall times on a shared machine. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-load-'));
const fmd = await startFmd(process.env.JOB_WORKERS ? { FMD_JOB_WORKERS: process.env.JOB_WORKERS } : {});
const sdkClients: FmdClient[] = [];
const newClient = () => {
  const c = createFmdClient({ url: fmd.url, token: fmd.token });
  sdkClients.push(c);
  return c;
};
try {
  // One small tree; each client's app is that tree with its own metadata, committed once.
  const src = path.join(dir, 'src-repo');
  const common = path.join(dir, 'common');
  writeAppFiles(path.join(common, 'files'), Number(process.env.FILES ?? 20), Number(process.env.FILE_KB ?? 4));
  await runTool('ostree', ['init', `--repo=${src}`, '--mode=archive-z2']);
  for (let i = 0; i < clients; i++) {
    const meta = path.join(dir, `meta${i}`);
    mkdirSync(meta);
    writeFileSync(path.join(meta, 'metadata'), `[Application]\nname=${appId(i)}\nruntime=org.bench.Platform/${arch}/1\n`);
    await runTool('ostree', ['commit', `--repo=${src}`, `--branch=${refOf(i)}`, `--tree=dir=${common}`, `--tree=dir=${meta}`, '--subject=load']);
  }

  const admin = newClient();
  const keyId = (ok((await admin.generateKey({ input: { name: 'load key' } })).generateKey, 'generateKey') as { key: { id: string } }).key.id;
  for (const name of repos) ok((await admin.createRepo({ input: { name, collectionId: `org.bench.${name}`, keyId } })).createRepo, 'createRepo');

  const deadline = Date.now() + durationS * 1000;
  const hardStop = deadline + graceS * 1000;
  let stopping = false;

  // Subscribers.
  /** Reads a subscription to its end, or until the run stops; returns the events it got. */
  async function drain(kind: string, iterable: AsyncIterable<unknown>): Promise<number> {
    const it = iterable[Symbol.asyncIterator]();
    subscriptionsStarted++;
    const stop = setInterval(() => void (stopping && it.return?.()), 200);
    let n = 0;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return n;
        n++;
      }
    } catch (err) {
      if (!stopping) error(kind, err);
      return n;
    } finally {
      clearInterval(stop);
    }
  }
  const followers = Array.from({ length: subscribers }, async (_, j) => {
    const c = newClient();
    // A repo's dashboard: every change of every build in it, for the whole run.
    if (follow === 'buildsUpdated' || (follow === 'both' && j % 2 === 1)) {
      const n = await drain('buildsUpdated', c.buildsUpdated({ repo: repos[j % repos.length]! }));
      buildEvents += n; // not `x += await`: that reads x before the wait and loses the others' counts
      return;
    }
    // A log follower: the newest commit or publish job it has not followed yet, from its first
    // byte to its end, then the next.
    let seen = 0;
    while (!stopping) {
      if (followJobs.length <= seen) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      seen = followJobs.length;
      const n = await drain('jobLog', c.jobLog({ number: followJobs[seen - 1]! }));
      logEvents += n;
    }
  });

  // CI clients.
  const pushers = Array.from({ length: clients }, async (_, i) => {
    const c = newClient();
    const repo = repos[i % repos.length]!;
    while (Date.now() < deadline) {
      let number: number;
      try {
        const r = await timedOp('createBuild', () => c.createBuild({ input: { repo, appId: appId(i) } }));
        number = (ok(r.createBuild, 'createBuild') as { build: { number: number } }).build.number;
      } catch (err) {
        error('createBuild', err);
        continue;
      }
      builds.set(number, { created: Date.now() });
      const updates = c.buildUpdated({ number })[Symbol.asyncIterator]();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, hardStop - Date.now()))));
      try {
        await pushRepo({ buildUrl: `${fmd.url}/api/v1/build/${number}`, token: fmd.token, repo: src, refs: [refOf(i)] });
        const commit = await timedOp('commitBuild', () => c.commitBuild({ input: { build: number } }));
        followJobs.push((ok(commit.commitBuild, 'commitBuild') as { job: { number: number } }).job.number);
        let published = false;
        for (;;) {
          const next = await Promise.race([updates.next(), timeout]);
          if (next === 'timeout' || next.done) break;
          const b = next.value.buildUpdated;
          if (b.state === 'FAILED' || b.publishedState === 'FAILED') {
            builds.get(number)!.outcome = 'failed';
            builds.get(number)!.ended = Date.now();
            error('build', new Error(`${b.state}/${b.publishedState}: ${b.stateReason ?? ''}`));
            break;
          }
          if (b.publishedState === 'PUBLISHED') {
            builds.get(number)!.outcome = 'published';
            builds.get(number)!.ended = Date.now();
            break;
          }
          if (b.state === 'READY' && !published) {
            published = true;
            const p = await timedOp('publishBuild', () => c.publishBuild({ input: { build: number } }));
            followJobs.push((ok(p.publishBuild, 'publishBuild') as { job: { number: number } }).job.number);
          }
        }
        await timedOp('builds', () => c.builds({ repo, first: 20 }));
      } catch (err) {
        error('build steps', err);
      } finally {
        clearTimeout(timer);
        await updates.return?.();
      }
    }
  });
  const t0 = Date.now();
  const cpu0 = cpuSeconds(fmd.child.pid!);
  console.log(`load: ${clients} clients, ${subscribers} subscribers, ${repoCount} repos, ${durationS} s (+ up to ${graceS} s for the builds under way); ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)}`);
  await Promise.all(pushers);
  const ranS = (Date.now() - t0) / 1000;
  stopping = true;
  await Promise.all(followers);
  // fmd's own process (the API and its job workers; tools it ran are children, counted apart).
  const fmdCpu = cpuSeconds(fmd.child.pid!) - cpu0;

  // What fmd counted itself: every answer by status, from its own metrics.
  const metrics = await (await fetch(`${fmd.url}/metrics`, { headers: { authorization: `Bearer ${fmd.token}` } })).text();
  let server5xx = 0;
  let serverAnswers = 0;
  for (const m of metrics.matchAll(/^fmd_http_request_duration_seconds_count\{([^}]*)\} (\d+)/gm)) {
    serverAnswers += Number(m[2]);
    if (/status="5\d\d"/.test(m[1]!)) server5xx += Number(m[2]);
  }

  const all = [...builds.values()];
  const published = all.filter((b) => b.outcome === 'published');
  const inWindow = published.filter((b) => b.ended! <= deadline).length;
  const failed = all.filter((b) => b.outcome === 'failed').length;
  const lost = all.length - published.length - failed;
  const allMs = [...latencies.values()].flat();
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`\nbuilds created ${all.length}, published ${published.length}, failed ${failed}, lost ${lost} (target 0); last build ended ${ranS.toFixed(0)} s after the start`);
  console.log(`builds/min: ${(inWindow / (durationS / 60)).toFixed(1)} published within the ${durationS} s window (${inWindow}); ${(published.length / (ranS / 60)).toFixed(1)} over the whole run`);
  const pubLatency = published.map((b) => b.ended! - b.created);
  console.log(`create -> published: p50 ${(percentile(pubLatency, 50) / 1000).toFixed(1)} s, p99 ${(percentile(pubLatency, 99) / 1000).toFixed(1)} s`);
  console.log(`GraphQL round trips: ${allMs.length}, p50 ${f(percentile(allMs, 50))}, p99 ${f(percentile(allMs, 99))}`);
  for (const [op, xs] of latencies) console.log(`  ${op.padEnd(12)} ${String(xs.length).padStart(6)}  p50 ${f(percentile(xs, 50))}  p99 ${f(percentile(xs, 99))}  max ${f(Math.max(...xs))}`);
  console.log(`subscriptions started ${subscriptionsStarted}: ${logEvents} jobLog chunks, ${buildEvents} buildsUpdated events (over ${followJobs.length} jobs followed)`);
  console.log(`fmd process CPU: ${fmdCpu.toFixed(1)} s over ${ranS.toFixed(0)} s (${((fmdCpu / ranS) * 100).toFixed(0)}% of one core), ${(fmdCpu / Math.max(1, published.length)).toFixed(2)} s per published build; machine load ${os.loadavg()[0]!.toFixed(1)}`);
  console.log(`5xx: ${server5xx} of ${serverAnswers} answers counted by fmd (target 0); ${client5xx} seen by the clients`);
  console.log(`errors: ${errors.size ? '' : 'none'}`);
  for (const [k, n] of [...errors].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${k}`);
} finally {
  await Promise.all(sdkClients.map((c) => c.close().catch(() => undefined)));
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
