// The republish job (flat-manager's): new commits of an app's refs in its repo, optionally
// end-of-life, through a scratch repo whose parent is the main repo; the builds and promotions
// that put the old heads there record the new commits; then a shared update-repo job.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { buildCommitFrom } from '../../../ostree/flatpak.ts';
import * as ostree from '../../../ostree/ostree.ts';
import type { BuildService } from '../../builds/service.ts';
import { initRepoWithParent } from '../../builds/upload-store.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../service.ts';

export type RepublishPayload = { repo: string; app: string; endoflife: string | null; endoflife_rebase: string | null };

export type RepublishJobDeps = { repos: RepoService; builds: BuildService };

export function republishJob(deps: RepublishJobDeps): JobKindDefinition<RepublishPayload> {
  // Re-run after a crash: it makes new commits of whatever heads the repo has then.
  return { recovery: 'requeue', handler: (run) => republish(deps, run) };
}

async function republish({ repos, builds }: RepublishJobDeps, run: JobRun<RepublishPayload>): Promise<Record<string, unknown>> {
  const { repo: name, app } = run.contents;
  const repo = await repos.get(name);
  const main = repos.repoPath(name);
  const tools = toolRun(run);
  const refs = (await ostree.listRefs(main, undefined, tools)).filter((r) => {
    const p = r.split('/');
    return (p[0] === 'app' || p[0] === 'runtime') && (p[1] === app || p[1]?.startsWith(`${app}.`));
  });
  if (refs.length === 0) throw new Error(`No refs of ${app} in repo ${name}`);
  const eol = run.contents.endoflife ?? undefined;
  const rebase = run.contents.endoflife_rebase == null ? [] : [`${app}=${run.contents.endoflife_rebase}`];
  // build-commit-from needs a separate source: a scratch repo whose parent is the main repo.
  const scratch = path.join(main, 'tmp', `republish-${run.job.id}`);
  await rm(scratch, { recursive: true, force: true });
  await initRepoWithParent(scratch, main);
  const commits: Record<string, string> = {};
  const moved = new Map<string, string>();
  try {
    for (const ref of refs) {
      const commit = await ostree.revParse(main, ref, tools);
      if (!commit) continue;
      await ostree.createRef(scratch, ref, commit, { force: true }, tools);
      await run.log(`Republishing ${ref} (${commit})`);
      await buildCommitFrom(main, { srcRepo: scratch, refs: [ref], force: true, noUpdateSummary: true, endOfLife: eol, endOfLifeRebase: rebase }, tools);
      commits[ref] = (await ostree.revParse(main, ref, tools))!;
      moved.set(commit, commits[ref]);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await builds.followRepublish(repo, moved);
  const updateJob = await repos.scheduleUpdate(name, run);
  await tools.flush();
  return { refs: commits, 'update-repo-job': updateJob.id };
}
