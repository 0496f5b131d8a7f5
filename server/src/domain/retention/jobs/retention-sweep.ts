// The retention-sweep job. With a repo: purges the repo's builds that were never published and
// are older than its purgeBuildsAfterDays. Without one: the global sweep (work dirs of failed git
// builds, the build-cache budget, job logs and audit entries past their age, .flatpak bundles). A dry run lists what
// it would delete, in its log and results, and deletes nothing. Idempotent: what a crashed run
// deleted is simply not found again.
import type { FmdConfig } from '../../../config/index.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import type { RepoService } from '../../repos/service.ts';
import type { RetentionService } from '../service.ts';
import type { BundleService } from '../../bundles/service.ts';

export type RetentionSweepPayload = {
  /** the repo whose builds to purge; none: the global sweep */
  repo?: string;
  /** report only; absent (scheduled runs): the repo's or the config's dry-run setting when it runs */
  dryRun?: boolean;
  scheduled?: boolean;
};

export type RetentionSweepJobDeps = { config: FmdConfig; repos: RepoService; retention: RetentionService; bundles: BundleService };

export function retentionSweepJob(deps: RetentionSweepJobDeps): JobKindDefinition<RetentionSweepPayload> {
  return { recovery: 'requeue', handler: (run) => (run.contents.repo === undefined ? globalSweep(deps, run) : repoSweep(deps, run, run.contents.repo)) };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function repoSweep({ repos, retention }: RetentionSweepJobDeps, run: JobRun<RetentionSweepPayload>, name: string): Promise<Record<string, unknown>> {
  const repo = await repos.get(name);
  const dryRun = run.contents.dryRun ?? repo.retentionDryRun;
  const days = repo.purgeBuildsAfterDays;
  const verb = dryRun ? 'would purge' : 'purged';
  await run.log(`Retention of repo ${name}${dryRun ? ' (dry run: nothing is deleted)' : ''}`);
  if (days === null) {
    await run.log('no purge age set (purgeBuildsAfterDays): no build is purged');
    return { dryRun, purgeBuildsAfterDays: null, builds: [] };
  }
  await run.log(`builds never published and created more than ${days} day(s) ago:`);
  const builds: Array<{ id: number; appId: string | null; state: string; createdAt: string }> = [];
  const skipped: number[] = [];
  // Batches until none is left (a dry run lists one batch: it deletes nothing to move past it).
  for (let round = 0; ; round++) {
    const batch = (await retention.purgeCandidates(repo, days)).filter((b) => !builds.some((x) => x.id === b.id) && !skipped.includes(b.id));
    if (batch.length === 0) break;
    for (const b of batch) {
      run.signal.throwIfAborted();
      if (!dryRun && !(await retention.purgeBuild(b.id))) {
        skipped.push(b.id);
        await run.log(`  build ${b.id}: changed meanwhile, kept`);
        continue;
      }
      builds.push({ id: b.id, appId: b.appId, state: b.state, createdAt: b.createdAt.toISOString() });
      await run.log(`  ${verb} build ${b.id} (${b.appId ?? 'no app id'}, ${b.state.toLowerCase()}, created ${b.createdAt.toISOString()})`);
    }
    if (dryRun || round > 1000) break;
    await run.progress(null, `${builds.length} build(s) ${verb}`);
  }
  await run.log(`${builds.length} build(s) ${verb}`);
  return { dryRun, purgeBuildsAfterDays: days, builds, skipped };
}

async function globalSweep({ config, retention, bundles }: RetentionSweepJobDeps, run: JobRun<RetentionSweepPayload>): Promise<Record<string, unknown>> {
  const dryRun = run.contents.dryRun ?? config.retentionDryRun;
  const would = (done: string, todo: string) => (dryRun ? todo : done);
  await run.log(`Global retention sweep${dryRun ? ' (dry run: nothing is deleted)' : ''}`);

  const workDirs = await retention.sweepWorkDirs(dryRun);
  await run.log(`work dirs of git builds past keep-failed-build-secs (${config.keepFailedBuildSecs} s): ${workDirs.length} ${would('removed', 'to remove')}`);
  for (const d of workDirs) await run.log(`  ${d}`);

  let cache: { budgetBytes: number; totalBytes: number; evicted: Array<{ dir: string; bytes: number }> } | null = null;
  if (config.buildCacheBudgetBytes > 0) {
    const r = await retention.evictBuildCaches(dryRun);
    cache = { budgetBytes: config.buildCacheBudgetBytes, totalBytes: r.total, evicted: r.evicted };
    await run.log(`build caches (budget ${mib(config.buildCacheBudgetBytes)}): ${r.evicted.length} ${would('evicted', 'to evict')}, ${mib(r.total)} ${would('left', 'would be left')}`);
    for (const e of r.evicted) await run.log(`  ${e.dir} (${mib(e.bytes)})`);
  } else await run.log('build caches: no budget (build-cache-budget-bytes)');

  let jobLogs: { days: number; count: number; jobs: number[] } | null = null;
  if (config.jobLogRetentionDays > 0) {
    const r = await retention.trimJobLogs(config.jobLogRetentionDays, dryRun);
    jobLogs = { days: config.jobLogRetentionDays, ...r };
    await run.log(`logs of jobs over for more than ${config.jobLogRetentionDays} day(s): ${r.count} ${would('deleted', 'to delete')}${r.jobs.length ? `: jobs ${r.jobs.join(', ')}` : ''}`);
  } else await run.log('job logs: kept (job-log-retention-days)');

  let audit: { days: number; count: number; before: string } | null = null;
  if (config.auditRetentionDays > 0) {
    const r = await retention.pruneAudit(config.auditRetentionDays, dryRun);
    audit = { days: config.auditRetentionDays, count: r.count, before: r.before.toISOString() };
    await run.log(`audit entries from before ${r.before.toISOString()}: ${r.count} ${would('deleted', 'to delete')}`);
  } else await run.log('audit entries: kept (audit-retention-days)');

  let webhookDeliveries: { days: number; count: number; before: string } | null = null;
  if (config.webhookDeliveryRetentionDays > 0) {
    const r = await retention.pruneWebhookDeliveries(config.webhookDeliveryRetentionDays, dryRun);
    webhookDeliveries = { days: config.webhookDeliveryRetentionDays, count: r.count, before: r.before.toISOString() };
    await run.log(`webhook delivery attempts of deliveries over before ${r.before.toISOString()}: ${r.count} ${would('deleted', 'to delete')}`);
  } else await run.log('webhook deliveries: kept (webhook-delivery-retention-days)');

  const gone = await bundles.sweep({ maxAgeSecs: config.bundleRetentionDays > 0 ? config.bundleRetentionDays * 86400 : null, dryRun });
  await run.log(`.flatpak bundles of builds gone${config.bundleRetentionDays > 0 ? ` or made more than ${config.bundleRetentionDays} day(s) ago` : ''} (bundle-retention-days): ${gone.length} ${would('deleted', 'to delete')}${gone.length ? `: ${gone.join(', ')}` : ''}`);

  return { dryRun, workDirs, buildCache: cache, jobLogs, audit, webhookDeliveries, bundles: gone };
}
