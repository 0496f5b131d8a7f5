// Issue 4 bench: signing a summary plus 1,000 commits with openpgp.js (no gpg). Makes an
// archive-z2 repo with 1,000 refs, each its own commit (one ostree process per commit, not
// timed), then times: signing every commit into its .commitmeta, the staged summary update
// (flatpak build-update-repo in staging + signing summary and summary.idx + install), and
// both again with two keys (a rotation overlap).
//
//   from the repository root: npm exec -- node bench/sign-summary.ts [commits=1000]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSigningKey } from '../server/src/domain/keys/pgp.ts';
import { readRefs } from '../server/src/domain/repos/commits.ts';
import { readGpgSignatures, updateSummarySigned, writeCommitSignatures } from '../server/src/ostree/signatures.ts';

const COMMITS = Number(process.argv[2] ?? 1000);
const work = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-sign-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const repo = path.join(work, 'repo');
execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=archive-z2', '--collection-id=org.fmd.Bench']);
const tree = path.join(work, 'tree');
mkdirSync(path.join(tree, 'files'), { recursive: true });
writeFileSync(path.join(tree, 'metadata'), '[Application]\nname=org.fmd.Bench\nruntime=org.fmd.Platform/x86_64/1\n');
writeFileSync(path.join(tree, 'files', 'hello'), 'hello\n');
execFileSync('ostree', ['commit', `--repo=${repo}`, '--branch=base', `--tree=dir=${tree}`, '-s', 'base']);
let t = performance.now();
for (let i = 0; i < COMMITS; i++) {
  // Distinct subjects make distinct commits that share one tree, as 1,000 app updates would.
  execFileSync('ostree', ['commit', `--repo=${repo}`, `--branch=app/org.fmd.Bench.App${i}/x86_64/stable`, '--tree=ref=base', '-s', `update ${i}`, '--no-bindings', '--fsync=false']);
}
execFileSync('ostree', ['refs', `--repo=${repo}`, '--delete', 'base']);
console.log(`made ${COMMITS} commits in ${((performance.now() - t) / 1000).toFixed(1)} s (not timed below)\n`);

const k1 = await generateSigningKey({ name: 'bench key 1' });
const k2 = await generateSigningKey({ name: 'bench key 2' });
const heads = [...new Set((await readRefs(repo)).map((r) => r.commit))];
if (heads.length !== COMMITS) throw new Error(`expected ${COMMITS} heads, found ${heads.length}`);

async function round(label: string, keys: typeof k1.privateKey[]) {
  let t0 = performance.now();
  for (const c of heads) await writeCommitSignatures(repo, c, keys);
  const commitsS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const { indexSha } = await updateSummarySigned(repo, keys);
  const summaryS = (performance.now() - t0) / 1000;
  const sigs = readGpgSignatures(readFileSync(path.join(repo, 'summaries', `${indexSha}.idx.sig`))).length;
  console.log(
    `${label.padEnd(22)} ${COMMITS} commits ${commitsS.toFixed(2)} s (${((commitsS * 1000) / COMMITS).toFixed(2)} ms each)   summary ${summaryS.toFixed(2)} s   total ${(commitsS + summaryS).toFixed(2)} s   (${sigs} signature(s) on the index)`,
  );
}

t = performance.now();
execFileSync('flatpak', ['build-update-repo', '--no-update-appstream', repo]);
console.log(`for scale: unsigned flatpak build-update-repo on the same repo: ${((performance.now() - t) / 1000).toFixed(2)} s\n`);
await round('one key', [k1.privateKey]);
await round('two keys (rotation)', [k1.privateKey, k2.privateKey]);
