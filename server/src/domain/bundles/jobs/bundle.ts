// The bundle job: makes one .flatpak bundle (BundleService.make) of a build's or a published
// repo's ref. It holds the lock of the repo it reads (fileLockOf: the build's, or the published
// repo's, so no prune or publish changes it meanwhile). Re-run after a crash: it starts over.
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import type { BundleService } from '../service.ts';

export type BundlePayload = { bundle: number };

export type BundleJobDeps = { bundles: BundleService };

export function bundleJob(deps: BundleJobDeps): JobKindDefinition<BundlePayload> {
  return { recovery: 'requeue', handler: (run: JobRun<BundlePayload>) => deps.bundles.make(run) };
}
