// The republish job: new commits of an app's refs, optionally end-of-life, then update-repo.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function republishJob(builds: BuildService): JobKindDefinition {
  return { recovery: 'requeue', handler: (run) => builds.republishJob(run) };
}
