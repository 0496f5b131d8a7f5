// The promote job: a promotion's commits published into its target repo, the way the publish job
// does it (PromotionService uses the build service's publish steps), then a shared update-repo job.
import type { JobKindDefinition } from '../../domain/jobs/queue.ts';
import type { PromotionService } from '../../domain/builds/promotions.ts';

export function promoteJob(promotions: PromotionService): JobKindDefinition {
  // Requeued after a crash so that the handler fails the promotion cleanly and refreshes the summary.
  return { recovery: 'requeue', handler: (run) => promotions.promotionJob(run) };
}
