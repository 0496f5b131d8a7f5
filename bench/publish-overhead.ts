// Publish overhead: wall time of fmd's commit + publish + update-repo jobs for a pushed app
// (FILES=5000 x FILE_KB=40 by default), as a client sees it (POST, then poll the job every
// POLL_MS=20 ms), against the same flatpak commands run by hand on copies of the same repos:
//   build-commit-from --untrusted into a build repo, build-update-repo of the build repo,
//   build-commit-from into the main repo, build-update-repo --generate-static-deltas.
// Both repos are unsigned here, so the comparison is about the pipeline, not the signing.
// Prints each phase on both sides, and for fmd's jobs the time queued (waiting for a worker)
// apart from the time run. The from-scratch static delta is nearly all of both totals and
// varies by several percent from run to run: compare a few runs, not one.
// Run from the repo root: npm exec -- node bench/publish-overhead.ts
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTool } from '../server/src/ostree/exec.ts';
import { FlatManagerClient } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { generateApp, gql, REF, timed } from './support/gen-app.ts';

const pollMs = Number(process.env.POLL_MS ?? 20);
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
  const handPhases: Record<string, number> = {};
  const hand = await timed(async () => {
    handPhases.commit = (await timed(async () => {
      await runTool('flatpak', ['build-commit-from', `--src-repo=${upload}`, `--src-ref=${commit}`, '--timestamp=NOW', '--no-update-summary', '--untrusted', '--force', '--disable-fsync', buildRepo, REF], o);
      await runTool('flatpak', ['build-update-repo', buildRepo], o);
    })).ms;
    handPhases.publish = (await timed(() => runTool('flatpak', ['build-commit-from', `--src-repo=${buildRepo}`, '--force', '--no-update-summary', main, REF], o))).ms;
    handPhases['update-repo'] = (await timed(() => runTool('flatpak', ['build-update-repo', '--generate-static-deltas', main], o))).ms;
  });

  // fmd, through the REST API.
  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo", deltaSettings: { generate: true } }) { __typename } }`);
  const client = new FlatManagerClient(fmd.url, fmd.token);
  const build = await client.createBuild('bench');
  await client.push(build.url, repo, { [REF]: commit });
  const phases: Record<string, number> = {};
  const jobs: Record<string, number> = {};
  const total = await timed(async () => {
    phases.commit = (await timed(async () => {
      const c = await client.startJob(build.url, 'commit');
      const j = await client.waitForJob(c.url, 1_800_000, pollMs);
      if (j.job.status !== 2) throw new Error(j.log);
      jobs.commit = j.job.id;
    })).ms;
    phases.publish = (await timed(async () => {
      const p = await client.startJob(build.url, 'publish');
      const j = await client.waitForJob(p.url, 1_800_000, pollMs);
      if (j.job.status !== 2) throw new Error(j.log);
      jobs.publish = j.job.id;
      jobs['update-repo'] = JSON.parse(j.job.results)['update-repo-job'];
    })).ms;
    phases['update-repo'] = (await timed(async () => {
      const j = await client.waitForJob(`${fmd.url}/api/v1/job/${jobs['update-repo']}`, 1_800_000, pollMs);
      if (j.job.status !== 2) throw new Error(j.log);
    })).ms;
  });
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const each = (p: Record<string, number>) => Object.entries(p).map(([k, ms]) => `${k} ${s(ms)}`).join(', ');
  console.log(`by hand (4 flatpak commands):           ${s(hand.ms)}  (${each(handPhases)})`);
  console.log(`fmd commit + publish + update-repo jobs: ${s(total.ms)}  (${each(phases)})`);
  // Where the rest goes: waiting for a worker (queued -> started) vs the job's own run time.
  for (const [kind, n] of Object.entries(jobs)) {
    const { job } = await gql(fmd.url, fmd.token, `query($n: Int!) { job(number: $n) { createdAt startAfter startedAt finishedAt } }`, { n });
    const t = (k: string) => Date.parse(job[k]);
    const queued = Math.max(t('createdAt'), Number.isNaN(t('startAfter')) ? 0 : t('startAfter'));
    console.log(`  ${kind} job: waited ${s(t('startedAt') - queued)}, ran ${s(t('finishedAt') - t('startedAt'))}`);
  }
  console.log(`fmd overhead: ${(((total.ms - hand.ms) / hand.ms) * 100).toFixed(1)}%`);
} finally {
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
