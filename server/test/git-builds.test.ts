// Git builds end to end, through the real interfaces: a local git repository (file://) with a
// manifest for an app on the offline test runtime is built by fmd (clone, flatpak-builder in its
// jail), committed and published, and a real flatpak client installs and runs it; a rebuild
// reuses the app's builder cache; a failing build command fails the build with the error in its
// log and reason; cancelBuild and the timeout kill the build's processes within seconds. Also the
// bad inputs of the git build input, on GraphQL and REST, and the REST build JSON of git builds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import { startTestServer, pollFor, jobEnded, type TestServer } from './kit/server.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { buildTestRuntime, clientEnv, tempDir } from './kit/flatpak-fixtures.ts';
import { appFiles, commitFiles, gitBuildConfig, makeGitApp, type GitApp, gitBuildQueries } from './kit/git-fixtures.ts';
import { ensureBuilderUser } from './kit/builder-user.ts';
import { runTool } from '../src/ostree/exec.ts';

let s: TestServer;
let runtimeRepo: string;

before(async () => {
  await ensureBuilderUser();
  const work = await tempDir('fmd-git-builds-');
  runtimeRepo = path.join(work, 'rt-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(work, 'rt-work') });
  s = await startTestServer({ ...gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'delay-update-secs': 0 });
  await createSignedRepo(s, 'apps');
});
after(async () => {
  await s?.stop();
});

const buildFields = 'number state stateReason publishedState appId source { url ref commit manifestPath arch branch runtime sdk autoCommit autoPublish job { number } rebuildOf { number } }';

const { createGitBuild, buildNow, waitForBuild } = gitBuildQueries(buildFields);

async function jobLog(srv: TestServer, jobId: number): Promise<string> {
  return srv.services.jobRecords.log(jobId);
}

/** Processes whose command line contains `needle` (the host sees the sandbox's processes too). */
async function processesWith(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.replaceAll('\0', ' ').includes(needle)) found.push(Number(name));
  }
  return found;
}

test('a git build is cloned, built, committed and published through GraphQL; its log streams live; flatpak installs and runs the app; a rebuild reuses the builder cache', { timeout: 600_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.GitHello', message: 'Hello from a git build' });
  const created = await createGitBuild(s, { repo: 'apps', git: { url: app.url, autoPublish: true } });
  assert.equal(created.__typename, 'BuildPayload', JSON.stringify(created));
  const n = created.build.number;
  assert.ok(['WAITING', 'CLONING', 'BUILDING'].includes(created.build.state), created.build.state);
  assert.equal(created.build.source.url, app.url);
  assert.equal(created.build.source.ref, 'HEAD');
  assert.equal(created.build.source.autoCommit, true);
  assert.equal(created.build.source.autoPublish, true);
  const jobNumber = created.build.source.job.number;

  // The log over graphql-ws, chunk by chunk, noting whether the job was still running when each came.
  const ws = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, retryAttempts: 0 });
  const chunks: Array<{ text: string; jobRunning: boolean }> = [];
  const wsErrors: unknown[] = [];
  let completed = false;
  ws.subscribe({ query: 'subscription($n: Int!) { jobLog(number: $n) { text } }', variables: { n: jobNumber } }, {
    next: (m: any) => {
      if (m.errors) return void wsErrors.push(m.errors);
      const text = m.data.jobLog.text as string;
      void s.services.jobs.get(jobNumber).then((j) => chunks.push({ text, jobRunning: j?.status === 'STARTED' || j?.status === 'NEW' }));
    },
    error: (e) => wsErrors.push(e),
    complete: () => (completed = true),
  });
  try {
    const published = await waitForBuild(s, n, (b) => b.publishedState === 'PUBLISHED' || b.state === 'FAILED' || b.publishedState === 'FAILED');
    assert.equal(published.state, 'READY', JSON.stringify(published));
    assert.equal(published.publishedState, 'PUBLISHED', JSON.stringify(published));
    await pollFor(() => completed, 30_000);
    assert.deepEqual(wsErrors, []);
    const text = chunks.map((c) => c.text).join('');
    assert.match(text, /Cloning file:\/\//);
    assert.match(text, /Building module hello/);
    // Probing for the runtime ("not installed" before the first install) leaves no error line in a build that went well.
    assert.doesNotMatch(text, /^error:/m);
    assert.ok(chunks.filter((c) => c.jobRunning).length >= 2, `log chunks arrived while the build ran: ${chunks.map((c) => c.jobRunning).join(',')}`);

    // What the build records: the source commit and what the manifest said.
    assert.equal(published.appId, app.appId);
    assert.equal(published.source.commit, app.commit);
    assert.equal(published.source.manifestPath, app.manifestPath);
    assert.equal(published.source.runtime, 'org.test.Platform//1');
    assert.equal(published.source.sdk, 'org.test.Sdk//1');
    assert.equal(published.source.branch, 'master');
    // The work dir is gone after a successful build.
    assert.equal(existsSync(s.services.gitBuilds.workDir(n)), false);

    // The update-repo job after the publish signs the summary; then a real client installs the app.
    const publishJob = await s.services.prisma.job.findFirst({ where: { buildId: n, kind: 'publish' } });
    await jobEnded(s, (publishJob!.results as any)['update-repo-job']);
    const env = await clientEnv(await tempDir('fmd-git-client-'));
    await runTool('flatpak', ['--user', 'remote-add', '--no-gpg-verify', 'test-runtime', runtimeRepo], { env });
    await runTool('flatpak', ['--user', 'remote-add', '--from', 'apps', `${s.url}/repo/apps.flatpakrepo`], { env });
    await runTool('flatpak', ['--user', 'install', '-y', '--noninteractive', 'apps', app.appId], { env, timeoutMs: 120_000 });
    const run = await runTool('flatpak', ['--user', 'run', app.appId], { env, timeoutMs: 60_000 });
    assert.equal(run.stdout.trim(), app.message);

    // A rebuild of the same commit reuses the app's module cache.
    const r = await s.gql(`mutation($n: Int!) { rebuildBuild(input: { build: $n }) { __typename ... on Error { message } ... on GitBuildPayload { build { ${buildFields} } } } }`, { n });
    assert.equal(r.body.data?.rebuildBuild?.__typename, 'GitBuildPayload', JSON.stringify(r.body));
    const again = r.body.data.rebuildBuild.build;
    assert.notEqual(again.number, n);
    assert.equal(again.source.ref, app.commit);
    assert.equal(again.source.rebuildOf.number, n);
    const rebuilt = await waitForBuild(s, again.number, (b) => b.publishedState === 'PUBLISHED' || b.state === 'FAILED' || b.publishedState === 'FAILED');
    assert.equal(rebuilt.publishedState, 'PUBLISHED', JSON.stringify(rebuilt));
    const log = await jobLog(s, rebuilt.source.job.number);
    assert.match(log, /Cache hit for hello, skipping build/);
    assert.doesNotMatch(log, /Building module hello/);
  } finally {
    await ws.dispose();
  }
});

test('a failing build command fails the build: the error line is in the log and in the failure reason; the work dir is kept', { timeout: 300_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.GitFails', buildCommands: ['echo the-build-broke-here', 'exit 3'] });
  const created = await createGitBuild(s, { repo: 'apps', appId: app.appId, git: { url: app.url, ref: 'main' } });
  assert.equal(created.__typename, 'BuildPayload', JSON.stringify(created));
  const n = created.build.number;
  const failed = await waitForBuild(s, n, (b) => !['WAITING', 'CLONING', 'BUILDING'].includes(b.state));
  assert.equal(failed.state, 'FAILED', JSON.stringify(failed));
  assert.match(failed.stateReason, /Error: module hello: Child process exited with code 3/);
  // The reason names flatpak-builder, not the jail's wrapper (setpriv or bwrap) it runs under.
  assert.match(failed.stateReason, /^flatpak-builder exited with code 1:/);
  const job = await pollFor(async () => {
    const j = await s.services.prisma.job.findFirst({ where: { buildId: n, kind: 'git-build' } });
    return j?.status === 'BROKEN' ? j : null;
  }, 30_000);
  const log = await jobLog(s, job.id);
  assert.match(log, /the-build-broke-here/);
  assert.match(log, /Error: module hello: Child process exited with code 3/);
  assert.equal(existsSync(s.services.gitBuilds.workDir(n)), true, 'a failed build keeps its work dir for inspection');
  // flat-manager clients see a failed build with its reason.
  const rest = await fetch(`${s.url}/api/v1/build/${n}`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  const json = (await rest.json()) as any;
  assert.equal(json.repo_state, 3);
  assert.equal(json.state, 'failed');
  assert.match(json.repo_state_reason, /exited with code 3/);
});

test('the manifest is found and checked before building: ambiguity lists the candidates, an app id outside the token fails the build', { timeout: 300_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.GitOne' });
  const two = appFiles({ appId: 'org.test.GitTwo' });
  await commitFiles(app.dir, two.files, 'a second manifest');
  const created = await createGitBuild(s, { repo: 'apps', git: { url: app.url } });
  const failed = await waitForBuild(s, created.build.number, (b) => !['WAITING', 'CLONING', 'BUILDING'].includes(b.state), 120_000);
  assert.equal(failed.state, 'FAILED');
  assert.match(failed.stateReason, /org\.test\.GitOne\.json/);
  assert.match(failed.stateReason, /org\.test\.GitTwo\.json/);

  // A token for org.other.* builds nothing of org.test.*: found once the manifest is read.
  const t = await s.gql(`mutation { createToken(input: { name: "other prefix", scopes: ["build"], prefixes: ["org.other"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`);
  const token = t.body.data.createToken.token;
  const solo = await makeGitApp({ appId: 'org.test.GitSolo' });
  const c2 = await createGitBuild(s, { repo: 'apps', git: { url: solo.url } }, token);
  assert.equal(c2.__typename, 'BuildPayload', JSON.stringify(c2));
  const refused = await waitForBuild(s, c2.build.number, (b) => !['WAITING', 'CLONING', 'BUILDING'].includes(b.state), 120_000);
  assert.equal(refused.state, 'FAILED');
  assert.match(refused.stateReason, /org\.test\.GitSolo.*prefixes/);
  // The manifest found is recorded all the same (the app id is not: the token may not build it).
  assert.deepEqual([refused.source.manifestPath, refused.appId], [solo.manifestPath, null]);
  // A runtime none of the builder's remotes has: the build fails naming it.
  const lost = await makeGitApp({ appId: 'org.test.GitLost' });
  const manifest = JSON.parse(await readFile(path.join(lost.dir, lost.manifestPath), 'utf8'));
  await commitFiles(lost.dir, { [lost.manifestPath]: JSON.stringify({ ...manifest, runtime: 'org.test.Missing', sdk: 'org.test.MissingSdk' }) }, 'a runtime nobody has');
  const c3 = await createGitBuild(s, { repo: 'apps', git: { url: lost.url } });
  const missing = await waitForBuild(s, c3.build.number, (b) => !['WAITING', 'CLONING', 'BUILDING'].includes(b.state), 120_000);
  assert.equal(missing.state, 'FAILED');
  assert.match(missing.stateReason, /org\.test\.Missing/);
  assert.match(missing.stateReason, /test-runtime/, 'the reason names the remotes looked in');
});

test("a manifest is untrusted: one that reads fmd's secret, by a build command or a symlinked source, fails its build and leaks nothing", { timeout: 300_000 }, async () => {
  // The test server's API secret comes from its config; the master key is a file in the data dir.
  const secretFile = path.join(s.config.dataDir, 'master-key');
  const secret = (await readFile(secretFile, 'utf8')).trim();
  assert.ok(secret.length > 10);
  // In the build's own sandbox: the host's files are not there.
  const reader = await makeGitApp({ appId: 'org.test.GitReadsSecret', buildCommands: [`cat ${secretFile}`] });
  // flatpak-builder itself copies a `file` source: a symlink in the checkout to the secret.
  const linker = await makeGitApp({ appId: 'org.test.GitLinksSecret' });
  const manifest = JSON.parse(await readFile(path.join(linker.dir, linker.manifestPath), 'utf8'));
  manifest.modules[0].sources.push({ type: 'file', path: 'stolen' });
  await commitFiles(linker.dir, { [linker.manifestPath]: JSON.stringify(manifest) }, 'a source that is a link to the secret');
  await runTool('ln', ['-s', secretFile, path.join(linker.dir, 'stolen')]);
  await commitFiles(linker.dir, {}, 'the link');
  for (const app of [reader, linker]) {
    const created = await createGitBuild(s, { repo: 'apps', git: { url: app.url } });
    const failed = await waitForBuild(s, created.build.number, (b) => !['WAITING', 'CLONING', 'BUILDING'].includes(b.state), 180_000);
    assert.equal(failed.state, 'FAILED', `${app.appId}: ${JSON.stringify(failed)}`);
    const log = await jobLog(s, failed.source.job.number);
    assert.ok(!log.includes(secret) && !(failed.stateReason ?? '').includes(secret), `${app.appId} leaked the secret`);
  }
});

/** Starts a build whose command sleeps; answers it once the sleep runs, with the marker to find its processes. */
async function sleepingBuild(srv: TestServer, app: GitApp, marker: string): Promise<number> {
  const created = await createGitBuild(srv, { repo: 'apps', git: { url: app.url } });
  assert.equal(created.__typename, 'BuildPayload', JSON.stringify(created));
  await pollFor(async () => (await processesWith(marker)).length > 0, 180_000, 100);
  return created.build.number;
}

test('cancelBuild stops a running build: its processes are gone within 5 s, it is CANCELLED, its work dir removed; REST shows it as failed with the precise state', { timeout: 300_000 }, async () => {
  const seconds = 3000 + Math.floor(Math.random() * 900);
  const app = await makeGitApp({ appId: 'org.test.GitSleeps', buildCommands: [`sleep ${seconds}`] });
  const n = await sleepingBuild(s, app, `sleep ${seconds}`);
  const during = (await (await fetch(`${s.url}/api/v1/build/${n}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
  assert.equal(during.repo_state, 0, 'flat-manager clients keep waiting for a building build');
  assert.equal(during.state, 'building');
  const workDir = s.services.gitBuilds.workDir(n);

  const started = Date.now();
  const r = await s.gql(`mutation($n: Int!) { cancelBuild(input: { build: $n, reason: "not needed" }) { __typename ... on Error { message } ... on GitBuildPayload { build { state stateReason } } } }`, { n });
  assert.equal(r.body.data?.cancelBuild?.__typename, 'GitBuildPayload', JSON.stringify(r.body));
  assert.equal(r.body.data.cancelBuild.build.state, 'CANCELLED');
  // The reason given, and who cancelled.
  assert.match(r.body.data.cancelBuild.build.stateReason, /^not needed \(cancelled by .+\)$/);
  await pollFor(async () => (await processesWith(`sleep ${seconds}`)).length === 0 && (await processesWith(workDir)).length === 0, 5_000, 50);
  assert.ok(Date.now() - started <= 5_500);
  await pollFor(() => !existsSync(workDir), 10_000, 50);
  const after = (await (await fetch(`${s.url}/api/v1/build/${n}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
  assert.equal(after.repo_state, 3);
  assert.equal(after.state, 'cancelled');
  assert.match(after.repo_state_reason, /^not needed \(cancelled by .+\)$/);
  // Cancelling again is a wrong state.
  const again = await s.gql(`mutation($n: Int!) { cancelBuild(input: { build: $n }) { __typename } }`, { n });
  assert.equal(again.body.data.cancelBuild.__typename, 'WrongStateError');
});

test('a build cancelled or superseded by another process (only its state changes here) is stopped by its job within seconds', { timeout: 300_000 }, async () => {
  const seconds = 5000 + Math.floor(Math.random() * 900);
  const app = await makeGitApp({ appId: 'org.test.GitElsewhere', buildCommands: [`sleep ${seconds}`] });
  const n = await sleepingBuild(s, app, `sleep ${seconds}`);
  // What another process's supersede writes; this process's engine is not told.
  assert.equal(await s.services.builds.applyStep(n, { step: 'supersede', reason: 'superseded by build 0' }), true);
  await pollFor(async () => (await processesWith(`sleep ${seconds}`)).length === 0, 5_000, 50);
  await pollFor(() => !existsSync(s.services.gitBuilds.workDir(n)), 10_000, 50);
  const b = await buildNow(s, n);
  assert.equal(b.state, 'SUPERSEDED');
});

test('a build running past build-timeout-secs is stopped the same way and CANCELLED as timed out', { timeout: 300_000 }, async () => {
  const t = await startTestServer({ ...gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'build-timeout-secs': 25 });
  try {
    await createSignedRepo(t, 'apps');
    const seconds = 4000 + Math.floor(Math.random() * 900);
    const app = await makeGitApp({ appId: 'org.test.GitSlow', buildCommands: [`sleep ${seconds}`] });
    const n = await sleepingBuild(t, app, `sleep ${seconds}`);
    const cancelled = await waitForBuild(t, n, (b) => b.state !== 'BUILDING', 60_000);
    const at = Date.now();
    assert.equal(cancelled.state, 'CANCELLED', JSON.stringify(cancelled));
    assert.equal(cancelled.stateReason, 'timed out after 25 s');
    await pollFor(async () => (await processesWith(`sleep ${seconds}`)).length === 0, 5_000, 50);
    assert.ok(Date.now() - at <= 5_500);
    await pollFor(() => !existsSync(t.services.gitBuilds.workDir(n)), 10_000, 50);
  } finally {
    await t.stop();
  }
});

test('bad git build inputs are refused before anything is created, on GraphQL and REST', { timeout: 120_000 }, async () => {
  const before = await s.services.prisma.build.count();
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ url: 'ftp://example.org/x.git' }, /scheme|not allowed/i],
    [{ url: 'https://user:secret@example.org/x.git' }, /credential/i],
    [{ url: 'ext::sh -c touch% /tmp/pwned' }, /./],
    [{ url: '-oProxyCommand=touch /tmp/pwned' }, /./],
    [{ url: 'https://example.org/x.git', ref: '--upload-pack=touch /tmp/pwned' }, /branch, tag or commit/],
    [{ url: 'https://example.org/x.git', ref: 'a..b' }, /branch, tag or commit/],
    [{ url: 'https://example.org/x.git', arch: 'x86 64' }, /arch/i],
    [{ url: 'https://example.org/x.git', branch: '-stable' }, /branch/i],
    [{ url: 'https://example.org/x.git', manifestPath: '../outside.json' }, /inside the checkout/],
    [{ url: 'https://example.org/x.git', manifestPath: '/etc/passwd.json' }, /relative/],
    [{ url: 'https://example.org/x.git', credential: 999999 }, /credential/],
    [{ url: 'https://example.org/x.git', dependsOn: [999999] }, /999999/],
    [{ url: 'https://example.org/x.git', autoPublish: true, autoCommit: false }, /autoCommit/],
  ];
  for (const [git, why] of bad) {
    const r = await createGitBuild(s, { repo: 'apps', git });
    assert.equal(r.__typename, 'InvalidInputError', `${JSON.stringify(git)}: ${JSON.stringify(r)}`);
    assert.match(r.message, why, JSON.stringify(git));
  }
  const badApp = await createGitBuild(s, { repo: 'apps', appId: 'not an id', git: { url: 'https://example.org/x.git' } });
  assert.equal(badApp.__typename, 'InvalidInputError');
  const noRepo = await createGitBuild(s, { repo: 'no-such-repo', git: { url: 'https://example.org/x.git' } });
  assert.equal(noRepo.__typename, 'NotFoundError');
  // autoPublish needs the publish scope.
  const t = await s.gql(`mutation { createToken(input: { name: "builder only", scopes: ["build"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`);
  const buildOnly = await createGitBuild(s, { repo: 'apps', git: { url: 'https://example.org/x.git', autoPublish: true } }, t.body.data.createToken.token);
  assert.equal(buildOnly.__typename, 'InvalidInputError');
  assert.match(buildOnly.message, /publish/);
  // cancel and rebuild of a build that is no git build.
  const plain = (await createGitBuild(s, { repo: 'apps' })).build.number;
  for (const m of ['cancelBuild', 'rebuildBuild']) {
    const r = await s.gql(`mutation($n: Int!) { ${m}(input: { build: $n }) { __typename ... on Error { message } } }`, { n: plain });
    assert.equal(r.body.data[m].__typename, 'InvalidInputError', JSON.stringify(r.body));
    assert.match(r.body.data[m].message, /not a git build/);
  }
  const unknown = await s.gql(`mutation { cancelBuild(input: { build: 987654 }) { __typename } }`);
  assert.equal(unknown.body.data.cancelBuild.__typename, 'NotFoundError');

  // REST: the same rules, and JSON types checked.
  const post = (p: string, body: unknown) =>
    fetch(`${s.url}/api/v1${p}`, { method: 'POST', headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const restBad: Array<[unknown, string]> = [
    [{ repo: 'apps' }, 'url'],
    [{ url: 'https://example.org/x.git' }, 'repo'],
    [{ repo: 'apps', url: 'ftp://example.org/x.git' }, 'url'],
    [{ repo: 'apps', url: 'https://example.org/x.git', 'auto-commit': 'yes' }, 'auto-commit'],
    [{ repo: 'apps', url: 'https://example.org/x.git', credential: '1' }, 'credential'],
    [{ repo: 'apps', url: 'https://example.org/x.git', 'depends-on': 'x' }, 'depends-on'],
    [{ repo: 'apps', url: 'https://example.org/x.git', ref: 7 }, 'ref'],
    [[1, 2], 'body'],
  ];
  for (const [body, what] of restBad) {
    const res = await post('/build/git', body);
    const json = (await res.json()) as any;
    assert.equal(res.status, 400, `${what}: ${JSON.stringify(json)}`);
    // flat-manager's clients know no invalid-input error type: it goes out as generic-error.
    assert.equal(json['error-type'], 'generic-error', what);
    assert.match(json.message, what === 'body' ? /JSON object/ : new RegExp(what === 'url' && json.message.includes('scheme') ? 'scheme' : what), what);
  }
  assert.equal((await post('/build/abc/cancel', {})).status, 404);
  assert.equal((await post('/build/987654/rebuild', {})).status, 404);
  assert.equal(await s.services.prisma.build.count(), before + 1, 'no git build was created (only the plain one)');
});

test("a repo's autoPublish policy publishes git builds of a token without the publish scope", { timeout: 300_000 }, async () => {
  await createSignedRepo(s, 'policy');
  const u = await s.gql(`mutation { updateRepo(input: { name: "policy", autoPublish: true }) { __typename ... on RepoPayload { repo { autoPublish } } ... on Error { message } } }`);
  assert.equal(u.body.data.updateRepo.repo?.autoPublish, true, JSON.stringify(u.body));
  const t = await s.gql(`mutation { createToken(input: { name: "build only", scopes: ["build"], repos: ["policy"], prefixes: ["org.test"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`);
  const app = await makeGitApp({ appId: 'org.test.GitPolicy' });
  const created = await createGitBuild(s, { repo: 'policy', git: { url: app.url } }, t.body.data.createToken.token);
  assert.equal(created.__typename, 'BuildPayload', JSON.stringify(created));
  assert.equal(created.build.source.autoPublish, null, 'not asked: the policy decides');
  const done = await waitForBuild(s, created.build.number, (b) => b.publishedState === 'PUBLISHED' || b.publishedState === 'FAILED' || b.state === 'FAILED');
  assert.equal(done.publishedState, 'PUBLISHED', JSON.stringify(done));
  // A build that says autoPublish: false opts out of the policy: committed, not published.
  const optOut = await createGitBuild(s, { repo: 'policy', git: { url: app.url, autoPublish: false } });
  assert.equal(optOut.build.source.autoPublish, false);
  const ready = await waitForBuild(s, optOut.build.number, (b) => b.state === 'READY' || b.state === 'FAILED');
  assert.equal(ready.state, 'READY', JSON.stringify(ready));
  // The commit job's end is where a publish would have been queued: none was.
  await pollFor(async () => (await s.services.prisma.job.count({ where: { buildId: optOut.build.number, kind: 'commit', status: 'ENDED' } })) === 1);
  assert.equal(await s.services.prisma.job.count({ where: { buildId: optOut.build.number, kind: 'publish' } }), 0);
  assert.equal((await waitForBuild(s, optOut.build.number, () => true)).publishedState, 'UNPUBLISHED');
});

test('POST /api/v1/build/git creates a git build answering flat-manager build JSON with a Location', { timeout: 300_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.GitRest' });
  const res = await fetch(`${s.url}/api/v1/build/git`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ repo: 'apps', 'app-id': app.appId, url: app.url, ref: 'main', manifest: app.manifestPath, 'auto-commit': true }),
  });
  const json = (await res.json()) as any;
  assert.equal(res.status, 200, JSON.stringify(json));
  assert.match(res.headers.get('location') ?? '', new RegExp(`/api/v1/build/${json.id}$`));
  assert.equal(json.repo, 'apps');
  assert.equal(json.app_id, app.appId);
  assert.equal(json.repo_state, 0);
  assert.ok(['waiting', 'cloning', 'building'].includes(json.state), json.state);
  // A flat-manager client polling the build sees it go to committed (repo_state 2), with its commit job.
  const done = await pollFor(async () => {
    const b = (await (await fetch(`${s.url}/api/v1/build/${json.id}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
    return b.repo_state === 2 || b.repo_state === 3 ? b : null;
  }, 240_000, 200);
  assert.equal(done.repo_state, 2, JSON.stringify(done));
  assert.equal(done.state, 'ready');
  assert.equal(typeof done.commit_job_id, 'number');
  assert.equal(done.published_state, 0, 'not published: neither asked for nor the repo policy');
  // The build's output is its git-build job's log, which flat-manager's job endpoint serves.
  assert.equal(typeof done.git_build_job_id, 'number');
  const job = (await (await fetch(`${s.url}/api/v1/job/${done.git_build_job_id}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
  assert.equal(job.kind, 10);
  assert.equal(job.status, 2);
  assert.match(job.log, /Building module hello/);
});
