// The publish job: a build's refs into its repo, or (contents.promotion) a promotion's into the
// target repo; either way followed by a shared update-repo job.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { BuildService } from '../../domain/builds/service.ts';
import type { PromotionService } from '../../domain/builds/promotions.ts';

export function publishJob(builds: BuildService, promotions: PromotionService): JobKindDefinition {
  // Requeued after a crash so that the handler fails the build (or promotion) cleanly and refreshes the summary.
  return { recovery: 'requeue', handler: (run) => (run.contents.promotion != null ? promotions.promotionJob(run) : builds.publishJob(run)) };
}
