// Repeating jobs on the job queue. A schedule is a row (job_schedules) naming its latest run; the
// next run is queued, due one interval after the last one ended, as soon as that run ends (the
// ended hook of the process that ran it) or when any process's periodic check finds none queued
// (a process that died between the two). Several processes may do this at once: run n of a
// schedule is queued with the job unique key "<key>#<n>", so only one of them can queue it, and
// the others adopt the job it queued.
import type { Job, PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from 'pino';
import type { JobKind, JobPayloads, JobQueue } from '../jobs/queue.ts';

export type ScheduleSpec<K extends JobKind = JobKind> = {
  key: string;
  kind: K;
  contents: JobPayloads[K];
  repo?: string;
  /** null: the schedule is off (a queued run is cancelled) */
  intervalSecs: number | null;
};

const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === 'P2002';

export class JobSchedules {
  private readonly prisma: PrismaClient;
  private readonly jobs: JobQueue;
  private readonly log: Logger;

  constructor(deps: { prisma: PrismaClient; jobs: JobQueue; log: Logger }) {
    this.prisma = deps.prisma;
    this.jobs = deps.jobs;
    this.log = deps.log;
  }

  /**
   * Brings the schedule in line with `spec`: a run queued (or running) while it is on, none queued
   * while it is off. A queued run due later than the interval allows (the interval was shortened)
   * is replaced. Safe from any process at any time; answers the run queued or under way.
   */
  async ensure(spec: ScheduleSpec, now = new Date()): Promise<Job | null> {
    // A schedule that is off and never ran needs no row.
    const found = await this.prisma.jobSchedule.findUnique({ where: { key: spec.key } });
    if (!found && spec.intervalSecs === null) return null;
    const row = found ?? (await this.row(spec.key));
    let current = row.jobId === null ? null : await this.prisma.job.findUnique({ where: { id: row.jobId } });
    if (current && (current.status === 'NEW' || current.status === 'STARTED')) {
      const tooLate = spec.intervalSecs !== null && current.status === 'NEW' && (current.startAfter?.getTime() ?? 0) > now.getTime() + spec.intervalSecs * 1000;
      if (spec.intervalSecs !== null && !tooLate) return current;
      if (current.status === 'STARTED') return spec.intervalSecs === null ? null : current;
      current = await this.jobs.cancel(current.id);
      if (current.status === 'STARTED') return spec.intervalSecs === null ? null : current;
      if (spec.intervalSecs === null) return null;
      // Re-timed from now: the cancelled run's end is now.
    }
    if (spec.intervalSecs === null) return null;
    const last = current?.finishedAt?.getTime() ?? now.getTime();
    const due = new Date(Math.max(now.getTime(), last + spec.intervalSecs * 1000));
    const run = row.runs + 1;
    const uniqueKey = `${spec.key}#${run}`;
    let job: Job | null;
    try {
      job = await this.jobs.enqueue(spec.kind, spec.contents, { repo: spec.repo, startAfter: due, uniqueKey });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // Another process queued this run first (or this one died before recording it): adopt it.
      job = await this.prisma.job.findUnique({ where: { uniqueKey } });
      if (!job) throw err;
    }
    await this.prisma.jobSchedule.updateMany({ where: { key: spec.key, runs: row.runs }, data: { runs: run, jobId: job.id } });
    return job;
  }

  /** The schedule whose latest run is `jobId`, if any. */
  async keyOfRun(jobId: number): Promise<string | null> {
    return (await this.prisma.jobSchedule.findFirst({ where: { jobId }, select: { key: true } }))?.key ?? null;
  }

  /** Every schedule's key and latest run. */
  async all(): Promise<Array<{ key: string; jobId: number | null }>> {
    return this.prisma.jobSchedule.findMany({ select: { key: true, jobId: true } });
  }

  /** Turns a schedule off for good: its queued run is cancelled and its row removed. */
  async remove(key: string): Promise<void> {
    const row = await this.prisma.jobSchedule.findUnique({ where: { key } });
    if (!row) return;
    if (row.jobId !== null) {
      const job = await this.prisma.job.findUnique({ where: { id: row.jobId }, select: { status: true } });
      if (job?.status === 'NEW') await this.jobs.cancel(row.jobId).catch((err: unknown) => this.log.warn({ err, key }, 'could not cancel a scheduled run'));
    }
    await this.prisma.jobSchedule.deleteMany({ where: { key } });
  }

  private async row(key: string) {
    const found = await this.prisma.jobSchedule.findUnique({ where: { key } });
    if (found) return found;
    try {
      return await this.prisma.jobSchedule.create({ data: { key } });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return (await this.prisma.jobSchedule.findUnique({ where: { key } }))!;
    }
  }
}
