// What a publish leaves behind and who hears of it: a build's screenshots/ARCH ref ends up as
// files under the repo's media/, served over HTTP with the repo (as is the app's .flatpakref),
// and buildsUpdated(repo) follows the builds of one repo over graphql-ws and nothing of another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { defaultArch, tempDir } from './kit/flatpak-fixtures.ts';
import { FlatManagerClient } from './kit/flat-manager-client.ts';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';

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

/** Runs a build's commit or publish job to its end and answers its results; it must succeed. */
async function runJob(buildUrl: string, what: 'commit' | 'publish'): Promise<any> {
  const started = await client.startJob(buildUrl, what);
  assert.equal(started.response.status, 200, started.response.text);
  const done = await client.waitForJob(started.url, 120_000);
  assert.equal(done.job.status, 2, done.log);
  return { results: JSON.parse(done.job.results), log: done.log };
}

test('a screenshots/ARCH ref is extracted into the repo media/ dir on publish and served under /repo/<name>/media/', { timeout: 300_000 }, async () => {
  await createSignedRepo(s, 'shots');
  // What flatpak-builder --mirror-screenshots-url commits: a plain tree of files, one ref per arch.
  const work = await tempDir('fmd-screenshots-');
  const shotsRepo = path.join(work, 'repo');
  await ostree.init(shotsRepo, { mode: 'archive-z2' });
  const files = { 'org.test.Hello/en/screenshot.png': randomBytes(20_000), 'org.test.Hello/de/screenshot.png': randomBytes(3_000) };
  for (const [rel, bytes] of Object.entries(files)) {
    await mkdir(path.join(work, 'tree', path.dirname(rel)), { recursive: true });
    await writeFile(path.join(work, 'tree', rel), bytes);
  }
  const shotsRef = `screenshots/${await defaultArch()}`;
  const shotsCommit = (await runTool('ostree', ['commit', `--repo=${shotsRepo}`, `--branch=${shotsRef}`, `--tree=dir=${path.join(work, 'tree')}`])).stdout.trim();

  const build = await client.createBuild('shots');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  await client.push(build.url, shotsRepo, { [shotsRef]: shotsCommit });
  await runJob(build.url, 'commit');
  const published = await runJob(build.url, 'publish');
  assert.match(published.log, new RegExp(`extracting ${shotsRef}`));
  const update = await client.waitForJob(`${s.url}/api/v1/job/${published.results['update-repo-job']}`, 120_000);
  assert.equal(update.job.status, 2, update.log);

  const media = path.join(s.services.repos.repoPath('shots'), 'media');
  for (const [rel, bytes] of Object.entries(files)) {
    assert.deepEqual(await readFile(path.join(media, rel)), bytes, rel);
    const res = await fetch(`${s.url}/repo/shots/media/${rel}`);
    assert.equal(res.status, 200, `GET media/${rel}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes, `GET media/${rel}`);
  }
  // The screenshots ref is in the repo like the app's, and a missing screenshot is a plain 404.
  assert.ok(await ostree.revParse(s.services.repos.repoPath('shots'), shotsRef));
  assert.equal((await fetch(`${s.url}/repo/shots/media/org.test.Hello/fr/screenshot.png`)).status, 404);
  // The app's .flatpakref, which publish writes beside media/, is served the same way.
  const ref = await fetch(`${s.url}/repo/shots/appstream/org.test.Hello.flatpakref`);
  assert.equal(ref.status, 200);
  assert.equal(ref.headers.get('content-type'), 'application/vnd.flatpak.ref');
  assert.match(await ref.text(), /^Name=org\.test\.Hello$/m);
});

test('buildsUpdated(repo) over graphql-ws follows the builds of that repo as they are created, committed and published, and none of another repo', { timeout: 300_000 }, async () => {
  await createSignedRepo(s, 'suba');
  await createSignedRepo(s, 'subb');
  const ws = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, retryAttempts: 0 });
  type Seen = { number: number; state: string; publishedState: string; repo: { name: string } };
  const errors: unknown[] = [];
  const follow = (repo: string) => {
    const seen: Seen[] = [];
    const stop = ws.subscribe({ query: 'subscription($r: String!) { buildsUpdated(repo: $r) { number state publishedState repo { name } } }', variables: { r: repo } }, {
      next: (m: any) => (m.errors ? errors.push(m.errors) : seen.push(m.data.buildsUpdated)),
      error: (e) => errors.push(e),
      complete: () => undefined,
    });
    return { seen, stop, states: (n: number) => seen.filter((e) => e.number === n).map((e) => `${e.state}/${e.publishedState}`) };
  };
  const a = follow('suba');
  const other = follow('subb');
  // A subscription is live once the server has it; until then, probe builds go unseen.
  for (const [sub, repo] of [[a, 'suba'], [other, 'subb']] as const) {
    await pollFor(async () => sub.seen.length > 0 || void (await client.createBuild(repo)), 10_000, 100);
  }

  const x = await client.createBuild('suba');
  const y = await client.createBuild('subb');
  await client.push(x.url, b.appRepo, { [b.app.ref]: b.app.commit });
  await client.push(y.url, b.appRepo, { [b.app.ref]: b.app.commit });
  await runJob(y.url, 'commit');
  await runJob(x.url, 'commit');
  await runJob(x.url, 'publish');
  await pollFor(() => a.states(x.id).includes('READY/PUBLISHED') && other.states(y.id).includes('READY/UNPUBLISHED'), 10_000);

  const xs = a.states(x.id);
  assert.equal(xs[0], 'UPLOADING/UNPUBLISHED', xs.join(' '));
  for (const state of ['COMMITTING/UNPUBLISHED', 'READY/UNPUBLISHED', 'READY/PUBLISHING']) assert.ok(xs.includes(state), `${state} not in ${xs.join(' ')}`);
  assert.equal(xs.at(-1), 'READY/PUBLISHED');
  assert.deepEqual(other.states(y.id).slice(0, 1), ['UPLOADING/UNPUBLISHED']);
  assert.deepEqual(errors, []);
  // Each subscription heard only its own repo's builds.
  assert.deepEqual([...new Set(a.seen.map((e) => e.repo.name))], ['suba']);
  assert.deepEqual([...new Set(other.seen.map((e) => e.repo.name))], ['subb']);
  assert.equal(a.states(y.id).length, 0);
  assert.equal(other.states(x.id).length, 0);
  a.stop();
  other.stop();
  await ws.dispose();
});
