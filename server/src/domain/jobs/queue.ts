// The domain's view of the job engine. Services enqueue work and read job state through this
// interface; server/src/jobs/ implements it on Agenda and registers the handlers, which call
// domain services back. Nothing here knows about Agenda.
import type { Job } from '../../generated/prisma/client.ts';
import type { CheckPayload } from '../builds/jobs/check.ts';
import type { CommitPayload } from '../builds/jobs/commit.ts';
import type { GitBuildPayload } from '../builds/jobs/git-build.ts';
import type { PromotePayload } from '../builds/jobs/promote.ts';
import type { PublishPayload } from '../builds/jobs/publish.ts';
import type { DeleteRepoPayload } from '../repos/jobs/delete-repo.ts';
import type { PrunePayload } from '../repos/jobs/prune.ts';
import type { RepublishPayload } from '../repos/jobs/republish.ts';
import type { UpdateRepoPayload } from '../repos/jobs/update-repo.ts';
import type { RepoFsckPayload } from '../retention/jobs/repo-fsck.ts';
import type { RetentionSweepPayload } from '../retention/jobs/retention-sweep.ts';
import type { NoopPayload } from './noop.ts';
import type { BundlePayload } from '../bundles/jobs/bundle.ts';
import type { WebhookDeliverPayload } from '../webhooks/jobs/deliver.ts';

/**
 * Every kind of long operation fmd runs as a job, and the contents it is queued with: the one
 * type that both the code queuing it and its handler use. Each kind lives in its own file
 * (domain/<area>/jobs/<kind>.ts); server/src/jobs/registry.ts gives every kind its handler.
 */
export type JobPayloads = {
  commit: CommitPayload;
  publish: PublishPayload;
  promote: PromotePayload;
  'update-repo': UpdateRepoPayload;
  republish: RepublishPayload;
  check: CheckPayload;
  prune: PrunePayload;
  'delete-repo': DeleteRepoPayload;
  noop: NoopPayload;
  'git-build': GitBuildPayload;
  'webhook-deliver': WebhookDeliverPayload;
  'retention-sweep': RetentionSweepPayload;
  'repo-fsck': RepoFsckPayload;
  bundle: BundlePayload;
};
export type JobKind = keyof JobPayloads;

export const jobKinds = ['commit', 'publish', 'promote', 'update-repo', 'republish', 'check', 'prune', 'delete-repo', 'noop', 'git-build', 'webhook-deliver', 'retention-sweep', 'repo-fsck', 'bundle'] as const satisfies readonly JobKind[];

/**
 * Kinds that touch a repo's published state: at most one of them runs per repo at a time. (fsck
 * too: a prune under way beside it would show as missing objects.)
 */
export const repoSerializedKinds: readonly JobKind[] = ['publish', 'promote', 'update-repo', 'republish', 'prune', 'delete-repo', 'repo-fsck'];

/**
 * The file lock (under `<data-dir>/locks/`) a job holds while it runs, and hands to every tool it
 * starts (ostree/lock.ts): a job that takes over from a dead worker waits until the dead one's
 * tools are gone too. Repo jobs lock their repo; a commit locks its build's repo; a bundle locks
 * the repo it reads (its build's, else the published repo).
 */
export function fileLockOf(job: Pick<Job, 'kind' | 'repo' | 'buildId'>): string | null {
  if (job.repo && repoSerializedKinds.includes(job.kind as JobKind)) return `repo-${job.repo}`;
  if (job.kind === 'commit' && job.buildId !== null) return `build-${job.buildId}`;
  if (job.kind === 'bundle') return job.buildId !== null ? `build-${job.buildId}` : job.repo ? `repo-${job.repo}` : null;
  return null;
}

export type EnqueueOptions = {
  /** repo the job works on (serialization key for repoSerializedKinds) */
  repo?: string;
  buildId?: number;
  startAfter?: Date;
  /** do not start before this job has ended */
  dependsOn?: number;
  /** total attempts for kinds whose handler may be retried with backoff */
  maxAttempts?: number;
  /**
   * the lane of its kind the job runs in: only a worker whose definition of the kind serves that
   * lane takes it (git builds: the build's arch). Without one, any worker takes it.
   */
  lane?: string;
  /**
   * at most one job ever has this key: a second enqueue with it fails with Prisma's unique
   * violation (P2002) and queues nothing (the runs of a repeating job, see retention/schedules.ts)
   */
  uniqueKey?: string;
};

export type JobQueue = {
  enqueue<K extends JobKind>(kind: K, contents: JobPayloads[K], opts?: EnqueueOptions): Promise<Job>;
  /** Requests cancellation; a running job stops at its next checkpoint. */
  cancel(jobId: number): Promise<Job>;
  get(jobId: number): Promise<Job | null>;
};

/** What a job handler gets: its record, a logger that appends to the job log, progress. */
export type JobRun<P = unknown> = {
  job: Job;
  /** what the job was queued with */
  contents: P;
  signal: AbortSignal;
  /** appends a line to the job log (stored, streamed live) */
  log(line: string): Promise<void>;
  /** reports progress (0..1) and keeps the job's lock alive during long steps */
  progress(fraction: number | null, message?: string): Promise<void>;
};

/** A handler returns the job's results (stored as JSON) or throws to fail it. */
export type JobHandler<P> = (run: JobRun<P>) => Promise<Record<string, unknown> | void>;

/** What happens to a job of this kind found Started after its worker died. */
export type RecoveryRule = 'requeue' | 'fail';

export type JobKindDefinition<P> = {
  handler: JobHandler<P>;
  /** a rule for the kind, or one decided from the job's contents */
  recovery: RecoveryRule | ((contents: P) => RecoveryRule);
  /** retries with exponential backoff on failure (default 1 = no retry) */
  maxAttempts?: number;
  /** the wait before the next attempt after failed attempt `attempt` (default: 1 s doubling, at most 5 min) */
  retryDelayMs?: (attempt: number) => number;
  /** jobs of this kind one worker process runs at once (default and ceiling: its job-workers) */
  concurrency?: number;
  /** the lanes (EnqueueOptions.lane) this process serves besides jobs without a lane */
  lanes?: readonly string[];
};
