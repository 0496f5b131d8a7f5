// Where fmd's webhook events come from: listeners services.ts adds to the services that make the
// changes. They run in the process that made the change, once per change, and never fail it.
import type { Job, PrismaClient } from '../../generated/prisma/client.ts';
import type { BuildStep } from '../builds/lifecycle.ts';
import type { WebhookService } from './service.ts';

/** build.state on every applied step; build.published and build.failed on those outcomes. */
export async function buildEvents(prisma: PrismaClient, webhooks: WebhookService, buildId: number, step: BuildStep): Promise<void> {
  const build = await prisma.build
    .findUnique({ where: { id: buildId }, select: { id: true, appId: true, state: true, publishedState: true, stateReason: true, repo: { select: { name: true } } } })
    .catch(() => null);
  if (!build) return;
  const repo = build.repo.name;
  const data = {
    step: step.step,
    build: { id: build.id, repo, appId: build.appId, state: build.state, publishedState: build.publishedState, stateReason: build.stateReason },
  };
  await webhooks.notifySafely('build.state', repo, () => data);
  if (step.step === 'published') await webhooks.notifySafely('build.published', repo, () => data);
  const failed = (build.state === 'FAILED' && ['commit-failed', 'checks-over', 'build-failed'].includes(step.step)) || step.step === 'publish-failed';
  if (failed) await webhooks.notifySafely('build.failed', repo, () => data);
}

/** repo.updated when an update-repo job ends (succeeded or failed). */
export async function repoUpdatedEvent(prisma: PrismaClient, webhooks: WebhookService, ended: Pick<Job, 'id' | 'kind' | 'repo'>): Promise<void> {
  if (ended.kind !== 'update-repo' || !ended.repo) return;
  const repo = ended.repo;
  await webhooks.notifySafely('repo.updated', repo, async () => {
    const job = await prisma.job.findUnique({ where: { id: ended.id }, select: { status: true, error: true, results: true } });
    return { job: ended.id, result: job?.status === 'ENDED' ? 'ok' : 'failed', error: job?.error ?? null, results: job?.results ?? null };
  });
}
