// Following jobs and builds live, over subscriptions only: a job's log over `jobLog` from an
// offset and its status over `jobUpdated`; a build's state over `buildUpdated`, following each
// of its jobs in turn until the build is where what was asked of it ends (published, committed,
// built) or failed. Nothing here polls: each wait is for a subscription event.
import type { BuildQuery, FmdClient, JobFieldsFragment } from '@fmd/sdk';

/** A build as `build(number)` answers it, with its jobs. */
export type BuildWithJobs = NonNullable<BuildQuery['build']>;

export type JobStatus = 'NEW' | 'STARTED' | 'ENDED' | 'BROKEN';
/** What following needs of a job. */
export type FollowedJob = { number: number; kind: string; status: JobStatus; error?: string | null; cancelRequested?: boolean };
/** What following needs of a build. */
export type FollowedBuild = {
  number: number;
  state: string;
  stateReason?: string | null;
  publishedState: string;
  repo: { name: string };
  source?: { autoCommit: boolean; autoPublish?: boolean | null } | null;
  jobs: { edges: Array<{ node: FollowedJob }> };
};

/** succeeded, failed (exit 5) or cancelled (exit 6). */
export type Outcome = 'succeeded' | 'failed' | 'cancelled';

export type JobResult<J extends FollowedJob = FollowedJob> = { job: J; outcome: Outcome; reason: string | null; nextOffset: number };
export type BuildResult<B extends FollowedBuild = FollowedBuild> = { build: B; outcome: Outcome; reason: string | null; reached: string };

export type FollowOptions = {
  /** log text as it comes (no newline added) */
  text: (chunk: string) => void;
  /** a line about what is going on (job headers, waits) */
  note: (line: string) => void;
  signal?: AbortSignal;
};

/** Ctrl-C (or another abort) while following; what was followed is on the server still. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

/** Calls `each` for every event of `events` until they end; an abort unsubscribes and throws Interrupted. */
async function drain<T>(events: AsyncIterable<T>, signal: AbortSignal | undefined, each: (v: T) => void): Promise<void> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Interrupted());
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  // An abort after the end must not surface as an unhandled rejection.
  aborted.catch(() => undefined);
  const it = events[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) return;
      each(r.value);
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    await it.return?.();
  }
}

export function jobOutcome(job: FollowedJob): { outcome: Outcome; reason: string | null } | null {
  if (job.status === 'ENDED') return { outcome: 'succeeded', reason: null };
  if (job.status === 'BROKEN') return { outcome: job.cancelRequested ? 'cancelled' : 'failed', reason: job.error ?? (job.cancelRequested ? 'cancelled' : 'the job failed') };
  return null;
}

/**
 * Prints a job's log from `fromOffset` as it is written and answers once the job is over, with
 * its final status (from `jobUpdated`, which ends with the job as `jobLog` does).
 */
export async function followJob(client: FmdClient, number: number, o: FollowOptions & { fromOffset?: number }): Promise<JobResult<JobFieldsFragment>> {
  let last: JobFieldsFragment | undefined;
  let nextOffset = o.fromOffset ?? 0;
  // One stream failing ends the other too.
  const failed = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, failed.signal]) : failed.signal;
  const stopOthers = (err: unknown) => {
    failed.abort();
    throw err;
  };
  const [status, log] = await Promise.allSettled([
    drain(client.jobUpdated({ number }), signal, (e) => (last = e.jobUpdated)).catch(stopOthers),
    drain(client.jobLog({ number, fromOffset: nextOffset }), signal, (e) => {
      if (e.jobLog.text) o.text(e.jobLog.text);
      nextOffset = e.jobLog.nextOffset;
    }).catch(stopOthers),
  ]);
  // The first failure is the one to tell (the other stream was only stopped because of it).
  const first = [status, log].find((r) => r.status === 'rejected' && !(r.reason instanceof Interrupted && !o.signal?.aborted));
  if (first?.status === 'rejected') throw first.reason;
  if (!last) throw new Error(`job ${number}: the server sent no status`);
  const end = jobOutcome(last);
  if (!end) throw new Error(`job ${number}: the status stream ended while it was ${last.status}`);
  return { job: last, ...end, nextOffset };
}

/** The jobs of a build that make it: followed in this order, other kinds (update-repo, promote) are not. */
const buildJobKinds = ['git-build', 'commit', 'check', 'publish'];

/**
 * Where following a build ends: null while it is on its way. `publishes`: the build publishes
 * itself once committed (a git build asked to, or of a repo whose policy it is). `ended` has the final state of jobs
 * followed to their end, newer than what the last build event said of them (a job's end alone
 * sends no build event).
 */
export function buildOutcome(
  b: FollowedBuild,
  publishes: boolean,
  ended: ReadonlyMap<number, FollowedJob> = new Map(),
): { outcome: Outcome; reason: string | null; reached: string } | null {
  const jobs = b.jobs.edges.map((e) => ended.get(e.node.number) ?? e.node);
  switch (b.state) {
    case 'FAILED':
      return { outcome: 'failed', reason: b.stateReason ?? 'the build failed', reached: 'failed' };
    case 'CANCELLED':
    case 'SUPERSEDED':
      return { outcome: 'cancelled', reason: b.stateReason ?? `the build was ${b.state.toLowerCase()}`, reached: b.state.toLowerCase() };
    case 'PURGING':
    case 'PURGED':
      return { outcome: 'cancelled', reason: 'the build was purged', reached: 'purged' };
  }
  if (b.publishedState === 'PUBLISHED') return { outcome: 'succeeded', reason: null, reached: 'published' };
  if (b.publishedState === 'FAILED') {
    const job = jobs.filter((j) => j.kind === 'publish').sort((x, y) => y.number - x.number)[0];
    return { outcome: 'failed', reason: `the publish failed${job?.error ? `: ${job.error}` : ''}`, reached: 'publish failed' };
  }
  if (b.publishedState === 'PUBLISHING') return null;
  if (b.state === 'READY') return publishes ? null : { outcome: 'succeeded', reason: null, reached: 'committed' };
  if (b.state === 'UPLOADING' && b.source) {
    // A git build goes back to UPLOADING once built: over when its build job is, unless a commit follows.
    const built = jobs.filter((j) => j.kind === 'git-build').every((j) => j.status === 'ENDED' || j.status === 'BROKEN');
    if (!built || jobs.some((j) => j.kind === 'commit')) return null;
    return b.source.autoCommit
      ? { outcome: 'failed', reason: 'the build was built but its auto-commit was refused (see the log)', reached: 'built' }
      : { outcome: 'succeeded', reason: null, reached: 'built' };
  }
  return null;
}

/** The build with the final status of the jobs followed to their end. */
function withEnded<B extends FollowedBuild>(b: B, ended: ReadonlyMap<number, FollowedJob>): B {
  const edges = b.jobs.edges.map((e) => {
    const j = ended.get(e.node.number);
    return j ? { ...e, node: { ...e.node, status: j.status, error: j.error, cancelRequested: j.cancelRequested } } : e;
  });
  return { ...b, jobs: { ...b.jobs, edges } };
}

/**
 * Follows a build until it is over (see buildOutcome): the logs of its jobs, one after another
 * (those already over are replayed from their start), waiting for its next change whenever no
 * job of it is left to follow. Each `buildUpdated` event has the build read again, with its jobs.
 */
export async function followBuild(client: FmdClient, number: number, o: FollowOptions): Promise<BuildResult<BuildWithJobs>> {
  const read = async (): Promise<BuildWithJobs> => {
    const { build } = await client.build({ number });
    if (!build) throw new Error(`build ${number} not found`);
    return build;
  };
  let latest = await read();
  // A git build that asked nothing (null) follows its repo's policy; an upload build is published by request only.
  const publishes = latest.source ? (latest.source.autoPublish ?? (await client.repo({ name: latest.repo.name, refsFirst: 0, gitFirst: 0 })).repo?.autoPublish ?? false) : false;
  let stale = false;
  let wake: () => void = () => undefined;
  let streamOver = false;
  let failure: unknown;
  // The first event is the build as it is when the subscription starts: a change between the
  // read above and it is not missed.
  const updates = client.buildUpdated({ number })[Symbol.asyncIterator]();
  const watching = drain({ [Symbol.asyncIterator]: () => updates }, o.signal, () => {
    stale = true;
    wake();
  }).then(
    () => void ((streamOver = true), wake()),
    (err: unknown) => void ((failure = err), (streamOver = true), wake()),
  );
  const followed = new Set<number>();
  const ended = new Map<number, FollowedJob>();
  let lastNote = '';
  try {
    for (;;) {
      if (stale) {
        stale = false;
        latest = await read();
      }
      const next = latest.jobs.edges
        .map((e) => e.node)
        .filter((j) => buildJobKinds.includes(j.kind) && !followed.has(j.number))
        .sort((x, y) => x.number - y.number)[0];
      if (next) {
        followed.add(next.number);
        o.note(`── ${next.kind} job ${next.number} ──`);
        const r = await followJob(client, next.number, o);
        ended.set(r.job.number, r.job);
        if (r.outcome !== 'succeeded') o.note(`${next.kind} job ${next.number} ${r.outcome}: ${r.reason}`);
        continue;
      }
      const end = buildOutcome(latest, publishes, ended);
      if (end) return { build: withEnded(latest, ended), ...end };
      const waiting = `build ${number} is ${latest.state.toLowerCase()}${latest.publishedState !== 'UNPUBLISHED' ? `, ${latest.publishedState.toLowerCase()}` : ''}${latest.stateReason ? `: ${latest.stateReason}` : ''}`;
      if (waiting !== lastNote) o.note((lastNote = waiting));
      if (failure) throw failure;
      if (streamOver) throw new Error(`build ${number}: the update stream ended before the build was over`);
      if (!stale) await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await updates.return?.();
    await watching;
  }
}
