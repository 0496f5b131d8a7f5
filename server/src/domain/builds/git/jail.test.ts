import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { chmod, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool, ToolError } from '../../../ostree/exec.ts';
import { flatpakBuilder } from '../../../ostree/flatpak-builder.ts';
import * as ostree from '../../../ostree/ostree.ts';
import { ensureBuilderUser } from '../../../../test/kit/builder-user.ts';
import { buildTestRuntime, defaultArch, PLATFORM_ID, SDK_ID, tempDir, testAppManifest } from '../../../../test/kit/flatpak-fixtures.ts';
import { createJail } from './jail.ts';
import { BuilderInstallation } from './runtimes.ts';

const SECRET = `jail-test-secret-${process.pid}`;

/** A data dir laid out like fmd's, with one build (12) about to run and another build's files (11). */
const setup = (async () => {
  await ensureBuilderUser();
  const root = await tempDir('fmd-jail-');
  // mkdtemp makes 0700 dirs; fmd's data dir is searchable (its secrets are 0600 files).
  await chmod(root, 0o755);
  const data = path.join(root, 'data');
  await mkdir(path.join(data, 'mariadb'), { recursive: true });
  await writeFile(path.join(data, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  await writeFile(path.join(data, 'master-key'), `${SECRET}-master\n`, { mode: 0o600 });
  await writeFile(path.join(data, 'mariadb', 'ibdata1'), 'db');
  const sock = createServer();
  await new Promise<void>((r) => sock.listen(path.join(data, 'mariadb', 'mysqld.sock'), r));
  sock.unref();
  await mkdir(path.join(data, 'builder', 'work', '11'), { recursive: true });
  await writeFile(path.join(data, 'builder', 'work', '11', 'other-build.txt'), 'other');
  const runtimeRepo = path.join(root, 'runtime-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(root, 'rt-work') });
  const arch = await defaultArch();
  const installation = new BuilderInstallation({ dir: path.join(data, 'builder', 'installation'), remotes: [{ name: 'rt', url: `file://${runtimeRepo}` }] });
  await installation.ensure([
    { id: PLATFORM_ID, version: '1', arch },
    { id: SDK_ID, version: '1', arch },
  ], { timeoutMs: 120_000 });
  return { root, data, arch, installation, sock };
})();

let nextBuild = 12;

/** A build's dirs and jail, with a checkout holding one manifest (and whatever `files` add). */
async function prepareBuild(appId: string, commands: string[], sources: unknown[] = [], files: Record<string, string> = {}) {
  const { data, arch, installation } = await setup;
  const id = nextBuild++;
  const work = path.join(data, 'builder', 'work', String(id));
  const checkout = path.join(work, 'checkout');
  await mkdir(checkout, { recursive: true });
  for (const [rel, target] of Object.entries(files)) await symlink(target, path.join(checkout, rel));
  await writeFile(path.join(checkout, 'data.txt'), 'data from the checkout\n');
  const manifest = path.join(checkout, `${appId}.json`);
  await writeFile(
    manifest,
    JSON.stringify(testAppManifest(appId, [{ name: 'main', buildsystem: 'simple', 'build-commands': commands, sources }])),
  );
  const upload = path.join(data, 'builds', String(id), 'upload');
  await mkdir(path.dirname(upload), { recursive: true });
  await ostree.init(upload, { mode: 'archive-z2' });
  const state = path.join(data, 'builder', 'state', appId, arch);
  await mkdir(state, { recursive: true });
  const jail = await createJail({
    workDir: work,
    writable: [upload, state],
    readOnly: [installation.flatpakDir],
    hidden: [data],
  });
  const o = { manifest, checkout, buildDir: path.join(work, 'build'), repo: upload, stateDir: state, arch, defaultBranch: 'stable', env: installation.env(), jail };
  return { work, upload, jail, o, ref: `app/${appId}/${arch}/stable` };
}

const helloCommands = ['mkdir -p /app/bin', "echo 'echo hello from the jail' > /app/bin/hello", 'chmod 755 /app/bin/hello'];

test('inside the jail fmd\'s secret, master key, database and other builds are absent, and system dirs are read-only', async () => {
  const { data, installation } = await setup;
  const { jail, work } = await prepareBuild('org.test.JailProbe', helloCommands);
  const probe = [
    `cat ${data}/secret`,
    `cat ${data}/master-key`,
    `ls ${data}/mariadb`,
    `ls ${data}/builder/work/11`,
    `ls ${data}/builder/installation/home`,
    'touch /usr/fmd-jail-test',
    `touch ${installation.flatpakDir}/x`,
  ];
  for (const cmd of probe) {
    const run = jail.wrap('sh', ['-c', cmd]);
    await assert.rejects(runTool(run.cmd, run.args, { cwd: work, timeoutMs: 30_000 }), ToolError, `${cmd} must fail in the jail`);
  }
  const ok = jail.wrap('sh', ['-c', `id -u; touch ${work}/written; ls ${installation.flatpakDir}`]);
  const r = await runTool(ok.cmd, ok.args, { cwd: work, timeoutMs: 30_000 });
  assert.equal(r.stdout.split('\n')[0], String(jail.owner?.uid ?? process.getuid!()));
  assert.match(r.stdout, /runtime/);
  if (jail.owner) assert.equal((await stat(path.join(work, 'written'))).uid, jail.owner.uid);
});

test('a manifest that reads fmd\'s secret fails its build; without the jail the same manifest would leak it', async () => {
  const { data } = await setup;
  // flatpak-builder follows a symlink in the checkout when it copies a `file` source: outside the
  // jail this copies the secret into the build (the control below shows it does).
  const leak = await prepareBuild(
    'org.test.Leak',
    [`cat ${data}/secret || true`, 'cat secret.txt', 'mkdir -p /app/bin', 'cp secret.txt /app/bin/hello'],
    [{ type: 'file', path: 'secret-link', 'dest-filename': 'secret.txt' }],
    { 'secret-link': path.join(data, 'secret') },
  );
  const lines: string[] = [];
  await assert.rejects(flatpakBuilder(leak.o, { onLine: (l) => lines.push(l), timeoutMs: 120_000 }), ToolError);
  assert.ok(!lines.some((l) => l.includes(SECRET)), 'the secret never shows in the build output');
  assert.equal(await ostree.revParse(leak.upload, leak.ref), null, 'nothing was exported');

  // The control: the same manifest, unjailed, reads the secret. If this stops leaking, the test above proves nothing.
  const control = await prepareBuild(
    'org.test.LeakControl',
    ['cat secret.txt', 'mkdir -p /app/bin', 'cp secret.txt /app/bin/hello'],
    [{ type: 'file', path: 'secret-link', 'dest-filename': 'secret.txt' }],
    { 'secret-link': path.join(data, 'secret') },
  );
  const controlLines: string[] = [];
  await flatpakBuilder({ ...control.o, jail: undefined }, { onLine: (l) => controlLines.push(l), timeoutMs: 120_000 });
  assert.ok(controlLines.some((l) => l.includes(SECRET)), 'without the jail the symlinked secret leaks');
});

const withData = [...helloCommands, 'mkdir -p /app/share', 'cp data.txt /app/share/data.txt'];
const dataSource = [{ type: 'file', path: 'data.txt' }];

test('a normal manifest builds in the jail and is exported to the upload repo', async () => {
  const b = await prepareBuild('org.test.Jailed', withData, dataSource);
  const lines: string[] = [];
  await flatpakBuilder(b.o, { onLine: (l) => lines.push(l), timeoutMs: 120_000 });
  assert.ok(await ostree.revParse(b.upload, b.ref), lines.join('\n'));
  // The state dir is reused by the next build of the app: its module cache is hit.
  const again = await prepareBuild('org.test.Jailed', withData, dataSource);
  const lines2: string[] = [];
  await flatpakBuilder(again.o, { onLine: (l) => lines2.push(l), timeoutMs: 120_000 });
  assert.ok(lines2.some((l) => /Cache hit for main, skipping/.test(l)), lines2.join('\n'));
  assert.ok(await ostree.revParse(again.upload, again.ref));
});

// Matches the command lines only (no PID column: a PID can equal the marker, as the test process's own once did).
async function processesWith(marker: string): Promise<string[]> {
  const { stdout } = await runTool('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((l) => l.includes(marker) && !l.startsWith('ps '));
}

test('aborting a sleeping build kills everything in the jail within 5 s', async () => {
  const marker = `${7_000_000 + process.pid}`;
  // A build command that outlives its shell and leaves the process group: only the PID namespace catches it.
  const b = await prepareBuild('org.test.Sleeper', [`setsid sleep ${marker} & sleep ${marker}`]);
  const ac = new AbortController();
  const lines: string[] = [];
  const run = flatpakBuilder(b.o, { signal: ac.signal, onLine: (l) => lines.push(l), timeoutMs: 120_000 });
  const started = Date.now();
  for (;;) {
    if ((await processesWith(`sleep ${marker}`)).length >= 2) break;
    if (Date.now() - started > 60_000) throw new Error(`the build did not start sleeping:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const aborted = Date.now();
  ac.abort(new Error('cancelled by test'));
  await assert.rejects(run, (err: unknown) => err instanceof ToolError && err.reason === 'aborted');
  for (;;) {
    const left = await processesWith(`sleep ${marker}`);
    if (left.length === 0) break;
    if (Date.now() - aborted > 5000) assert.fail(`still running 5 s after the abort:\n${left.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(Date.now() - aborted <= 5000);
});

test('paths to hide are masked even under a bound dir, while deeper binds stay visible', async () => {
  const { root } = await setup;
  const etcFile = `/etc/fmd-jail-test-${process.pid}.conf`;
  await writeFile(etcFile, `${SECRET}\n`, { mode: 0o644 });
  try {
    const work = path.join(root, 'hide-work');
    const masked = path.join(work, 'masked');
    const keep = path.join(masked, 'keep');
    await mkdir(keep, { recursive: true });
    await writeFile(path.join(masked, 'private.txt'), SECRET);
    await writeFile(path.join(keep, 'visible.txt'), 'visible');
    const jail = await createJail({ workDir: work, writable: [keep], readOnly: [], hidden: [etcFile, masked, path.join(root, 'nope')] });
    const run = jail.wrap('sh', ['-c', `cat ${etcFile}; ls ${masked}; cat ${keep}/visible.txt; echo; echo end`]);
    const r = await runTool(run.cmd, run.args, { cwd: work, timeoutMs: 30_000 });
    assert.ok(!r.stdout.includes(SECRET));
    assert.deepEqual(r.stdout.trim().split('\n'), ['keep', 'visible', 'end']);
  } finally {
    await rm(etcFile, { force: true });
  }
});

test('a missing build user or an unreachable path is a clear error, before anything runs', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const { root } = await setup;
  const work = path.join(root, 'errors-work');
  await mkdir(work, { recursive: true });
  await assert.rejects(
    createJail({ workDir: work, writable: [], readOnly: [], user: 'fmd-no-such-user' }),
    /unprivileged system user fmd-no-such-user .* run scripts\/install\.sh/,
  );
  const closed = path.join(root, 'closed');
  await mkdir(path.join(closed, 'inner'), { recursive: true, mode: 0o700 });
  await chmod(closed, 0o700);
  await assert.rejects(
    createJail({ workDir: path.join(closed, 'inner'), writable: [], readOnly: [] }),
    new RegExp(`fmd-builder cannot reach ${closed}/inner: ${closed} is not searchable`),
  );
});
