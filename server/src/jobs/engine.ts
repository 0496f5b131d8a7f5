// fmd's job engine: fmd Job records (the domain's view) scheduled and locked by Agenda on
// the job store. Implements the domain's JobQueue; handlers are registered per kind and
// call domain services. At-least-once: a handler may run again after a crash, so every
// handler is idempotent, and each kind says whether an interrupted run is re-run or failed.
import { Agenda, type Job as AgendaJob, type AgendaBackend, type NotificationChannel } from 'agenda';
import type { Logger } from 'pino';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Job, PrismaClient } from '../generated/prisma/client.ts';
import type { FmdConfig } from '../config/index.ts';
import type { EventBus } from '../domain/events.ts';
import { NotFoundError } from '../domain/errors.ts';
import {
  fileLockOf,
  repoSerializedKinds,
  type EnqueueOptions,
  type JobKind,
  type JobKindDefinition,
  type JobPayloads,
  type JobQueue,
  type JobRun,
} from '../domain/jobs/queue.ts';
import { JobLogWriter } from '../domain/jobs/logs.ts';
import { lockFilePath, withFileLock } from '../ostree/lock.ts';
import { Listeners } from '../domain/listeners.ts';
import { allJobsTopic, jobTopic } from '../domain/jobs/service.ts';
import { MariaDbBackend, InProcessNotificationChannel, RedisNotificationChannel } from './mariadb-backend/index.ts';
import type { JobMetrics } from './metrics.ts';

type AgendaData = { jobId: number };
/** The abort reason of jobs still running when stop()'s grace period is over. */
const stopAbort = new Error('the worker is stopping');
/** A kind's definition as the engine holds it: the payload is the job's stored contents. */
type StoredKind = JobKindDefinition<unknown>;
const agendaName = (kind: JobKind, lane?: string | null) => (lane ? `fmd:${kind}@${lane}` : `fmd:${kind}`);

/** How long a job waiting for its repo or a dependency waits before it looks again. */
const waitRetryMs = { repo: 200, dependency: 500, concurrency: 1000 };

export type JobEngineOptions = {
  config: FmdConfig;
  prisma: PrismaClient;
  pool: Pool;
  events: EventBus;
  log: Logger;
  metrics?: JobMetrics;
};

export class JobEngine implements JobQueue {
  readonly agenda: Agenda;
  private readonly opts: JobEngineOptions;
  private readonly definitions = new Map<JobKind, StoredKind>();
  private readonly running = new Map<number, AbortController>();
  /** handlers under way per kind with a concurrency limit, across the kind's lanes */
  private readonly kindActive = new Map<JobKind, number>();
  /** handlers under way, from Agenda's call to their end (including the wait for a repo lock) */
  private readonly handling = new Set<Promise<void>>();
  /** Repo locks held by this process's jobs: each settles when its lock is released. */
  private readonly repoLocks = new Map<string, Promise<void>>();
  private readonly repoReleases = new Map<PoolConnection, () => void>();
  private readonly backend: AgendaBackend;
  private readonly workers: number;
  private started = false;
  /** set by stop(): jobs handed over from then on are handed back instead of run */
  private stopRequested = false;
  /** a job ended (ENDED or BROKEN) through this process; a listener's failure is only logged */
  readonly ended = new Listeners<[job: Pick<Job, 'id' | 'kind' | 'repo' | 'buildId'>]>();
  /** this process starts running jobs (startWorker) */
  readonly workerStarting = new Listeners<[]>();
  /** this process stops running jobs (stop), before its running jobs are waited for */
  readonly workerStopping = new Listeners<[]>();

  private constructor(opts: JobEngineOptions, backend: AgendaBackend, channel: NotificationChannel | undefined) {
    this.opts = opts;
    this.backend = backend;
    const { config } = opts;
    this.workers = Math.max(config.jobWorkers, 1);
    this.agenda = new Agenda({
      backend,
      name: `fmd-${process.pid}`,
      processEvery: config.jobPollMs,
      maxConcurrency: this.workers,
      defaultConcurrency: this.workers,
      // Lock no more than we can run, or a crashed worker strands queued jobs until expiry; plus
      // one locked ahead, which starts as soon as a worker frees up (see define()).
      lockLimit: this.workers + 1,
      defaultLockLimit: this.workers + 1,
      defaultLockLifetime: config.jobLockLifetimeMs,
      removeOnComplete: true,
      notificationChannel: channel,
    });
    this.agenda.on('error', (err) => opts.log.error({ err }, 'job store error'));
  }

  static async create(opts: JobEngineOptions): Promise<JobEngine> {
    const { config } = opts;
    let channel: NotificationChannel | undefined;
    if (config.redis) channel = new RedisNotificationChannel({ url: config.redis });
    else channel = new InProcessNotificationChannel();
    let backend: AgendaBackend;
    if (config.jobsBackend === 'mongo') {
      backend = await (await import('./mongo-backend.ts')).createMongoBackend(config.mongodbUrl!);
    } else {
      backend = new MariaDbBackend({ pool: opts.pool });
    }
    const engine = new JobEngine(opts, backend, channel);
    await engine.agenda.ready;
    // A producer that never starts Agenda must connect the channel itself to publish.
    await channel.connect?.();
    return engine;
  }

  define<K extends JobKind>(kind: K, typed: JobKindDefinition<JobPayloads[K]>): void {
    // The contents were stored by enqueue(kind, JobPayloads[kind]): this is where they become that type again.
    const def = typed as StoredKind;
    this.definitions.set(kind, def);
    const limit = def.concurrency === undefined ? undefined : Math.max(1, Math.min(def.concurrency, this.workers));
    const processor = async (agendaJob: AgendaJob<AgendaData>) => {
      const handling = limit === undefined ? this.process(kind, def, agendaJob) : this.processLimited(kind, def, agendaJob, limit);
      this.handling.add(handling);
      try {
        await handling;
      } finally {
        this.handling.delete(handling);
        // Agenda locks more jobs only on a poll or a notification, so a worker at its lock limit
        // would leave the rest of a burst to its next poll. Each job that ends asks for the next
        // one of its kind; as this one still counts against the limit here, the job locked ahead
        // is what lets that request lock another. A kind with a concurrency limit locks none
        // ahead (another worker with a free slot should take it): its request waits until Agenda
        // has released this job's slot.
        if (this.started) {
          const notify = () => void this.agenda.publishJobNotification(agendaJob).catch(() => undefined);
          if (limit === undefined) notify();
          else setImmediate(notify);
        }
      }
    };
    const options = {
      concurrency: limit ?? this.workers,
      ...(limit === undefined ? {} : { lockLimit: limit }),
      lockLifetime: this.opts.config.jobLockLifetimeMs,
      removeOnComplete: true,
    };
    // Jobs without a lane run anywhere; a lane's jobs only where it is served. (A lane dropped by a
    // later define() stays defined in Agenda: a job of it may be locked here right now.)
    for (const lane of [null, ...(def.lanes ?? [])]) this.agenda.define<AgendaData>(agendaName(kind, lane), processor, options);
  }

  /**
   * `process` under the kind's per-process limit. Agenda enforces it per job name, so a kind
   * served in several lanes could run the limit in each: past it, the job is handed back for any
   * worker (this one included, once a slot is free).
   */
  private async processLimited(kind: JobKind, def: StoredKind, agendaJob: AgendaJob<AgendaData>, limit: number): Promise<void> {
    const active = this.kindActive.get(kind) ?? 0;
    if (active >= limit) {
      const job = await this.opts.prisma.job.findUnique({ where: { id: agendaJob.attrs.data.jobId } });
      if (job && (job.status === 'NEW' || job.status === 'STARTED')) await this.schedule(job, new Date(Date.now() + waitRetryMs.concurrency));
      return;
    }
    this.kindActive.set(kind, active + 1);
    try {
      await this.process(kind, def, agendaJob);
    } finally {
      this.kindActive.set(kind, (this.kindActive.get(kind) ?? 1) - 1);
    }
  }

  /** Starts running jobs in this process (the server with job-workers > 0, or `fmd worker`). */
  async startWorker(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopRequested = false;
    const repo = this.mariaDbRepository();
    if (repo) repo.polling = true;
    await this.agenda.start();
    await this.workerStarting.emit();
  }

  async enqueue<K extends JobKind>(kind: K, contents: JobPayloads[K], opts: EnqueueOptions = {}): Promise<Job> {
    const { prisma } = this.opts;
    const job = await prisma.job.create({
      data: {
        kind,
        contents: contents as object,
        repo: opts.repo ?? null,
        buildId: opts.buildId ?? null,
        startAfter: opts.startAfter ?? null,
        dependsOnId: opts.dependsOn ?? null,
        maxAttempts: opts.maxAttempts ?? this.definitions.get(kind)?.maxAttempts ?? 1,
        lane: opts.lane ?? null,
        uniqueKey: opts.uniqueKey ?? null,
      },
    });
    await this.schedule(job, opts.startAfter ?? new Date());
    this.opts.metrics?.queued.inc({ kind });
    await this.publish(job);
    return job;
  }

  /**
   * Creates the Agenda job that runs `job` at `when`; `cancel` finds it by its data.jobId. A job
   * for later is announced again when it is due: Agenda ignores the announcement at save() of a
   * job due after its current scan window and leaves it to a poll, which may come a whole poll
   * interval after it is due.
   */
  private async schedule(job: Job, when: Date): Promise<void> {
    const agendaJob = this.agenda.create<AgendaData>(agendaName(job.kind as JobKind, job.lane), { jobId: job.id });
    agendaJob.schedule(when);
    await agendaJob.save();
    const wait = when.getTime() - Date.now();
    // (Timers take at most ~24.8 days; later jobs are found by the poll.)
    if (wait > 0 && wait < 2 ** 31 - 1) setTimeout(() => void this.agenda.publishJobNotification(agendaJob).catch(() => undefined), wait).unref();
  }

  async get(jobId: number): Promise<Job | null> {
    return this.opts.prisma.job.findUnique({ where: { id: jobId } });
  }

  async cancel(jobId: number): Promise<Job> {
    const { prisma } = this.opts;
    const job = await prisma.job.findUnique({ where: { id: jobId } });
    if (!job) throw new NotFoundError('job', String(jobId));
    if (job.status === 'ENDED' || job.status === 'BROKEN') return job;
    await prisma.job.update({ where: { id: jobId }, data: { cancelRequested: true } });
    // A queued job is over now; a running one stops at its next checkpoint.
    const claimed = await prisma.job.updateMany({ where: { id: jobId, status: 'NEW' }, data: { status: 'BROKEN', error: 'cancelled', finishedAt: new Date() } });
    if (claimed.count === 1) {
      await this.agenda.cancel({ name: agendaName(job.kind as JobKind, job.lane), data: { jobId } }).catch(() => 0);
      await this.emitEnded(job);
    }
    this.running.get(jobId)?.abort(new Error('cancelled'));
    const updated = (await prisma.job.findUnique({ where: { id: jobId } }))!;
    await this.publish(updated);
    return updated;
  }

  private async publish(job: Job): Promise<void> {
    await this.opts.events.publish(jobTopic(job.id), { id: job.id });
    await this.opts.events.publish(allJobsTopic, { id: job.id });
  }

  /** Ends a job (one UPDATE: this is on every job's path) and tells followers. */
  private async finish(job: Job, data: Partial<Job>): Promise<void> {
    await this.opts.prisma.job.updateMany({ where: { id: job.id }, data: { ...data, finishedAt: new Date() } as never });
    await this.publish(job);
    await this.emitEnded(job);
  }

  private async emitEnded(job: Job): Promise<void> {
    await this.ended.emit(job).catch((err: unknown) => this.opts.log.error({ err, jobId: job.id }, 'a listener of ended jobs failed'));
  }

  /** The Agenda processor shared by every kind. */
  private async process(kind: JobKind, def: StoredKind, agendaJob: AgendaJob<AgendaData>): Promise<void> {
    const { prisma, log } = this.opts;
    const jobId = agendaJob.attrs.data.jobId;
    const serialized = repoSerializedKinds.includes(kind);
    // Fast path, one statement: a queued job with nothing to wait for is claimed directly.
    if (!serialized && !this.stopRequested) {
      const { count } = await prisma.job.updateMany({
        where: { id: jobId, status: 'NEW', dependsOnId: null, cancelRequested: false },
        data: { status: 'STARTED', startedAt: new Date(), attempts: { increment: 1 }, error: null },
      });
      // Not in that state: take the careful path below.
      const claimed = count === 1 ? await prisma.job.findUnique({ where: { id: jobId } }) : null;
      if (claimed) {
        await this.publish(claimed);
        await this.run(kind, def, claimed, agendaJob, claimed.startedAt!);
        return;
      }
    }
    let job = await prisma.job.findUnique({ where: { id: jobId } });
    if (!job || job.status === 'ENDED' || job.status === 'BROKEN') return; // done already (at-least-once)
    if (this.stopRequested) {
      // Handed over by Agenda as this worker stops: handed back (a new Agenda job), for any worker.
      await this.schedule(job, new Date());
      return;
    }
    if (job.cancelRequested) {
      await this.finish(job, { status: 'BROKEN', error: 'cancelled' });
      return;
    }
    if (job.status === 'STARTED') {
      // The worker that ran it died (its lock expired). The kind decides.
      const rule = typeof def.recovery === 'function' ? def.recovery(job.contents ?? {}) : def.recovery;
      if (rule === 'fail') {
        log.warn({ jobId, kind }, 'job interrupted by a dead worker; marking it broken');
        await this.finish(job, { status: 'BROKEN', error: 'interrupted: the worker running this job stopped; start it again' });
        this.opts.metrics?.finished.inc({ kind, result: 'broken' });
        return;
      }
      log.warn({ jobId, kind }, 'job interrupted by a dead worker; running it again');
    }
    if (job.dependsOnId) {
      const dep = await prisma.job.findUnique({ where: { id: job.dependsOnId }, select: { status: true } });
      if (dep && (dep.status === 'NEW' || dep.status === 'STARTED')) {
        await this.schedule(job, new Date(Date.now() + waitRetryMs.dependency));
        return;
      }
      if (dep?.status === 'BROKEN') {
        await this.finish(job, { status: 'BROKEN', error: `job ${job.dependsOnId}, which this job depends on, failed` });
        return;
      }
    }
    let repoLock: PoolConnection | undefined;
    if (job.repo && serialized) {
      repoLock = await this.lockRepo(job.repo);
      const holder = this.repoLocks.get(job.repo);
      if (!repoLock && holder && !this.stopRequested) {
        // Held by a job of this process: most often the one that queued this job and ends soon
        // (a publish queues its repo's update-repo job); taken as it is released, not at a retry.
        await Promise.race([holder, new Promise((r) => setTimeout(r, waitRetryMs.repo))]);
        repoLock = await this.lockRepo(job.repo);
      }
      if (!repoLock || this.stopRequested) {
        // (Getting the lock may take a while when the pool is busy: the worker may be stopping by then.)
        if (repoLock) await this.unlockRepo(repoLock, job.repo);
        await this.schedule(job, new Date(Date.now() + (this.stopRequested ? 0 : waitRetryMs.repo)));
        return;
      }
    }
    const startedAt = new Date();
    try {
      job = await prisma.job.update({
        where: { id: jobId },
        data: { status: 'STARTED', startedAt, attempts: { increment: 1 }, error: null },
      });
      await this.publish(job);
      await this.run(kind, def, job, agendaJob, startedAt);
    } finally {
      if (repoLock) await this.unlockRepo(repoLock, job.repo!);
    }
  }

  private async run(kind: JobKind, def: StoredKind, job: Job, agendaJob: AgendaJob<AgendaData>, startedAt: Date): Promise<void> {
    const { prisma, events, log, config, metrics } = this.opts;
    const writer = new JobLogWriter(prisma, events, job.id, job.logSize);
    const abort = new AbortController();
    this.running.set(job.id, abort);
    metrics?.running.inc({ kind });
    let lastTouch = Date.now();
    const touch = async (progress?: number) => {
      lastTouch = Date.now();
      await agendaJob.touch(progress === undefined ? undefined : Math.round(progress * 100)).catch((err) => log.warn({ err, jobId: job.id }, 'touch failed'));
      const { cancelRequested } = (await prisma.job.findUnique({ where: { id: job.id }, select: { cancelRequested: true } })) ?? { cancelRequested: false };
      if (cancelRequested && !abort.signal.aborted) abort.abort(new Error('cancelled'));
    };
    // Keep the lock alive during long steps that report nothing, well inside its lifetime.
    const keepAlive = setInterval(() => {
      if (Date.now() - lastTouch > config.jobLockLifetimeMs / 4) void touch();
    }, Math.max(config.jobLockLifetimeMs / 8, 250));
    const run: JobRun = {
      job,
      contents: job.contents ?? {},
      signal: abort.signal,
      log: async (line) => {
        for (const l of line.split('\n')) writer.append(l);
      },
      progress: async (fraction, message) => {
        await prisma.job.update({ where: { id: job.id }, data: { progress: fraction, progressMessage: message?.slice(0, 255) ?? null } });
        await touch(fraction ?? undefined);
        await this.publish(job);
      },
    };
    let result: 'ended' | 'broken' | 'retry' | 'interrupted' = 'ended';
    try {
      const lockName = fileLockOf(job);
      const results = lockName
        ? await withFileLock(
            lockFilePath(config.dataDir, lockName),
            { waitSecs: config.repoLockWaitSecs, signal: abort.signal, owner: `job ${job.id}`, onWait: (l) => writer.append(l) },
            () => def.handler(run),
          )
        : await def.handler(run);
      await writer.close();
      await this.finish(job, { status: 'ENDED', results: (results ?? {}) as never, progress: 1 });
    } catch (err) {
      if (abort.signal.reason === stopAbort) {
        // Stopped with this worker: as after a crash, the job stays STARTED and its lock expires,
        // then a worker applies the kind's recovery rule. Only its log is completed here.
        result = 'interrupted';
        writer.append('stopped: this worker shut down while the job ran');
        await writer.flush();
        return;
      }
      const message = abort.signal.aborted ? 'cancelled' : err instanceof Error ? err.message : String(err);
      writer.append(`error: ${message}`);
      const attempts = job.attempts; // already incremented for this run
      if (!abort.signal.aborted && attempts < job.maxAttempts) {
        result = 'retry';
        const delay = def.retryDelayMs ? def.retryDelayMs(attempts) : Math.min(1000 * 2 ** (attempts - 1), 5 * 60_000);
        writer.append(`retrying in ${delay < 1000 ? `${delay} ms` : `${Math.round(delay / 1000)} s`} (attempt ${attempts + 1} of ${job.maxAttempts})`);
        await writer.flush();
        const updated = await prisma.job.update({ where: { id: job.id }, data: { status: 'NEW', error: message } });
        await this.schedule(updated, new Date(Date.now() + delay));
        await this.publish(updated);
      } else {
        result = 'broken';
        await writer.close();
        await this.finish(job, { status: 'BROKEN', error: message });
      }
    } finally {
      clearInterval(keepAlive);
      this.running.delete(job.id);
      metrics?.running.dec({ kind });
      metrics?.finished.inc({ kind, result });
      metrics?.duration.observe({ kind, result }, (Date.now() - startedAt.getTime()) / 1000);
    }
  }

  /** Per-repo serialization across all workers: a named lock held on a dedicated connection. */
  private async lockRepo(repo: string): Promise<PoolConnection | undefined> {
    const conn = await this.opts.pool.getConnection();
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS got', [`fmd-repo:${repo}`]);
      if (rows[0]?.got === 1) {
        let released!: () => void;
        this.repoLocks.set(repo, new Promise<void>((r) => (released = r)));
        this.repoReleases.set(conn, released);
        return conn;
      }
    } catch (err) {
      conn.release();
      throw err;
    }
    conn.release();
    return undefined;
  }

  private async unlockRepo(conn: PoolConnection, repo: string): Promise<void> {
    try {
      await conn.query('SELECT RELEASE_LOCK(?)', [`fmd-repo:${repo}`]);
    } finally {
      conn.release();
      const released = this.repoReleases.get(conn);
      this.repoReleases.delete(conn);
      this.repoLocks.delete(repo);
      released?.();
    }
  }

  /** True when no handler of this engine is under way (running a job, or deciding whether to). */
  idle(): boolean {
    return this.handling.size === 0;
  }

  /** Ids of the jobs whose handlers run in this process now. */
  runningJobs(): number[] {
    return [...this.running.keys()];
  }

  /**
   * Graceful: takes no more jobs, hands back the ones locked ahead (Agenda's stop unlocks them; its drain
   * would leave them locked until their lock expires), then waits up to `timeoutMs` for the
   * running ones. Those still running then are aborted (their tools killed) and left to the
   * kind's recovery rule, as after a crash, and waited for again. It also waits for handlers
   * left running by an earlier stop, and for any lock query still under way, so that nothing of
   * this engine writes to the database once it returns (bar a handler that ignores its signal
   * for `abortGraceMs`, which is logged) and the pool can close after it.
   */
  async stop(timeoutMs = 30_000, abortGraceMs = 10_000): Promise<void> {
    this.stopRequested = true;
    if (this.started) {
      this.started = false;
      await this.workerStopping.emit().catch((err: unknown) => this.opts.log.error({ err }, 'a listener of the worker stopping failed'));
      const repo = this.mariaDbRepository();
      if (repo) repo.polling = false;
      await this.agenda.stop(false).catch(() => undefined);
    }
    if (!(await this.settled(timeoutMs))) {
      for (const abort of this.running.values()) abort.abort(stopAbort);
      if (!(await this.settled(abortGraceMs))) this.opts.log.error({ jobs: this.runningJobs() }, 'jobs still running after stop; they may write after it');
    }
    // A lock statement under way as Agenda stopped still hands its job over afterwards (which is
    // then handed back, see process()): wait for the job store's statements, then for what they
    // started, until neither is left.
    for (let round = 0; round < 100; round++) {
      await this.mariaDbRepository()?.settled();
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (this.handling.size === 0) break;
      await this.settled(abortGraceMs);
    }
  }

  private mariaDbRepository() {
    return this.backend instanceof MariaDbBackend ? this.backend.repository : undefined;
  }

  /** Waits up to `ms` for every handler under way; true when none is left. */
  private async settled(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    // Again while new ones appear: Agenda may hand over a job it was starting as stop() began.
    const done = (async () => {
      while (this.handling.size) await Promise.allSettled([...this.handling]);
      return true;
    })();
    const ok = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return ok;
  }
}
