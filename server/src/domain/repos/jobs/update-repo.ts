// The update-repo job (flat-manager's): the repo's signed summary update (metadata, appstream,
// signatures, deltas, pruning; RepoService.updateSummary), then the repo's post-publish hook.
// Queued, and shared while queued, by RepoService.scheduleUpdate. Idempotent: re-run after a crash.
import { runTool } from '../../../ostree/exec.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../service.ts';

export type UpdateRepoPayload = { repo: string };

export type UpdateRepoJobDeps = { repos: RepoService };

export function updateRepoJob(deps: UpdateRepoJobDeps): JobKindDefinition<UpdateRepoPayload> {
  return { recovery: 'requeue', handler: (run) => updateRepo(deps, run) };
}

async function updateRepo({ repos }: UpdateRepoJobDeps, run: JobRun<UpdateRepoPayload>): Promise<Record<string, unknown>> {
  const name = run.contents.repo;
  const lines: Promise<void>[] = [];
  const r = await repos.updateSummary(name, { signal: run.signal, log: (l) => void lines.push(run.log(l)) });
  await Promise.all(lines);
  const repo = await repos.get(name);
  const hooks = (repo.hooks ?? {}) as { postPublish?: string[] | null };
  if (Array.isArray(hooks.postPublish) && hooks.postPublish.length) {
    const tools = toolRun(run);
    await run.log('Running post-publish hook');
    await runTool(hooks.postPublish[0]!, hooks.postPublish.slice(1), { ...tools, cwd: repos.repoPath(name), env: { ...process.env, FLAT_MANAGER_REPO: name } });
    await tools.flush();
  }
  return { indexSha: r.indexSha, signedCommits: r.signedCommits.length, droppedDeltas: r.droppedDeltas.length };
}
