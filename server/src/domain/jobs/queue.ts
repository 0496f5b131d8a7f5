// The domain's view of the job engine. Services enqueue work and read job state through this
// interface; server/src/jobs/ implements it on Agenda and registers the handlers, which call
// domain services back. Nothing here knows about Agenda.
import type { Job } from '../../generated/prisma/client.ts';

/** Every kind of long operation fmd runs as a job. */
export const jobKinds = [
  'commit',
  'publish',
  'promote',
  'update-repo',
  'republish',
  'check',
  'prune',
  'purge',
  'delete-repo',
  'noop',
] as const;
export type JobKind = (typeof jobKinds)[number];

/** Kinds that touch a repo's published state: at most one of them runs per repo at a time. */
export const repoSerializedKinds: readonly JobKind[] = ['publish', 'promote', 'update-repo', 'republish', 'prune', 'delete-repo'];

export type EnqueueOptions = {
  /** repo the job works on (serialization key for repoSerializedKinds) */
  repo?: string;
  buildId?: number;
  startAfter?: Date;
  /** do not start before this job has ended */
  dependsOn?: number;
  /** total attempts for kinds whose handler may be retried with backoff */
  maxAttempts?: number;
};

export type JobQueue = {
  enqueue(kind: JobKind, contents: Record<string, unknown>, opts?: EnqueueOptions): Promise<Job>;
  /** Requests cancellation; a running job stops at its next checkpoint. */
  cancel(jobId: number): Promise<Job>;
  get(jobId: number): Promise<Job | null>;
};

/** What a job handler gets: its record, a logger that appends to the job log, progress. */
export type JobRun = {
  job: Job;
  contents: Record<string, unknown>;
  signal: AbortSignal;
  /** appends a line to the job log (stored, streamed live) */
  log(line: string): Promise<void>;
  /** reports progress (0..1) and keeps the job's lock alive during long steps */
  progress(fraction: number | null, message?: string): Promise<void>;
};

/** A handler returns the job's results (stored as JSON) or throws to fail it. */
export type JobHandler = (run: JobRun) => Promise<Record<string, unknown> | void>;

/** What happens to a job of this kind found Started after its worker died. */
export type RecoveryRule = 'requeue' | 'fail';

export type JobKindDefinition = {
  handler: JobHandler;
  /** a rule for the kind, or one decided from the job's contents */
  recovery: RecoveryRule | ((contents: Record<string, unknown>) => RecoveryRule);
  /** retries with exponential backoff on failure (default 1 = no retry) */
  maxAttempts?: number;
};
