// Superseding as Flathub's pipeline does, through flat-manager's REST API with real ostree
// commits: publishing a build of an app marks the older READY builds of that app in that repo
// that were never published (or whose publish failed) SUPERSEDED ("superseded by build N") and
// removes their repos; other apps, app-less builds, newer builds, builds not committed yet and
// published builds are left alone, and a publish that fails supersedes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';
import { allBuildsTopic } from '../src/domain/builds/service.ts';

const APP = 'org.test.Hello';

let s: TestServer;
let b: Builds;
let client: FlatManagerClient;

before(async () => {
  s = await startTestServer({ 'delay-update-secs': 0, 'job-poll-ms': 200 });
  b = await testBuilds();
  client = new FlatManagerClient(s.url, s.adminToken);
});
after(async () => {
  await s?.stop();
});

type Made = { id: number; url: string };

/** A build of `appId` (none: an app-less build) with the test app's ref pushed; committed READY unless `commit` is false. */
async function readyBuild(repo: string, appId: string | null, o: { commit?: boolean } = {}): Promise<Made> {
  // Public downloads, so that /build-repo answers without a token.
  const build = await client.createBuild(repo, appId ?? undefined, { 'public-download': true });
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  if (o.commit !== false) assert.equal((await runJob(build.url, 'commit')).job.status, 2);
  return { id: build.id, url: build.url };
}

async function runJob(buildUrl: string, what: 'commit' | 'publish') {
  const started = await client.startJob(buildUrl, what);
  assert.equal(started.response.status, 200, started.response.text);
  return client.waitForJob(started.url, 120_000);
}

/** The build as flat-manager clients poll it. */
async function rest(x: Made): Promise<any> {
  const r = await request('GET', x.url, { token: s.adminToken });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function status(x: Made): Promise<string> {
  const r = await rest(x);
  return `${r.state}/${r.published_state}`;
}

const onDisk = (x: Made) => existsSync(s.services.builds.buildPath(x.id));
const buildRepoStatus = async (x: Made) => (await fetch(`${s.url}/build-repo/${x.id}/config`)).status;

test('publishing the newest build of an app supersedes and purges its older ready builds, and nothing else', { timeout: 600_000 }, async () => {
  await createSignedRepo(s, 'sup');
  await createSignedRepo(s, 'other');
  const a1 = await readyBuild('sup', APP);
  const a2 = await readyBuild('sup', APP);
  const uploading = await readyBuild('sup', APP, { commit: false });
  const otherApp = await readyBuild('sup', 'org.test.Other');
  const appless = await readyBuild('sup', null);
  const elsewhere = await readyBuild('other', APP);
  const a3 = await readyBuild('sup', APP);
  const newer = await readyBuild('sup', APP);
  for (const x of [a1, a2, a3, otherApp, appless, elsewhere, newer]) assert.equal(await status(x), 'ready/0');
  assert.equal(await buildRepoStatus(a1), 200);

  // Every build change is announced.
  const events: number[] = [];
  const sub = s.services.events.subscribe<{ id: number }>(allBuildsTopic);
  void (async () => {
    for await (const e of sub) events.push(e.id);
  })();

  const done = await runJob(a3.url, 'publish');
  assert.equal(done.job.status, 2, done.log);
  assert.deepEqual(JSON.parse(done.job.results).superseded, [a1.id, a2.id]);
  assert.match(done.log, new RegExp(`Superseded builds ${a1.id}, ${a2.id}`));
  assert.equal(await status(a3), 'ready/2');

  for (const x of [a1, a2]) {
    const r = await rest(x);
    // flat-manager clients see a build that ended without being published (repo_state failed) and why.
    assert.equal(r.repo_state, 3);
    assert.equal(r.state, 'superseded');
    assert.equal(r.repo_state_reason, `superseded by build ${a3.id}`);
    assert.equal(r.published_state, 0);
    assert.equal(onDisk(x), false, `build ${x.id} dir`);
    assert.equal(await buildRepoStatus(x), 404);
    const gql = await s.gql('query($n: Int!) { build(number: $n) { state stateReason } }', { n: x.id });
    assert.deepEqual(gql.body.data.build, { state: 'SUPERSEDED', stateReason: `superseded by build ${a3.id}` });
  }
  await pollFor(() => events.includes(a1.id) && events.includes(a2.id), 5_000);
  await sub.return?.();

  // Publishing a superseded build is refused with the reason.
  const again = await client.startJob(a1.url, 'publish');
  assert.equal(again.response.status, 400, again.response.text);
  assert.equal(again.response.body['current-state'], 'superseded');
  assert.equal(again.response.body.message, `Build was superseded by build ${a3.id}`);

  // Left alone: another app, an app-less build, the same app in another repo, a newer build, one still uploading.
  for (const x of [otherApp, appless, elsewhere, newer]) {
    assert.equal(await status(x), 'ready/0', `build ${x.id}`);
    assert.equal(onDisk(x), true, `build ${x.id} dir`);
  }
  assert.equal(await buildRepoStatus(newer), 200);
  assert.equal(await status(uploading), 'uploading/0');

  // The newer one published next supersedes nothing more; the published one stays published.
  const next = await runJob(newer.url, 'publish');
  assert.equal(next.job.status, 2, next.log);
  assert.equal(JSON.parse(next.job.results).superseded, undefined);
  assert.equal(await status(a3), 'ready/2');
  assert.equal(await status(uploading), 'uploading/0');
  // An app-less build published supersedes nothing either.
  const appless2 = await readyBuild('sup', null);
  assert.equal((await runJob(appless2.url, 'publish')).job.status, 2);
  assert.equal(await status(appless), 'ready/0');
});

test('a failed publish supersedes nothing; a build whose publish failed is superseded by a newer one published', { timeout: 600_000 }, async () => {
  await createSignedRepo(s, 'supfail', { hooks: { publish: ['false'] } });
  const f1 = await readyBuild('supfail', APP);
  const f2 = await readyBuild('supfail', APP);
  const f3 = await readyBuild('supfail', APP);

  assert.equal((await runJob(f1.url, 'publish')).job.status, 3);
  assert.equal((await runJob(f3.url, 'publish')).job.status, 3);
  assert.equal(await status(f1), 'ready/3');
  assert.equal(await status(f2), 'ready/0');
  assert.equal(await status(f3), 'ready/3');
  for (const x of [f1, f2, f3]) assert.equal(onDisk(x), true);

  // An older build published after a newer one leaves the newer one alone.
  const fixed = await s.gql("mutation($h: JSON) { updateRepo(input: { name: \"supfail\", hooks: $h }) { __typename ... on Error { message } } }", { h: { checks: [] } });
  assert.equal(fixed.body.data?.updateRepo?.__typename, 'RepoPayload', JSON.stringify(fixed.body));
  const older = await runJob(f2.url, 'publish');
  assert.equal(older.job.status, 2, older.log);
  assert.deepEqual(JSON.parse(older.job.results).superseded, [f1.id]);
  assert.equal(await status(f3), 'ready/3');
  assert.equal(onDisk(f3), true);
  assert.equal((await rest(f1)).repo_state_reason, `superseded by build ${f2.id}`);

  // Published again, f3 supersedes nothing: f2 is published.
  const retry = await runJob(f3.url, 'publish');
  assert.equal(retry.job.status, 2, retry.log);
  assert.equal(JSON.parse(retry.job.results).superseded, undefined);
  assert.equal(await status(f2), 'ready/2');
});
