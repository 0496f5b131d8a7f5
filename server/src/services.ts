// The domain services of one fmd process, built once and handed to GraphQL, REST and jobs.
import type { Logger } from 'pino';
import type { FmdConfig } from './config/index.ts';
import type { Database } from './db/index.ts';
import type { PrismaClient } from './generated/prisma/client.ts';
import { MemoryEventBus, type EventBus } from './domain/events.ts';
import { TokenService } from './domain/tokens/service.ts';
import { secretKey } from './domain/tokens/jwt.ts';
import { UserService } from './domain/users/service.ts';
import { KeyService } from './domain/keys/service.ts';
import { RepoService } from './domain/repos/service.ts';
import { BuildStatsService } from './domain/builds/stats.ts';
import { BuildService } from './domain/builds/service.ts';
import { PromotionService } from './domain/builds/promotions.ts';
import { GitBuildService } from './domain/builds/git/service.ts';
import { BuildScheduler } from './domain/builds/git/scheduler.ts';
import { BuildWorkers, failStalledBuilds } from './domain/builds/git/workers.ts';
import { BuildSetService } from './domain/builds/git/build-sets.ts';
import { resolveMasterKey } from './config/secret.ts';
import { JobService } from './domain/jobs/service.ts';
import type { JobQueue } from './domain/jobs/queue.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { GitCredentialService } from './domain/builds/git/credentials.ts';
import { GitSourceService } from './domain/builds/git/sources.ts';
import { createJobEngine, registerJobKinds, type JobEngine } from './jobs/index.ts';
import { AuditService } from './domain/audit/service.ts';
import { WebhookService } from './domain/webhooks/service.ts';
import { buildEvents, repoUpdatedEvent } from './domain/webhooks/events.ts';
import { RetentionService } from './domain/retention/service.ts';

export type Services = {
  config: FmdConfig;
  log: Logger;
  db: Database;
  prisma: PrismaClient;
  events: EventBus;
  tokens: TokenService;
  users: UserService;
  keys: KeyService;
  repos: RepoService;
  builds: BuildService;
  buildStats: BuildStatsService;
  promotions: PromotionService;
  /** builds fmd makes itself from git sources */
  gitBuilds: GitBuildService;
  /** when git builds may start (dependencies, arches) */
  scheduler: BuildScheduler;
  buildSets: BuildSetService;
  /** this process as a builder (heartbeat, sweeps) while it runs jobs */
  buildWorkers: BuildWorkers;
  /** credentials for cloning private git sources (secrets sealed with the master key) */
  gitCredentials: GitCredentialService;
  /** git sources: push-triggered builds through webhooks */
  gitSources: GitSourceService;
  metrics: Metrics;
  /** the domain's job queue (enqueue, cancel) */
  jobs: JobQueue;
  /** reading jobs and following their logs */
  jobRecords: JobService;
  /** the engine behind `jobs`; only the composition root and workers touch it */
  jobEngine: JobEngine;
  /** the audit log of mutations and REST writes */
  audit: AuditService;
  /** webhooks: fmd's events POSTed to outside receivers */
  webhooks: WebhookService;
  /** retention settings, runs and schedules (purges, prunes, fsck, global sweeps) */
  retention: RetentionService;
  close(): Promise<void>;
};

export async function createServices(config: FmdConfig, db: Database, log: Logger, secret: string): Promise<Services> {
  const events: EventBus = config.redis
    ? await (await import('./events/redis-bus.ts')).createRedisEventBus(config.redis, log)
    : new MemoryEventBus();
  const tokens = new TokenService(db.prisma, secretKey(secret), {
    flushMs: config.tokenUsageFlushMs,
    revocationCacheMs: config.tokenRevocationCacheMs,
    events,
    previous: config.previousSecret ? { key: secretKey(config.previousSecret.secret), until: config.previousSecret.until } : undefined,
  });
  const users = new UserService(db.prisma, tokens, { config, events });
  let masterKey: string | undefined;
  const masterKeyOf = () => (masterKey ??= resolveMasterKey(config));
  const keys = new KeyService(db.prisma, masterKeyOf);
  const metrics = createMetrics();
  const jobEngine = await createJobEngine({ config, prisma: db.prisma, pool: db.pool, events, log, registry: metrics.registry });
  const repos = new RepoService({ prisma: db.prisma, config, keys, events, tokens, log, jobs: jobEngine });
  const builds = new BuildService({ prisma: db.prisma, config, repos, jobs: jobEngine, events, log });
  const promotions = new PromotionService({ prisma: db.prisma, repos, builds, jobs: jobEngine, log });
  const gitBuilds = new GitBuildService({ prisma: db.prisma, config, builds, repos, jobs: jobEngine, keys, log });
  const gitCredentials = new GitCredentialService({ prisma: db.prisma, repos, masterKey: masterKeyOf });
  const gitSources = new GitSourceService({ prisma: db.prisma, config, repos, tokens, masterKey: masterKeyOf, log });
  gitBuilds.credentials = gitCredentials;
  gitSources.builds = gitBuilds;
  // How the services react to each other's changes (awaited, in this process).
  builds.landed.add((buildId, repo, run) => promotions.autoPromote(buildId, repo, run));
  repos.deleting.add((repo) => promotions.endForRepo(repo));
  builds.ready.add((buildId) => gitBuilds.onReady(buildId));
  const webhooks = new WebhookService({ prisma: db.prisma, repos, jobs: jobEngine, masterKey: masterKeyOf, log });
  // Webhook events, queued where the change happens (once, by the process making it).
  builds.stepped.add((buildId, step) => buildEvents(db.prisma, webhooks, buildId, step));
  jobEngine.ended.add((job) => repoUpdatedEvent(db.prisma, webhooks, job));
  const buildWorkers = new BuildWorkers({ prisma: db.prisma, config, log });
  const stopBuild = (id: number, step: { step: 'build-failed'; reason: string }) => gitBuilds.stop(id, step);
  const scheduler = new BuildScheduler({
    prisma: db.prisma,
    builds,
    log,
    start: (id) => gitBuilds.start(id),
    stop: stopBuild,
    liveArches: () => buildWorkers.liveArches(),
  });
  gitBuilds.admit = (id) => scheduler.admit(id);
  const buildSets = new BuildSetService({ prisma: db.prisma, repos, builds, scheduler, createBuild: (viewer, input) => gitBuilds.create(viewer, input), log });
  // A job that moves a build on may let waiting builds start (or fail them); the sweeps of every
  // worker catch what other processes changed.
  jobEngine.ended.add((job) => scheduler.jobEnded(job));
  buildWorkers.tick.add(async () => {
    await scheduler.admitWaiting();
    await scheduler.markOrphanedQueues();
    await failStalledBuilds({ prisma: db.prisma, config, log }, stopBuild);
    await buildWorkers.removeGone();
  });
  jobEngine.workerStarting.add(() => buildWorkers.start());
  jobEngine.workerStopping.add(() => buildWorkers.stop());
  const retention = new RetentionService({ prisma: db.prisma, config, jobs: jobEngine, repos, builds, gitBuilds, log });
  // A scheduled run that ends queues the next; every process running jobs also checks the
  // schedules now and then, for runs a process that died did not queue.
  jobEngine.ended.add((job) => retention.jobEnded(job));
  repos.deleting.add((repo) => retention.endForRepo(repo));
  retention.fsckFailed.add((f) => webhooks.notifySafely('repo.fsck_failed', f.repo, () => ({ jobId: f.jobId, problems: f.problems.slice(0, 100) })));
  jobEngine.workerStarting.add(async () => retention.start());
  jobEngine.workerStopping.add(async () => retention.stop());
  // Uploads cut off by a dead process left temp files behind.
  await builds.removeStaleUploads();
  await gitBuilds.ensureDirs();
  await gitBuilds.sweepWorkDirs().catch((err) => log.warn({ err }, 'could not sweep the work dirs of git builds'));
  registerJobKinds(jobEngine, { prisma: db.prisma, config, jobs: jobEngine, repos, builds, promotions, gitBuilds, webhooks, retention });
  const services: Services = {
    config,
    log,
    db,
    prisma: db.prisma,
    events,
    tokens,
    users,
    keys,
    repos,
    builds,
    buildStats: new BuildStatsService(db.prisma),
    promotions,
    gitBuilds,
    scheduler,
    buildSets,
    buildWorkers,
    gitCredentials,
    gitSources,
    metrics,
    jobs: jobEngine,
    jobRecords: new JobService(db.prisma, events),
    jobEngine,
    audit: new AuditService({ prisma: db.prisma, log }),
    webhooks,
    retention,
    async close() {
      gitSources.close();
      await jobEngine.stop();
      users.close();
      await tokens.close();
      await builds.close();
      await events.close();
    },
  };
  return services;
}
