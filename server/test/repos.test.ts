// Repos through GraphQL (create/update/delete, refs, key changes, events) and served over HTTP
// (ETag, Range, cache headers, traversal, symlinks, .flatpakrepo, private refs), with real requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import { jobEnded, startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { publishTestApp } from './kit/repo-fixtures.ts';
import * as ostree from '../src/ostree/ostree.ts';

let s: TestServer;
let keyId: string;
let keyBase64: string;
before(async () => {
  s = await startTestServer();
  const k = await s.gql(`mutation { generateKey(input: { name: "repo key" }) { ... on KeyPayload { key { id publicKeyBase64 } } } }`);
  keyId = k.body.data.generateKey.key.id;
  keyBase64 = k.body.data.generateKey.key.publicKeyBase64;
});
after(async () => {
  await s.stop();
});

const REPO_FIELDS = 'id name title comment homepage collectionId deployCollectionId defaultBranch summaryUpdatedAt key { name } parent { name } deltaSettings authRequiredTokenTypes';

async function createRepo(input: Record<string, unknown>) {
  const r = await s.gql(
    `mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename
       ... on RepoPayload { repo { ${REPO_FIELDS} } } ... on InvalidInputError { field message } ... on Error { message } } }`,
    { input },
  );
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.createRepo;
}

async function updateRepo(input: Record<string, unknown>) {
  const r = await s.gql(
    `mutation($input: UpdateRepoInput!) { updateRepo(input: $input) { __typename
       ... on RepoPayload { repo { ${REPO_FIELDS} } job { number } } ... on InvalidInputError { field message } ... on Error { message } } }`,
    { input },
  );
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  // Summary metadata changes land through the update-repo job the mutation queued.
  const job = r.body.data.updateRepo.job;
  if (job) await jobEnded(s, job.number);
  return r.body.data.updateRepo;
}

/** A raw HTTP request: fetch() would normalize `..` away before it reaches the server. */
function raw(pathname: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: pathname, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('createRepo validates names, ids, URLs and texts', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ name: '../evil' }, 'name'],
    [{ name: 'a/b' }, 'name'],
    [{ name: '.hidden' }, 'name'],
    [{ name: 'x.flatpakrepo' }, 'name'],
    [{ name: '' }, 'name'],
    [{ name: 'ok', collectionId: 'org' }, 'collectionId'],
    [{ name: 'ok', collectionId: 'org.1bad' }, 'collectionId'],
    [{ name: 'ok', collectionId: 'org/evil.x' }, 'collectionId'],
    [{ name: 'ok', homepage: 'javascript:alert(1)' }, 'homepage'],
    [{ name: 'ok', title: 'two\nlines' }, 'title'],
    [{ name: 'ok', defaultBranch: '-x' }, 'defaultBranch'],
    [{ name: 'ok', deltaSettings: { generate: 'yes' } }, 'deltaSettings.generate'],
    [{ name: 'ok', subsets: { flathub: ['org..x'] } }, 'subsets.flathub.0'],
    [{ name: 'ok', parent: 'nope' }, 'parent'],
  ];
  for (const [input, field] of cases) {
    const r = await createRepo(input);
    assert.equal(r.__typename, 'InvalidInputError', JSON.stringify(input));
    assert.equal(r.field, field, JSON.stringify(input));
  }
  assert.equal((await s.gql('{ repos { totalCount } }')).body.data.repos.totalCount, 0);
});

test('createRepo makes an archive-z2 repo with its collection id and a signed summary; updateRepo changes it', async () => {
  const r = await createRepo({ name: 'stable', collectionId: 'org.example.Stable', keyId, title: 'Example', homepage: 'https://example.org', defaultBranch: 'stable' });
  assert.equal(r.__typename, 'RepoPayload', JSON.stringify(r));
  assert.equal(r.repo.key.name, 'repo key');
  assert.deepEqual(r.repo.deltaSettings, { generate: true, ignoreRefs: [], prune: false });
  const dir = s.services.repos.repoPath('stable');
  const config = await readFile(path.join(dir, 'config'), 'utf8');
  assert.match(config, /mode=archive-z2/);
  assert.match(config, /collection-id=org\.example\.Stable/);
  for (const f of ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig']) assert.ok(existsSync(path.join(dir, f)), f);
  assert.ok(r.repo.summaryUpdatedAt);

  assert.equal((await createRepo({ name: 'stable' })).field, 'name');
  const beta = await createRepo({ name: 'beta', parent: 'stable', collectionId: 'org.example.Beta' });
  assert.equal(beta.repo.parent.name, 'stable');

  const u = await updateRepo({ name: 'stable', title: 'Example Stable', comment: 'apps', authRequiredTokenTypes: [2] });
  assert.equal(u.repo.title, 'Example Stable');
  assert.match(await ostree.summaryView(dir), /xa\.title: 'Example Stable'/);
  assert.equal((await updateRepo({ name: 'stable', collectionId: 'org.example.Other' })).field, 'collectionId');
  assert.equal((await updateRepo({ name: 'stable', parent: 'beta' })).field, 'parent', 'no cycles');
  assert.equal((await updateRepo({ name: 'stable', homepage: null })).repo.homepage, null);
  assert.equal((await updateRepo({ name: 'missing', title: 'x' })).__typename, 'NotFoundError');

  const list = await s.gql('{ repos { totalCount edges { node { name } } } }');
  assert.deepEqual(list.body.data.repos.edges.map((e: any) => e.node.name), ['beta', 'stable']);
  // A token limited to one repo sees only that one.
  const { token } = await s.services.tokens.mint({ name: 'beta only', scope: ['build'], repos: ['beta'], duration: 600 });
  const limited = await s.gql('{ repos { edges { node { name } } } stable: repo(name: "stable") { name } }', {}, token);
  assert.deepEqual(limited.body.data.repos.edges.map((e: any) => e.node.name), ['beta']);
  assert.equal(limited.body.data.stable, null);
  const denied = await s.gql('mutation { deleteRepo(input: { name: "beta" }) { __typename } }', {}, token);
  assert.equal(denied.body.errors[0].extensions.code, 'FORBIDDEN');
});

test('refs of a repo come from disk with commit, timestamp, sizes, end-of-life and token type; repoUpdated fires', async () => {
  const client = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, lazy: true, retryAttempts: 0 });
  const events: any[] = [];
  client.subscribe(
    { query: 'subscription { repoUpdated(name: "stable") { name indexSha updatedAt repo { name } } }' },
    { next: (v) => void events.push(v), error: (e) => void events.push({ error: e }), complete: () => undefined },
  );
  await new Promise((r) => setTimeout(r, 300));

  const dir = s.services.repos.repoPath('stable');
  const b = await publishTestApp(dir, { appTokenType: 2, endOfLife: 'use org.test.Hello2' });
  const { indexSha, signedCommits } = await s.services.repos.updateSummary('stable');
  assert.equal(signedCommits.length, 5, 'runtime, sdk, app and two appstream heads are signed');
  const ev = await pollFor(() => events.find((e) => e.data?.repoUpdated?.indexSha === indexSha), 5000);
  assert.equal(ev.data.repoUpdated.repo.name, 'stable');
  await client.dispose();

  const q = await s.gql(`{ repo(name: "stable") { refs(first: 10, prefix: "app/") { edges { node {
    name commit timestamp subject collectionId endOfLife tokenType installedSize downloadSize } } } } }`);
  assert.equal(q.body.errors, undefined, JSON.stringify(q.body.errors));
  const refs = q.body.data.repo.refs.edges.map((e: any) => e.node);
  assert.equal(refs.length, 1);
  const app = refs[0];
  assert.equal(app.name, b.app.ref);
  assert.equal(app.commit, await ostree.revParse(dir, b.app.ref));
  assert.equal(app.collectionId, 'org.example.Stable');
  assert.equal(app.endOfLife, 'use org.test.Hello2');
  assert.equal(app.tokenType, 2);
  assert.ok(app.installedSize > 0 && app.installedSize < 1e6, String(app.installedSize));
  assert.ok(app.downloadSize > 0 && app.downloadSize < 1e6, String(app.downloadSize));
  assert.ok(Math.abs(Date.parse(app.timestamp) - Date.now()) < 120_000);
  const all = await s.gql('{ repo(name: "stable") { refs { edges { node { name } } } } }');
  assert.ok(all.body.data.repo.refs.edges.length >= 5);
});

test('repo files: ETag, Last-Modified, 304, Range 206/416, HEAD and cache headers', async () => {
  const dir = s.services.repos.repoPath('stable');
  const idx = await readFile(path.join(dir, 'summary.idx'));
  const r = await raw('/repo/stable/summary.idx');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, idx);
  assert.equal(r.headers['content-type'], 'application/octet-stream');
  assert.equal(r.headers['cache-control'], 'public, max-age=30');
  assert.equal(r.headers['accept-ranges'], 'bytes');
  const etag = r.headers.etag as string;
  assert.ok(etag && r.headers['last-modified']);
  assert.equal((await raw('/repo/stable/summary.idx', { 'if-none-match': etag })).status, 304);
  assert.equal((await raw('/repo/stable/summary.idx', { 'if-modified-since': r.headers['last-modified'] as string })).status, 304);

  const part = await raw('/repo/stable/summary.idx', { range: 'bytes=10-19' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 10-19/${idx.length}`);
  assert.deepEqual(part.body, idx.subarray(10, 20));
  const tail = await raw('/repo/stable/summary.idx', { range: 'bytes=-5' });
  assert.deepEqual(tail.body, idx.subarray(idx.length - 5));
  const bad = await raw('/repo/stable/summary.idx', { range: `bytes=${idx.length + 10}-` });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${idx.length}`);

  const head = await raw('/repo/stable/summary.idx', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers['content-length']), idx.length);
  assert.equal(head.body.length, 0);

  const runtime = (await ostree.listRefs(dir)).find((x) => x.startsWith('runtime/org.test.Platform/'))!;
  const commit = (await ostree.revParse(dir, runtime))!;
  const obj = await raw(`/repo/stable/objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`);
  assert.equal(obj.status, 200);
  assert.equal(obj.headers['cache-control'], 'public, max-age=31536000, immutable');
  const meta = await raw(`/repo/stable/objects/${commit.slice(0, 2)}/${commit.slice(2)}.commitmeta`);
  assert.equal(meta.status, 200);
  assert.equal(meta.headers['cache-control'], 'public, max-age=300', '.commitmeta gains signatures on rotation');
  const config = await raw('/repo/stable/config');
  assert.equal(config.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal((await raw('/repo/stable/summary', {}, 'POST')).status, 405);

  // A missing signature must not be cached anywhere.
  const miss = await raw(`/repo/stable/summaries/${'0'.repeat(64)}.idx.sig`);
  assert.equal(miss.status, 404);
  assert.equal(miss.headers['cache-control'], 'no-store');
  assert.equal((await raw('/repo/stable/objects/00/nothing.filez')).headers['cache-control'], 'no-store');
});

test('repo files: traversal, dot paths, the staging dir, directories and escaping symlinks are refused', async () => {
  const dir = s.services.repos.repoPath('stable');
  await mkdir(path.join(dir, '.fmd-staging', 'x'), { recursive: true });
  await writeFile(path.join(dir, '.fmd-staging', 'x', 'summary'), 'staged');
  await symlink('/etc/passwd', path.join(dir, 'objects', 'passwd.filez'));
  await symlink('../config', path.join(dir, 'objects', 'inside.filez')); // stays inside: allowed
  const refused = [
    '/repo/stable/../../../../etc/passwd',
    '/repo/stable/%2e%2e/%2e%2e/etc/passwd',
    '/repo/stable/objects/..%2f..%2fconfig',
    '/repo/stable/objects/%2e%2e/config',
    '/repo/stable/.fmd-staging/x/summary',
    '/repo/stable/%2efmd-staging/x/summary',
    '/repo/stable/tmp/',
    '/repo/stable/objects/',
    '/repo/stable/objects',
    '/repo/stable/objects/passwd.filez',
    '/repo/stable/objects%5c..%5cconfig',
    '/repo/stable/summary%00',
    '/repo/stable',
    '/repo/..%2fstable/config',
    '/repo/nope/config',
  ];
  for (const p of refused) {
    const r = await raw(p);
    assert.ok(r.status === 404 || r.status === 400, `${p} -> ${r.status}`);
    assert.doesNotMatch(r.body.toString(), /root:|staged/, p);
  }
  const inside = await raw('/repo/stable/objects/inside.filez');
  assert.equal(inside.status, 200);
});

test('/repo/<name>.flatpakrepo carries the settings, the collection id and the key', async () => {
  await updateRepo({ name: 'stable', homepage: 'https://example.org/apps', description: 'line one\nline two', icon: 'https://example.org/icon.svg', runtimeRepoUrl: 'https://example.org/runtimes.flatpakrepo', suggestedRemoteName: 'example' });
  const r = await raw('/repo/stable.flatpakrepo');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/vnd\.flatpak\.repo/);
  const text = r.body.toString();
  const kv = Object.fromEntries(text.split('\n').slice(1).filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(text.split('\n')[0], '[Flatpak Repo]');
  assert.equal(kv.Title, 'Example Stable');
  assert.equal(kv.Url, `${s.url}/repo/stable/`);
  assert.equal(kv.Homepage, 'https://example.org/apps');
  assert.equal(kv.Comment, 'apps');
  assert.equal(kv.Description, 'line one\\nline two', 'escaped: a description can never add keys');
  assert.equal(kv.Icon, 'https://example.org/icon.svg');
  assert.equal(kv.DeployCollectionID, 'org.example.Stable');
  assert.equal(kv.RuntimeRepo, 'https://example.org/runtimes.flatpakrepo');
  assert.equal(kv.SuggestRemoteName, 'example');
  assert.equal(kv.GPGKey, keyBase64);
  assert.equal((await raw('/repo/nope.flatpakrepo')).status, 404);
});

test('private refs: commits of an auth-required token type need a download token with a matching prefix', async () => {
  const dir = s.services.repos.repoPath('stable');
  const refs = await ostree.listRefs(dir);
  const appRef = refs.find((x) => x.startsWith('app/'))!;
  const app = (await ostree.revParse(dir, appRef))!;
  const runtime = (await ostree.revParse(dir, refs.find((x) => x.startsWith('runtime/org.test.Platform'))!))!;
  const objPath = (c: string, ext = 'commit') => `/repo/stable/objects/${c.slice(0, 2)}/${c.slice(2)}.${ext}`;
  const mint = async (scope: string[], prefixes: string[], repos: string[] = ['']) =>
    `Bearer ${(await s.services.tokens.mint({ name: 'dl', scope, prefixes, repos, duration: 600 })).token}`;

  // authRequiredTokenTypes is [2] (set above) and the app was committed with token type 2.
  assert.equal((await raw(objPath(runtime))).status, 200, 'token type 0 stays public');
  const anon = await raw(objPath(app));
  assert.equal(anon.status, 401);
  assert.equal(anon.headers['cache-control'], 'no-store');
  assert.equal((await raw(objPath(app, 'commitmeta'))).status, 401);
  assert.equal((await raw(objPath(app), { authorization: 'Bearer garbage' })).status, 401);
  assert.equal((await raw(objPath(app), { authorization: await mint(['build'], ['org.test']) })).status, 403, 'no download scope');
  assert.equal((await raw(objPath(app), { authorization: await mint(['download'], ['org.other']) })).status, 403, 'prefix does not match');
  assert.equal((await raw(objPath(app), { authorization: await mint(['download'], ['org.test'], ['beta']) })).status, 403, 'other repo');
  assert.equal((await raw(objPath(app), { authorization: await mint(['download'], ['org.test'], []) })).status, 403, 'repos [] matches no repo');
  assert.equal((await raw(objPath(app), { authorization: await mint(['download'], ['org.test'], ['stable']) })).status, 200, 'its repo by name');
  const ok = await raw(objPath(app), { authorization: await mint(['download'], ['org.test']) });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['cache-control'], 'no-store');

  // A static delta leading to the private commit is private too.
  const deltas = (await import('node:fs/promises')).readdir(path.join(dir, 'deltas'), { recursive: true });
  const b64 = Buffer.from(app, 'hex').toString('base64').replace(/=+$/, '').replaceAll('/', '_');
  const superblock = (await deltas).map(String).find((p) => p.replace(/\//, '').startsWith(b64) && p.endsWith('superblock'));
  assert.ok(superblock, 'a from-scratch delta to the app commit exists');
  assert.equal((await raw(`/repo/stable/deltas/${superblock}`)).status, 401);
  assert.equal((await raw(`/repo/stable/deltas/${superblock}`, { authorization: await mint(['download'], ['org.test.Hello']) })).status, 200);

  await updateRepo({ name: 'stable', authRequiredTokenTypes: [] });
  await pollFor(async () => (await raw(objPath(app))).status === 200, 5000, 200);
});

test('deleteRepo hides the repo at once, and a job removes its files and then its row', async () => {
  const created = await createRepo({ name: 'doomed', collectionId: 'org.example.Doomed' });
  assert.equal(created.__typename, 'RepoPayload');
  const dir = s.services.repos.repoPath('doomed');
  assert.ok(existsSync(dir));
  const del = await s.gql(`mutation { deleteRepo(input: { name: "doomed" }) { __typename
    ... on DeleteRepoPayload { name job { id kind } } ... on Error { message } } }`);
  assert.equal(del.body.errors, undefined, JSON.stringify(del.body.errors));
  assert.equal(del.body.data.deleteRepo.job.kind, 'delete-repo');
  assert.equal((await s.gql('{ repo(name: "doomed") { name } }')).body.data.repo, null);
  await pollFor(async () => (await s.services.prisma.repo.findUnique({ where: { name: 'doomed' } })) === null, 20_000, 100);
  assert.ok(!existsSync(dir));
  assert.equal((await raw('/repo/doomed/config')).status, 404);
  const again = await createRepo({ name: 'doomed', collectionId: 'org.example.Doomed' });
  assert.equal(again.__typename, 'RepoPayload', 'the name is free again');
  assert.equal((await s.gql('mutation { deleteRepo(input: { name: "nope" }) { __typename } }')).body.data.deleteRepo.__typename, 'NotFoundError');
});
