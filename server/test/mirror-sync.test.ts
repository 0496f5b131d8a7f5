// deploy/mirror-sync.sh on a real fmd repo: the mirror it makes installs with a stock flatpak
// client (GPG-verified), its rsync passes run in the documented order (content, summaries/,
// refs, each signature before the file it signs, then the purge, then deletions), and files the
// source dropped go only in the last pass, unless MIRROR_DELETE=0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo, installAndRun, publishTestApp, testBuilds } from './kit/repo-fixtures.ts';
import { tempDir } from './kit/flatpak-fixtures.ts';
import { runTool, ToolError } from '../src/ostree/exec.ts';

const script = fileURLToPath(new URL('../../deploy/mirror-sync.sh', import.meta.url));

let s: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
before(async () => {
  s = await startTestServer();
  work = await tempDir('fmd-mirror-sync-');
  await testBuilds();
  // rsync as the script finds it on the PATH: each call's arguments logged, then the real one.
  const bin = path.join(work, 'bin');
  await mkdir(bin);
  await writeFile(path.join(bin, 'rsync'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${work}/rsync.log"\nexec /usr/bin/rsync "$@"\n`);
  await chmod(path.join(bin, 'rsync'), 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
});
after(async () => {
  await s.stop();
  await rm(work, { recursive: true, force: true });
});

test('a mirror made by mirror-sync.sh installs with flatpak; passes in order; deletions last', { timeout: 600_000 }, async () => {
  await createSignedRepo(s, 'm');
  const src = s.services.repos.repoPath('m');
  const b = await publishTestApp(src);
  await s.services.repos.updateSummary('m');
  const mirror = path.join(work, 'mirror');
  await mkdir(mirror);
  await writeFile(path.join(mirror, 'stale-file'), 'not in the source');
  await mkdir(path.join(mirror, 'deltas'));
  await writeFile(path.join(mirror, 'deltas', 'old'), 'a delta the source dropped');

  const purged = path.join(work, 'purged');
  await runTool(script, [src, mirror], {
    env: { ...env, MIRROR_PURGE: `cmp -s "${src}/summary" "${mirror}/summary" && cmp -s "${src}/summary.idx" "${mirror}/summary.idx" && echo summary-in-place > "${purged}"` },
    timeoutMs: 120_000,
  });
  assert.equal((await readFile(purged, 'utf8')).trim(), 'summary-in-place', 'the purge ran with the new summary already on the mirror');
  assert.ok(!existsSync(path.join(mirror, 'stale-file')) && !existsSync(path.join(mirror, 'deltas', 'old')), 'files the source does not have are deleted');
  assert.ok(!existsSync(path.join(mirror, '.fmd-staging')) && !existsSync(path.join(mirror, 'tmp')), 'fmd\'s staging and tmp dirs are not copied');
  // The mirror holds the same repo: diff finds nothing but what is left out on purpose (what
  // fmd's /repo/ does not serve either: ostree's lock, state/, extensions/ and tmp/, fmd's staging).
  await runTool('diff', ['-r', '-q', ...['.fmd-staging', 'tmp', '.lock', 'state', 'extensions'].map((x) => `--exclude=${x}`), src, mirror]);

  const calls = (await readFile(path.join(work, 'rsync.log'), 'utf8')).trim().split('\n');
  const at = (re: RegExp) => {
    const i = calls.findIndex((c) => re.test(c));
    assert.ok(i >= 0, `an rsync call matching ${re}: ${calls.join(' | ')}`);
    return i;
  };
  const order = [
    at(/\/objects .*\/deltas /),
    at(/\/summaries /),
    at(/\/refs /),
    at(/\/summary\.idx\.sig /),
    at(/\/summary\.idx \S+\/summary\.idx$/),
    at(/\/summary\.sig /),
    at(/\/summary \S+\/summary$/),
    at(/--delete/),
  ];
  assert.deepEqual(order, [...order].sort((x, y) => x - y), `passes in order: ${calls.join(' | ')}`);
  assert.equal(order.at(-1), calls.length - 1, 'the delete pass is the last');
  for (const c of calls.slice(0, -1)) assert.doesNotMatch(c, /--delete/);

  // A stock client installs from the mirror, GPG-verified with the repo's key.
  const flatpakrepo = (await (await fetch(`${s.url}/repo/m.flatpakrepo`)).text()).replace(/^Url=.*$/m, `Url=file://${mirror}/`);
  assert.match(flatpakrepo, /^GPGKey=/m);
  assert.match(await installAndRun(path.join(work, 'client'), { file: flatpakrepo }), new RegExp(b.app.message));

  // MIRROR_DELETE=0 keeps what the source dropped.
  await writeFile(path.join(mirror, 'stale-file'), 'kept');
  await runTool(script, [src, mirror], { env: { ...env, MIRROR_DELETE: '0' }, timeoutMs: 120_000 });
  assert.ok(existsSync(path.join(mirror, 'stale-file')));
});

test('mirror-sync.sh refuses what is not an OSTree repo, and bad usage', async () => {
  const notRepo = path.join(work, 'not-a-repo');
  await mkdir(notRepo, { recursive: true });
  for (const args of [[notRepo, path.join(work, 'x')], [notRepo]]) {
    await assert.rejects(runTool(script, args, { env }), (err: unknown) => err instanceof ToolError && err.code === 2);
  }
});
