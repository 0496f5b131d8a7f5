// The app catalog: the test app, built with a composed metainfo (name, summary, icon, releases,
// screenshots), pushed and published over flat-manager's REST API; its appstream (made by
// `flatpak build-update-repo` in the update-repo job) shows in GraphQL `apps` / `app` with its
// refs and published builds, its icon is served over HTTP to tokens that may see it, and a second
// release shows in its history. Bad inputs get clear errors; other tokens see nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startTestServer, type TestServer } from './kit/server.ts';
import { buildCatalogApp, createSignedRepo, publishOverRest } from './kit/repo-fixtures.ts';
import { APP_ID, defaultArch, tempDir, testIconPng, type TestMetainfo } from './kit/flatpak-fixtures.ts';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';

let s: TestServer;
let work: string;

const appFields = `id repo kind name summary description developer license homepage arches iconUrl iconSize installCommand flatpakrefUrl remoteName flatpakrepoUrl
  releases { version date description } screenshots { url caption isDefault }
  refs { name arch branch commit installedSize downloadSize endOfLife } builds { number publishedState }`;

async function gql(query: string, variables?: Record<string, unknown>, token?: string) {
  const r = await s.gql(query, variables, token);
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data;
}

async function token(claims: { repos?: string[]; prefixes?: string[]; scope?: string[] }) {
  return signClaims(
    { sub: '', scope: claims.scope ?? ['build', 'download'], prefixes: claims.prefixes ?? [''], apps: [], repos: claims.repos ?? [''], exp: Math.floor(Date.now() / 1000) + 3600, name: 'catalog test' },
    secretKey(s.secret),
  );
}

const v1: TestMetainfo = {
  name: 'Hello Catalog',
  summary: 'Says hello from the catalog',
  description: ['Prints a greeting.', 'Nothing else & nothing <more>.'],
  developer: 'The fmd team',
  license: 'MIT',
  homepage: 'https://example.org/hello',
  icon: [200, 40, 40],
  screenshots: [{ url: 'https://example.org/hello.png', caption: 'The greeting' }],
  releases: [{ version: '1.0', date: '2026-11-01', description: 'First release' }],
};

before(async () => {
  s = await startTestServer({ 'delay-update-secs': 0 });
  work = await tempDir('fmd-catalog-');
  await createSignedRepo(s, 'apps', { suggestedRemoteName: 'fmd-apps' });
  await createSignedRepo(s, 'other');
});
after(async () => {
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('a published app with a metainfo shows in apps and app with its icon, refs and builds; a second release shows in its history', { timeout: 600_000 }, async (t) => {
  const arch = await defaultArch();
  // Before anything is published the repo has no apps (and no appstream refs).
  assert.deepEqual((await gql('{ apps(repo: "apps") { id } }')).apps, []);

  const app1 = await buildCatalogApp(work, 'v1', { metainfo: v1 });
  let t0 = Date.now();
  const build1 = await publishOverRest(s.url, s.adminToken, 'apps', app1.repo, { [app1.ref]: app1.commit }, APP_ID);
  t.diagnostic(`push, commit, publish, update-repo of v1: ${Date.now() - t0} ms`);

  t0 = Date.now();
  const listed = (await gql(`{ apps(repo: "apps") { ${appFields} } }`)).apps;
  t.diagnostic(`apps (first read of the appstream): ${Date.now() - t0} ms`);
  assert.equal(listed.length, 1, JSON.stringify(listed));
  const a = listed[0];
  assert.equal(a.id, APP_ID);
  assert.equal(a.repo, 'apps');
  assert.equal(a.kind, 'app');
  assert.equal(a.name, 'Hello Catalog');
  assert.equal(a.summary, 'Says hello from the catalog');
  assert.equal(a.description, 'Prints a greeting.\n\nNothing else & nothing <more>.');
  assert.equal(a.developer, 'The fmd team');
  assert.equal(a.license, 'MIT');
  assert.equal(a.homepage, 'https://example.org/hello');
  assert.deepEqual(a.arches, [arch]);
  assert.deepEqual(a.releases, [{ version: '1.0', date: '2026-11-01', description: 'First release' }]);
  assert.deepEqual(a.screenshots, [{ url: 'https://example.org/hello.png', caption: 'The greeting', isDefault: true }]);
  assert.equal(a.installCommand, `flatpak install fmd-apps ${APP_ID}`);
  assert.equal(a.remoteName, 'fmd-apps');
  assert.equal(a.flatpakrepoUrl, '/repo/apps.flatpakrepo');
  assert.equal((await fetch(`${s.url}${a.flatpakrepoUrl}`)).status, 200);
  assert.equal(a.iconSize, 64);
  assert.equal(a.iconUrl, `/api/catalog/apps/icons/${APP_ID}.png`);
  assert.deepEqual(a.builds, [{ number: build1, publishedState: 'PUBLISHED' }]);
  assert.equal(a.refs.length, 1);
  const ref = a.refs[0];
  assert.equal(ref.name, `app/${APP_ID}/${arch}/stable`);
  assert.equal(ref.branch, 'stable');
  assert.equal(ref.arch, arch);
  assert.ok(ref.installedSize > 0 && ref.downloadSize > 0, JSON.stringify(ref));
  assert.equal(ref.endOfLife, null);

  // A second read comes from the cache (same appstream commit).
  t0 = Date.now();
  await gql('{ apps(repo: "apps") { id name } }');
  t.diagnostic(`apps (cached): ${Date.now() - t0} ms`);

  // The icon, over HTTP with the token; the bytes the app shipped.
  const icon = await fetch(`${s.url}${a.iconUrl}`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await icon.arrayBuffer()), testIconPng([200, 40, 40]));
  assert.equal((await fetch(`${s.url}${a.iconUrl}`)).status, 401);
  // The .flatpakref fmd wrote when it published the app.
  const flatpakref = await fetch(`${s.url}${a.flatpakrefUrl}`);
  assert.equal(flatpakref.status, 200);
  assert.match(await flatpakref.text(), new RegExp(`^Name=${APP_ID.replace(/\./g, '\\.')}$`, 'm'));

  // app(repo, id) answers the same.
  const one = (await gql(`query($id: String!) { app(repo: "apps", id: $id) { ${appFields} } }`, { id: APP_ID })).app;
  assert.deepEqual(one, a);

  // Search: words in id, name, summary, developer, any case.
  for (const [search, hits] of [['catalog', 1], ['HELLO fmd', 1], ['org.test', 1], ['', 1], ['nothing-like-this', 0], ['hello zebra', 0]] as const) {
    const got = (await gql('query($q: String) { apps(repo: "apps", search: $q) { id } }', { q: search })).apps;
    assert.equal(got.length, hits, `search ${JSON.stringify(search)}: ${JSON.stringify(got)}`);
  }

  // A second release: new version, another icon; the history has both builds, newest first.
  const app2 = await buildCatalogApp(work, 'v2', {
    metainfo: { ...v1, icon: [40, 160, 40], releases: [{ version: '2.0', date: '2026-12-01', description: 'Second release' }, ...v1.releases!] },
  });
  const build2 = await publishOverRest(s.url, s.adminToken, 'apps', app2.repo, { [app2.ref]: app2.commit }, APP_ID);
  const after2 = (await gql(`query($id: String!) { app(repo: "apps", id: $id) { ${appFields} } }`, { id: APP_ID })).app;
  assert.deepEqual(after2.releases.map((r: { version: string }) => r.version), ['2.0', '1.0']);
  assert.deepEqual(after2.builds, [{ number: build2, publishedState: 'PUBLISHED' }, { number: build1, publishedState: 'PUBLISHED' }]);
  assert.notEqual(after2.refs[0].commit, ref.commit);
  const icon2 = await fetch(`${s.url}${after2.iconUrl}`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  assert.deepEqual(Buffer.from(await icon2.arrayBuffer()), testIconPng([40, 160, 40]));
  // `first` bounds the history.
  assert.deepEqual((await gql(`{ app(repo: "apps", id: "${APP_ID}") { builds(first: 1) { number } } }`)).app.builds, [{ number: build2 }]);
});

test('another branch, marked end-of-life at commit: both refs show, with their sizes and the end of life', { timeout: 300_000 }, async () => {
  const arch = await defaultArch();
  const beta = await buildCatalogApp(work, 'beta', { branch: 'beta', metainfo: v1 });
  const build = await publishOverRest(s.url, s.adminToken, 'apps', beta.repo, { [beta.ref]: beta.commit }, APP_ID, { endoflife: 'beta has ended: use stable' });
  const app = (await gql(`{ app(repo: "apps", id: "${APP_ID}") { refs { name branch endOfLife installedSize } builds { number } } }`)).app;
  assert.deepEqual(app.refs.map((r: { name: string; branch: string; endOfLife: string | null }) => [r.name, r.branch, r.endOfLife]), [
    [`app/${APP_ID}/${arch}/beta`, 'beta', 'beta has ended: use stable'],
    [`app/${APP_ID}/${arch}/stable`, 'stable', null],
  ]);
  assert.ok(app.refs.every((r: { installedSize: number }) => r.installedSize > 0));
  assert.equal(app.builds[0].number, build);
  // Still one app, listed once.
  assert.deepEqual((await gql('{ apps(repo: "apps") { id } }')).apps, [{ id: APP_ID }]);
});

test('other tokens: another repo or prefix sees no app and gets no icon; no build-reading scope sees no builds', async () => {
  const otherRepo = await token({ repos: ['other'] });
  const otherPrefix = await token({ prefixes: ['org.other'] });
  const noBuilds = await token({ scope: ['jobs'] });
  assert.equal((await gql('{ apps(repo: "apps") { id } }', {}, otherRepo)).apps, null);
  assert.equal((await gql(`{ app(repo: "apps", id: "${APP_ID}") { id } }`, {}, otherRepo)).app, null);
  assert.deepEqual((await gql('{ apps(repo: "apps") { id } }', {}, otherPrefix)).apps, []);
  assert.equal((await gql(`{ app(repo: "apps", id: "${APP_ID}") { id } }`, {}, otherPrefix)).app, null);
  for (const tk of [otherRepo, otherPrefix]) {
    const r = await fetch(`${s.url}/api/catalog/apps/icons/${APP_ID}.png`, { headers: { authorization: `Bearer ${tk}` } });
    assert.equal(r.status, 404);
  }
  const seen = (await gql(`{ app(repo: "apps", id: "${APP_ID}") { id builds { number } } }`, {}, noBuilds)).app;
  assert.equal(seen.id, APP_ID);
  assert.deepEqual(seen.builds, []);
  // Without a token: refused.
  const anon = await s.gql('{ apps(repo: "apps") { id } }', {}, null);
  assert.equal(anon.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(anon.body));
});

test('bad inputs: unknown repo or app is null or 404; a long or malformed search, repo or id is a clear error', async () => {
  assert.equal((await gql('{ apps(repo: "nope") { id } }')).apps, null);
  assert.equal((await gql('{ app(repo: "nope", id: "org.test.Hello") { id } }')).app, null);
  assert.equal((await gql('{ app(repo: "apps", id: "org.test.Unknown") { id } }')).app, null);
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['query($q: String) { apps(repo: "apps", search: $q) { id } }', { q: 'x'.repeat(201) }, /search: at most 200/],
    ['query($q: String) { apps(repo: "apps", search: $q) { id } }', { q: 'a\u0000b' }, /control characters/],
    ['query($r: String!) { apps(repo: $r) { id } }', { r: 'r'.repeat(10_000) }, /repo: at most 64/],
    ['query($i: String!) { app(repo: "apps", id: $i) { id } }', { i: 'not an id' }, /not an app id/],
    ['query($i: String!) { app(repo: "apps", id: $i) { id } }', { i: `org.${'x'.repeat(5000)}` }, /not an app id/],
  ];
  for (const [query, variables, message] of bad) {
    const r = await s.gql(query, variables);
    assert.equal(r.body.errors?.[0]?.extensions?.code, 'INVALID_INPUT', JSON.stringify(r.body).slice(0, 300));
    assert.match(r.body.errors[0].message, message);
  }
  for (const p of ['/api/catalog/nope/icons/org.test.Hello.png', '/api/catalog/apps/icons/org.test.Unknown.png', '/api/catalog/apps/icons/not%20an%20id.png', '/api/catalog/apps/icons/org.test.Hello.svg', `/api/catalog/apps/icons/${'x'.repeat(3000)}.png`, '/api/catalog/apps']) {
    const r = await fetch(`${s.url}${p}`, { headers: { authorization: `Bearer ${s.adminToken}` } });
    assert.equal(r.status, 404, p);
  }
});
