// The commit job: uploaded objects into the build repo (see BuildService.commitJob).
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function commitJob(builds: BuildService): JobKindDefinition {
  // Requeued after a crash so that the handler itself marks the build failed (it sees attempts > 1).
  return { recovery: 'requeue', handler: (run) => builds.commitJob(run) };
}
