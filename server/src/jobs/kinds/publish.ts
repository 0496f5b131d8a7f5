// The publish job: a build's refs into the main repo, then a shared update-repo job.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function publishJob(builds: BuildService): JobKindDefinition {
  // Requeued after a crash so that the handler fails the build cleanly and refreshes the summary.
  return { recovery: 'requeue', handler: (run) => builds.publishJob(run) };
}
