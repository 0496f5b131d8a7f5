// pushRepo against a real fmd: the offline-built org.test.Hello (a flatpak-builder archive repo)
// pushed into a build, committed; a second push sends nothing; a push whose uploads are cut by
// a proxy resumes without resending what the server stored; bad inputs fail clearly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { FlatManagerError, FlatManagerRestClient, PushError, pushRepo, type PushProgress } from './index.ts';

type AppFixture = { repo: string; ref: string; commit: string };
type Fixtures = { testBuilds(): Promise<{ appRepo: string; app: AppFixture }> };
// Loaded by URL, as sdk/test/server.ts loads the server kit: the fixtures build the app with flatpak-builder.
const fixtures = (await import(new URL('../../../server/test/kit/repo-fixtures.ts', import.meta.url).href)) as Fixtures;

let s: TestServer;
let app: AppFixture;
let appRepo: string;
let rest: FlatManagerRestClient;
let work: string;

async function gql(query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminToken}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as any;
  assert.ok(!body.errors, JSON.stringify(body.errors));
  return body.data;
}

const newBuild = async () => (await rest.createBuild(`${s.url}/api/v1`, { repo: 'pushtest' })).url;

before(async () => {
  s = await startTestServer();
  work = await mkdtemp(path.join(tmpdir(), 'fmd-push-test-'));
  const key = await gql(`mutation { generateKey(input: { name: "push key", email: "push@example.org" }) { ... on KeyPayload { key { id } } } }`);
  const created = await gql(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, {
    input: { name: 'pushtest', collectionId: 'org.fmd.PushTest', keyId: key.generateKey.key.id },
  });
  assert.equal(created.createRepo.__typename, 'RepoPayload', JSON.stringify(created));
  const b = await fixtures.testBuilds();
  app = b.app;
  appRepo = b.appRepo;
  rest = new FlatManagerRestClient({ token: s.adminToken });
});
after(async () => {
  rest?.close();
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('pushes the app into a build, which commits; a second push sends nothing', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  const events: PushProgress[] = [];
  const lines: string[] = [];
  const pushed = await pushRepo({ buildUrl, token: s.adminToken, repo: appRepo, buildLogUrl: 'https://ci.example.org/log/1', onProgress: (p) => events.push(p), onLog: (l) => lines.push(l) });
  // flat-manager-client's default: the app/, runtime/ and screenshots/ refs (not appstream/).
  assert.deepEqual(Object.keys(pushed.refs), [app.ref]);
  assert.equal(pushed.refs[app.ref], app.commit);
  assert.ok(pushed.objects.uploaded > 0 && pushed.objects.uploaded === pushed.objects.missing, JSON.stringify(pushed));
  assert.equal(pushed.objects.missing, pushed.objects.metadata + pushed.objects.files, 'a new build lacks every object');
  const last = events.at(-1)!;
  assert.equal(last.phase, 'done');
  assert.equal(last.objectsDone, last.objectsTotal);
  assert.equal(last.bytesDone, last.bytesTotal);
  assert.ok(events.some((e) => e.phase === 'uploading' && e.objectsDone > 0 && e.objectsDone < e.objectsTotal), 'progress while uploading');
  assert.ok(lines.some((l) => l.includes(`Creating ref ${app.ref}`)), lines.join('\n'));

  const ext = await rest.request('GET', `${buildUrl}/extended`);
  assert.equal(ext.status, 200, ext.text);
  assert.deepEqual(
    ext.body.build_refs.map((r: any) => [r.ref_name, r.commit, r.build_log_url]),
    [[app.ref, app.commit, 'https://ci.example.org/log/1']],
  );
  // The server has everything: its commit job (which reads every object) succeeds.
  const commit = await rest.commitBuild(buildUrl);
  const followed = await rest.followJob(commit.url, { minPollMs: 50 });
  assert.equal(followed.job.status, 2, followed.log);
  assert.match(followed.log, /org\.test\.Hello/);

  // Pushed again into a build of its own (so nothing is present there yet) then into the same
  // build: the second time every object is present, and no upload request is made.
  const again = await pushRepo({ buildUrl: await newBuild(), token: s.adminToken, repo: appRepo, refs: [app.ref] });
  assert.equal(again.objects.uploaded, pushed.objects.uploaded);
  const twice = await pushRepo({ buildUrl: again.buildUrl, token: s.adminToken, repo: appRepo, refs: [app.ref] });
  assert.deepEqual({ missing: twice.objects.missing, uploaded: twice.objects.uploaded, bytes: twice.bytesUploaded, uploads: twice.requests.upload }, { missing: 0, uploaded: 0, bytes: 0, uploads: 0 });
});

/** A proxy in front of fmd that cuts chosen upload requests mid-body and records the part names of each upload. */
async function cuttingProxy(cut: (n: number) => boolean) {
  const target = new URL(s.url);
  const uploads: Array<{ names: string[]; cut: boolean; status: number }> = [];
  const server = http.createServer((req, res) => {
    const isUpload = req.method === 'POST' && /\/upload$/.test(req.url ?? '');
    const n = isUpload ? uploads.length : -1;
    const record = isUpload ? { names: [] as string[], cut: cut(n), status: 0 } : undefined;
    if (record) uploads.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (record) record.names = [...body.toString('latin1').matchAll(/filename="([^"]+)"/g)].map((m) => m[1]!);
      // A cut request: the first half of its body reaches fmd, then the connection to the client dies.
      const forward = record?.cut ? body.subarray(0, Math.floor(body.length / 2)) : body;
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, 'content-length': String(body.length) } }, (r) => {
        if (record) record.status = r.statusCode ?? 0;
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      if (record?.cut) {
        up.write(forward);
        setTimeout(() => {
          up.destroy();
          res.destroy();
        }, 50);
      } else up.end(forward);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, uploads, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('uploads cut mid-way are retried, and nothing the server stored is sent again', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  // Every third upload request dies halfway.
  const proxy = await cuttingProxy((n) => n % 3 === 1);
  try {
    const viaProxy = buildUrl.replace(s.url, proxy.url);
    const pushed = await pushRepo({ buildUrl: viaProxy, token: s.adminToken, repo: appRepo, refs: [app.ref], batchBytes: 16 * 1024, concurrency: 3, retryDelayMs: 20 });
    assert.ok(pushed.retries > 0 && proxy.uploads.some((u) => u.cut), JSON.stringify(pushed.requests));
    const done = proxy.uploads.filter((u) => !u.cut);
    assert.ok(done.every((u) => u.status === 200));
    const sentOk = done.flatMap((u) => u.names);
    // Each object reached the server in exactly one successful request...
    assert.equal(new Set(sentOk).size, sentOk.length, 'an object was sent twice in requests that succeeded');
    // ...and an object of a successful request was never sent again in any later request.
    const okIndex = new Map<string, number>();
    proxy.uploads.forEach((u, i) => {
      if (!u.cut) for (const name of u.names) okIndex.set(name, i);
    });
    proxy.uploads.forEach((u, i) => {
      for (const name of u.names) assert.ok(!(okIndex.has(name) && okIndex.get(name)! < i), `${name} resent after it was stored`);
    });
    // Every object went out at least once; those a cut request got stored were not sent again.
    assert.equal(new Set(proxy.uploads.flatMap((u) => u.names)).size, pushed.objects.missing);
    assert.ok(sentOk.length <= pushed.objects.missing);
  } finally {
    await proxy.close();
  }
  const followed = await rest.followJob((await rest.commitBuild(buildUrl)).url, { minPollMs: 50 });
  assert.equal(followed.job.status, 2, followed.log);
});

test('a push that gives up mid-way is finished by the next push, which sends only what is left', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  // After the first two uploads every upload dies: the push fails once its attempts are spent.
  const proxy = await cuttingProxy((n) => n >= 2);
  try {
    await assert.rejects(
      pushRepo({ buildUrl: buildUrl.replace(s.url, proxy.url), token: s.adminToken, repo: appRepo, refs: [app.ref], batchBytes: 16 * 1024, concurrency: 1, attempts: 2, retryDelayMs: 10 }),
      (err: unknown) => err instanceof FlatManagerError && err.kind === 'unreachable',
    );
  } finally {
    await proxy.close();
  }
  const stored = proxy.uploads.filter((u) => !u.cut).flatMap((u) => u.names);
  assert.ok(stored.length > 0);
  const rest2 = await pushRepo({ buildUrl, token: s.adminToken, repo: appRepo, refs: [app.ref] });
  assert.equal(rest2.objects.missing, rest2.objects.metadata + rest2.objects.files - stored.length, 'objects stored by the failed push are not missing');
  assert.equal(rest2.objects.uploaded, rest2.objects.missing);
  const followed = await rest.followJob((await rest.commitBuild(buildUrl)).url, { minPollMs: 50 });
  assert.equal(followed.job.status, 2, followed.log);
});

test('a bare-user repo is pushed through a temporary archive copy', { timeout: 300_000 }, async () => {
  const bare = path.join(work, 'bare-user');
  await promisify(execFile)('ostree', ['init', `--repo=${bare}`, '--mode=bare-user']);
  await promisify(execFile)('ostree', ['pull-local', `--repo=${bare}`, appRepo, app.ref]);
  const buildUrl = await newBuild();
  const lines: string[] = [];
  const pushed = await pushRepo({ buildUrl, token: s.adminToken, repo: bare, onLog: (l) => lines.push(l) });
  assert.equal(pushed.converted, true);
  assert.deepEqual(pushed.refs, { [app.ref]: app.commit });
  assert.ok(lines.some((l) => /bare-user repo/.test(l)), lines.join('\n'));
  const followed = await rest.followJob((await rest.commitBuild(buildUrl)).url, { minPollMs: 50 });
  assert.equal(followed.job.status, 2, followed.log);
});

test('bad inputs fail with errors that say what is wrong', async () => {
  const buildUrl = await newBuild();
  const fails = async (o: Partial<Parameters<typeof pushRepo>[0]>, check: (err: any) => boolean, message: RegExp) => {
    const err = await pushRepo({ buildUrl, token: s.adminToken, repo: appRepo, ...o }).then(
      () => assert.fail('expected the push to fail'),
      (e: unknown) => e,
    );
    assert.ok(check(err), String(err));
    assert.match((err as Error).message, message);
  };
  await fails({ repo: path.join(work, 'nowhere') }, (e) => e instanceof PushError && e.kind === 'repo-not-found', /no OSTree repo at .*nowhere/);
  await fails({ refs: ['app/org.test.Nope/x86_64/stable'] }, (e) => e instanceof PushError && e.kind === 'ref-not-found', new RegExp(`ref app/org.test.Nope/x86_64/stable not found .*${app.ref.replaceAll('.', '\\.')}`));
  await fails({ buildUrl: `${s.url}/api/v1/builds/1` }, (e) => e instanceof FlatManagerError && e.kind === 'bad-url', /not a build URL/);
  await fails({ buildUrl: 'nonsense' }, (e) => e instanceof FlatManagerError && e.kind === 'bad-url', /not a URL/);
  await fails({ buildUrl: `${s.url}/api/v1/build/999999` }, (e) => e instanceof FlatManagerError && e.kind === 'not-found', /HTTP 404/);
  await fails({ token: 'not-a-token' }, (e) => e instanceof FlatManagerError && e.kind === 'auth' && e.status === 401, /HTTP 401.*did not accept the token/);
  // A port nothing listens on.
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await fails({ buildUrl: `http://127.0.0.1:${port}/api/v1/build/1`, attempts: 1 }, (e) => e instanceof FlatManagerError && e.kind === 'unreachable', /cannot reach http:\/\/127\.0\.0\.1:\d+ .*connection refused/);
});

test('--minimal-token uploads with a token limited to the build', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  const pushed = await pushRepo({ buildUrl, token: s.adminToken, repo: appRepo, refs: [app.ref], minimalToken: true });
  assert.ok(pushed.objects.uploaded > 0);
  const ext = await rest.request('GET', `${buildUrl}/extended`);
  assert.equal(ext.body.build_refs[0].commit, app.commit);
  // The upload token: minted from the admin token, for this build, uploads only, and used.
  // (Token use is recorded in batches: wait for it.)
  let minimal: any[] = [];
  for (const deadline = Date.now() + 10_000; ; ) {
    const tokens = await gql(`{ tokens(first: 100) { edges { node { name subject scopes lastUsedAt } } } }`);
    minimal = tokens.tokens.edges.map((e: any) => e.node).filter((t: any) => /(^|\/)minimal-upload$/.test(t.name));
    if (minimal[0]?.lastUsedAt || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(minimal.length, 1, JSON.stringify(minimal));
  assert.deepEqual([minimal[0].subject, minimal[0].scopes], [`build/${buildUrl.split('/').pop()}`, ['upload']]);
  assert.ok(minimal[0].lastUsedAt, 'the minimal token was used');
});

test('the from-scratch static delta of a pushed app is uploaded, unless --ignore-delta matches its id', { timeout: 300_000 }, async () => {
  const repo = path.join(work, 'with-delta');
  await promisify(execFile)('cp', ['-r', appRepo, repo]);
  await promisify(execFile)('ostree', ['static-delta', 'generate', `--repo=${repo}`, '--empty', `--to=${app.commit}`]);
  const withDelta = await pushRepo({ buildUrl: await newBuild(), token: s.adminToken, repo, refs: [app.ref] });
  assert.ok(withDelta.deltaParts.length >= 2, JSON.stringify(withDelta.deltaParts));
  assert.ok(withDelta.deltaParts.every((p) => p.endsWith('.delta')));
  assert.ok(withDelta.deltaParts.some((p) => p.endsWith('.superblock.delta')));
  const ignored = await pushRepo({ buildUrl: await newBuild(), token: s.adminToken, repo, refs: [app.ref], ignoreDelta: ['org.test.*'] });
  assert.deepEqual(ignored.deltaParts, []);
});

test('followJob streams the log over the jobLog subscription, then reads the end once; polling gives the same log', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  await pushRepo({ buildUrl, token: s.adminToken, repo: appRepo, refs: [app.ref] });
  class Counting extends FlatManagerRestClient {
    jobGets = 0;
    override request(method: string, url: string, o?: Parameters<FlatManagerRestClient['request']>[2]) {
      if (method === 'GET' && url.endsWith('/commit')) this.jobGets++;
      return super.request(method, url, o);
    }
  }
  const live = new Counting({ token: s.adminToken });
  const polled = new Counting({ token: s.adminToken });
  try {
    const started = await live.commitBuild(buildUrl);
    const pieces: string[] = [];
    const followed = await live.followJob(started.url, { jobId: started.job.id, onLog: (t) => pieces.push(t), minPollMs: 50 });
    assert.equal(followed.job.status, 2, followed.log);
    assert.ok(live.jobGets <= 2, `polled ${live.jobGets} times`);
    assert.equal(pieces.join(''), followed.log);
    const again = await polled.followJob(started.url, { live: false });
    assert.equal(again.log, followed.log);
    assert.match(followed.log, /org\.test\.Hello/);
  } finally {
    live.close();
    polled.close();
  }
});

test('a repo missing an object its commit needs is refused before any upload', { timeout: 120_000 }, async () => {
  const repo = path.join(work, 'incomplete');
  await promisify(execFile)('cp', ['-r', appRepo, repo]);
  const root = (await promisify(execFile)('ostree', ['ls', `--repo=${repo}`, '-d', '-C', app.ref, '/'])).stdout;
  // `ostree ls -d -C` prints the root's dirtree and dirmeta checksums; remove the dirtree.
  const tree = [...root.matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]).find((c) => existsSync(path.join(repo, 'objects', c.slice(0, 2), `${c.slice(2)}.dirtree`)))!;
  await rm(path.join(repo, 'objects', tree.slice(0, 2), `${tree.slice(2)}.dirtree`));
  const err = await pushRepo({ buildUrl: await newBuild(), token: s.adminToken, repo, refs: [app.ref] }).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(err instanceof PushError && err.kind === 'repo-incomplete', String(err));
  assert.match(err.message, new RegExp(`lacks an object .*${tree}`));

  // The same for a file object: found missing when its size is read, before any upload.
  const repo2 = path.join(work, 'incomplete-file');
  await promisify(execFile)('cp', ['-r', appRepo, repo2]);
  const { stdout } = await promisify(execFile)('find', [path.join(repo2, 'objects'), '-name', '*.filez']);
  const filez = stdout.trim().split('\n')[0]!;
  await rm(filez);
  const err2 = await pushRepo({ buildUrl: await newBuild(), token: s.adminToken, repo: repo2, refs: [app.ref] }).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(err2 instanceof PushError && err2.kind === 'repo-incomplete', String(err2));
  assert.ok(err2.message.includes(`${path.basename(path.dirname(filez))}${path.basename(filez)}`), err2.message);
});
