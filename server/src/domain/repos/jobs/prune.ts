// The prune job: `build-update-repo --prune` (depth from the repo's delta settings), then a signed
// summary. Idempotent: re-run after a crash. A dry run (`--prune-dry-run`) only reports in its log
// what it would delete; scheduled runs (retention) are dry runs when the repo says so.
import { buildUpdateRepo } from '../../../ostree/flatpak.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../service.ts';

export type PrunePayload = {
  repo: string;
  /** report only; absent on a scheduled run: the repo's retention dry-run setting */
  dryRun?: boolean;
  scheduled?: boolean;
};

export type PruneJobDeps = { repos: RepoService };

export function pruneJob(deps: PruneJobDeps): JobKindDefinition<PrunePayload> {
  return { recovery: 'requeue', handler: (run) => prune(deps, run) };
}

async function prune({ repos }: PruneJobDeps, run: JobRun<PrunePayload>): Promise<Record<string, unknown>> {
  const name = run.contents.repo;
  const repo = await repos.get(name);
  const tools = toolRun(run);
  const depth = (repo.deltaSettings as { pruneDepth?: number } | null)?.pruneDepth;
  const dryRun = run.contents.dryRun ?? (run.contents.scheduled ? repo.retentionDryRun : false);
  await run.log(`Pruning repo ${name}${depth !== undefined ? ` to depth ${depth}` : ''}${run.contents.scheduled ? ' (scheduled)' : ''}${dryRun ? ' (dry run: nothing is deleted)' : ''}`);
  await buildUpdateRepo(repos.repoPath(name), { noUpdateSummary: true, noUpdateAppstream: true, prune: true, pruneDryRun: dryRun, pruneDepth: depth ?? 3 }, tools);
  await tools.flush();
  if (dryRun) return { pruned: false, dryRun: true };
  await repos.updateSummary(name, { signal: run.signal, log: (l) => void run.log(l) });
  return { pruned: true, dryRun: false };
}
