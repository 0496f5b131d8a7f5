// Builds through GraphQL (the twin of /api/v1: same service, same rules, typed errors), the
// buildUpdated subscription, check hooks with review, and a worker killed during a publish.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { commitObjects, FlatManagerClient, request } from './kit/flat-manager-client.ts';
import * as ostree from '../src/ostree/ostree.ts';

let s: TestServer;
let b: Builds;
let client: FlatManagerClient;

async function gql(query: string, variables?: Record<string, unknown>) {
  const r = await s.gql(query, variables);
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data;
}

const createRepo = (name: string, extra: Record<string, unknown> = {}) => createSignedRepo(s, name, extra);

/** Uploads the objects of `refs` into a build (REST, as clients do), without creating refs. */
async function uploadOnly(buildNumber: number, repo: string, commit: string) {
  const url = `${s.url}/api/v1/build/${buildNumber}`;
  const { metadata, files } = await commitObjects(repo, commit);
  await client.uploadObjects(url, repo, await client.missingObjects(url, [...metadata, ...files]));
}

const BUILD_FIELDS = 'number state stateCode publishedState publishedStateCode repo { name } refs { name commit } checks { name status job { number } } publishedRefs { ref commit }';

before(async () => {
  s = await startTestServer({ 'job-lock-lifetime-ms': 2000, 'job-poll-ms': 200 });
  b = await testBuilds();
  client = new FlatManagerClient(s.url, s.adminToken);
});
after(async () => {
  await s?.stop();
});

test('GraphQL twin: createBuild, addBuildRef, commitBuild, publishBuild, typed state errors, builds connection, buildUpdated', { timeout: 300_000 }, async () => {
  // The publish hook holds the publish job until the test opens its gate, so that the publish is
  // observably running when the purge below is tried.
  const gate = path.join(s.config.dataDir, 'publish-gate');
  await createRepo('gql', { hooks: { checks: [], publish: ['sh', '-c', 'touch "$1.running"; while [ ! -e "$1" ]; do sleep 0.05; done', 'publish-gate', gate] } });
  const created = await gql(`mutation { createBuild(input: { repo: "gql" }) { __typename ... on BuildPayload { build { ${BUILD_FIELDS} } } } }`);
  const n = created.createBuild.build.number as number;
  assert.equal(created.createBuild.build.state, 'UPLOADING');
  assert.equal(created.createBuild.build.stateCode, 0);

  // Follow the build over WebSocket while it moves through its states.
  const ws = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, retryAttempts: 0 });
  const seen: string[] = [];
  const stopSub = ws.subscribe({ query: `subscription($n: Int!) { buildUpdated(number: $n) { state publishedState } }`, variables: { n } }, {
    next: (m: any) => m.data && seen.push(`${m.data.buildUpdated.state}/${m.data.buildUpdated.publishedState}`),
    error: () => undefined,
    complete: () => undefined,
  });

  const refs: Record<string, string> = {};
  for (const r of b.runtimeRefs) refs[r] = (await ostree.revParse(b.runtimeRepo, r))!;
  for (const commit of Object.values(refs)) await uploadOnly(n, b.runtimeRepo, commit);
  await uploadOnly(n, b.appRepo, b.app.commit);
  for (const [ref, commit] of Object.entries({ ...refs, [b.app.ref]: b.app.commit })) {
    const r = await gql(`mutation($i: AddBuildRefInput!) { addBuildRef(input: $i) { __typename ... on Error { message } } }`, { i: { build: n, ref, commit } });
    assert.equal(r.addBuildRef.__typename, 'BuildPayload', JSON.stringify(r));
  }
  const bad = await gql(`mutation($i: AddBuildRefInput!) { addBuildRef(input: $i) { __typename ... on Error { message errorType } } }`, { i: { build: n, ref: 'bogus/x', commit: b.app.commit } });
  assert.equal(bad.addBuildRef.__typename, 'InvalidInputError');

  const early = await gql(`mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename ... on WrongStateError { currentState expectedState errorType } } }`, { n });
  assert.deepEqual(early.publishBuild, { __typename: 'WrongStateError', currentState: 'uploading', expectedState: 'ready', errorType: 'wrong-repo-state' });

  const commit = await gql(`mutation($n: Int!) { commitBuild(input: { build: $n }) { __typename ... on BuildJobPayload { job { number kind } } } }`, { n });
  assert.equal(commit.commitBuild.job.kind, 'commit');
  await pollFor(async () => (await gql(`query($n: Int!) { build(number: $n) { state } }`, { n })).build.state === 'READY', 60_000, 100);
  const publish = await gql(`mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename ... on BuildJobPayload { job { number } } } }`, { n });
  assert.equal(publish.publishBuild.__typename, 'BuildJobPayload');
  await pollFor(() => existsSync(`${gate}.running`), 60_000);
  const busy = await gql(`mutation($n: Int!) { purgeBuild(input: { build: $n }) { __typename ... on Error { message } } }`, { n });
  assert.deepEqual(busy.purgeBuild, { __typename: 'BuildBusyError', message: "Can't prune build while in use" });
  assert.equal((await gql(`query($n: Int!) { build(number: $n) { state publishedState } }`, { n })).build.publishedState, 'PUBLISHING');
  await writeFile(gate, '');
  await pollFor(async () => (await gql(`query($n: Int!) { build(number: $n) { publishedState } }`, { n })).build.publishedState === 'PUBLISHED', 60_000, 100);
  const again = await gql(`mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename ... on WrongStateError { currentState errorType } } }`, { n });
  assert.deepEqual(again.publishBuild, { __typename: 'WrongStateError', currentState: 'published', errorType: 'wrong-published-state' });

  const got = (await gql(`query($n: Int!) { build(number: $n) { ${BUILD_FIELDS} } }`, { n })).build;
  assert.equal(got.publishedStateCode, 2);
  assert.equal(got.refs.length, 3);
  assert.ok(got.publishedRefs.some((r: any) => r.ref === b.app.ref && /^[0-9a-f]{64}$/.test(r.commit)));
  const list = await gql(`{ builds(first: 10, repo: "gql", publishedState: PUBLISHED) { totalCount edges { node { number } } } }`);
  assert.equal(list.builds.totalCount, 1);
  assert.equal(list.builds.edges[0].node.number, n);
  assert.equal((await gql(`{ builds(first: 10, repo: "gql", state: FAILED) { totalCount } }`)).builds.totalCount, 0);

  await pollFor(() => seen.includes('READY/PUBLISHED'), 10_000);
  assert.equal(seen[0], 'UPLOADING/UNPUBLISHED');
  assert.ok(seen.includes('COMMITTING/UNPUBLISHED'));
  stopSub();
  await ws.dispose();

  // A token for another repo sees nothing of it and cannot purge it (typed error, nothing changes).
  const other = await s.services.tokens.mint({ name: 'other', scope: ['build', 'publish'], prefixes: [''], repos: ['elsewhere'], duration: 600 });
  const hidden = await s.gql(`query($n: Int!) { build(number: $n) { number } }`, { n }, other.token);
  assert.equal(hidden.body.data.build, null);
  const denied = await s.gql(`mutation($n: Int!) { purgeBuild(input: { build: $n }) { __typename ... on Error { errorType } } }`, { n }, other.token);
  assert.deepEqual(denied.body.data.purgeBuild, { __typename: 'ForbiddenError', errorType: 'token-insufficient' });
});

test('check hooks: a failing reviewable check holds the build in VALIDATING until reviewed', { timeout: 300_000 }, async () => {
  await createRepo('checked', { hooks: { checks: [{ name: 'ok', command: ['true'], reviewable: false }, { name: 'lint', command: ['false'], reviewable: true }] } });
  const build = await client.createBuild('checked');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  const checks = await pollFor(async () => {
    const e = await request('GET', `${build.url}/extended`, { token: s.adminToken });
    return e.body.checks.length === 2 && e.body.checks.every((c: any) => c.status !== 0) ? e.body : null;
  }, 60_000, 100);
  assert.equal(checks.build.repo_state, 6);
  const lint = checks.checks.find((c: any) => c.check_name === 'lint');
  assert.equal(lint.status, 4);
  const early = await request('POST', `${build.url}/publish`, { token: s.adminToken, json: {} });
  assert.equal(early.body['current-state'], 'validating');
  const review = await request('POST', `${s.url}/api/v1/job/${lint.job_id}/check/review`, { token: s.adminToken, json: { 'new-status': { status: 'Passed' } } });
  assert.equal(review.status, 204, review.text);
  assert.equal((await request('GET', build.url, { token: s.adminToken })).body.repo_state, 2);
});

test('republish with end-of-life, and prune, through /api/v1', { timeout: 300_000 }, async () => {
  // Runs after the GraphQL test, which left org.test.Hello published in repo "gql".
  const r = await request('POST', `${s.url}/api/v1/repo/gql/republish`, { token: s.adminToken, json: { app: 'org.test.Hello', endoflife: 'use something else' } });
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers.location), new RegExp(`/api/v1/job/${r.body.id}$`));
  assert.equal(r.body.kind, 3);
  const done = await client.waitForJob(String(r.headers.location), 120_000);
  assert.equal(done.job.status, 2, done.log);
  const results = JSON.parse(done.job.results);
  const { readCommit } = await import('../src/domain/repos/commits.ts');
  const info = await readCommit(s.services.repos.repoPath('gql'), results.refs[b.app.ref]);
  assert.equal(info?.endOfLife, 'use something else');
  assert.equal((await client.waitForJob(`${s.url}/api/v1/job/${results['update-repo-job']}`, 120_000)).job.status, 2);

  const p = await request('POST', `${s.url}/api/v1/prune`, { token: s.adminToken, json: { repo: 'gql' } });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.kind, 5);
  const pruned = await client.waitForJob(String(p.headers.location), 120_000);
  assert.equal(pruned.job.status, 2, pruned.log);
  await ostree.fsck(s.services.repos.repoPath('gql'), { quiet: true });
});

const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));
function startWorker(): ChildProcess {
  return spawn(process.execPath, [fmd, 'worker'], {
    env: { PATH: process.env.PATH, DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir, FMD_JOB_WORKERS: '2', FMD_JOB_LOCK_LIFETIME_MS: '2000', FMD_JOB_POLL_MS: '200', FMD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

test('crash: the worker killed during a publish; the build ends cleanly failed and re-publishable, the repo verifies and its summary is signed', { timeout: 300_000 }, async (t) => {
  // The publish hook keeps the publish job busy long enough to kill its worker.
  await createRepo('crash', { hooks: { checks: [], publish: ['sleep', '30'] } });
  const build = await client.createBuild('crash');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);

  await s.services.jobEngine.stop(1000);
  const victim = startWorker();
  let rescuer: ChildProcess | undefined;
  try {
    const publish = await client.startJob(build.url, 'publish');
    await pollFor(async () => (await request('GET', publish.url, { token: s.adminToken, json: {} })).body.status === 1, 60_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    await s.services.repos.update('crash', { hooks: { checks: [] } } as never);
    rescuer = startWorker();
    const done = await client.waitForJob(publish.url, 60_000);
    assert.equal(done.job.status, 3);
    assert.match(done.log, /interrupted/);
    const failed = await request('GET', build.url, { token: s.adminToken });
    assert.equal(failed.body.published_state, 3);
    t.diagnostic(`after the crash: published_state ${failed.body.published_state} (${failed.body.published_state_reason})`);

    // Re-publish: it works, the repo verifies and the summary is signed.
    const again = await client.startJob(build.url, 'publish');
    assert.equal(again.response.status, 200, again.response.text);
    const ok = await client.waitForJob(again.url, 120_000);
    assert.equal(ok.job.status, 2, ok.log);
    const update = await client.waitForJob(`${s.url}/api/v1/job/${JSON.parse(ok.job.results)['update-repo-job']}`, 120_000);
    assert.equal(update.job.status, 2, update.log);
    const dir = s.services.repos.repoPath('crash');
    await ostree.fsck(dir, { quiet: true });
    assert.ok((await ostree.summaryView(dir)).includes(b.app.ref));
    assert.ok(existsSync(path.join(dir, 'summary.idx.sig')));
    assert.equal((await request('GET', build.url, { token: s.adminToken })).body.published_state, 2);
  } finally {
    if (victim.exitCode === null) victim.kill('SIGKILL');
    if (rescuer) {
      rescuer.kill('SIGTERM');
      await new Promise((r) => rescuer!.once('exit', r));
    }
  }
});
