// Scheduling git builds, through the real interfaces and real builds (file:// git repositories
// with manifests on the offline test runtime): a build set builds in dependency order, a
// dependent starting only after the update-repo job that follows its dependency's publish has
// ended; a failed dependency fails its dependents without running them; a build for an arch no
// worker builds waits, visibly, and starts when a worker for that arch appears; a build that
// stops writing to its log is failed as stuck; a worker runs at most max-builds-per-worker builds
// at once. Also the bad inputs of createBuildSet and of build dependencies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { buildTestRuntime, tempDir } from './kit/flatpak-fixtures.ts';
import { appManifest, commitFiles, gitBuildConfig, makeGitApp, gitBuildQueries } from './kit/git-fixtures.ts';
import { ensureBuilderUser } from './kit/builder-user.ts';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';
import type { Claims } from '../src/domain/tokens/claims.ts';

let s: TestServer;
let runtimeRepo: string;

before(async () => {
  await ensureBuilderUser();
  const work = await tempDir('fmd-git-sets-');
  runtimeRepo = path.join(work, 'rt-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(work, 'rt-work') });
  // Two builds at once: without its dependency a set's second build would start beside the first.
  s = await startTestServer({ ...gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'delay-update-secs': 0, 'job-workers': 4, 'max-builds-per-worker': 2 });
  await createSignedRepo(s, 'apps');
  await createSignedRepo(s, 'other');
});
after(async () => {
  await s?.stop();
});

const buildFields = `number state stateReason publishedState appId
  source { arch job { number status } }
  dependsOn { number }
  dependents(first: 10) { edges { node { number } } }
  buildSet { number name states { state count } builds(first: 10) { edges { node { number } } } }`;

async function createSet(srv: TestServer, input: Record<string, unknown>, token = srv.adminToken): Promise<any> {
  const r = await srv.gql(
    `mutation($input: CreateBuildSetInput!) { createBuildSet(input: $input) {
       __typename ... on Error { message } ... on InvalidInputError { field }
       ... on CreateBuildSetPayload { buildSet { id number name } builds { key build { ${buildFields} } } } } }`,
    { input },
    token,
  );
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data.createBuildSet;
}

const { createGitBuild, buildNow, waitForBuild } = gitBuildQueries(buildFields);

const over = (b: any) => b.publishedState === 'PUBLISHED' || ['FAILED', 'CANCELLED', 'SUPERSEDED'].includes(b.state) || b.publishedState === 'FAILED';

/** The git-build jobs of a build (all attempts). */
const gitBuildJobs = (srv: TestServer, buildId: number) => srv.services.prisma.job.findMany({ where: { buildId, kind: 'git-build' }, orderBy: { id: 'asc' } });

async function cancel(n: number): Promise<void> {
  const r = await s.gql('mutation($n: Int!) { cancelBuild(input: { build: $n }) { __typename ... on Error { message } } }', { n });
  assert.equal(r.body.data?.cancelBuild.__typename, 'GitBuildPayload', JSON.stringify(r.body));
}

const now = () => Math.floor(Date.now() / 1000);
const token = (srv: TestServer, c: Partial<Claims>) =>
  signClaims({ sub: '', scope: ['build'], prefixes: [''], apps: [], repos: [''], exp: now() + 3600, name: 'sets-test', ...c }, secretKey(srv.secret));

test('a build set builds in dependency order: the dependent (an app on a BaseApp of the set) starts only after the update-repo job after its dependency\'s publish has ended', { timeout: 600_000 }, async () => {
  const base = await makeGitApp({ appId: 'org.test.SetBase', message: 'base', extraModules: [{ name: 'marker', commands: ['echo made by the base app > /app/base-marker'] }] });
  const app = await makeGitApp({ appId: 'org.test.SetApp', message: 'app' });
  // The app builds on the base app: flatpak-builder installs it from the repo's signed summary,
  // so it can only build once the base is published there.
  const onBase = { ...appManifest({ appId: app.appId, buildCommands: ['cat /app/base-marker'] }), base: base.appId, 'base-version': 'master' };
  await commitFiles(app.dir, { [app.manifestPath]: `${JSON.stringify(onBase, null, 2)}\n` }, 'on the base app');
  const created = await createSet(s, {
    repo: 'apps',
    name: 'base and app',
    builds: [
      // Listed dependent first: the set orders them.
      { key: 'app', git: { url: app.url, autoPublish: true }, dependsOn: ['base'] },
      { key: 'base', git: { url: base.url, autoPublish: true } },
    ],
  });
  assert.equal(created.__typename, 'CreateBuildSetPayload', JSON.stringify(created));
  assert.deepEqual(created.builds.map((b: any) => b.key), ['base', 'app']);
  const [b, a] = created.builds.map((x: any) => x.build);
  assert.ok(a.number > b.number);
  assert.equal(a.state, 'WAITING');
  assert.match(a.stateReason, new RegExp(`^waiting for build ${b.number} \\(\\w+\\) to be published$`));
  assert.equal(a.source.job, null, 'the dependent has no job yet');
  assert.deepEqual(a.dependsOn, [{ number: b.number }]);
  assert.deepEqual(b.dependents.edges.map((e: any) => e.node.number), [a.number]);
  assert.equal(a.buildSet.number, created.buildSet.number);
  assert.equal(a.buildSet.name, 'base and app');
  assert.deepEqual(a.buildSet.builds.edges.map((e: any) => e.node.number), [b.number, a.number]);

  // The set is a Node.
  const node = await s.gql(`query($id: ID!) { node(id: $id) { __typename ... on BuildSet { number repo { name } } } }`, { id: created.buildSet.id });
  assert.deepEqual(node.body.data.node, { __typename: 'BuildSet', number: created.buildSet.number, repo: { name: 'apps' } });

  const doneBase = await waitForBuild(s, b.number, over);
  assert.equal(doneBase.publishedState, 'PUBLISHED', JSON.stringify(doneBase));
  const doneApp = await waitForBuild(s, a.number, over);
  assert.equal(doneApp.publishedState, 'PUBLISHED', JSON.stringify(doneApp));
  assert.deepEqual(doneApp.buildSet.states, [{ state: 'READY', count: 2 }]);

  const publish = await s.services.prisma.job.findFirstOrThrow({ where: { buildId: b.number, kind: 'publish', status: 'ENDED' } });
  const updateId = (publish.results as Record<string, unknown>)['update-repo-job'] as number;
  const update = await s.services.prisma.job.findUniqueOrThrow({ where: { id: updateId } });
  assert.equal(update.status, 'ENDED');
  const [appJob] = await gitBuildJobs(s, a.number);
  const [baseJob] = await gitBuildJobs(s, b.number);
  assert.ok(appJob && baseJob);
  assert.ok(publish.finishedAt! <= update.startedAt!, 'the update-repo job ran after the publish');
  assert.ok(
    appJob.startedAt! >= update.finishedAt!,
    `the dependent's build started at ${appJob.startedAt!.toISOString()}, before the update-repo job after its dependency's publish ended (${update.finishedAt!.toISOString()})`,
  );
  assert.ok(baseJob.finishedAt! <= publish.startedAt!);
  // The app's build had the base app's files.
  assert.match(await s.services.jobRecords.log(appJob.id), /made by the base app/);
});

test('a failing build fails its dependents (and theirs) without running them', { timeout: 600_000 }, async () => {
  const bad = await makeGitApp({ appId: 'org.test.SetBad', buildCommands: ['echo failing on purpose', 'exit 3'] });
  const next = await makeGitApp({ appId: 'org.test.SetNext' });
  const last = await makeGitApp({ appId: 'org.test.SetLast' });
  const created = await createSet(s, {
    repo: 'apps',
    builds: [
      { key: 'bad', git: { url: bad.url, autoPublish: true } },
      { key: 'next', git: { url: next.url, autoPublish: true }, dependsOn: ['bad'] },
      { key: 'last', git: { url: last.url, autoPublish: true }, dependsOn: ['next', 'bad'] },
    ],
  });
  assert.equal(created.__typename, 'CreateBuildSetPayload', JSON.stringify(created));
  const [b, n, l] = created.builds.map((x: any) => x.build.number);
  const failed = await waitForBuild(s, b, over);
  assert.equal(failed.state, 'FAILED');
  // It failed for its own reason: its build command ran and failed.
  assert.match(await s.services.jobRecords.log(failed.source.job.number), /failing on purpose/);
  const nextNow = await waitForBuild(s, n, (x) => x.state !== 'WAITING', 30_000);
  assert.equal(nextNow.state, 'FAILED');
  assert.equal(nextNow.stateReason, `dependency build ${b} failed`);
  const lastNow = await waitForBuild(s, l, (x) => x.state !== 'WAITING', 30_000);
  assert.equal(lastNow.state, 'FAILED');
  assert.match(lastNow.stateReason, new RegExp(`^dependency build (${n}|${b}) failed$`));
  for (const id of [n, l]) assert.deepEqual(await gitBuildJobs(s, id), [], `build ${id} never got a git-build job`);
  assert.equal(lastNow.source.job, null);

  // A build created later on a failed dependency fails at once, visibly.
  const late = await createGitBuild(s, { repo: 'apps', git: { url: next.url, dependsOn: [b] } });
  assert.equal(late.__typename, 'BuildPayload', JSON.stringify(late));
  assert.equal(late.build.state, 'FAILED');
  assert.equal(late.build.stateReason, `dependency build ${b} failed`);
});

test('createBuildSet and build dependencies: cycles, unknown keys and builds, other repos\' and invisible builds are refused, and nothing is created', async () => {
  const app = await makeGitApp({ appId: 'org.test.SetInput' });
  const git = { url: app.url };
  const buildsDir = path.dirname(s.services.builds.buildPath(1));
  const count = async () => ({
    sets: await s.services.prisma.buildSet.count(),
    builds: await s.services.prisma.build.count(),
    dirs: (await readdir(buildsDir).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).length,
  });
  const before = await count();
  const refused = async (input: Record<string, unknown>, message: RegExp, tok?: string) => {
    const r = await createSet(s, { repo: 'apps', ...input }, tok);
    assert.equal(r.__typename, 'InvalidInputError', JSON.stringify(r));
    assert.match(r.message, message);
  };
  await refused({ builds: [] }, /at least one build/);
  await refused({ builds: [{ key: 'a', git, dependsOn: ['c'] }, { key: 'b', git, dependsOn: ['a'] }, { key: 'c', git, dependsOn: ['b'] }] }, /cycle: a -> c -> b -> a/);
  await refused({ builds: [{ key: 'a', git, dependsOn: ['a'] }] }, /a depends on itself/);
  await refused({ builds: [{ key: 'a', git, dependsOn: ['zz'] }] }, /a depends on zz, which is not in the set/);
  await refused({ builds: [{ key: 'a', git }, { key: 'a', git }] }, /the key a is used twice/);
  await refused({ builds: [{ key: 'has space', git }] }, /invalid key/);
  await refused({ builds: Array.from({ length: 51 }, (_, i) => ({ key: `k${i}`, git })) }, /at most 50 builds/);
  // The second build is refused after the first was checked: neither exists afterwards.
  await refused({ builds: [{ key: 'ok', git }, { key: 'bad', git: { url: 'ext::sh -c touch% /tmp/pwned' }, dependsOn: ['ok'] }] }, /^build set, build bad: /);

  const elsewhere = await createGitBuild(s, { repo: 'other', git });
  assert.equal(elsewhere.__typename, 'BuildPayload');
  const otherId = elsewhere.build.number;
  await cancel(otherId);
  await refused({ builds: [{ key: 'a', git: { ...git, dependsOn: [otherId] } }] }, new RegExp(`build ${otherId} \\(a dependency\\) is in another repo`));
  await refused({ builds: [{ key: 'a', git: { ...git, dependsOn: [2_000_000_000] } }] }, /build 2000000000 \(a dependency\) does not exist/);
  // A build of the repo the token may not see (its prefixes do not cover the app) is as unknown.
  const hidden = await createGitBuild(s, { repo: 'apps', appId: 'org.test.Hidden', git: { url: app.url, dependsOn: [otherId] } });
  assert.equal(hidden.__typename, 'InvalidInputError', 'the dependency in another repo is refused on createBuild too');
  const visible = await createGitBuild(s, { repo: 'apps', appId: 'org.test.Hidden', git: { url: app.url, arch: 'nowhere' } });
  const hiddenId = visible.build.number;
  const narrow = await token(s, { prefixes: ['org.test.SetInput'], repos: ['apps'] });
  await refused({ builds: [{ key: 'a', git: { ...git, dependsOn: [hiddenId] } }] }, new RegExp(`build ${hiddenId} \\(a dependency\\) does not exist`), narrow);
  await cancel(hiddenId);
  const after = await count();
  assert.deepEqual(after, { sets: before.sets, builds: before.builds + 2, dirs: before.dirs + 2 }, 'only the two builds made on purpose exist');
});

test('POST /api/v1/build-set creates a set with flat-manager\'s field names and answers each key\'s build JSON; bad sets are 400 with flat-manager\'s error JSON', async () => {
  const app = await makeGitApp({ appId: 'org.test.SetRest' });
  const post = (body: unknown) =>
    fetch(`${s.url}/api/v1/build-set`, { method: 'POST', headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  // For an arch no worker builds: they wait, and the test looks at them as created.
  const one = { url: app.url, arch: 'nowhere', 'auto-commit': false };
  const res = await post({ repo: 'apps', name: 'over rest', builds: [{ key: 'second', ...one, 'depends-on': ['first'] }, { key: 'first', ...one }] });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as any;
  assert.equal(body.name, 'over rest');
  assert.deepEqual(body.builds.map((b: any) => b.key), ['first', 'second']);
  const [first, second] = body.builds.map((b: any) => b.build);
  assert.equal(second.state, 'waiting');
  const gql = await buildNow(s, second.id);
  assert.deepEqual(gql.dependsOn, [{ number: first.id }]);
  assert.equal(gql.buildSet.number, body.id);
  for (const n of [second.id, first.id]) await cancel(n);

  for (const [bad, message] of [
    [{ repo: 'apps', builds: [{ key: 'a', ...one, 'depends-on': ['a'] }] }, /a depends on itself/],
    [{ repo: 'apps', builds: [{ key: 'a', ...one, 'auto-commit': 'yes' }] }, /builds\[0\]\.auto-commit must be a boolean/],
    [{ repo: 'apps', builds: [{ key: 'a' }] }, /builds\[0\]\.url is required/],
    [{ repo: 'apps', builds: 'a' }, /"builds" must be an array/],
  ] as const) {
    const r = await post(bad);
    const e = (await r.json()) as any;
    assert.equal(r.status, 400, JSON.stringify(e));
    assert.equal(e.status, 400);
    assert.equal(typeof e['error-type'], 'string');
    assert.match(e.message, message);
  }
});

const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));

test('a build for an arch no worker builds waits with the reason shown, and starts once a worker for that arch appears', { timeout: 300_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.SetArch' });
  const created = await createGitBuild(s, { repo: 'apps', git: { url: app.url, arch: 'aarch64' } });
  assert.equal(created.__typename, 'BuildPayload', JSON.stringify(created));
  const n = created.build.number;
  assert.equal(created.build.state, 'WAITING');
  assert.equal(created.build.stateReason, 'no worker builds aarch64');
  // flat-manager clients see it uploading (0), with the precise state and what it waits for.
  const json = (await (await fetch(`${s.url}/api/v1/build/${n}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
  assert.deepEqual([json.repo_state, json.state, json.repo_state_reason], [0, 'waiting', 'no worker builds aarch64']);
  // Several sweeps later it still waits, without a job.
  const sweeps = s.services.buildWorkers;
  await new Promise<void>((resolve) => {
    let seen = 0;
    sweeps.tick.add(async () => void (++seen === 2 && resolve()));
  });
  const still = await buildNow(s, n);
  assert.equal(still.state, 'WAITING');
  assert.equal(still.stateReason, 'no worker builds aarch64');
  assert.deepEqual(await gitBuildJobs(s, n), []);

  const appeared = new Date();
  const worker: ChildProcess = spawn(process.execPath, [fmd, 'worker'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: s.dbUrl,
      FMD_SECRET: s.secret,
      FMD_DATA_DIR: s.config.dataDir,
      FMD_JOB_WORKERS: '1',
      FMD_JOB_POLL_MS: '200',
      FMD_LOG_LEVEL: 'warn',
      FMD_BUILD_ARCHES: 'aarch64',
      FMD_GIT_URL_SCHEMES: 'https,ssh,file',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    const jobs = await pollFor(async () => {
      const j = await gitBuildJobs(s, n);
      return j.length && j[0]!.startedAt ? j : null;
    }, 60_000, 100);
    assert.equal(jobs[0]!.lane, 'aarch64');
    assert.ok(jobs[0]!.startedAt! >= appeared);
    const moved = await waitForBuild(s, n, (b) => b.state !== 'WAITING', 60_000);
    assert.notEqual(moved.stateReason, 'no worker builds aarch64');
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode === null ? worker.once('exit', r) : r(null)));
  }
  // The worker that left took its arch with it.
  assert.deepEqual([...(await s.services.buildWorkers.liveArches())].sort(), [...s.config.buildArches].sort());
});

test('a worker runs at most max-builds-per-worker builds at once; a build silent for build-stall-secs is failed as stuck', { timeout: 600_000 }, async () => {
  const t = await startTestServer({ ...gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'delay-update-secs': 0, 'job-workers': 4, 'max-builds-per-worker': 1, 'build-stall-secs': 10 });
  try {
    await createSignedRepo(t, 'apps');
    // Each build says something every second for a few seconds: long enough to overlap if allowed.
    const chatty = ['for i in 1 2 3 4; do echo tick $i; sleep 1; done'];
    const apps = await Promise.all([1, 2, 3].map((i) => makeGitApp({ appId: `org.test.Limit${i}`, buildCommands: chatty })));
    const builds: number[] = [];
    for (const app of apps) builds.push((await createGitBuild(t, { repo: 'apps', git: { url: app.url, autoCommit: false } })).build.number);
    for (const n of builds) assert.equal((await waitForBuild(t, n, (b) => b.state !== 'WAITING' && b.state !== 'CLONING' && b.state !== 'BUILDING')).state, 'UPLOADING');
    // (A build is UPLOADING a moment before its job has ended.)
    const jobs = await pollFor(async () => {
      const all = await t.services.prisma.job.findMany({ where: { kind: 'git-build', buildId: { in: builds } }, orderBy: { startedAt: 'asc' } });
      return all.every((j) => j.finishedAt) ? all : null;
    }, 30_000);
    const spans = jobs.map((j) => ({ start: j.startedAt!.getTime(), end: j.finishedAt!.getTime() }));
    assert.equal(spans.length, 3);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]!.start >= spans[i - 1]!.end, `git builds overlapped on a worker limited to one: ${JSON.stringify(spans)}`);

    const quiet = await makeGitApp({ appId: 'org.test.Quiet', buildCommands: ['sleep 120'] });
    const q = (await createGitBuild(t, { repo: 'apps', git: { url: quiet.url } })).build.number;
    await waitForBuild(t, q, (b) => b.state === 'BUILDING', 120_000);
    const stuck = await waitForBuild(t, q, (b) => b.state !== 'BUILDING', 90_000);
    assert.equal(stuck.state, 'FAILED');
    assert.equal(stuck.stateReason, 'no output for 10 s: the build looks stuck');
    const [job] = await gitBuildJobs(t, q);
    // The job is over too: its tools were killed.
    const ended = await pollFor(async () => {
      const j = await t.services.jobs.get(job!.id);
      return j && (j.status === 'ENDED' || j.status === 'BROKEN') ? j : null;
    }, 15_000);
    assert.ok(ended.finishedAt!.getTime() - Date.now() < 60_000);
  } finally {
    await t.stop();
  }
});
