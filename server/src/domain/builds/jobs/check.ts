// A check job: one of the repo's check hooks (`hooks.checks[]`) run in a committed build's repo.
// The build leaves VALIDATING when every check is over (see BuildService.updateAfterChecks).
import type { CheckStatus, PrismaClient } from '../../../generated/prisma/client.ts';
import { runTool } from '../../../ostree/exec.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { BuildService } from '../service.ts';

export type CheckPayload = { build: number; name: string };

export type CheckJobDeps = { prisma: PrismaClient; builds: BuildService };

export function checkJob(deps: CheckJobDeps): JobKindDefinition<CheckPayload> {
  // Re-run after a crash: a check that is still PENDING runs its hook again.
  return { recovery: 'requeue', handler: (run) => check(deps, run) };
}

type CheckHook = { name: string; command: string[]; reviewable: boolean };

/** The check hooks of a repo's `hooks` setting. */
export function parseChecks(hooks: unknown): CheckHook[] {
  const checks = (hooks as { checks?: unknown } | null)?.checks;
  if (!Array.isArray(checks)) return [];
  return checks
    .filter((c): c is CheckHook => !!c && typeof c.name === 'string' && Array.isArray(c.command) && c.command.length > 0)
    .map((c) => ({ name: c.name, command: c.command.map(String), reviewable: !!c.reviewable }));
}

async function check({ prisma, builds }: CheckJobDeps, run: JobRun<CheckPayload>): Promise<Record<string, unknown>> {
  const build = await builds.forJob(run.contents.build);
  const name = run.contents.name;
  const hook = parseChecks(build.repo.hooks).find((c) => c.name === name);
  const row = await prisma.check.findUnique({ where: { buildId_name: { buildId: build.id, name } } });
  if (!row || row.status !== 'PENDING') return { skipped: true };
  let status: CheckStatus = 'PASSED';
  let reason: string | null = null;
  if (hook) {
    const tools = toolRun(run);
    try {
      await runTool(hook.command[0]!, hook.command.slice(1), {
        ...tools,
        cwd: builds.buildPath(build.id),
        env: { ...process.env, FLAT_MANAGER_BUILD_ID: String(build.id), FLAT_MANAGER_JOB_ID: String(run.job.id) },
      });
    } catch (err) {
      status = hook.reviewable ? 'REVIEW_REQUIRED' : 'FAILED';
      reason = (err as Error).message;
    }
    await tools.flush();
  } else {
    reason = 'check no longer configured';
  }
  await prisma.check.update({ where: { id: row.id }, data: { status, results: reason ? { reason } : {} } });
  await builds.updateAfterChecks(build.id);
  return { status, ...(reason ? { reason } : {}) };
}
