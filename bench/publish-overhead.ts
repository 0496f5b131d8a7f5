// Publish overhead: wall time of fmd's commit + publish + update-repo jobs for a pushed app
// (FILES=5000 x FILE_KB=40 by default), as a client sees it (POST, then poll the job every 20 ms),
// against the same flatpak commands run by hand on copies of the same repos:
//   build-commit-from --untrusted into a build repo, build-update-repo of the build repo,
//   build-commit-from into the main repo, build-update-repo --generate-static-deltas.
// Both repos are unsigned here, so the comparison is about the pipeline, not the signing.
// Run from the repo root: npm exec -- node bench/publish-overhead.ts
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTool } from '../server/src/ostree/exec.ts';
import { FlatManagerClient } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { generateApp, gql, REF, timed } from './support/gen-app.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-publish-'));
const fmd = await startFmd({ FMD_JOB_WORKERS: '2', FMD_JOB_POLL_MS: '200', FMD_DELAY_UPDATE_SECS: '0' });
try {
  const { repo, commit, files } = await generateApp(dir);
  console.log(`app: ${files} files`);

  // By hand.
  const upload = path.join(dir, 'hand-upload');
  const buildRepo = path.join(dir, 'hand-build');
  const main = path.join(dir, 'hand-main');
  for (const r of [upload, buildRepo]) await runTool('ostree', ['init', `--repo=${r}`, '--mode=archive-z2']);
  await runTool('ostree', ['init', `--repo=${main}`, '--mode=archive-z2', '--collection-id=org.bench.Hand']);
  await runTool('ostree', ['pull-local', `--repo=${upload}`, repo, REF], { timeoutMs: 600_000 });
  const o = { timeoutMs: 1_800_000 };
  const hand = await timed(async () => {
    await runTool('flatpak', ['build-commit-from', `--src-repo=${upload}`, `--src-ref=${commit}`, '--timestamp=NOW', '--no-update-summary', '--untrusted', '--force', '--disable-fsync', buildRepo, REF], o);
    await runTool('flatpak', ['build-update-repo', buildRepo], o);
    await runTool('flatpak', ['build-commit-from', `--src-repo=${buildRepo}`, '--force', '--no-update-summary', main, REF], o);
    await runTool('flatpak', ['build-update-repo', '--generate-static-deltas', main], o);
  });

  // fmd, through the REST API.
  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo", deltaSettings: { generate: true } }) { __typename } }`);
  const client = new FlatManagerClient(fmd.url, fmd.token);
  const build = await client.createBuild('bench');
  await client.push(build.url, repo, { [REF]: commit });
  const phases: Record<string, number> = {};
  const total = await timed(async () => {
    phases.commit = (await timed(async () => {
      const c = await client.startJob(build.url, 'commit');
      const j = await client.waitForJob(c.url, 1_800_000, 20);
      if (j.job.status !== 2) throw new Error(j.log);
    })).ms;
    let updateJob = 0;
    phases.publish = (await timed(async () => {
      const p = await client.startJob(build.url, 'publish');
      const j = await client.waitForJob(p.url, 1_800_000, 20);
      if (j.job.status !== 2) throw new Error(j.log);
      updateJob = JSON.parse(j.job.results)['update-repo-job'];
    })).ms;
    phases['update-repo'] = (await timed(async () => {
      const j = await client.waitForJob(`${fmd.url}/api/v1/job/${updateJob}`, 1_800_000, 20);
      if (j.job.status !== 2) throw new Error(j.log);
    })).ms;
  });
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`by hand (4 flatpak commands):           ${s(hand.ms)}`);
  console.log(`fmd commit + publish + update-repo jobs: ${s(total.ms)}  (commit ${s(phases.commit!)}, publish ${s(phases.publish!)}, update-repo ${s(phases['update-repo']!)})`);
  console.log(`fmd overhead: ${(((total.ms - hand.ms) / hand.ms) * 100).toFixed(1)}%`);
} finally {
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
