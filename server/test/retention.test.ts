// Retention through the real interfaces: settings and runs over GraphQL, jobs on the real engine,
// real ostree repos (fsck of a healthy and of a corrupted repo, scheduled prunes), real state
// dirs on disk (the build-cache budget), and database rows aged by moving their dates back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { jobEnded, pollFor, startTestServer, type TestServer } from './kit/server.ts';
import { runTool } from '../src/ostree/exec.ts';
import type { FsckFailure } from '../src/domain/retention/service.ts';

let s: TestServer;
const fsckFailures: FsckFailure[] = [];
const BUDGET = 250_000;
const DAY = 86_400_000;

before(async () => {
  s = await startTestServer({ 'build-cache-budget-bytes': BUDGET, 'job-log-retention-days': 2, 'audit-retention-days': 3, 'webhook-delivery-retention-days': 5, 'webhook-attempts': 1 });
  s.services.retention.fsckFailed.add(async (f) => void fsckFailures.push(f));
});
after(async () => {
  await s.stop();
});

const PAYLOAD = '__typename ... on Error { message } ... on InvalidInputError { field }';

async function createRepo(name: string) {
  const r = await s.gql(`mutation($n: String!) { createRepo(input: { name: $n }) { __typename ... on Error { message } } }`, { n: name });
  assert.equal(r.body.data.createRepo.__typename, 'RepoPayload', JSON.stringify(r.body));
}

async function createBuild(repo: string): Promise<number> {
  const r = await s.gql(`mutation($r: String!) { createBuild(input: { repo: $r, appId: "org.test.Old" }) { __typename ... on BuildPayload { build { number } } ... on Error { message } } }`, { r: repo });
  assert.equal(r.body.data.createBuild.__typename, 'BuildPayload', JSON.stringify(r.body));
  return r.body.data.createBuild.build.number;
}

async function setRetention(input: Record<string, unknown>) {
  const r = await s.gql(
    `mutation($input: UpdateRepoRetentionInput!) { updateRepoRetention(input: $input) { ${PAYLOAD}
       ... on RepoRetentionPayload { retention { purgeBuildsAfterDays pruneIntervalSecs fsckIntervalSecs dryRun } } } }`,
    { input },
  );
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.updateRepoRetention;
}

async function run(mutation: 'runRetention' | 'fsckRepo', input: Record<string, unknown>): Promise<number> {
  const type = mutation === 'runRetention' ? 'RunRetentionInput' : 'FsckRepoInput';
  const r = await s.gql(`mutation($input: ${type}!) { ${mutation}(input: $input) { __typename ... on Error { message } ... on RetentionJobPayload { job { number kind } } } }`, { input });
  assert.equal(r.body.data?.[mutation]?.__typename, 'RetentionJobPayload', JSON.stringify(r.body));
  return r.body.data[mutation].job.number;
}

async function jobOver(id: number) {
  await pollFor(async () => {
    const j = await s.services.jobs.get(id);
    return j && (j.status === 'ENDED' || j.status === 'BROKEN');
  }, 120_000, 50);
  const r = await s.gql(`query($n: Int!) { job(number: $n) { status error results log { text } } }`, { n: id });
  return r.body.data.job as { status: string; error: string | null; results: any; log: { text: string } };
}

const states = async (ids: number[]) =>
  Object.fromEntries((await s.services.prisma.build.findMany({ where: { id: { in: ids } } })).map((b) => [b.id, `${b.state}/${b.publishedState}`]));

test('old builds never published are purged past the age; newer and published builds are kept; a dry run only lists them', { timeout: 120_000 }, async () => {
  await createRepo('ret');
  const p = s.services.prisma;
  const ago = (days: number) => new Date(Date.now() - days * DAY);
  const oldFailed = await createBuild('ret');
  const oldReady = await createBuild('ret');
  const oldPublished = await createBuild('ret');
  const newFailed = await createBuild('ret');
  const oldCancelled = await createBuild('ret');
  await p.build.update({ where: { id: oldFailed }, data: { state: 'FAILED', createdAt: ago(10) } });
  await p.build.update({ where: { id: oldReady }, data: { state: 'READY', publishedState: 'UNPUBLISHED', createdAt: ago(10) } });
  await p.build.update({ where: { id: oldPublished }, data: { state: 'READY', publishedState: 'PUBLISHED', createdAt: ago(30) } });
  await p.build.update({ where: { id: newFailed }, data: { state: 'FAILED', createdAt: ago(4) } });
  await p.build.update({ where: { id: oldCancelled }, data: { state: 'CANCELLED', createdAt: ago(6) } });
  const all = [oldFailed, oldReady, oldPublished, newFailed, oldCancelled];
  const before = await states(all);

  // No age set: a run purges nothing.
  const none = await jobOver(await run('runRetention', { repo: 'ret' }));
  assert.equal(none.status, 'ENDED', none.error ?? '');
  assert.deepEqual(none.results.builds, []);
  assert.deepEqual(await states(all), before);

  const set = await setRetention({ repo: 'ret', purgeBuildsAfterDays: 5 });
  assert.deepEqual(set.retention, { purgeBuildsAfterDays: 5, pruneIntervalSecs: null, fsckIntervalSecs: null, dryRun: false });
  const doomed = [oldFailed, oldReady, oldCancelled];

  const dry = await jobOver(await run('runRetention', { repo: 'ret', dryRun: true }));
  assert.equal(dry.status, 'ENDED', dry.error ?? '');
  assert.equal(dry.results.dryRun, true);
  assert.deepEqual(dry.results.builds.map((b: any) => b.id), doomed);
  for (const id of doomed) assert.match(dry.log.text, new RegExp(`would purge build ${id} `));
  assert.doesNotMatch(dry.log.text, new RegExp(`build (${oldPublished}|${newFailed}) `));
  assert.deepEqual(await states(all), before, 'a dry run changes nothing');

  const real = await jobOver(await run('runRetention', { repo: 'ret' }));
  assert.equal(real.status, 'ENDED', real.error ?? '');
  assert.equal(real.results.dryRun, false);
  assert.deepEqual(real.results.builds.map((b: any) => b.id), doomed);
  const after = await states(all);
  for (const id of doomed) assert.equal(after[id], before[id]!.replace(/^[A-Z]+/, 'PURGED'), `build ${id}`);
  assert.equal(after[oldPublished], 'READY/PUBLISHED');
  assert.equal(after[newFailed], 'FAILED/UNPUBLISHED');

  // The runs are visible on the repo, newest first, beside the next scheduled one (an age is set).
  const r = await s.gql('{ repo(name: "ret") { retention { lastRuns(first: 5) { kind status contents results } } } }');
  const runs = r.body.data.repo.retention.lastRuns;
  const done = runs.filter((j: any) => j.status === 'ENDED');
  assert.deepEqual(done.map((j: any) => j.results.dryRun), [false, true, false]);
  const queued = runs.filter((j: any) => j.status === 'NEW');
  assert.deepEqual(queued.map((j: any) => [j.kind, j.contents]), [['retention-sweep', { repo: 'ret', scheduled: true }]]);
});

test('bad retention settings are typed errors and change nothing; a non-admin cannot read or change them', async () => {
  await createRepo('ret-bad');
  await setRetention({ repo: 'ret-bad', purgeBuildsAfterDays: 7, pruneIntervalSecs: 3600 });
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ purgeBuildsAfterDays: -1 }, 'purgeBuildsAfterDays'],
    [{ purgeBuildsAfterDays: 1_000_000 }, 'purgeBuildsAfterDays'],
    [{ pruneIntervalSecs: 0 }, 'pruneIntervalSecs'],
    [{ pruneIntervalSecs: 5 }, 'pruneIntervalSecs'],
    [{ fsckIntervalSecs: 2_000_000_000 }, 'fsckIntervalSecs'],
    [{ fsckIntervalSecs: -60 }, 'fsckIntervalSecs'],
    [{ dryRun: null }, 'dryRun'],
  ];
  for (const [bad, field] of cases) {
    const got = await setRetention({ repo: 'ret-bad', fsckIntervalSecs: 600, ...bad });
    assert.equal(got.__typename, 'InvalidInputError', JSON.stringify(bad));
    assert.equal(got.field, field);
  }
  const missing = await setRetention({ repo: 'no-such-repo', purgeBuildsAfterDays: 1 });
  assert.equal(missing.__typename, 'NotFoundError');
  const repo = await s.services.prisma.repo.findUnique({ where: { name: 'ret-bad' } });
  assert.deepEqual([repo?.purgeBuildsAfterDays, repo?.pruneIntervalSecs, repo?.fsckIntervalSecs, repo?.retentionDryRun], [7, 3600, null, false]);
  const jobs = await s.services.prisma.job.count({ where: { repo: 'ret-bad', kind: 'repo-fsck' } });
  assert.equal(jobs, 0, 'no fsck was scheduled by a refused change');

  const other = await s.gql(`mutation { createToken(input: { name: "reader", scopes: ["build", "jobs"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`);
  const token = other.body.data.createToken.token;
  const read = await s.gql('{ repo(name: "ret-bad") { name retention { purgeBuildsAfterDays } } }', {}, token);
  assert.equal(read.body.data.repo.name, 'ret-bad');
  assert.equal(read.body.data.repo.retention, null);
  assert.equal(read.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(read.body));
  const write = await s.gql(`mutation { updateRepoRetention(input: { repo: "ret-bad", purgeBuildsAfterDays: 1 }) { __typename } }`, {}, token);
  assert.equal(write.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(write.body));
  const start = await s.gql(`mutation { runRetention(input: { repo: "ret-bad" }) { __typename } }`, {}, token);
  assert.equal(start.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(start.body));
});

/** A real commit of a few files in the repo, as the repo's own objects. */
async function commitFiles(repo: string): Promise<void> {
  const tree = path.join(s.config.dataDir, `tree-${repo}`);
  await mkdir(tree, { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(path.join(tree, `file${i}`), `content ${i} of ${repo}\n`.repeat(50));
  await runTool('ostree', ['commit', `--repo=${s.services.repos.repoPath(repo)}`, '--branch=test/main', '--subject=fixture', tree]);
}

test('fsck: a healthy repo passes; a corrupted object fails the job, names the object and fires the hook', { timeout: 120_000 }, async () => {
  await createRepo('ret-fsck');
  await commitFiles('ret-fsck');
  const ok = await jobOver(await run('fsckRepo', { repo: 'ret-fsck' }));
  assert.equal(ok.status, 'ENDED', ok.error ?? '');
  assert.deepEqual(ok.results, { ok: true, problems: [] });
  assert.match(ok.log.text, /no problems found/);
  assert.equal(fsckFailures.length, 0);

  const objects = path.join(s.services.repos.repoPath('ret-fsck'), 'objects');
  let victim = '';
  for (const dir of await readdir(objects)) {
    const f = (await readdir(path.join(objects, dir))).find((n) => n.endsWith('.filez'));
    if (f) {
      victim = path.join(objects, dir, f);
      break;
    }
  }
  assert.ok(victim, 'a content object to corrupt');
  await writeFile(victim, 'not an ostree object');
  // a webhook of the repo for fsck failures (nobody listens on port 9: one failed attempt)
  const repoRow = await s.services.prisma.repo.findUniqueOrThrow({ where: { name: 'ret-fsck' } });
  const fsckHook = await s.services.prisma.webhook.create({ data: { repoId: repoRow.id, url: 'http://127.0.0.1:9/', secretEncrypted: 'unused', events: ['repo.fsck_failed'] } });
  const checksum = path.basename(path.dirname(victim)) + path.basename(victim, '.filez');
  const badId = await run('fsckRepo', { repo: 'ret-fsck' });
  const bad = await jobOver(badId);
  assert.equal(bad.status, 'BROKEN');
  assert.match(bad.error ?? '', new RegExp(checksum));
  assert.match(bad.log.text, new RegExp(`problem\\(s\\) found:\\n(.*\\n)*.*${checksum}`));
  assert.equal(fsckFailures.length, 1);
  assert.equal(fsckFailures[0]!.repo, 'ret-fsck');
  assert.equal(fsckFailures[0]!.jobId, badId);
  assert.ok(fsckFailures[0]!.problems.some((p) => p.includes(checksum)), JSON.stringify(fsckFailures[0]));
  const delivery = await s.services.prisma.webhookDelivery.findFirstOrThrow({ where: { webhookId: fsckHook.id } });
  assert.equal(delivery.event, 'repo.fsck_failed');
  const body = JSON.parse(delivery.payload);
  assert.equal(body.repo, 'ret-fsck');
  assert.equal(body.data.jobId, badId);
  assert.ok(body.data.problems.some((p: string) => p.includes(checksum)), delivery.payload);
});

test('scheduled prunes: each run queues the next, dry run honoured; turning it off cancels the queued run', { timeout: 120_000 }, async () => {
  await createRepo('ret-prune');
  await commitFiles('ret-prune');
  const set = await setRetention({ repo: 'ret-prune', pruneIntervalSecs: 3600, dryRun: true });
  assert.equal(set.__typename, 'RepoRetentionPayload');
  const q = await s.gql('{ repo(name: "ret-prune") { retention { scheduled { kind job { number kind status startAfter } } } } }');
  const scheduled = Object.fromEntries(q.body.data.repo.retention.scheduled.map((x: any) => [x.kind, x.job]));
  assert.equal(scheduled['repo-fsck'], null);
  assert.equal(scheduled['retention-sweep'], null, 'no purge age, no purge schedule');
  assert.equal(scheduled.prune.status, 'NEW');
  const due = new Date(scheduled.prune.startAfter).getTime() - Date.now();
  assert.ok(due > 3500_000 && due <= 3600_000, `first run due in an interval (${due} ms)`);

  // Shorter than the API allows, to see runs follow each other: the queued run is re-timed.
  await s.services.prisma.repo.update({ where: { name: 'ret-prune' }, data: { pruneIntervalSecs: 1 } });
  await s.services.retention.ensureAll();
  const firstRun = await s.services.prisma.job.findUnique({ where: { id: scheduled.prune.number } });
  assert.equal(firstRun?.status, 'BROKEN', 'the run queued for an hour later was replaced');
  const ended = await pollFor(async () => {
    const done = await s.services.prisma.job.findMany({ where: { repo: 'ret-prune', kind: 'prune', status: 'ENDED' }, orderBy: { id: 'asc' } });
    return done.length >= 2 ? done : null;
  }, 60_000, 100);
  for (const j of ended) {
    assert.deepEqual(j.contents, { repo: 'ret-prune', scheduled: true });
    assert.deepEqual(j.results, { pruned: false, dryRun: true });
  }
  const log = await s.services.jobRecords.log(ended[0]!.id, 0);
  assert.match(log, /dry run: nothing is deleted/);
  assert.match(log, /Pruning old commits \(dry-run\)/);
  // Never more than one run queued.
  assert.ok((await s.services.prisma.job.count({ where: { repo: 'ret-prune', kind: 'prune', status: { in: ['NEW', 'STARTED'] } } })) <= 1);

  const off = await setRetention({ repo: 'ret-prune', pruneIntervalSecs: null });
  assert.equal(off.retention.pruneIntervalSecs, null);
  await pollFor(async () => (await s.services.prisma.job.count({ where: { repo: 'ret-prune', kind: 'prune', status: { in: ['NEW', 'STARTED'] } } })) === 0, 30_000, 100);
  const count = await s.services.prisma.job.count({ where: { repo: 'ret-prune', kind: 'prune' } });
  await s.services.retention.ensureAll();
  assert.equal(await s.services.prisma.job.count({ where: { repo: 'ret-prune', kind: 'prune' } }), count, 'nothing queued once off');
});

test('processes racing on one schedule queue its run once', async () => {
  await createRepo('ret-race');
  await s.services.prisma.repo.update({ where: { name: 'ret-race' }, data: { fsckIntervalSecs: 3600 } });
  // Two more services on the same database stand for other worker processes.
  const { RetentionService } = await import('../src/domain/retention/service.ts');
  const others = [1, 2].map(() => new RetentionService({ ...s.services, jobs: s.services.jobs }));
  await Promise.all([s.services.retention, ...others].flatMap((r) => [r.ensureAll(), r.ensureAll()]));
  const jobs = await s.services.prisma.job.findMany({ where: { repo: 'ret-race', kind: 'repo-fsck' } });
  assert.equal(jobs.length, 1, JSON.stringify(jobs.map((j) => j.uniqueKey)));
  assert.equal(jobs[0]!.uniqueKey, 'repo-fsck:ret-race#1');
  const row = await s.services.prisma.jobSchedule.findUnique({ where: { key: 'repo-fsck:ret-race' } });
  assert.deepEqual([row?.runs, row?.jobId], [1, jobs[0]!.id]);
});

test('global sweep: the build-cache budget evicts the least recently used state dirs; old job logs and audit entries go; dry run first', { timeout: 120_000 }, async () => {
  const state = path.join(s.config.dataDir, 'builder', 'state');
  const dirs = ['org.test.A', 'org.test.B', 'org.test.C'].map((app) => path.join(state, app, 'x86_64'));
  const now = Date.now() / 1000;
  for (const [i, dir] of dirs.entries()) {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'cache'), Buffer.alloc(100_000, i + 1));
    await utimes(dir, now - 3600 * (3 - i), now - 3600 * (3 - i)); // A used first, C last
  }
  // Job logs: an old finished job and a recent one.
  const oldJob = await s.services.jobs.enqueue('noop', { lines: 2 });
  const newJob = await s.services.jobs.enqueue('noop', { lines: 2 });
  await jobEnded(s, oldJob.id);
  await jobEnded(s, newJob.id);
  await s.services.prisma.job.update({ where: { id: oldJob.id }, data: { finishedAt: new Date(Date.now() - 3 * DAY) } });
  // Audit entries: age some of the ones the earlier tests made.
  const audit = await s.services.prisma.auditEntry.findMany({ orderBy: { id: 'asc' } });
  assert.ok(audit.length >= 4);
  const aged = audit.slice(0, 2).map((a) => a.id);
  await s.services.prisma.auditEntry.updateMany({ where: { id: { in: aged } }, data: { createdAt: new Date(Date.now() - 4 * DAY) } });
  // Webhook deliveries: one that ended long ago (two attempts), one ended recently, one still
  // being retried since long ago (its attempts stay until it ends).
  const hook = await s.services.prisma.webhook.create({ data: { url: 'https://hooks.example/x', secretEncrypted: 'unused', events: ['build.state'], enabled: false } });
  const old = new Date(Date.now() - 6 * DAY);
  const attempt = (deliveryId: string, n: number, state: 'SUCCEEDED' | 'FAILED' | 'RETRYING', finishedAt: Date) =>
    s.services.prisma.webhookDelivery.create({ data: { webhookId: hook.id, deliveryId, event: 'build.state', payload: '{}', attempt: n, state, createdAt: finishedAt, finishedAt } });
  await attempt('d-old', 1, 'RETRYING', old);
  await attempt('d-old', 2, 'SUCCEEDED', old);
  await attempt('d-new', 1, 'FAILED', new Date());
  await attempt('d-retrying', 1, 'RETRYING', old);

  const dry = await jobOver(await run('runRetention', { dryRun: true }));
  assert.equal(dry.status, 'ENDED', dry.error ?? '');
  assert.equal(dry.results.dryRun, true);
  assert.deepEqual(dry.results.buildCache.evicted.map((e: any) => e.dir), [dirs[0]]);
  assert.ok(dry.results.jobLogs.jobs.includes(oldJob.id) && !dry.results.jobLogs.jobs.includes(newJob.id), JSON.stringify(dry.results.jobLogs));
  assert.equal(dry.results.audit.count, 2);
  assert.equal(dry.results.webhookDeliveries.count, 2);
  assert.match(dry.log.text, new RegExp(`to evict[^\\n]*\\n  ${dirs[0]!.replace(/\./g, '\\.')}`));
  for (const d of dirs) assert.ok(existsSync(d), `${d} kept by the dry run`);
  assert.notEqual(await s.services.jobRecords.log(oldJob.id, 0), '');
  assert.equal(await s.services.prisma.auditEntry.count({ where: { id: { in: aged } } }), 2);

  const real = await jobOver(await run('runRetention', {}));
  assert.equal(real.status, 'ENDED', real.error ?? '');
  assert.equal(real.results.dryRun, false);
  assert.ok(!existsSync(dirs[0]!), 'the least recently used cache is gone');
  assert.ok(existsSync(dirs[1]!) && existsSync(dirs[2]!));
  assert.ok(real.results.buildCache.totalBytes <= BUDGET, JSON.stringify(real.results.buildCache));
  assert.equal(await s.services.jobRecords.log(oldJob.id, 0), '', 'the old job log is trimmed');
  assert.match(await s.services.jobRecords.log(newJob.id, 0), /line 1 of 2/);
  assert.equal(await s.services.prisma.auditEntry.count({ where: { id: { in: aged } } }), 0);
  assert.equal(await s.services.prisma.auditEntry.count({ where: { id: { in: audit.slice(2).map((a) => a.id) } } }), audit.length - 2);
  assert.equal(real.results.audit.count, 2);
  assert.equal(real.results.webhookDeliveries.count, 2);
  assert.deepEqual((await s.services.prisma.webhookDelivery.findMany({ where: { webhookId: hook.id }, orderBy: { id: 'asc' } })).map((d) => d.deliveryId), ['d-new', 'd-retrying']);
  // The next eviction leaves nothing over the budget to do.
  const again = await jobOver(await run('runRetention', {}));
  assert.deepEqual(again.results.buildCache.evicted, []);
  assert.ok((await stat(dirs[2]!)).isDirectory());
  await rm(state, { recursive: true, force: true });
});
