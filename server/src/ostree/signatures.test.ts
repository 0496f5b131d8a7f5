import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKey, exportPublicKey } from '../domain/keys/pgp.ts';
import { buildTestRuntime, defaultArch, PLATFORM_ID, tempDir } from '../../test/kit/flatpak-fixtures.ts';
import { runTool } from './exec.ts';
import { parseVarDict, serializeVarDict, unwrap, variant } from '@fmd/sdk/ostree';
import * as ostree from './ostree.ts';
import {
  commitObjectPath,
  createSummaryStaging,
  installStagedSummary,
  readGpgSignatures,
  sha256Hex,
  writeCommitSignatures,
} from './signatures.ts';

async function repoWithCommit(work: string): Promise<{ repo: string; commit: string }> {
  const repo = path.join(work, 'repo');
  await ostree.init(repo, { mode: 'archive-z2' });
  const tree = path.join(work, 'tree');
  await mkdir(tree, { recursive: true });
  await writeFile(path.join(tree, 'hello'), 'hello\n');
  const { stdout } = await runTool('ostree', ['commit', `--repo=${repo}`, '--branch=test', `--tree=dir=${tree}`, '--subject=t']);
  return { repo, commit: stdout.trim() };
}

test('commit signatures by two keys merge into .commitmeta without clobbering other entries (>64 KiB file)', async (t) => {
  const work = await tempDir('fmd-sig-');
  t.after(() => rm(work, { recursive: true, force: true }));
  const { repo, commit } = await repoWithCommit(work);
  const a = await generateSigningKey({ name: 'Key A' });
  const b = await generateSigningKey({ name: 'Key B' });

  // Another writer's entry, big enough that the file needs 4-byte framing offsets.
  const metaPath = commitObjectPath(repo, commit, 'commitmeta');
  const padding = new Uint8Array(70_000).fill(0xab);
  await writeFile(metaPath, serializeVarDict(new Map([['xa.other', variant('ay', padding)]])));

  await writeCommitSignatures(repo, commit, [a.privateKey]);
  await writeCommitSignatures(repo, commit, [b.privateKey]);
  await writeCommitSignatures(repo, commit, [a.privateKey]); // re-run (at-least-once jobs): replaces A's, no pile-up

  const meta = await readFile(metaPath);
  assert.ok(meta.length > 65535);
  const dict = parseVarDict(meta);
  assert.deepEqual([...dict.keys()], ['xa.other', 'ostree.gpgsigs']);
  assert.deepEqual(Buffer.from(unwrap(dict.get('xa.other')!, 'ay') as Uint8Array), Buffer.from(padding));
  assert.equal(readGpgSignatures(meta).length, 2);

  const keyring = path.join(work, 'keyring');
  await mkdir(keyring);
  await writeFile(path.join(keyring, 'a.gpg'), exportPublicKey(a.privateKey).binary);
  await writeFile(path.join(keyring, 'b.gpg'), exportPublicKey(b.privateKey).binary);
  const shown = await ostree.show(repo, commit, { gpgHomedir: keyring });
  assert.match(shown, /Found 2 signatures/);
  assert.match(shown, /Good signature from "Key A </);
  assert.match(shown, /Good signature from "Key B </);
  assert.doesNotMatch(shown, /BAD/);
});

test('a staged summary is installed signatures first and old index signatures are kept', async (t) => {
  const work = await tempDir('fmd-sum-');
  t.after(() => rm(work, { recursive: true, force: true }));
  const repo = path.join(work, 'repo');
  const key = await generateSigningKey({ name: 'Summary key' });

  // Previous generation, live, with a signature; plus a very old orphan signature and a recent one.
  await buildTestRuntime(repo, { workDir: path.join(work, 'rt1') });
  const oldIdxSha = sha256Hex(await readFile(path.join(repo, 'summary.idx')));
  await mkdir(path.join(repo, 'summaries'), { recursive: true });
  await writeFile(path.join(repo, 'summaries', `${oldIdxSha}.idx.sig`), 'old');
  const ancient = path.join(repo, 'summaries', `${'0'.repeat(64)}.idx.sig`);
  const recent = path.join(repo, 'summaries', `${'1'.repeat(64)}.idx.sig`);
  await writeFile(ancient, 'x');
  await writeFile(recent, 'y');
  const longAgo = new Date(Date.now() - 30 * 86400_000);
  await utimes(ancient, longAgo, longAgo);
  await utimes(path.join(repo, 'summaries', `${oldIdxSha}.idx.sig`), longAgo, longAgo);

  // New commit, staged summary: the live summary must not change until installed.
  const before = await ostree.revParse(repo, `runtime/${PLATFORM_ID}/${await defaultArch()}/1`);
  await buildTestRuntime(repo, { workDir: path.join(work, 'rt2'), updateSummary: false });
  const after = await ostree.revParse(repo, `runtime/${PLATFORM_ID}/${await defaultArch()}/1`);
  assert.notEqual(after, before);
  const liveBefore = await readFile(path.join(repo, 'summary.idx'));
  const staging = await createSummaryStaging(repo);
  await runTool('flatpak', ['build-update-repo', '--no-update-appstream', staging]);
  assert.deepEqual(await readFile(path.join(repo, 'summary.idx')), liveBefore, 'staging leaves the live index alone');
  assert.ok(!(await lstat(path.join(repo, 'objects'))).isSymbolicLink(), 'live dirs are never replaced');

  const { indexSha } = await installStagedSummary(repo, staging, [key.privateKey]);
  await rm(staging, { recursive: true });
  const idx = await readFile(path.join(repo, 'summary.idx'));
  assert.equal(sha256Hex(idx), indexSha);
  assert.notEqual(indexSha, oldIdxSha);
  const sig = await readFile(path.join(repo, 'summaries', `${indexSha}.idx.sig`));
  assert.deepEqual(sig, await readFile(path.join(repo, 'summary.idx.sig')));
  assert.equal(readGpgSignatures(sig).length, 1);
  assert.equal(readGpgSignatures(await readFile(path.join(repo, 'summary.sig'))).length, 1);
  assert.ok((await ostree.summaryView(repo)).includes(after!), 'the live summary names the new commit');

  assert.ok(existsSync(path.join(repo, 'summaries', `${oldIdxSha}.idx.sig`)), 'previous generation kept even when old');
  assert.ok(existsSync(recent), 'recent signatures kept');
  assert.ok(!existsSync(ancient), 'very old unreferenced signatures pruned');
});
