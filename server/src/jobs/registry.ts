// The one list of job kinds and their handlers. Each kind's payload type and handler live beside
// the domain they work on (domain/<area>/jobs/<kind>.ts); this file hands each one the services
// it uses. A kind missing here is a type error, so no kind can be queued without a handler.
import type { FmdConfig } from '../config/index.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { JobKindDefinition, JobPayloads, JobQueue } from '../domain/jobs/queue.ts';
import { noopJob } from '../domain/jobs/noop.ts';
import type { BuildService } from '../domain/builds/service.ts';
import type { PromotionService } from '../domain/builds/promotions.ts';
import { checkJob } from '../domain/builds/jobs/check.ts';
import { commitJob } from '../domain/builds/jobs/commit.ts';
import { gitBuildJob } from '../domain/builds/jobs/git-build.ts';
import type { GitBuildService } from '../domain/builds/git/service.ts';
import { promoteJob } from '../domain/builds/jobs/promote.ts';
import { publishJob } from '../domain/builds/jobs/publish.ts';
import type { RepoService } from '../domain/repos/service.ts';
import { deleteRepoJob } from '../domain/repos/jobs/delete-repo.ts';
import { pruneJob } from '../domain/repos/jobs/prune.ts';
import { republishJob } from '../domain/repos/jobs/republish.ts';
import { updateRepoJob } from '../domain/repos/jobs/update-repo.ts';
import type { WebhookService } from '../domain/webhooks/service.ts';
import { webhookDeliverJob } from '../domain/webhooks/jobs/deliver.ts';
import type { RetentionService } from '../domain/retention/service.ts';
import { repoFsckJob } from '../domain/retention/jobs/repo-fsck.ts';
import { retentionSweepJob } from '../domain/retention/jobs/retention-sweep.ts';
import type { BundleService } from '../domain/bundles/service.ts';
import { bundleJob } from '../domain/bundles/jobs/bundle.ts';
import type { JobEngine } from './engine.ts';

/** The services job handlers call. */
export type JobServices = {
  prisma: PrismaClient;
  config: FmdConfig;
  jobs: JobQueue;
  repos: RepoService;
  builds: BuildService;
  promotions: PromotionService;
  gitBuilds: GitBuildService;
  webhooks: WebhookService;
  retention: RetentionService;
  bundles: BundleService;
};

export type JobKindDefinitions = { [K in keyof JobPayloads]: JobKindDefinition<JobPayloads[K]> };

export function jobKindDefinitions(s: JobServices): JobKindDefinitions {
  return {
    commit: commitJob(s),
    publish: publishJob(s),
    check: checkJob(s),
    promote: promoteJob(s),
    'update-repo': updateRepoJob(s),
    republish: republishJob(s),
    prune: pruneJob(s),
    'delete-repo': deleteRepoJob(s),
    noop: noopJob,
    'git-build': gitBuildJob(s),
    'webhook-deliver': webhookDeliverJob(s),
    'retention-sweep': retentionSweepJob(s),
    'repo-fsck': repoFsckJob(s),
    bundle: bundleJob(s),
  };
}

/** Gives the engine every kind's handler. */
export function registerJobKinds(engine: JobEngine, s: JobServices): void {
  const defs = jobKindDefinitions(s);
  for (const kind of Object.keys(defs) as Array<keyof JobKindDefinitions>) define(engine, kind, defs);
}

function define<K extends keyof JobKindDefinitions>(engine: JobEngine, kind: K, defs: JobKindDefinitions): void {
  engine.define(kind, defs[kind]);
}
