// The commit job: `build-commit-from --untrusted` of each uploaded ref from the upload repo into
// the build repo, .flatpakref files and appstream for check hooks, signatures and a summary; then
// the build is READY, or VALIDATING with one check job per check hook of its repo.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Build, BuildRef, PrismaClient, Repo } from '../../../generated/prisma/client.ts';
import { buildCommitFrom, buildUpdateRepo } from '../../../ostree/flatpak.ts';
import * as ostree from '../../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../../ostree/ostree.ts';
import { updateSummarySigned, writeCommitSignatures } from '../../../ostree/signatures.ts';
import type { JobKindDefinition, JobQueue, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import { readRefs } from '../../repos/commits.ts';
import type { RepoService } from '../../repos/service.ts';
import type { BuildService } from '../service.ts';
import { stateName } from '../states.ts';
import { parseChecks } from './check.ts';

/** What the commit request stored on the build, repeated for flat-manager's job JSON. */
export type CommitPayload = { build: number; endoflife: string | null; endoflife_rebase: string | null; token_type: number | null };

export type CommitJobDeps = { prisma: PrismaClient; builds: BuildService; repos: RepoService; jobs: JobQueue };

export function commitJob(deps: CommitJobDeps): JobKindDefinition<CommitPayload> {
  // Requeued after a crash so that the handler itself marks the build failed (it sees attempts > 1).
  return { recovery: 'requeue', handler: (run) => commit(deps, run) };
}

async function commit({ prisma, builds, jobs, repos }: CommitJobDeps, run: JobRun<CommitPayload>): Promise<Record<string, unknown>> {
  const build = await builds.forJob(run.contents.build);
  if (build.state !== 'COMMITTING') {
    await run.log(`build ${build.id} is ${stateName(build.state)}, not committing: nothing to do`);
    return { skipped: true };
  }
  const fail = async (reason: string) => {
    await builds.applyStep(build.id, { step: 'commit-failed', reason });
    await builds.removeUploadTemps(build.id);
    await builds.changed(build.id);
  };
  if (run.job.attempts > 1) {
    // At-least-once: a commit interrupted by a dead worker fails cleanly instead of running twice.
    await fail('the commit was interrupted (worker stopped)');
    throw new Error('the commit was interrupted (worker stopped); create a new build');
  }
  const tools = toolRun(run);
  try {
    const commits = await commitRefs(builds, repos, build, run, tools);
    await tools.flush();
    const checks = parseChecks(build.repo.hooks);
    // Every check is PENDING before any of them runs: a check job that ends while a later row is
    // yet to be written would find its build's checks all over and make it READY.
    const rows = [];
    for (const c of checks) {
      rows.push(
        await prisma.check.upsert({
          where: { buildId_name: { buildId: build.id, name: c.name } },
          create: { buildId: build.id, name: c.name },
          update: { status: 'PENDING', results: undefined },
        }),
      );
    }
    await builds.applyStep(build.id, { step: 'committed', checks: checks.length });
    // The upload repo goes after the commit. Without checks, only once the build's publish is
    // queued (Build.ready), which then runs meanwhile: removing it is about a file per file of
    // the app (~0.5 s for the 5,000-file bench app). Check hooks may look around the build dir:
    // it goes before they are queued. What a failure leaves here goes with the build dir.
    const dropUpload = async () => {
      await run.log('Removing upload directory');
      await rm(builds.uploadPath(build.id), { recursive: true, force: true }).catch((err: Error) => run.log(`Failed to remove the upload directory: ${err.message}`));
    };
    if (checks.length > 0) {
      await dropUpload();
      for (const row of rows) {
        const job = await jobs.enqueue('check', { build: build.id, name: row.name }, { buildId: build.id });
        await prisma.check.update({ where: { id: row.id }, data: { jobId: job.id } });
      }
      await run.log(`queued ${checks.length} check(s): ${checks.map((c) => c.name).join(', ')}`);
    }
    await builds.changed(build.id);
    if (checks.length === 0) {
      await builds.ready.emit(build.id);
      await dropUpload();
    }
    return { refs: commits };
  } catch (err) {
    await tools.flush();
    await fail((err as Error).message);
    throw err;
  }
}

async function commitRefs(
  builds: BuildService,
  repos: RepoService,
  build: Build & { repo: Repo; refs: BuildRef[] },
  run: JobRun<CommitPayload>,
  tools: ToolRunOptions,
): Promise<Record<string, string>> {
  if (build.refs.length === 0) throw new Error('No refs in build');
  const dir = builds.buildPath(build.id);
  const upload = builds.uploadPath(build.id);
  const appRef = build.refs.find((r) => r.refName.startsWith('app/'));
  const rebase = build.endOfLifeRebase && appRef ? [`${appRef.refName.split('/')[1]}=${build.endOfLifeRebase}`] : [];
  const tokenType = build.tokenType ?? (build.repo.defaultTokenType || undefined);
  const commits: Record<string, string> = {};
  for (const [i, ref] of build.refs.entries()) {
    await run.log(`Committing ref ${ref.refName} (${ref.commit})`);
    await buildCommitFrom(
      dir,
      {
        srcRepo: upload,
        srcRef: ref.commit,
        refs: [ref.refName],
        timestamp: 'NOW',
        noUpdateSummary: true,
        untrusted: true,
        force: true,
        disableFsync: true,
        endOfLife: build.endOfLife ?? undefined,
        endOfLifeRebase: rebase,
        tokenType,
      },
      tools,
    );
    const commit = await ostree.revParse(dir, ref.refName, tools);
    if (!commit) throw new Error(`ref ${ref.refName} missing after commit`);
    commits[ref.refName] = commit;
    await run.progress(((i + 1) / build.refs.length) * 0.7, `committed ${ref.refName}`);
  }
  for (const ref of build.refs) {
    const file = builds.flatpakrefFor(build.repo, ref.refName, build.id);
    if (file) await writeFile(path.join(dir, file.name), file.contents);
  }
  // Appstream of the build (new appstream/ARCH commits), also checked out under appstream/ARCH
  // for check hooks, as flat-manager does; then every head is signed before the summary.
  await run.log('running build-update-repo');
  await buildUpdateRepo(dir, { noUpdateSummary: true }, tools);
  await run.log('extracting appstream');
  // build-update-repo makes no commit when the tree equals the main repo's (the build repo's
  // parent): then `appstream/ARCH` resolves to the main repo's commit, with the same content.
  const arches = new Set(build.refs.map((r) => r.refName.split('/')).map((p) => (p[0] === 'screenshots' ? p[1]! : p[2]!)));
  for (const arch of arches) {
    if (!(await ostree.revParse(dir, `appstream/${arch}`, tools))) continue;
    await mkdir(path.join(dir, 'appstream'), { recursive: true });
    await ostree.checkoutFiles(dir, `appstream/${arch}`, path.join(dir, 'appstream', arch), tools);
  }
  const keys = await repos.signingKeys(build.repo);
  const heads = new Set(Object.values(commits));
  for (const { ref, commit } of await readRefs(dir)) if (/^appstream2?\//.test(ref)) heads.add(commit);
  for (const commit of heads) if (keys.length) await writeCommitSignatures(dir, commit, keys);
  await updateSummarySigned(dir, keys, { run: tools });
  return commits;
}
