// The repo-fsck job: `ostree fsck` of a repo, on request or on the repo's fsck schedule. Damage
// fails the job with the problems in its log and results, and tells the fsckFailed listeners
// (webhooks). Read-only, so a run interrupted by a dead worker simply runs again.
import { fsckProblems } from '../../../ostree/ostree.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../../repos/service.ts';
import type { RetentionService } from '../service.ts';

export type RepoFsckPayload = { repo: string; scheduled?: boolean };

export type RepoFsckJobDeps = { repos: RepoService; retention: RetentionService };

export function repoFsckJob(deps: RepoFsckJobDeps): JobKindDefinition<RepoFsckPayload> {
  return { recovery: 'requeue', handler: (run) => repoFsck(deps, run) };
}

async function repoFsck({ repos, retention }: RepoFsckJobDeps, run: JobRun<RepoFsckPayload>): Promise<Record<string, unknown>> {
  const name = run.contents.repo;
  await repos.get(name);
  await run.log(`ostree fsck of repo ${name}${run.contents.scheduled ? ' (scheduled)' : ''}`);
  const tools = toolRun(run);
  // Big repos take long: a day rather than the tools' usual hour.
  const problems = await fsckProblems(repos.repoPath(name), {}, { ...tools, timeoutMs: 24 * 3600_000 });
  await tools.flush();
  if (problems.length === 0) {
    await run.log('no problems found');
    return { ok: true, problems: [] };
  }
  await run.log(`${problems.length} problem(s) found:`);
  for (const p of problems) await run.log(`  ${p}`);
  // The run fails either way: a listener that fails (a webhook down) is only noted.
  await retention.fsckFailed.emit({ repo: name, jobId: run.job.id, problems }).catch((err: unknown) => run.log(`could not report the damage: ${err instanceof Error ? err.message : String(err)}`));
  throw new Error(`ostree fsck found ${problems.length} problem(s) in repo ${name}: ${problems[0]}`);
}
