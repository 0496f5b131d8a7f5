// The publish job: a build's refs into its repo (the publish hook first, then build-commit-from,
// .flatpakref files and screenshots), then a shared update-repo job; the build repo goes away, and
// so do the older ready builds of the same app that were never published (they are superseded).
// Whatever listens to builds landing in a repo (auto-promotion) hears of it before the job ends.
import type { Build, BuildRef, PrismaClient, Repo } from '../../../generated/prisma/client.ts';
import { runTool } from '../../../ostree/exec.ts';
import { buildCommitFrom } from '../../../ostree/flatpak.ts';
import * as ostree from '../../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../../ostree/ostree.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../../repos/service.ts';
import type { BuildService } from '../service.ts';
import { stateName } from '../states.ts';

export type PublishPayload = { build: number };

export type PublishJobDeps = { prisma: PrismaClient; builds: BuildService; repos: RepoService };

export function publishJob(deps: PublishJobDeps): JobKindDefinition<PublishPayload> {
  // Requeued after a crash so that the handler fails the build cleanly and refreshes the summary.
  return { recovery: 'requeue', handler: (run) => publish(deps, run) };
}

async function publish({ prisma, builds, repos }: PublishJobDeps, run: JobRun<PublishPayload>): Promise<Record<string, unknown>> {
  const build = await builds.forJob(run.contents.build);
  if (build.publishedState !== 'PUBLISHING') {
    await run.log(`build ${build.id} is ${stateName(build.publishedState)}, not publishing: nothing to do`);
    return { skipped: true };
  }
  // The reason stays on the job (its error), where flat-manager's published_state_reason is read from.
  const fail = async () => {
    await builds.applyStep(build.id, { step: 'publish-failed' });
    await builds.changed(build.id);
  };
  if (run.job.attempts > 1) {
    // Whatever the dead worker left in the main repo is consistent (ostree writes refs last);
    // the summary is regenerated and signed, and the build may be published again.
    await repos.scheduleUpdate(build.repo.name, run);
    await fail();
    throw new Error('the publish was interrupted (worker stopped); publish the build again');
  }
  const tools = toolRun(run);
  try {
    const result = await importRefs({ prisma, builds, repos }, build, run, tools);
    await tools.flush();
    const published = await builds.applyStep(build.id, { step: 'published' });
    await builds.changed(build.id);
    if (published) {
      // Older ready builds of the same app that will never be published now go (Flathub's rule).
      const superseded = await builds.supersedeOlder(build).catch(async (err: Error) => {
        await run.log(`Failed to supersede older builds: ${err.message}`);
        return [];
      });
      if (superseded.length) {
        await run.log(`Superseded build${superseded.length > 1 ? 's' : ''} ${superseded.join(', ')}`);
        result.superseded = superseded;
      }
    }
    await builds.landed.emit(build.id, build.repo, run);
    return result;
  } catch (err) {
    await tools.flush();
    await fail();
    throw err;
  }
}

async function importRefs(
  { prisma, builds, repos }: PublishJobDeps,
  build: Build & { repo: Repo; refs: BuildRef[] },
  run: JobRun<PublishPayload>,
  tools: ToolRunOptions,
): Promise<Record<string, unknown>> {
  if (build.refs.length === 0) throw new Error('No refs in build');
  const repo = build.repo;
  const dir = builds.buildPath(build.id);
  const main = repos.repoPath(repo.name);
  const hooks = (repo.hooks ?? {}) as { publish?: string[] | null };
  if (Array.isArray(hooks.publish) && hooks.publish.length) {
    await run.log('Running publish hook');
    await runTool(hooks.publish[0]!, hooks.publish.slice(1), {
      ...tools,
      cwd: dir,
      env: { ...process.env, FLAT_MANAGER_BUILD_ID: String(build.id), FLAT_MANAGER_IS_REPUBLISH: 'false' },
    });
  }
  const extra = repo.collectionId ? ((build.extraIds as string[] | null) ?? []).map((x) => `${repo.collectionId}.${x}`) : [];
  await run.log(`Importing build to repo ${repo.name}`);
  await buildCommitFrom(main, { srcRepo: dir, refs: build.refs.map((r) => r.refName), force: true, noUpdateSummary: true, extraCollectionIds: extra }, tools);
  await run.progress(0.7, 'imported');
  const commits: Record<string, string> = {};
  for (const ref of build.refs) {
    const c = await ostree.revParse(main, ref.refName, tools);
    if (c) commits[ref.refName] = c;
  }
  await builds.installRefExtras(repo, dir, build.refs.map((r) => ({ ref: r.refName, rev: r.refName })), run, tools);
  await prisma.build.update({ where: { id: build.id }, data: { publishedRefs: commits } });
  const updateJob = await repos.scheduleUpdate(repo.name, run);
  await run.log(`Removing build ${build.id}`);
  await builds.removeBuildDir(build.id).catch(() => run.log('Failed to remove build'));
  // flat-manager's job result lists the app and runtime commits.
  const appsAndRuntimes = Object.entries(commits).filter(([r]) => r.startsWith('app/') || r.startsWith('runtime/'));
  return { refs: Object.fromEntries(appsAndRuntimes), 'update-repo-job': updateJob.id };
}
