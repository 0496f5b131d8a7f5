// deploy/nginx/fmd.conf, as shipped (only its data dir, fmd's address and the port changed), run
// by a real nginx in front of a real fmd: flatpak installs through it; objects and deltas come
// from disk with fmd's caching rules, summaries from fmd with short ones; a private ref's commit
// and deltas are refused without a download token and pulled with one; missing files are 404;
// GraphQL subscriptions go through its WebSocket upgrade.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFmdClient } from '@fmd/sdk';
import { pollFor, startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo, installAndRun, publishTestApp, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, tempDir } from './kit/flatpak-fixtures.ts';
import { runFmd, showRun } from './kit/fmd-command.ts';
import { runTool, ToolError } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';

const shipped = fileURLToPath(new URL('../../deploy/nginx/fmd.conf', import.meta.url));

let s: TestServer;
let work: string;
let nginx: ChildProcess;
let origin: string;
let builds: Builds;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** The shipped file with this machine's data dir, fmd's port and a loopback listen port. */
function adaptConfig(text: string, o: { dataDir: string; fmdPort: number; port: number; statsLog: string }): string {
  const out = text
    .replaceAll('/var/lib/fmd/', `${o.dataDir}/`)
    .replace('/var/log/nginx/fmd-stats.log fmd_stats;', `${o.statsLog} fmd_stats;`)
    .replace(/server 127\.0\.0\.1:8080;/, `server 127.0.0.1:${o.fmdPort};`)
    .replace(/^\s*listen 80;/m, `    listen 127.0.0.1:${o.port};`)
    .replace(/^\s*listen \[::\]:80;.*$/m, '');
  // Each replacement must have hit, or this tests another file than the one shipped.
  assert.ok(!/\/var\/lib\/fmd|\/var\/log\/nginx\/fmd-stats|127\.0\.0\.1:8080|listen (\[::\]:)?80;/.test(out), 'every SITE value was replaced');
  return out;
}

before(async () => {
  s = await startTestServer();
  work = await tempDir('fmd-nginx-');
  builds = await testBuilds();
  await createSignedRepo(s, 'pub');
  await createSignedRepo(s, 'priv', { authRequiredTokenTypes: [2] });
  await publishTestApp(s.services.repos.repoPath('pub'));
  await publishTestApp(s.services.repos.repoPath('priv'), { appTokenType: 2 });
  await s.services.repos.updateSummary('pub');
  await s.services.repos.updateSummary('priv');

  const port = await freePort();
  const conf = adaptConfig(readFileSync(shipped, 'utf8'), { dataDir: s.config.dataDir, fmdPort: Number(new URL(s.url).port), port, statsLog: path.join(work, 'fmd-stats.log') });
  await writeFile(path.join(work, 'fmd.conf'), conf);
  // As root nginx's workers would run as nobody, who cannot enter the test's 0700 temp dirs.
  await writeFile(
    path.join(work, 'nginx.conf'),
    `user root; worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/error.log;
events {}
http {
  access_log ${work}/access.log;
  client_body_temp_path ${work}/body; proxy_temp_path ${work}/proxy; fastcgi_temp_path ${work}/fcgi;
  uwsgi_temp_path ${work}/uwsgi; scgi_temp_path ${work}/scgi;
  include ${work}/fmd.conf;
}
`,
  );
  const args = ['-p', work, '-c', path.join(work, 'nginx.conf')];
  await runTool('nginx', ['-t', ...args]);
  nginx = spawn('nginx', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  origin = `http://127.0.0.1:${port}`;
  await pollFor(async () => (await fetch(`${origin}/healthz`).catch(() => null))?.ok, 10_000, 50);
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const objectUrl = (repo: string, checksum: string, ext: string) => `${origin}/repo/${repo}/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${ext}`;

/** A delta superblock leading to `commit` (from scratch or from another commit). */
async function superblockTo(repo: string, commit: string): Promise<string> {
  const b64 = Buffer.from(commit, 'hex').toString('base64').replace(/=+$/, '').replaceAll('/', '_');
  const all = (await readdir(path.join(s.services.repos.repoPath(repo), 'deltas'), { recursive: true })).map(String);
  const hit = all.find((p) => p.endsWith('superblock') && p.replace('/', '').replace(/^.*-/, '').startsWith(b64));
  assert.ok(hit, `a delta to ${commit} in ${repo}`);
  return hit;
}

async function fileObject(repo: string, ext: string): Promise<string> {
  const objects = path.join(s.services.repos.repoPath(repo), 'objects');
  for (const d of await readdir(objects)) {
    const f = (await readdir(path.join(objects, d))).find((n) => n.endsWith(`.${ext}`));
    if (f) return d + f.slice(0, -ext.length - 1);
  }
  throw new Error(`no .${ext} object in ${repo}`);
}

test('nginx -t accepts the shipped file; flatpak installs a public app through nginx, objects and deltas coming from disk', { timeout: 600_000 }, async () => {
  const out = await installAndRun(path.join(work, 'client'), { url: `${origin}/repo/pub.flatpakrepo` });
  assert.match(out, new RegExp(builds.app.message));
  // The .flatpakrepo fmd wrote through nginx points at nginx (the Host it was given).
  const flatpakrepo = await (await fetch(`${origin}/repo/pub.flatpakrepo`)).text();
  assert.match(flatpakrepo, new RegExp(`^Url=${origin}/repo/pub/$`, 'm'));
  // nginx answered the object and delta requests itself; fmd, which sets x-request-id on every
  // answer, answered the summary.
  const log = await readFile(path.join(work, 'access.log'), 'utf8');
  assert.match(log, /GET \/repo\/pub\/(objects|deltas)\/\S+ HTTP\/1\.1" 200/);
});

test('downloads nginx served from disk are counted from its fmd_stats log by fmd stats import-nginx-log', { timeout: 120_000 }, async () => {
  // The install above went through nginx: its commit and delta fetches are in the stats log, not fmd's counts.
  const q = `query { downloadStats(repo: "pub", appId: "${APP_ID}") { refs { ref installs updates } } }`;
  await s.services.downloadStats.flush();
  assert.deepEqual((await s.gql(q)).body.data.downloadStats.refs, [], 'fmd itself served no commit or delta of pub');
  const statsLog = path.join(work, 'fmd-stats.log');
  assert.match(await readFile(statsLog, 'utf8'), /\t200\tGET\t\/repo\/pub\/(objects\/[0-9a-f]{2}\/[0-9a-f]{62}\.commit|deltas\/\S+\/superblock)\t/);
  const env = { DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir };
  const r = await runFmd(['stats', 'import-nginx-log', statsLog], env);
  assert.equal(r.code, 0, showRun(r));
  assert.deepEqual((await s.gql(q)).body.data.downloadStats.refs, [{ ref: builds.app.ref, installs: 1, updates: 0 }], showRun(r));
  // Read once: a second run finds nothing new.
  const again = await runFmd(['stats', 'import-nginx-log', statsLog], env);
  assert.match(again.stdout, /: 0 new line\(s\)/, showRun(again));
  assert.deepEqual((await s.gql(q)).body.data.downloadStats.refs, [{ ref: builds.app.ref, installs: 1, updates: 0 }]);
});

test('caching: objects and from-scratch delta parts immutable from disk; summaries short, from fmd; superblocks medium', async () => {
  const pubDir = s.services.repos.repoPath('pub');
  const dirtree = await fetch(objectUrl('pub', await fileObject('pub', 'dirtree'), 'dirtree'));
  assert.equal(dirtree.status, 200);
  assert.equal(dirtree.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(dirtree.headers.get('content-type'), 'application/octet-stream');
  assert.equal(dirtree.headers.get('x-request-id'), null, 'served by nginx from disk');

  for (const f of ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig', 'config']) {
    const r = await fetch(`${origin}/repo/pub/${f}`);
    assert.equal(r.status, 200, f);
    assert.equal(r.headers.get('cache-control'), 'public, max-age=30', f);
    assert.ok(r.headers.get('x-request-id'), `${f} served by fmd`);
  }

  const appCommit = (await ostree.revParse(pubDir, builds.app.ref))!;
  const commit = await fetch(objectUrl('pub', appCommit, 'commit'));
  assert.equal(commit.status, 200);
  assert.equal(commit.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(commit.headers.get('x-request-id'), null, 'served by nginx after fmd said yes');
  assert.deepEqual(Buffer.from(await commit.arrayBuffer()), await readFile(path.join(pubDir, 'objects', appCommit.slice(0, 2), `${appCommit.slice(2)}.commit`)));
  const superblock = await fetch(`${origin}/repo/pub/deltas/${await superblockTo('pub', appCommit)}`);
  assert.equal(superblock.status, 200);
  assert.equal(superblock.headers.get('cache-control'), 'public, max-age=300');

  // Range and conditional requests on both kinds of path: the auth check ignores them, nginx answers them.
  const ranged = await fetch(objectUrl('pub', appCommit, 'commit'), { headers: { range: 'bytes=0-3' } });
  assert.equal(ranged.status, 206);
  assert.equal((await ranged.arrayBuffer()).byteLength, 4);
  const etag = commit.headers.get('etag')!;
  assert.equal((await fetch(objectUrl('pub', appCommit, 'commit'), { headers: { 'if-none-match': etag } })).status, 304);

  // Files that do not exist are 404, not auth_request's 500 (ostree probes for .commitmeta and deltas).
  assert.equal((await fetch(objectUrl('pub', 'ab'.repeat(32), 'commitmeta'))).status, 404);
  assert.equal((await fetch(objectUrl('pub', 'ab'.repeat(32), 'filez'))).status, 404);
  assert.equal((await fetch(`${origin}/repo/pub/deltas/AA/nothing-here/superblock`)).status, 404);
  assert.equal((await fetch(`${origin}/repo/nope/summary`)).status, 404);
  assert.equal((await fetch(`${origin}/metrics`)).status, 404, '/metrics is not on the public site');
});

test('private refs go through fmd: refused without a download token, pulled with one, never cached', { timeout: 300_000 }, async () => {
  const privDir = s.services.repos.repoPath('priv');
  const appCommit = (await ostree.revParse(privDir, builds.app.ref))!;
  const runtimeRef = builds.runtimeRefs.find((r) => r.startsWith('runtime/'))!;
  const runtimeCommit = (await ostree.revParse(privDir, runtimeRef))!;
  const token = (await s.services.tokens.mint({ name: 'dl', scope: ['download'], prefixes: ['org.test'], repos: ['priv'], duration: 600 })).token;
  const auth = { authorization: `Bearer ${token}` };

  const anon = await fetch(objectUrl('priv', appCommit, 'commit'));
  assert.equal(anon.status, 401);
  assert.equal((await fetch(objectUrl('priv', appCommit, 'commit'), { headers: { authorization: 'Bearer garbage' } })).status, 401);
  const buildToken = (await s.services.tokens.mint({ name: 'b', scope: ['build'], prefixes: ['org.test'], duration: 600 })).token;
  assert.equal((await fetch(objectUrl('priv', appCommit, 'commit'), { headers: { authorization: `Bearer ${buildToken}` } })).status, 403);
  const delta = `${origin}/repo/priv/deltas/${await superblockTo('priv', appCommit)}`;
  assert.equal((await fetch(delta)).status, 401);

  const ok = await fetch(objectUrl('priv', appCommit, 'commit'), { headers: auth });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('cache-control'), 'no-store');
  assert.equal(ok.headers.get('x-request-id'), null, 'the bytes came from disk');
  const okDelta = await fetch(delta, { headers: auth });
  assert.equal(okDelta.status, 200);
  assert.equal(okDelta.headers.get('cache-control'), 'no-store');
  // The public runtime in the same repo needs no token.
  assert.equal((await fetch(objectUrl('priv', runtimeCommit, 'commit'))).status, 200);

  // ostree itself: the private app does not pull without the token, and pulls with it.
  const client = path.join(work, 'ostree-priv');
  await ostree.init(client, { mode: 'bare-user' });
  await runTool('ostree', ['remote', 'add', `--repo=${client}`, '--no-gpg-verify', 'priv', `${origin}/repo/priv/`]);
  await assert.rejects(runTool('ostree', ['pull', `--repo=${client}`, 'priv', builds.app.ref], { timeoutMs: 120_000 }), (err: unknown) => err instanceof ToolError && /401|Unauthorized|Server returned status/i.test(err.stderr));
  await runTool('ostree', ['pull', `--repo=${client}`, `--http-header=Authorization=Bearer ${token}`, 'priv', builds.app.ref], { timeoutMs: 120_000 });
  assert.equal(await ostree.revParse(client, `priv:${builds.app.ref}`), appCommit);
});

test('GraphQL over HTTP and a graphql-ws subscription work through nginx', { timeout: 60_000 }, async () => {
  const client = createFmdClient({ url: origin, token: s.adminToken });
  try {
    const updates = client.buildsUpdated({ repo: 'pub' })[Symbol.asyncIterator]();
    const first = updates.next();
    // The subscription is live once the server has it; a build created through nginx then reaches it.
    let number = 0;
    const event = await pollFor(async () => {
      const r = await client.createBuild({ input: { repo: 'pub' } });
      number = (r.createBuild as { build: { number: number } }).build.number;
      return Promise.race([first, new Promise<null>((res) => setTimeout(() => res(null), 500))]);
    }, 20_000, 0);
    assert.equal(event.done, false);
    assert.ok(number > 0 && event.value!.buildsUpdated.repo.name === 'pub');
    await updates.return?.();
  } finally {
    await client.close();
  }
});
