// flat-manager compatibility, for real: the offline-built runtime and org.test.Hello pushed
// over plain HTTP the way flat-manager-client does it, committed, published, served signed to
// a stock flatpak client that installs and runs the app; a second build reaches the client by
// `flatpak update` through a static delta; bad input gets flat-manager's error JSON and changes
// nothing; five builds published at once share one update-repo job.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, buildTestApp, clientEnv, tempDir } from './kit/flatpak-fixtures.ts';
import { commitObjects, deltaNameEncode, FlatManagerClient, request } from './kit/flat-manager-client.ts';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';

let s: TestServer;
let work: string;
let b: Builds;
let client: FlatManagerClient;
let runtimeRefs: Record<string, string>;
/** fmd's access log, as its HTTP server saw the requests: method, path, status. */
const served: Array<{ method: string; path: string; status: number }> = [];

async function gqlOk(query: string, variables?: Record<string, unknown>) {
  const r = await s.gql(query, variables);
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data;
}

before(async () => {
  s = await startTestServer({ 'delay-update-secs': 0 });
  s.http.server.prependListener('request', (req, res) => {
    // The URL as it arrived: routers rewrite req.url as they route it.
    const url = (req.url ?? '').split('?')[0]!;
    res.on('finish', () => served.push({ method: req.method ?? '', path: url, status: res.statusCode }));
  });
  work = await tempDir('fmd-flat-manager-');
  b = await testBuilds();
  const key = (await gqlOk(`mutation { generateKey(input: { name: "fm key", email: "fm@example.org" }) { ... on KeyPayload { key { id } } } }`)).generateKey.key;
  const created = await gqlOk(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, {
    input: { name: 'main', collectionId: 'org.fmd.Test', keyId: key.id, title: 'fmd test', deltaSettings: { generate: true } },
  });
  assert.equal(created.createRepo.__typename, 'RepoPayload', JSON.stringify(created));
  client = new FlatManagerClient(s.url, s.adminToken);
  runtimeRefs = {};
  for (const ref of b.runtimeRefs) runtimeRefs[ref] = (await ostree.revParse(b.runtimeRepo, ref))!;
});
after(async () => {
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** create -> push -> commit (wait) -> publish (wait) -> update-repo (wait), as CI does it. */
async function pushAndPublish(c: FlatManagerClient, repo: string, refs: Record<string, string>, srcRepo: string, afterPush?: (build: { id: number; url: string }, pushed: { deltaParts: string[] }) => Promise<void>) {
  const build = await c.createBuild('main');
  assert.match(build.url, new RegExp(`/api/v1/build/${build.id}$`));
  const pushed = await c.push(build.url, srcRepo, refs);
  await afterPush?.(build, pushed);
  const commit = await c.startJob(build.url, 'commit', { endoflife: null, endoflife_rebase: null });
  assert.equal(commit.response.status, 200, commit.response.text);
  assert.equal(commit.url, `${build.url}/commit`);
  const committed = await c.waitForJob(commit.url);
  assert.equal(committed.job.status, 2, committed.log);
  // As in flat-manager, the commit left the build's appstream checked out for check hooks.
  const arch = Object.keys(refs)[0]!.split('/')[2]!;
  const appstream = path.join(s.services.builds.buildPath(build.id), 'appstream', arch, 'appstream.xml.gz');
  assert.ok(existsSync(appstream), committed.log);
  if (refs[b.app.ref]) assert.match(gunzipSync(await readFile(appstream)).toString(), /<id>org\.test\.Hello<\/id>/);
  const publish = await c.startJob(build.url, 'publish');
  assert.equal(publish.response.status, 200, publish.response.text);
  const published = await c.waitForJob(publish.url);
  assert.equal(published.job.status, 2, published.log);
  const results = JSON.parse(published.job.results);
  const update = await c.waitForJob(`${s.url}/api/v1/job/${results['update-repo-job']}`);
  assert.equal(update.job.status, 2, update.log);
  void repo;
  return { build, pushed, committed, published, results, update };
}

test('the full flat-manager flow over HTTP, then flatpak install + run from fmd with GPG verification, then flatpak update through a static delta', { timeout: 600_000 }, async (t) => {
  const t0 = Date.now();
  const refs = { ...runtimeRefs, [b.app.ref]: b.app.commit };
  // The runtime and the app arrive in separate pushes, so the app's push finds shared objects present.
  const runtimeOnly = await pushAndPublish(client, 'main', runtimeRefs, b.runtimeRepo);
  assert.equal(runtimeOnly.build.build.repo_state, 0);
  // As flat-manager-client: one missing_objects request for the metadata of all refs at once,
  // one for the files under the dirtrees fmd lacks.
  assert.equal(client.stats.missingRequests, 2);
  const c2 = new FlatManagerClient(s.url, s.adminToken, { style: 'rust' });
  const first = await pushAndPublish(c2, 'main', { [b.app.ref]: b.app.commit }, b.appRepo);
  void refs;
  // Pushed again, the app's trees are all in the repo: only its commit object (the publish made
  // commits of its own) is missing, and no file is asked about.
  const again = new FlatManagerClient(s.url, s.adminToken);
  const repush = await again.createBuild('main');
  await again.push(repush.url, b.appRepo, { [b.app.ref]: b.app.commit });
  assert.deepEqual({ missing: again.stats.missingRequests, uploaded: again.stats.uploadedObjects }, { missing: 1, uploaded: 1 });
  assert.equal((await request('POST', `${repush.url}/purge`, { token: s.adminToken, json: {} })).status, 200);
  t.diagnostic(`push+commit+publish+update of runtime and app: ${Date.now() - t0} ms; uploads: python ${JSON.stringify(client.stats)}, rust ${JSON.stringify(c2.stats)}`);

  // flat-manager's build JSON after publish.
  const got = await request('GET', first.build.url, { token: s.adminToken });
  assert.equal(got.status, 200);
  assert.equal(got.body.repo_state, 2);
  assert.equal(got.body.published_state, 2);
  assert.equal(got.body.repo, 'main');
  assert.equal(typeof got.body.commit_job_id, 'number');
  assert.equal(typeof got.body.publish_job_id, 'number');
  assert.match(first.committed.log, /Committing ref app\/org\.test\.Hello/);
  assert.deepEqual(Object.keys(first.results.refs), [b.app.ref]);
  const ext = await request('GET', `${first.build.url}/extended`, { token: s.adminToken });
  assert.equal(ext.body.build_refs[0].ref_name, b.app.ref);
  assert.equal(ext.body.build_refs[0].commit, b.app.commit);

  // log-offset: the tail of the log from a byte offset.
  const whole = await request('GET', `${first.build.url}/commit`, { token: s.adminToken, json: {} });
  const tail = await request('GET', `${first.build.url}/commit`, { token: s.adminToken, json: { 'log-offset': 10 } });
  assert.equal(tail.body.log, whole.body.log.slice(10));
  assert.equal(JSON.parse(whole.body.contents).build, first.build.id);

  // The published repo verifies, and a stock client installs and runs the app (gpg-verify on).
  await ostree.fsck(s.services.repos.repoPath('main'), { quiet: true });
  const clientDir = path.join(work, 'client');
  const env = await clientEnv(clientDir);
  await runTool('flatpak', ['--user', 'remote-add', '--from', 'fmd', `${s.url}/repo/main.flatpakrepo`], { env, timeoutMs: 60_000 });
  const remotes = await runTool('flatpak', ['--user', 'remotes', '--columns=name,options'], { env });
  assert.doesNotMatch(remotes.stdout, /no-gpg-verify/);
  await runTool('flatpak', ['--user', 'install', '-y', '--noninteractive', 'fmd', APP_ID], { env, timeoutMs: 120_000 });
  const run1 = await runTool('flatpak', ['--user', 'run', APP_ID], { env, timeoutMs: 60_000 });
  assert.equal(run1.stdout.trim(), b.app.message);

  // A second build of the app: published, then `flatpak update` brings it through a static delta.
  const app2Repo = path.join(work, 'app2-repo');
  const app2 = await buildTestApp({ repo: app2Repo, runtimeRepo: b.runtimeRepo, workDir: path.join(work, 'app2-work'), message: 'Hello again from fmd' });
  const oldCommit = (await ostree.revParse(s.services.repos.repoPath('main'), b.app.ref))!;
  // Its local repo has a from-scratch delta to the pushed commit, which flat-manager-client uploads
  // as `<name>.superblock.delta` and `<name>.<n>.delta`; fmd stores them where flat-manager does
  // (the upload repo's deltas/, in ostree's layout), and like flat-manager drops them with the
  // upload repo at commit: the commit makes new commits, and the publish makes its own deltas.
  await runTool('ostree', ['static-delta', 'generate', `--repo=${app2Repo}`, '--empty', `--to=${app2.commit}`]);
  const second = await pushAndPublish(client, 'main', { [app2.ref]: app2.commit }, app2Repo, async (build, pushed) => {
    const name = deltaNameEncode(app2.commit);
    const localDir = path.join(app2Repo, 'deltas', name.slice(0, 2), name.slice(2));
    const parts = (await readdir(localDir)).sort();
    assert.ok(parts.includes('superblock') && parts.some((p) => /^\d+$/.test(p)), `local delta parts: ${parts}`);
    assert.deepEqual([...pushed.deltaParts].sort(), parts.map((p) => `${name}.${p}.delta`).sort());
    const upload = s.services.builds.uploadPath(build.id);
    for (const p of parts) {
      assert.deepEqual(await readFile(path.join(upload, 'deltas', name.slice(0, 2), name.slice(2), p)), await readFile(path.join(localDir, p)), p);
    }
    const stored = (await runTool('ostree', ['static-delta', 'list', `--repo=${upload}`])).stdout;
    assert.match(stored, new RegExp(`^${app2.commit}$`, 'm'));
  });
  assert.equal(client.stats.uploadedDeltaParts >= 2, true);
  assert.ok(!existsSync(s.services.builds.uploadPath(second.build.id)));
  const newCommit = second.results.refs[app2.ref];
  assert.notEqual(newCommit, oldCommit);
  const deltas = (await runTool('ostree', ['static-delta', 'list', `--repo=${s.services.repos.repoPath('main')}`])).stdout;
  assert.ok(deltas.includes(`${oldCommit}-${newCommit}`), `no delta ${oldCommit} -> ${newCommit} in:\n${deltas}`);
  const servedBefore = served.length;
  await runTool('flatpak', ['--user', 'update', '-y', '--noninteractive'], { env, timeoutMs: 120_000 });
  // The update went through the delta: fmd served its superblock and its part(s), not objects.
  const deltaDir = `/repo/main/deltas/${deltaNameEncode(`${oldCommit}-${newCommit}`).replace(/^(..)/, '$1/')}/`;
  const fetched = served.slice(servedBefore).filter((r) => r.path.startsWith(deltaDir) && r.status === 200).map((r) => r.path.slice(deltaDir.length));
  t.diagnostic(`flatpak update fetched from ${deltaDir}: ${fetched.join(', ')}`);
  assert.ok(fetched.includes('superblock'), `no superblock fetched from ${deltaDir}: ${JSON.stringify(served.slice(servedBefore).map((r) => r.path))}`);
  assert.ok(fetched.some((p) => /^\d+$/.test(p)), `no delta part fetched from ${deltaDir}: ${fetched}`);
  const run2 = await runTool('flatpak', ['--user', 'run', APP_ID], { env, timeoutMs: 60_000 });
  assert.equal(run2.stdout.trim(), 'Hello again from fmd');
  t.diagnostic(`whole flow incl. second build and update: ${Date.now() - t0} ms`);
});

test('bad input gets flat-manager error JSON and changes nothing', { timeout: 120_000 }, async () => {
  const build = await client.createBuild('main');
  const upload = s.services.builds.uploadPath(build.id);
  // Objects nobody has yet: a fresh commit of a random file in a scratch repo.
  const scratch = path.join(work, 'scratch-repo');
  await ostree.init(scratch, { mode: 'archive-z2' });
  const tree = path.join(work, 'scratch-tree');
  await mkdir(tree, { recursive: true });
  await writeFile(path.join(tree, 'data'), randomBytes(50_000).toString('base64'));
  const scratchCommit = (await runTool('ostree', ['commit', `--repo=${scratch}`, '--branch=x', `--tree=dir=${tree}`])).stdout.trim();
  const { files } = await commitObjects(scratch, scratchCommit);
  const uniq = files[0]!; // a .filez (the name is kept from an earlier version of this test)
  const objFile = path.join(scratch, 'objects', uniq.slice(0, 2), uniq.slice(2));
  const listUpload = async () => (await readdir(upload, { recursive: true })).filter((f) => !f.startsWith('tmp')).sort();
  const before = await listUpload();
  const expectError = (r: { status: number; body: any; text: string }, status: number, type: string, msg?: RegExp) => {
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.status, status);
    assert.equal(r.body['error-type'], type, r.text);
    assert.equal(typeof r.body.message, 'string');
    if (msg) assert.match(r.body.message, msg);
  };

  // A corrupted object: the right name, one byte flipped.
  const bad = Buffer.from(await readFile(objFile));
  bad[bad.length - 1]! ^= 0xff;
  const corrupt = path.join(work, 'corrupt');
  await writeFile(corrupt, bad);
  for (const style of ['python', 'rust'] as const) {
    const c = new FlatManagerClient(s.url, s.adminToken, { style });
    expectError(await c.uploadFiles(build.url, [{ name: uniq, path: corrupt }]), 400, 'generic-error', /checksum|malformed/);
    // A wrong name (not a checksum) and path traversal.
    expectError(await c.uploadFiles(build.url, [{ name: 'abc.filez', path: objFile }]), 400, 'generic-error');
    expectError(await c.uploadFiles(build.url, [{ name: `../../../${uniq}`, path: objFile }]), 400, 'generic-error');
    expectError(await c.uploadFiles(build.url, [{ name: `${uniq.slice(0, 64)}.commit`, path: objFile }]), 400, 'generic-error');
  }
  assert.deepEqual(await listUpload(), before);
  assert.deepEqual(await client.missingObjects(build.url, [uniq]), [uniq]);
  // `../../../<name>` joined naively onto the upload repo (<data>/builds/<id>/upload) lands in the
  // data dir; joined onto objects/<2 chars>/ it lands in <data>/builds. Nothing of that name may
  // exist anywhere under the data dir (the object was refused everywhere), nor just above it.
  const name = `../../../${uniq}`;
  const escaped = [path.join(upload, name), path.join(upload, 'objects', name.slice(0, 2), name.slice(2))];
  assert.ok(escaped.every((p) => p.startsWith(s.config.dataDir)), escaped.join(' '));
  for (const p of [...escaped, path.join(s.config.dataDir, '..', uniq)]) assert.ok(!existsSync(p), p);
  assert.deepEqual((await readdir(s.config.dataDir, { recursive: true })).filter((f) => f.includes(uniq.slice(2))), []);
  // The good object twice, and at once: harmless.
  const good = await Promise.all([client.uploadFiles(build.url, [{ name: uniq, path: objFile }]), client.uploadFiles(build.url, [{ name: uniq, path: objFile }])]);
  for (const g of good) assert.equal(g.status, 200, g.text);
  assert.deepEqual(await client.missingObjects(build.url, [uniq]), []);

  // A ref outside the token's prefixes.
  const narrow = await request('POST', `${s.url}/api/v1/token_subset`, {
    token: s.adminToken,
    json: { sub: `build/${build.id}`, scope: ['upload', 'build'], duration: 3600, prefixes: ['org.other'], name: 'narrow' },
  });
  assert.equal(narrow.status, 200, narrow.text);
  const refRes = await request('POST', `${build.url}/build_ref`, { token: narrow.body.token, json: { ref: b.app.ref, commit: b.app.commit } });
  expectError(refRes, 403, 'token-insufficient');
  // ... and a sub for another build.
  expectError(await request('GET', `${s.url}/api/v1/build/${build.id + 1000}`, { token: narrow.body.token }), 403, 'token-insufficient');
  expectError(await request('POST', `${build.url}/build_ref`, { token: s.adminToken, json: { ref: 'app/org.test.Hello/x86_64', commit: b.app.commit } }), 400, 'generic-error', /Invalid ref_name/);
  assert.equal((await s.services.builds.refs(build.id)).length, 0);

  // Publish before commit.
  const early = await request('POST', `${build.url}/publish`, { token: s.adminToken, json: {} });
  expectError(early, 400, 'wrong-repo-state');
  assert.equal(early.body['current-state'], 'uploading');
  assert.equal(early.body['expected-state'], 'ready');
  assert.equal((await s.services.builds.get(build.id)).publishedState, 'UNPUBLISHED');

  // Purge while publishing (the state a running publish job holds).
  await s.services.prisma.build.update({ where: { id: build.id }, data: { publishedState: 'PUBLISHING' } });
  const purge = await request('POST', `${build.url}/purge`, { token: s.adminToken, json: {} });
  expectError(purge, 400, 'generic-error', /Can't prune build while in use/);
  assert.ok(existsSync(upload));
  assert.equal((await s.services.builds.get(build.id)).state, 'UPLOADING');
  await s.services.prisma.build.update({ where: { id: build.id }, data: { publishedState: 'UNPUBLISHED' } });

  // An expired token, a garbage token, no token.
  const expired = await signClaims({ sub: '', scope: ['build', 'upload', 'publish'], prefixes: [''], apps: [], repos: [''], exp: Math.floor(Date.now() / 1000) - 60, name: 'old' }, secretKey(s.secret));
  expectError(await request('GET', build.url, { token: expired }), 401, 'invalid-token');
  expectError(await request('POST', `${build.url}/commit`, { token: 'garbage', json: {} }), 401, 'invalid-token');
  expectError(await request('GET', build.url, {}), 401, 'invalid-token');
  assert.equal((await s.services.builds.get(build.id)).state, 'UPLOADING');

  // Unknown build, and commit without refs fails the build cleanly.
  expectError(await request('GET', `${s.url}/api/v1/build/999999`, { token: s.adminToken }), 404, 'not-found');
  const commit = await client.startJob(build.url, 'commit');
  const done = await client.waitForJob(commit.url);
  assert.equal(done.job.status, 3);
  assert.match(done.log, /No refs in build/);
  const failed = await request('GET', build.url, { token: s.adminToken });
  assert.equal(failed.body.repo_state, 3);
  const again = await request('POST', `${build.url}/commit`, { token: s.adminToken, json: {} });
  expectError(again, 400, 'wrong-repo-state');
  assert.equal(again.body['current-state'], 'failed');
  // Purge now works, and removes the build's files.
  const purged = await request('POST', `${build.url}/purge`, { token: s.adminToken, json: {} });
  assert.equal(purged.status, 200, purged.text);
  assert.equal(purged.body.repo_state, 5);
  assert.ok(!existsSync(s.services.builds.buildPath(build.id)));
});

test('a job log with non-ASCII lines reaches both flat-manager clients whole, each counting log-offset its own way', { timeout: 300_000 }, async () => {
  // A check hook prints non-ASCII lines, then waits until both clients have them, so that each
  // asks for the rest with the offset it counted: characters (Python) or bytes (Rust).
  const gate = path.join(work, 'log-gate');
  const script = `printf 'grüße aus fmd ✓\\n'; printf 'emoji 😀 and CJK 漢字\\n'; while [ ! -e "$1" ]; do sleep 0.05; done; printf 'après la porte — fin\\n'; printf 'ascii tail\\n'`;
  await createSignedRepo(s, 'logs', { hooks: { checks: [{ name: 'say', command: ['sh', '-c', script, 'sh', gate], reviewable: false }] } });
  const build = await client.createBuild('logs');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  const jobId: number = await pollFor(async () => (await request('GET', `${build.url}/extended`, { token: s.adminToken })).body.checks[0]?.job_id, 60_000, 100);
  const jobUrl = `${s.url}/api/v1/job/${jobId}`;
  const followers = (['python', 'rust'] as const).map((style) => {
    let printed = '';
    const done = new FlatManagerClient(s.url, s.adminToken, { style }).waitForJob(jobUrl, 120_000, 50, (text) => (printed += text));
    return { style, done, printed: () => printed };
  });
  await pollFor(() => followers.every((f) => f.printed().includes('漢字\n')), 60_000, 50);
  await writeFile(gate, '');
  const followed = await Promise.all(followers.map((f) => f.done));
  const stored: string = (await gqlOk(`query($n: Int!) { job(number: $n) { log { text } } }`, { n: jobId })).job.log.text;
  assert.match(stored, /grüße aus fmd ✓\nemoji 😀 and CJK 漢字\n(.*\n)*après la porte — fin\nascii tail\n$/);
  for (const [i, r] of followed.entries()) {
    assert.equal(r.job.status, 2, r.log);
    assert.equal(r.log, stored, `${followers[i]!.style} client`);
  }
  // No answer splits a character: an offset inside one starts at it; past the end is empty.
  const bytes = Buffer.from(stored);
  const at = bytes.indexOf('ü');
  const inside = await request('GET', jobUrl, { token: s.adminToken, json: { 'log-offset': at + 1 } });
  assert.equal(inside.status, 200, inside.text);
  assert.equal(inside.body.log, bytes.subarray(at).toString());
  const past = await request('GET', jobUrl, { token: s.adminToken, json: { 'log-offset': bytes.length + 1000 } });
  assert.equal(past.status, 200, past.text);
  assert.equal(past.body.log, '');
});

test('five builds published at once all end published and share one update-repo job', { timeout: 300_000 }, async (t) => {
  // The debounce is what lets the publishes share: held back far longer than the publishes can
  // take under any load, the job stays queued until the test releases it once all five landed
  // (a short delay made the sharing depend on the machine's speed: 2 jobs under load).
  s.config.delayUpdateSecs = 3600;
  const firstJob = (await s.services.prisma.job.aggregate({ _max: { id: true } }))._max.id ?? 0;
  try {
    const arch = b.app.ref.split('/')[2];
    const t0 = Date.now();
    const started = await Promise.all(
      [1, 2, 3, 4, 5].map(async (i) => {
        const c = new FlatManagerClient(s.url, s.adminToken);
        const build = await c.createBuild('main');
        await c.push(build.url, b.appRepo, { [`app/${APP_ID}/${arch}/b${i}`]: b.app.commit });
        const commit = await c.startJob(build.url, 'commit');
        assert.equal((await c.waitForJob(commit.url)).job.status, 2);
        return { c, build };
      }),
    );
    const publishes = await Promise.all(started.map(({ c, build }) => c.startJob(build.url, 'publish')));
    const done = await Promise.all(publishes.map(async (p, i) => {
      const d = await started[i]!.c.waitForJob(p.url);
      assert.equal(d.job.status, 2, d.log);
      return d;
    }));
    const updateJobs = new Set(done.map((d) => JSON.parse(d.job.results)['update-repo-job'] as number));
    assert.equal(updateJobs.size, 1, `update-repo jobs: ${[...updateJobs].join(', ')}`);
    const updateId = [...updateJobs][0]!;
    // One publish queued it, the four others found it queued and shared it.
    const queuedLines = done.map((d) => d.log.split('\n').find((l) => l.startsWith('Queued repository update job')));
    assert.deepEqual(
      queuedLines.toSorted(),
      [`Queued repository update job ${updateId} in 3600 secs`, ...Array(4).fill(`Queued repository update job ${updateId} (shared)`)].toSorted(),
    );
    assert.equal((await s.services.prisma.job.findUniqueOrThrow({ where: { id: updateId } })).status, 'NEW');
    assert.equal(await s.services.prisma.job.count({ where: { kind: 'update-repo', id: { gt: firstJob } } }), 1);

    // Released by hand, as nothing in fmd runs a queued job early: its Agenda entry, due in an
    // hour, is replaced by one due now.
    const { agenda } = s.services.jobEngine;
    assert.equal(await agenda.cancel({ name: 'fmd:update-repo', data: { jobId: updateId } }), 1);
    await agenda.now('fmd:update-repo', { jobId: updateId });
    const update = await client.waitForJob(`${s.url}/api/v1/job/${updateId}`);
    assert.equal(update.job.status, 2, update.log);
    // It ran after every publish it serves had ended (the repo's jobs run one at a time).
    const [updateRow, publishRows] = await Promise.all([
      s.services.prisma.job.findUniqueOrThrow({ where: { id: updateId } }),
      s.services.prisma.job.findMany({ where: { id: { in: done.map((d) => d.job.id as number) } } }),
    ]);
    assert.equal(publishRows.length, 5);
    for (const p of publishRows) assert.ok(p.finishedAt! <= updateRow.startedAt!, `publish ${p.id} ended ${p.finishedAt?.toISOString()}, update started ${updateRow.startedAt?.toISOString()}`);
    for (const { build } of started) assert.equal((await s.services.builds.get(build.id)).publishedState, 'PUBLISHED');
    const summary = await ostree.summaryView(s.services.repos.repoPath('main'));
    for (let i = 1; i <= 5; i++) assert.ok(summary.includes(`app/${APP_ID}/${arch}/b${i}`), `summary lacks b${i}`);
    t.diagnostic(`5 concurrent builds pushed, committed, published and summarized in ${Date.now() - t0} ms (one update-repo job)`);
    assert.equal(await s.services.prisma.job.count({ where: { kind: 'update-repo', id: { gt: firstJob } } }), 1);
  } finally {
    s.config.delayUpdateSecs = 0;
    // A failure above must not leave a job queued for an hour behind the tests that follow.
    const held = await s.services.prisma.job.findMany({ where: { kind: 'update-repo', status: 'NEW', id: { gt: firstJob } } });
    for (const job of held) await s.services.jobs.cancel(job.id);
  }
});
