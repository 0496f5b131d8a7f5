// A check job: one of the repo's check hooks run against a committed build.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';

export function checkJob(builds: BuildService): JobKindDefinition {
  return { recovery: 'requeue', handler: (run) => builds.checkJob(run) };
}
