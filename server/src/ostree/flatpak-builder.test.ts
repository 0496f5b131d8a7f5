import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  buildTestRuntime,
  clientEnv,
  defaultArch,
  installTestRuntime,
  tempDir,
  testAppManifest,
} from '../../test/kit/flatpak-fixtures.ts';
import { ToolError } from './exec.ts';
import { flatpakBuilder, flatpakBuilderArgs } from './flatpak-builder.ts';
import * as ostree from './ostree.ts';

const setup = (async () => {
  const root = await tempDir('fmd-fb-');
  const runtimeRepo = path.join(root, 'runtime-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(root, 'rt-work') });
  const env = await clientEnv(path.join(root, 'installation'));
  await installTestRuntime(env, runtimeRepo);
  return { root, env, arch: await defaultArch() };
})();

async function manifest(dir: string, appId: string, commands: string[], extra: Record<string, unknown> = {}) {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${appId}.json`);
  await writeFile(
    file,
    JSON.stringify(testAppManifest(appId, [{ name: 'hello', buildsystem: 'simple', 'build-commands': commands, ...extra }])),
  );
  return file;
}

const helloCommands = ['mkdir -p /app/bin', "echo 'echo hello from git' > /app/bin/hello", 'chmod 755 /app/bin/hello'];

test('the flags git builds rely on, in an order that keeps paths from being read as options', () => {
  const args = flatpakBuilderArgs({
    manifest: '/w/src/m.json',
    buildDir: '/w/build',
    repo: '/up/repo',
    stateDir: '/state/app',
    arch: 'x86_64',
    defaultBranch: 'stable',
    ccache: true,
    env: {},
  });
  assert.deepEqual(args, [
    '--sandbox',
    '--disable-rofiles-fuse',
    '--force-clean',
    '--delete-build-dirs',
    '--arch=x86_64',
    '--state-dir=/state/app',
    '--repo=/up/repo',
    '--default-branch=stable',
    '--ccache',
    '--',
    '/w/build',
    '/w/src/m.json',
  ]);
});

test('builds a manifest on the offline test runtime into the repo, then a rebuild reuses the module cache', async () => {
  const { root, env, arch } = await setup;
  const work = path.join(root, 'ok');
  const file = await manifest(path.join(work, 'src'), 'org.test.GitHello', helloCommands);
  const o = {
    manifest: file,
    buildDir: path.join(work, 'build'),
    repo: path.join(work, 'repo'),
    stateDir: path.join(root, 'state', 'org.test.GitHello'),
    arch,
    defaultBranch: 'beta',
    env,
  };
  const lines: string[] = [];
  await flatpakBuilder(o, { onLine: (l) => lines.push(l), timeoutMs: 120_000 });
  assert.ok(lines.some((l) => l.includes('Running: chmod 755 /app/bin/hello')), 'the build log arrives line by line');
  const ref = `app/org.test.GitHello/${arch}/beta`;
  assert.ok(await ostree.revParse(o.repo, ref), `${ref} is in the repo`);

  const again: string[] = [];
  await flatpakBuilder(o, { onLine: (l) => again.push(l), timeoutMs: 120_000 });
  assert.ok(again.some((l) => /Cache hit for hello, skipping/.test(l)), again.join('\n'));
  assert.ok(!again.some((l) => l.includes('Running: chmod')), 'the cached module did not run again');

  // The next build comes from another checkout in another work dir, as each git build does: still cached.
  const work2 = path.join(root, 'ok-2');
  const file2 = await manifest(path.join(work2, 'src'), 'org.test.GitHello', helloCommands);
  const third: string[] = [];
  await flatpakBuilder(
    { ...o, manifest: file2, buildDir: path.join(work2, 'build'), repo: path.join(work2, 'repo') },
    { onLine: (l) => third.push(l), timeoutMs: 120_000 },
  );
  assert.ok(third.some((l) => /Cache hit for hello, skipping/.test(l)), third.join('\n'));
  assert.ok(await ostree.revParse(path.join(work2, 'repo'), ref));
});

test('a failing build command fails with its line in the log and the error', async () => {
  const { root, env, arch } = await setup;
  const work = path.join(root, 'fail');
  const file = await manifest(path.join(work, 'src'), 'org.test.GitFail', ['echo about to fail', 'cat /no/such/file']);
  const lines: string[] = [];
  await assert.rejects(
    flatpakBuilder(
      { manifest: file, buildDir: path.join(work, 'build'), repo: path.join(work, 'repo'), stateDir: path.join(work, 'state'), arch, env },
      { onLine: (l) => lines.push(l), timeoutMs: 120_000 },
    ),
    (err: unknown) => err instanceof ToolError && err.reason === 'exit' && /Child process exited with code 1/.test(err.stderrTail),
  );
  assert.ok(lines.some((l) => /cat: can't open '\/no\/such\/file'/.test(l)), lines.join('\n'));
});

test('--sandbox: build-args that widen the build sandbox are refused', async () => {
  const { root, env, arch } = await setup;
  const work = path.join(root, 'args');
  const file = await manifest(path.join(work, 'src'), 'org.test.GitArgs', helloCommands, {
    'build-options': { 'build-args': ['--filesystem=host'] },
  });
  await assert.rejects(
    flatpakBuilder(
      { manifest: file, buildDir: path.join(work, 'build'), repo: path.join(work, 'repo'), stateDir: path.join(work, 'state'), arch, env },
      { timeoutMs: 120_000 },
    ),
    (err: unknown) => err instanceof ToolError && /build-args.*sandbox|sandbox.*build-args/i.test(err.stderr),
  );
});
