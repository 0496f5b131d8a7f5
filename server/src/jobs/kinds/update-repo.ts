// The update-repo job: signatures, deltas, signed summary, post-publish hook. Idempotent: re-run after a crash.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function updateRepoJob(builds: BuildService): JobKindDefinition {
  return { recovery: 'requeue', handler: (run) => builds.updateRepoJob(run) };
}
