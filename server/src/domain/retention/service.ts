// Retention: what fmd deletes on its own, on schedules kept by JobSchedules. Per repo (settings on
// the repo row): builds never published purged past an age, prunes, `ostree fsck` runs. Global
// (config): the git builders' state dirs kept under a size budget, work dirs of failed builds past
// keep-failed-build-secs, job logs and audit entries past their age. Every run is a job; a dry
// run reports what it would delete in its log and results and deletes nothing.
import { lstat, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../config/index.ts';
import type { Job, PrismaClient, Repo } from '../../generated/prisma/client.ts';
import { InvalidInputError } from '../errors.ts';
import type { JobKind, JobQueue } from '../jobs/queue.ts';
import { Listeners } from '../listeners.ts';
import type { BuildService } from '../builds/service.ts';
import type { GitBuildService } from '../builds/git/service.ts';
import { tryLockDir } from '../builds/git/dir-lock.ts';
import type { RepoService } from '../repos/service.ts';
import { JobSchedules, type ScheduleSpec } from './schedules.ts';

export type RetentionSettings = {
  purgeBuildsAfterDays: number | null;
  pruneIntervalSecs: number | null;
  fsckIntervalSecs: number | null;
  dryRun: boolean;
};

export type FsckFailure = { repo: string; jobId: number; problems: string[] };

/** Kinds that retention runs, for "the last runs of a repo". */
export const retentionKinds = ['retention-sweep', 'prune', 'repo-fsck'] as const satisfies readonly JobKind[];

const DAY = 86_400;
/** Bounds that catch typos (seconds for days, a missing unit) rather than express policy. */
const limits = { days: 36_500, minIntervalSecs: 60, maxIntervalSecs: 366 * DAY };
/** Builds a retention run purges at most; the next run goes on. */
const PURGE_BATCH = 500;
/** Ids listed in a run's results at most (the counts are exact). */
const LIST_MAX = 1000;

/** Builds that retention may purge: never published, not being worked on. */
const purgeableStates = ['READY', 'FAILED', 'CANCELLED', 'SUPERSEDED', 'UPLOADING'] as const;

export class RetentionService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly jobs: JobQueue;
  private readonly repos: RepoService;
  private readonly builds: BuildService;
  private readonly gitBuilds: GitBuildService;
  private readonly log: Logger;
  readonly schedules: JobSchedules;
  /** an fsck run found damage in a repo (the run has failed) */
  readonly fsckFailed = new Listeners<[failure: FsckFailure]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; jobs: JobQueue; repos: RepoService; builds: BuildService; gitBuilds: GitBuildService; log: Logger }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.jobs = deps.jobs;
    this.repos = deps.repos;
    this.builds = deps.builds;
    this.gitBuilds = deps.gitBuilds;
    this.log = deps.log;
    this.schedules = new JobSchedules(deps);
  }

  settings(repo: Repo): RetentionSettings {
    return { purgeBuildsAfterDays: repo.purgeBuildsAfterDays, pruneIntervalSecs: repo.pruneIntervalSecs, fsckIntervalSecs: repo.fsckIntervalSecs, dryRun: repo.retentionDryRun };
  }

  /** Changes a repo's retention settings (omitted = kept, null = off) and re-times its schedules. */
  async update(name: string, input: Partial<RetentionSettings>): Promise<Repo> {
    const data: Record<string, unknown> = {};
    if (input.purgeBuildsAfterDays !== undefined) data.purgeBuildsAfterDays = checkDays(input.purgeBuildsAfterDays, 'purgeBuildsAfterDays');
    if (input.pruneIntervalSecs !== undefined) data.pruneIntervalSecs = checkInterval(input.pruneIntervalSecs, 'pruneIntervalSecs');
    if (input.fsckIntervalSecs !== undefined) data.fsckIntervalSecs = checkInterval(input.fsckIntervalSecs, 'fsckIntervalSecs');
    if (input.dryRun !== undefined) {
      if (input.dryRun === null) throw new InvalidInputError('dryRun cannot be null', 'dryRun');
      data.retentionDryRun = input.dryRun;
    }
    const repo = await this.repos.get(name);
    const updated = await this.prisma.repo.update({ where: { id: repo.id }, data });
    await this.ensureRepo(updated);
    return updated;
  }

  /** Starts a retention run now: the repo's build purge, or without a repo the global sweep. */
  async runNow(repoName: string | null, dryRun: boolean | null): Promise<Job> {
    if (repoName === null) return this.jobs.enqueue('retention-sweep', { dryRun: dryRun ?? this.config.retentionDryRun });
    const repo = await this.repos.get(repoName);
    return this.jobs.enqueue('retention-sweep', { repo: repo.name, dryRun: dryRun ?? repo.retentionDryRun }, { repo: repo.name });
  }

  /** Starts an `ostree fsck` of the repo now. */
  async fsckNow(repoName: string): Promise<Job> {
    const repo = await this.repos.get(repoName);
    return this.jobs.enqueue('repo-fsck', { repo: repo.name }, { repo: repo.name });
  }

  /** The latest retention, prune and fsck runs of a repo, newest first. */
  lastRuns(repoName: string, take: number): Promise<Job[]> {
    return this.prisma.job.findMany({ where: { repo: repoName, kind: { in: [...retentionKinds] } }, orderBy: { id: 'desc' }, take });
  }

  /** The queued or running scheduled run of each schedule of a repo. */
  async nextRuns(repoName: string): Promise<Array<{ kind: string; job: Job | null }>> {
    const out: Array<{ kind: string; job: Job | null }> = [];
    for (const kind of retentionKinds) {
      const row = await this.prisma.jobSchedule.findUnique({ where: { key: `${kind}:${repoName}` } });
      const job = row?.jobId == null ? null : await this.prisma.job.findUnique({ where: { id: row.jobId } });
      out.push({ kind, job: job && (job.status === 'NEW' || job.status === 'STARTED') ? job : null });
    }
    return out;
  }

  // --- schedules ----------------------------------------------------------------------------

  private repoSpecs(repo: Repo): ScheduleSpec[] {
    const on = repo.status === 'ACTIVE';
    const every = this.config.retentionIntervalSecs || null;
    return [
      { key: `retention-sweep:${repo.name}`, kind: 'retention-sweep', repo: repo.name, contents: { repo: repo.name, scheduled: true }, intervalSecs: on && repo.purgeBuildsAfterDays !== null ? every : null },
      { key: `prune:${repo.name}`, kind: 'prune', repo: repo.name, contents: { repo: repo.name, scheduled: true }, intervalSecs: on ? repo.pruneIntervalSecs : null },
      { key: `repo-fsck:${repo.name}`, kind: 'repo-fsck', repo: repo.name, contents: { repo: repo.name, scheduled: true }, intervalSecs: on ? repo.fsckIntervalSecs : null },
    ] as ScheduleSpec[];
  }

  private globalSpec(): ScheduleSpec<'retention-sweep'> {
    const c = this.config;
    const anything = c.buildCacheBudgetBytes > 0 || c.jobLogRetentionDays > 0 || c.auditRetentionDays > 0 || c.webhookDeliveryRetentionDays > 0;
    return { key: 'retention-sweep:', kind: 'retention-sweep', contents: { scheduled: true }, intervalSecs: anything && c.retentionIntervalSecs > 0 ? c.retentionIntervalSecs : null };
  }

  async ensureRepo(repo: Repo): Promise<void> {
    for (const spec of this.repoSpecs(repo)) await this.schedules.ensure(spec);
  }

  /** Every schedule in line with the settings; schedules of repos that are gone removed. */
  async ensureAll(): Promise<void> {
    await this.schedules.ensure(this.globalSpec());
    const repos = await this.prisma.repo.findMany({ where: { status: 'ACTIVE' } });
    for (const repo of repos) await this.ensureRepo(repo);
    const names = new Set(repos.map((r) => r.name));
    for (const { key } of await this.schedules.all()) {
      const repo = key.slice(key.indexOf(':') + 1);
      if (repo !== '' && !names.has(repo)) await this.schedules.remove(key);
    }
  }

  /** A job ended: when it was a scheduled run, the next one is queued. */
  async jobEnded(job: Pick<Job, 'id' | 'kind'>): Promise<void> {
    if (!(retentionKinds as readonly string[]).includes(job.kind)) return;
    const key = await this.schedules.keyOfRun(job.id);
    if (key === null) return;
    const repoName = key.slice(key.indexOf(':') + 1);
    if (repoName === '') {
      await this.schedules.ensure(this.globalSpec());
      return;
    }
    const repo = await this.prisma.repo.findUnique({ where: { name: repoName } });
    if (!repo || repo.status !== 'ACTIVE') await this.schedules.remove(key);
    else for (const spec of this.repoSpecs(repo)) if (spec.key === key) await this.schedules.ensure(spec);
  }

  async endForRepo(repo: Pick<Repo, 'name'>): Promise<void> {
    for (const kind of retentionKinds) await this.schedules.remove(`${kind}:${repo.name}`);
  }

  /** While this process runs jobs it checks the schedules every `everyMs` (catching a process that died mid-way). */
  start(everyMs = 60_000): void {
    if (this.timer) return;
    const tick = () => void this.ensureAll().catch((err: unknown) => this.log.warn({ err }, 'could not check the retention schedules'));
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  // --- what the runs do ---------------------------------------------------------------------

  /** Builds of the repo never published and older than `days`, oldest first. */
  async purgeCandidates(repo: Repo, days: number, now = new Date()) {
    const before = new Date(now.getTime() - days * DAY * 1000);
    return this.prisma.build.findMany({
      where: { repoId: repo.id, createdAt: { lt: before }, state: { in: [...purgeableStates] }, publishedState: { in: ['UNPUBLISHED', 'FAILED'] } },
      select: { id: true, appId: true, state: true, publishedState: true, createdAt: true },
      orderBy: { id: 'asc' },
      take: PURGE_BATCH,
    });
  }

  /** Purges one build unless it changed since it was listed (a publish started meanwhile). */
  purgeBuild(id: number): Promise<boolean> {
    return this.builds.purgeNow(id);
  }

  /** Work dirs of failed git builds past keep-failed-build-secs (and of builds that are over). */
  sweepWorkDirs(dryRun: boolean): Promise<string[]> {
    return this.gitBuilds.sweepWorkDirs({ dryRun });
  }

  /**
   * Keeps the git builders' state dirs (`state/<app>/<arch>`, the module caches) within the
   * budget: the least recently used go first (a build's lock file is created and removed in its
   * dir, so the dir's mtime is its last build). A dir a build holds is skipped.
   */
  async evictBuildCaches(dryRun: boolean, budget = this.config.buildCacheBudgetBytes): Promise<{ total: number; evicted: Array<{ dir: string; bytes: number }> }> {
    const root = path.join(this.gitBuilds.root, 'state');
    const dirs: Array<{ dir: string; bytes: number; usedAt: number }> = [];
    for (const app of await readdir(root).catch(() => [] as string[])) {
      if (app.startsWith('.')) continue;
      for (const arch of await readdir(path.join(root, app)).catch(() => [] as string[])) {
        const dir = path.join(root, app, arch);
        const st = await stat(dir).catch(() => null);
        if (!st?.isDirectory()) continue;
        dirs.push({ dir, bytes: await diskUsage(dir), usedAt: st.mtimeMs });
      }
    }
    let total = dirs.reduce((n, d) => n + d.bytes, 0);
    const evicted: Array<{ dir: string; bytes: number }> = [];
    if (budget <= 0) return { total, evicted };
    dirs.sort((a, b) => a.usedAt - b.usedAt);
    for (const d of dirs) {
      if (total <= budget) break;
      if (dryRun) {
        evicted.push({ dir: d.dir, bytes: d.bytes });
        total -= d.bytes;
        continue;
      }
      const lock = await tryLockDir(d.dir, 'retention: build cache budget');
      if (!lock) continue;
      // Moved aside under the lock, so that a build starting now finds no half-removed cache.
      const aside = path.join(root, `.evicted-${path.basename(path.dirname(d.dir))}-${path.basename(d.dir)}-${process.pid}-${Date.now()}`);
      try {
        await rename(d.dir, aside);
      } catch (err) {
        await lock.release();
        this.log.warn({ err, dir: d.dir }, 'could not evict a build cache');
        continue;
      }
      await rm(aside, { recursive: true, force: true });
      evicted.push({ dir: d.dir, bytes: d.bytes });
      total -= d.bytes;
    }
    return { total, evicted };
  }

  /** Jobs over for more than `days` whose logs are still stored; deleted unless `dryRun`. */
  async trimJobLogs(days: number, dryRun: boolean, now = new Date()): Promise<{ count: number; jobs: number[] }> {
    const where = { status: { in: ['ENDED' as const, 'BROKEN' as const] }, finishedAt: { lt: new Date(now.getTime() - days * DAY * 1000) }, logs: { some: {} } };
    if (dryRun) {
      const [count, jobs] = await Promise.all([this.prisma.job.count({ where }), this.prisma.job.findMany({ where, select: { id: true }, orderBy: { id: 'asc' }, take: LIST_MAX })]);
      return { count, jobs: jobs.map((j) => j.id) };
    }
    const done: number[] = [];
    let count = 0;
    for (;;) {
      const batch = (await this.prisma.job.findMany({ where, select: { id: true }, orderBy: { id: 'asc' }, take: 500 })).map((j) => j.id);
      if (batch.length === 0) break;
      await this.prisma.jobLog.deleteMany({ where: { jobId: { in: batch } } });
      count += batch.length;
      for (const id of batch) if (done.length < LIST_MAX) done.push(id);
    }
    return { count, jobs: done };
  }

  /** Audit entries older than `days`; deleted unless `dryRun`. */
  async pruneAudit(days: number, dryRun: boolean, now = new Date()): Promise<{ count: number; before: Date }> {
    const before = new Date(now.getTime() - days * DAY * 1000);
    const where = { createdAt: { lt: before } };
    const count = dryRun ? await this.prisma.auditEntry.count({ where }) : (await this.prisma.auditEntry.deleteMany({ where })).count;
    return { count, before };
  }

  /**
   * Webhook delivery attempts of deliveries that ended (succeeded or failed for good) before
   * `days` ago; a delivery still being retried keeps all its attempts. Deleted unless `dryRun`.
   */
  async pruneWebhookDeliveries(days: number, dryRun: boolean, now = new Date()): Promise<{ count: number; before: Date }> {
    const before = new Date(now.getTime() - days * DAY * 1000);
    const ended = await this.prisma.webhookDelivery.findMany({
      where: { state: { in: ['SUCCEEDED', 'FAILED'] }, finishedAt: { lt: before } },
      select: { deliveryId: true },
      distinct: ['deliveryId'],
    });
    let count = 0;
    for (let i = 0; i < ended.length; i += 500) {
      const where = { deliveryId: { in: ended.slice(i, i + 500).map((d) => d.deliveryId) } };
      count += dryRun ? await this.prisma.webhookDelivery.count({ where }) : (await this.prisma.webhookDelivery.deleteMany({ where })).count;
    }
    return { count, before };
  }
}

function checkDays(v: number | null, field: string): number | null {
  if (v === null) return null;
  if (!Number.isInteger(v) || v < 0 || v > limits.days) throw new InvalidInputError(`${field} must be a whole number of days from 0 to ${limits.days}, or null for never`, field);
  return v;
}

function checkInterval(v: number | null, field: string): number | null {
  if (v === null) return null;
  if (!Number.isInteger(v) || v < limits.minIntervalSecs || v > limits.maxIntervalSecs) {
    throw new InvalidInputError(`${field} must be from ${limits.minIntervalSecs} s to ${limits.maxIntervalSecs} s (366 days), or null for off`, field);
  }
  return v;
}

/** Bytes a dir takes on disk (hard links counted once). */
async function diskUsage(dir: string, seen = new Set<string>()): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = path.join(dir, name);
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    bytes += st.blocks * 512;
    if (st.isDirectory()) bytes += await diskUsage(p, seen);
  }
  return bytes;
}
