// .flatpak bundles: requestBundle queues one bundle job however many ask; the bundle of a
// published ref downloads from /bundles/<n>/<app-id>.flatpak and a stock flatpak client installs
// it with `flatpak --user install --bundle` (the repo key embedded, the runtime from the repo the
// bundle names) and runs it; a committed build's bundle too; Range, HEAD and conditional requests;
// private refs need a download token that covers them; bad inputs are typed errors that queue nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jobEnded, startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo, publishTestApp, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, clientEnv, tempDir } from './kit/flatpak-fixtures.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';

let s: TestServer;
let b: Builds;
let work: string;
let client: FlatManagerClient;

const BUNDLE = 'number buildNumber repo ref commit state error size fileName url job { number status kind }';

async function gql(query: string, variables?: Record<string, unknown>, token?: string) {
  const r = await s.gql(query, variables, token);
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data;
}

async function requestBundle(input: Record<string, unknown>, token?: string) {
  const r = await gql(
    `mutation($i: RequestBundleInput!) { requestBundle(input: $i) { __typename ... on RequestBundlePayload { bundle { ${BUNDLE} } job { number } } ... on Error { message errorType } } }`,
    { i: input },
    token,
  );
  return r.requestBundle;
}

/** Requests a bundle and waits until it is made; answers it. */
async function madeBundle(input: Record<string, unknown>, token?: string) {
  const r = await requestBundle(input, token);
  assert.equal(r.__typename, 'RequestBundlePayload', JSON.stringify(r));
  if (r.bundle.state !== 'READY') await jobEnded(s, r.bundle.job.number);
  const now = await gql(`query($n: Int!) { bundle(number: $n) { ${BUNDLE} } }`, { n: r.bundle.number }, token);
  assert.equal(now.bundle.state, 'READY', JSON.stringify(now));
  return now.bundle;
}

async function token(claims: Record<string, unknown>): Promise<string> {
  const r = await gql(`mutation($i: CreateTokenInput!) { createToken(input: $i) { __typename ... on CreateTokenPayload { token } ... on Error { message } } }`, {
    i: { name: `t${Math.random()}`, durationSeconds: 600, ...claims },
  });
  assert.ok(r.createToken.token, JSON.stringify(r));
  return r.createToken.token;
}

/** Installs a bundle file in a fresh flatpak user installation and runs the app. */
async function installBundleAndRun(dir: string, file: string): Promise<{ out: string; remotes: string }> {
  const env = await clientEnv(dir);
  await runTool('flatpak', ['--user', 'install', '-y', '--noninteractive', '--bundle', file], { env, timeoutMs: 180_000 });
  const { stdout: remotes } = await runTool('flatpak', ['--user', 'remotes', '--columns=name,url,options'], { env });
  const { stdout } = await runTool('flatpak', ['--user', 'run', APP_ID], { env, timeoutMs: 60_000 });
  return { out: stdout, remotes };
}

before(async () => {
  s = await startTestServer({ 'delay-update-secs': 0, 'job-poll-ms': 200 });
  b = await testBuilds();
  work = await tempDir('fmd-bundles-');
  client = new FlatManagerClient(s.url, s.adminToken);
  // Clients learn where the repo and its runtime are from the repo's settings (or base-url).
  for (const name of ['main', 'private']) {
    await createSignedRepo(s, name, { baseUrl: `${s.url}/repo/${name}/`, runtimeRepoUrl: `${s.url}/repo/main.flatpakrepo`, ...(name === 'private' ? { authRequiredTokenTypes: [1] } : {}) });
  }
  await publishTestApp(s.services.repos.repoPath('main'));
  await s.services.repos.updateSummary('main');
  await publishTestApp(s.services.repos.repoPath('private'), { appTokenType: 1 });
  await s.services.repos.updateSummary('private');
});
after(async () => {
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('the bundle of a published ref: one job for concurrent requests, cached, downloaded, installed with flatpak --user install --bundle and run', { timeout: 600_000 }, async () => {
  const asked = await Promise.all([1, 2, 3].map(() => requestBundle({ repo: 'main', ref: b.app.ref })));
  for (const r of asked) assert.equal(r.__typename, 'RequestBundlePayload', JSON.stringify(r));
  assert.equal(new Set(asked.map((r) => r.bundle.number)).size, 1);
  assert.equal(new Set(asked.map((r) => r.bundle.job.number)).size, 1, 'one bundle job');
  const bundle = await madeBundle({ repo: 'main', ref: b.app.ref });
  assert.equal(bundle.commit, await ostree.revParse(s.services.repos.repoPath('main'), b.app.ref));
  assert.equal(bundle.fileName, `${APP_ID}.flatpak`);
  assert.equal(bundle.url, `/bundles/${bundle.number}/${APP_ID}.flatpak`);
  assert.equal(await s.services.prisma.job.count({ where: { kind: 'bundle' } }), 1);

  // Made once: asking again answers the ready bundle and queues nothing.
  const again = await requestBundle({ repo: 'main', ref: b.app.ref });
  assert.equal(again.bundle.state, 'READY');
  assert.equal(again.job, null);
  assert.equal(await s.services.prisma.job.count({ where: { kind: 'bundle' } }), 1);
  const listed = await gql(`query { repo(name: "main") { refs(prefix: "app/") { edges { node { name bundle { number state url } } } } } }`);
  assert.deepEqual(listed.repo.refs.edges[0].node.bundle, { number: bundle.number, state: 'READY', url: bundle.url });

  const res = await fetch(`${s.url}${bundle.url}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="${APP_ID}.flatpak"`);
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(bytes.length, bundle.size);
  const file = path.join(work, `${APP_ID}.flatpak`);
  await writeFile(file, bytes);

  // A stock client installs it: the repo's key embedded, the runtime from the repo it names.
  const { out, remotes } = await installBundleAndRun(path.join(work, 'client-published'), file);
  assert.match(out, new RegExp(b.app.message));
  assert.ok(remotes.includes(`${s.url}/repo/main/`), remotes);
});

test("a committed build's bundle installs and runs; Range, HEAD, If-None-Match, If-Range; wrong names and ranges", { timeout: 600_000 }, async () => {
  const build = await client.createBuild('main');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  const bundle = await madeBundle({ build: build.id });
  assert.equal(bundle.buildNumber, build.id);
  assert.equal(bundle.ref, b.app.ref);
  const onBuild = await gql(`query($n: Int!) { build(number: $n) { bundles { number state } } }`, { n: build.id });
  assert.deepEqual(onBuild.build.bundles, [{ number: bundle.number, state: 'READY' }]);
  const url = `${s.url}${bundle.url}`;
  const full = Buffer.from(await (await fetch(url)).arrayBuffer());
  const file = path.join(work, 'build.flatpak');
  await writeFile(file, full);
  const { out } = await installBundleAndRun(path.join(work, 'client-build'), file);
  assert.match(out, new RegExp(b.app.message));

  // One range: 206 with exactly those bytes; a suffix range; HEAD has the headers and no body.
  const part = await fetch(url, { headers: { range: 'bytes=10-109' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 10-109/${full.length}`);
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(full.subarray(10, 110)));
  const tail = await fetch(url, { headers: { range: 'bytes=-50' } });
  assert.equal(tail.status, 206);
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(full.subarray(full.length - 50)));
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(full.length));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const etag = head.headers.get('etag')!;
  // (node's http: fetch adds Cache-Control: no-cache to conditional requests, which asks for the whole file)
  assert.equal((await request('GET', url, { headers: { 'if-none-match': etag } })).status, 304);
  assert.equal((await request('GET', url, { headers: { 'if-modified-since': head.headers.get('last-modified')! } })).status, 304);
  // If-Range with another validator: the whole file.
  const stale = await fetch(url, { headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
  assert.equal(stale.status, 200);
  assert.equal((await stale.arrayBuffer()).byteLength, full.length);
  const fresh = await fetch(url, { headers: { range: 'bytes=0-9', 'if-range': etag } });
  assert.equal(fresh.status, 206);
  await fresh.arrayBuffer();

  // Several ranges, unsatisfiable and malformed ones: 416 with the size; another unit is ignored.
  for (const range of ['bytes=0-1,5-6', `bytes=${full.length}-`, 'bytes=abc', 'bytes=5-2']) {
    const r = await fetch(url, { headers: { range } });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers.get('content-range'), `bytes */${full.length}`, range);
    await r.arrayBuffer();
  }
  const items = await fetch(url, { headers: { range: 'items=0-5' } });
  assert.equal(items.status, 200);
  await items.arrayBuffer();

  // Unknown bundles, wrong names, other methods.
  for (const p of [`/bundles/${bundle.number}/org.other.App.flatpak`, '/bundles/999999/x.flatpak', '/bundles/0/x.flatpak', '/bundles/abc', `/bundles/${bundle.number}`]) {
    const r = await fetch(`${s.url}${p}`);
    assert.equal(r.status, 404, p);
    await r.arrayBuffer();
  }
  const post = await fetch(url, { method: 'POST' });
  assert.equal(post.status, 405);
  await post.arrayBuffer();

  // A deleted file is made again on request.
  await rm(s.services.bundles.filePath(bundle.number));
  assert.equal((await fetch(url)).status, 404);
  const remade = await madeBundle({ build: build.id });
  assert.equal(remade.number, bundle.number);
  assert.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).length > 0);
});

test('a private ref: its bundle needs a download token covering the repo and the app, as its objects do', { timeout: 600_000 }, async () => {
  const bundle = await madeBundle({ repo: 'private', ref: b.app.ref });
  const url = `${s.url}${bundle.url}`;
  const res = (t?: string) => fetch(url, { headers: t ? { authorization: `Bearer ${t}` } : {} }).then(async (r) => (await r.arrayBuffer(), r));
  assert.equal((await res()).status, 404);
  const ok = await token({ scopes: ['download'], repos: ['private'], prefixes: ['org.test'] });
  const okRes = await res(ok);
  assert.equal(okRes.status, 200);
  assert.equal(okRes.headers.get('cache-control'), 'private, no-store');
  assert.equal((await res(await token({ scopes: ['download'], repos: ['private'], prefixes: ['org.other'] }))).status, 404);
  assert.equal((await res(await token({ scopes: ['download'], repos: ['main'], prefixes: [''] }))).status, 404);
  assert.equal((await res(await token({ scopes: ['build'], repos: [''], prefixes: [''] }))).status, 404);

  // GraphQL: the same rule for the bundle and for asking.
  const other = await token({ scopes: ['download'], repos: ['private'], prefixes: ['org.other'] });
  assert.equal((await gql(`query($n: Int!) { bundle(number: $n) { number } }`, { n: bundle.number }, other)).bundle, null);
  const refused = await requestBundle({ repo: 'private', ref: b.app.ref }, other);
  assert.equal(refused.__typename, 'ForbiddenError', JSON.stringify(refused));
  assert.equal((await gql(`query($n: Int!) { bundle(number: $n) { number } }`, { n: bundle.number }, ok)).bundle.number, bundle.number);
  // A public ref's bundle is anyone's, as its objects are.
  const pub = await madeBundle({ repo: 'main', ref: b.app.ref }, other);
  assert.equal((await fetch(`${s.url}${pub.url}`).then(async (r) => (await r.arrayBuffer(), r))).status, 200);
});

test('bad requests are typed errors that queue nothing', { timeout: 120_000 }, async () => {
  const uploading = await client.createBuild('main');
  const before = await s.services.prisma.job.count({ where: { kind: 'bundle' } });
  const bundles = await s.services.prisma.bundle.count();
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ build: 999999 }, 'NotFoundError', /build 999999 not found/],
    [{ build: uploading.id }, 'WrongStateError', /only a committed \(ready\) build can be bundled/],
    [{ repo: 'nope', ref: b.app.ref }, 'NotFoundError', /repo nope not found/],
    [{ repo: 'main', ref: 'app/org.test.Missing/x86_64/master' }, 'NotFoundError', /not found/],
    [{ repo: 'main', ref: '../../etc/passwd' }, 'InvalidInputError', /not an app or runtime ref/],
    [{ repo: 'main', ref: 'screenshots/x86_64' }, 'InvalidInputError', /not an app or runtime ref/],
    [{ repo: 'main' }, 'InvalidInputError', /needs ref/],
    [{}, 'InvalidInputError', /either build or repo/],
    [{ build: 1, repo: 'main', ref: b.app.ref }, 'InvalidInputError', /either build or repo/],
  ];
  for (const [input, type, message] of cases) {
    const r = await requestBundle(input);
    assert.equal(r.__typename, type, `${JSON.stringify(input)}: ${JSON.stringify(r)}`);
    assert.match(r.message, message);
  }
  assert.equal(await s.services.prisma.job.count({ where: { kind: 'bundle' } }), before);
  assert.equal(await s.services.prisma.bundle.count(), bundles);
  // A ref the build does not hold.
  const committed = (await s.services.prisma.bundle.findFirst({ where: { buildId: { not: null } } }))!;
  const wrongRef = await requestBundle({ build: committed.buildId, ref: 'app/org.test.Other/x86_64/master' });
  assert.equal(wrongRef.__typename, 'NotFoundError', JSON.stringify(wrongRef));
  const unauthenticated = await s.gql(`mutation { requestBundle(input: { repo: "main", ref: "${b.app.ref}" }) { __typename } }`, {}, '');
  assert.equal(unauthenticated.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
});

test("the retention sweep deletes the bundles of purged builds (a dry run lists them)", { timeout: 300_000 }, async () => {
  const build = await client.createBuild('main');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  const bundle = await madeBundle({ build: build.id });
  const published = await madeBundle({ repo: 'main', ref: b.app.ref });
  const purged = await gql(`mutation($n: Int!) { purgeBuild(input: { build: $n }) { __typename } }`, { n: build.id });
  assert.equal(purged.purgeBuild.__typename, 'BuildPayload');
  const sweep = async (dryRun: boolean) => {
    const r = await gql(`mutation($d: Boolean) { runRetention(input: { dryRun: $d }) { __typename ... on RetentionJobPayload { job { number } } } }`, { d: dryRun });
    await jobEnded(s, r.runRetention.job.number);
    return (await s.services.jobs.get(r.runRetention.job.number))!.results as { bundles: number[] };
  };
  const dry = await sweep(true);
  assert.ok(dry.bundles.includes(bundle.number), JSON.stringify(dry));
  assert.ok(!dry.bundles.includes(published.number), 'a published ref made now stays');
  assert.ok(await s.services.prisma.bundle.findUnique({ where: { id: bundle.number } }));
  const real = await sweep(false);
  assert.ok(real.bundles.includes(bundle.number));
  assert.equal(await s.services.prisma.bundle.findUnique({ where: { id: bundle.number } }), null);
  assert.equal((await fetch(`${s.url}${bundle.url}`).then(async (r) => (await r.arrayBuffer(), r))).status, 404);
  assert.equal((await fetch(`${s.url}${published.url}`).then(async (r) => (await r.arrayBuffer(), r))).status, 200);
});
