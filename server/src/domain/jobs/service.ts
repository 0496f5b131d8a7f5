// Reading jobs and their logs; the engine (server/src/jobs) writes them.
import type { Job, JobStatus, PrismaClient } from '../../generated/prisma/client.ts';
import { perEvent, type EventBus } from '../events.ts';
import { NotFoundError } from '../errors.ts';
import type { Viewer } from '../tokens/service.ts';
import { jobVisibility, jobVisible, visibleJobsWhere } from './access.ts';
import { followLog, LineEndCache, readLog, readLogForClient, type LogChunk } from './logs.ts';

export const jobTopic = (jobId: number) => `job.${jobId}`;
/** every job's changes, for lists */
export const allJobsTopic = 'jobs.updated';

/** flat-manager's wire codes. */
export const jobStatusCode: Record<JobStatus, number> = { NEW: 0, STARTED: 1, ENDED: 2, BROKEN: 3 };

export type JobFilter = { kind?: string | null; status?: JobStatus | null; repo?: string | null; buildId?: number | null };

export class JobService {
  private readonly prisma: PrismaClient;
  private readonly events: EventBus;
  private readonly lineEnds = new LineEndCache();
  constructor(prisma: PrismaClient, events: EventBus) {
    this.prisma = prisma;
    this.events = events;
  }

  where(f: JobFilter) {
    return {
      ...(f.kind ? { kind: f.kind } : {}),
      ...(f.status ? { status: f.status } : {}),
      ...(f.repo ? { repo: f.repo } : {}),
      ...(f.buildId ? { buildId: f.buildId } : {}),
    };
  }

  /** The job when the viewer may read it (visibleJobsWhere); NotFoundError when not, as when it does not exist. */
  async getFor(viewer: Viewer, id: number): Promise<Job> {
    const job = await this.prisma.job.findFirst({ where: { AND: [{ id }, visibleJobsWhere(viewer)] } });
    if (!job) throw new NotFoundError('job', String(id));
    return job;
  }

  /** Each job the viewer may read when its status or progress changes (no initial state). */
  async *allUpdates(viewer: Viewer): AsyncGenerator<Job> {
    // Decided in memory on the job every subscriber shares (forEvent): no query per subscriber.
    const visibility = jobVisibility(viewer);
    const sub = this.events.subscribe<{ id: number }>(allJobsTopic);
    try {
      for (;;) {
        const r = await sub.next();
        if (r.done) return;
        const job = await this.withBuildForEvent(r.value);
        if (job && jobVisible(visibility, job)) yield job;
      }
    } finally {
      await sub.return?.();
    }
  }

  /** The job an event names with its build, read once per event for all its subscribers; null once deleted. */
  private readonly withBuildForEvent = perEvent((event: { id: number }) => this.prisma.job.findUnique({ where: { id: event.id }, include: { build: { include: { repo: true } } } }));

  /** The job an event names, read once per event for all its subscribers. */
  private readonly forEvent = perEvent((event: { id: number }) => this.get(event.id));

  async get(id: number): Promise<Job> {
    const job = await this.prisma.job.findUnique({ where: { id } });
    if (!job) throw new NotFoundError('job', String(id));
    return job;
  }

  /** The log from byte `offset` on. */
  async log(id: number, offset = 0): Promise<string> {
    await this.get(id);
    return readLog(this.prisma, id, offset);
  }

  /** The log after a flat-manager client's `log-offset` (characters or bytes: see readLogForClient). */
  async logAfterClientOffset(id: number, offset = 0): Promise<string> {
    await this.get(id);
    return readLogForClient(this.prisma, id, offset, this.lineEnds);
  }

  /** Replays the log from `offset`, then streams new lines until the job is over. */
  follow(id: number, offset = 0): AsyncGenerator<LogChunk> {
    return followLog(this.prisma, this.events, id, offset, async () => {
      const j = await this.get(id);
      return { finished: j.status === 'ENDED' || j.status === 'BROKEN', size: j.logSize };
    });
  }

  /** Emits the job each time it changes, starting with its current state, until it is over. */
  async *updates(id: number): AsyncGenerator<Job> {
    const sub = this.events.subscribe<{ id: number }>(jobTopic(id));
    try {
      let job = await this.get(id);
      yield job;
      while (job.status !== 'ENDED' && job.status !== 'BROKEN') {
        const r = await sub.next();
        if (r.done) return;
        job = await this.forEvent(r.value);
        yield job;
      }
    } finally {
      await sub.return?.();
    }
  }
}
