// The prune job: build-update-repo --prune, then a signed summary. Idempotent.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function pruneJob(builds: BuildService): JobKindDefinition {
  return { recovery: 'requeue', handler: (run) => builds.pruneJob(run) };
}
