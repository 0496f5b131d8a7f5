// The prune job: `build-update-repo --prune` (depth from the repo's delta settings), then a signed
// summary. Idempotent: re-run after a crash.
import { buildUpdateRepo } from '../../../ostree/flatpak.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../service.ts';

export type PrunePayload = { repo: string };

export type PruneJobDeps = { repos: RepoService };

export function pruneJob(deps: PruneJobDeps): JobKindDefinition<PrunePayload> {
  return { recovery: 'requeue', handler: (run) => prune(deps, run) };
}

async function prune({ repos }: PruneJobDeps, run: JobRun<PrunePayload>): Promise<Record<string, unknown>> {
  const name = run.contents.repo;
  const repo = await repos.get(name);
  const tools = toolRun(run);
  const depth = (repo.deltaSettings as { pruneDepth?: number } | null)?.pruneDepth;
  await run.log(`Pruning repo ${name}${depth !== undefined ? ` to depth ${depth}` : ''}`);
  await buildUpdateRepo(repos.repoPath(name), { noUpdateSummary: true, noUpdateAppstream: true, prune: true, pruneDepth: depth ?? 3 }, tools);
  await tools.flush();
  await repos.updateSummary(name, { signal: run.signal, log: (l) => void run.log(l) });
  return { pruned: true };
}
