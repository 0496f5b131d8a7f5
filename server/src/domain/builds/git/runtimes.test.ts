import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { runTool } from '../../../ostree/exec.ts';
import { buildUpdateRepo } from '../../../ostree/flatpak.ts';
import * as ostree from '../../../ostree/ostree.ts';
import { buildTestRuntime, defaultArch, PLATFORM_ID, SDK_ID, tempDir } from '../../../../test/kit/flatpak-fixtures.ts';
import { BuilderInstallation, MissingRuntimeError } from './runtimes.ts';

const setup = (async () => {
  const root = await tempDir('fmd-runtimes-');
  const runtimeRepo = path.join(root, 'runtime-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(root, 'rt-work') });
  // A second remote that exists but has nothing in it.
  const empty = path.join(root, 'empty-repo');
  await ostree.init(empty, { mode: 'archive-z2' });
  await buildUpdateRepo(empty, { noUpdateAppstream: true });
  return { root, runtimeRepo, empty, arch: await defaultArch() };
})();

async function installedRefs(inst: BuilderInstallation): Promise<string[]> {
  const { stdout } = await runTool('flatpak', ['--user', 'list', '--columns=ref'], { env: inst.env() });
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
}

test('installs the runtime and the SDK from the first remote that has them, and updates them later', async () => {
  const { root, runtimeRepo, empty, arch } = await setup;
  const inst = new BuilderInstallation({
    dir: path.join(root, 'inst-1'),
    remotes: [
      { name: 'empty', url: `file://${empty}` },
      { name: 'fmd-runtime', url: `file://${runtimeRepo}` },
    ],
  });
  const refs = [
    { id: PLATFORM_ID, version: '1', arch },
    { id: SDK_ID, version: '1', arch },
  ];
  await inst.ensure(refs, { timeoutMs: 120_000 });
  assert.deepEqual(await installedRefs(inst), [`${PLATFORM_ID}/${arch}/1`, `${SDK_ID}/${arch}/1`]);
  // The jailed build runs as another user and must be able to read the installation.
  assert.equal((await stat(inst.flatpakDir)).mode & 0o755, 0o755);

  // A newer runtime in the remote is picked up by the next ensure().
  const before = (await runTool('flatpak', ['--user', 'info', '--show-commit', `${SDK_ID}//1`], { env: inst.env() })).stdout.trim();
  await buildTestRuntime(runtimeRepo, { workDir: path.join(root, 'rt-work-2') });
  await inst.ensure(refs, { timeoutMs: 120_000 });
  const after = (await runTool('flatpak', ['--user', 'info', '--show-commit', `${SDK_ID}//1`], { env: inst.env() })).stdout.trim();
  assert.notEqual(after, before);
  assert.equal(after, await ostree.revParse(runtimeRepo, `runtime/${SDK_ID}/${arch}/1`));
});

test('remotes follow the configuration: removed ones go, changed URLs are updated', async () => {
  const { root, runtimeRepo, empty, arch } = await setup;
  const dir = path.join(root, 'inst-2');
  await new BuilderInstallation({ dir, remotes: [{ name: 'old', url: `file://${empty}` }, { name: 'rt', url: `file://${empty}` }] }).ensure([]);
  const inst = new BuilderInstallation({ dir, remotes: [{ name: 'rt', url: `file://${runtimeRepo}` }] });
  await inst.ensure([{ id: PLATFORM_ID, version: '1', arch }], { timeoutMs: 120_000 });
  const { stdout } = await runTool('flatpak', ['--user', 'remotes', '--columns=name,url'], { env: inst.env() });
  assert.deepEqual(stdout.trim().split('\n'), [`rt\tfile://${runtimeRepo}`]);
});

test('a runtime no remote has: MissingRuntimeError naming it and the remotes tried', async () => {
  const { root, runtimeRepo, empty, arch } = await setup;
  const inst = new BuilderInstallation({
    dir: path.join(root, 'inst-3'),
    remotes: [
      { name: 'a', url: `file://${empty}` },
      { name: 'b', url: `file://${runtimeRepo}` },
    ],
  });
  await assert.rejects(inst.ensure([{ id: 'org.x.Sdk', version: '1', arch }], { timeoutMs: 120_000 }), (err: unknown) => {
    assert.ok(err instanceof MissingRuntimeError);
    assert.equal(err.message, `runtime org.x.Sdk//1 (${arch}) is in none of the remotes: a, b`);
    assert.equal(err.errorType, 'invalid-input');
    return true;
  });
  const none = new BuilderInstallation({ dir: path.join(root, 'inst-4'), remotes: [] });
  await assert.rejects(none.ensure([{ id: 'org.x.Sdk', version: '1', arch }]), /is in none of the remotes: \(none configured\)/);
  await assert.rejects(none.ensure([{ id: '--help', version: '1', arch }]), /invalid runtime/);
  assert.throws(() => new BuilderInstallation({ dir: root, remotes: [{ name: '-x', url: 'file:///x' }] }), /invalid builder remote name/);
});

test('concurrent ensure() calls on one installation are serialized, also against another process holding the lock', async () => {
  const { root, runtimeRepo, arch } = await setup;
  const dir = path.join(root, 'inst-5');
  const remotes = [{ name: 'rt', url: `file://${runtimeRepo}` }];
  const refs = [
    { id: PLATFORM_ID, version: '1', arch },
    { id: SDK_ID, version: '1', arch },
  ];
  // Two builds (two instances, as two jobs would make them) ask at once.
  await Promise.all([
    new BuilderInstallation({ dir, remotes }).ensure(refs, { timeoutMs: 120_000 }),
    new BuilderInstallation({ dir, remotes }).ensure(refs, { timeoutMs: 120_000 }),
  ]);
  const inst = new BuilderInstallation({ dir, remotes });
  assert.deepEqual(await installedRefs(inst), [`${PLATFORM_ID}/${arch}/1`, `${SDK_ID}/${arch}/1`]);

  // Another live process holds the lock: ensure() waits for it to go.
  const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
  const lockFile = path.join(dir, 'install.lock');
  await writeFile(lockFile, JSON.stringify({ host: hostname(), pid: holder.pid, token: 'other' }));
  let done = false;
  const waiting = inst.ensure(refs, { timeoutMs: 120_000 }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(done, false, 'ensure() waits while another process holds the lock');
  assert.ok(existsSync(lockFile));
  holder.kill('SIGKILL');
  // The holder died without removing its lock: the lock is stale and taken over.
  await waiting;
  assert.ok(!existsSync(lockFile), 'the lock is released');
});
