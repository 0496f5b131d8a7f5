// When a git build may start. A created git build is WAITING; the scheduler admits it (queues its
// git-build job) once every build it depends on is published AND the update-repo job that follows
// that publish has ended (so flatpak-builder finds the dependency in the repo's signed summary),
// and once a live worker builds its arch. Until then the build stays WAITING with the reason in
// its stateReason. A dependency that ends without being published (failed, cancelled, superseded,
// its publish or the repo update failed) fails its dependents without running them, and theirs in
// turn. Admission is re-tried whenever a job that may change the answer ends (in the process that
// ran it) and at every worker's sweep (what another process or a crash changed), so it is
// idempotent: the git-build job is queued only when none is queued or running.
import type { Logger } from 'pino';
import type { Build, Job, PrismaClient } from '../../../generated/prisma/client.ts';
import { InvalidInputError } from '../../errors.ts';
import type { JobKind } from '../../jobs/queue.ts';
import type { BuildService } from '../service.ts';
import { stateName } from '../states.ts';

/** What a dependency means for its dependent now. */
export type DependencyVerdict = { kind: 'ready' } | { kind: 'waiting'; reason: string } | { kind: 'failed'; reason: string };

/** A dependency as the verdict needs it: the build and the update-repo jobs after its publish. */
export type DependencyFacts = {
  id: number;
  state: Build['state'];
  publishedState: Build['publishedState'];
  repo: string;
  /** update-repo jobs of the repo queued from the dependency's publish on (its own and later ones) */
  updates: Array<Pick<Job, 'id' | 'status'>> | null;
};

/** The rule, as a pure function. */
export function dependencyVerdict(d: DependencyFacts): DependencyVerdict {
  const who = `dependency build ${d.id}`;
  if (d.publishedState === 'PUBLISHED') {
    if (!d.updates) return { kind: 'waiting', reason: `waiting for the update of repo ${d.repo} after build ${d.id}'s publish` };
    if (d.updates.some((j) => j.status === 'ENDED')) return { kind: 'ready' };
    if (d.updates.some((j) => j.status === 'NEW' || j.status === 'STARTED')) {
      return { kind: 'waiting', reason: `waiting for the update of repo ${d.repo} after build ${d.id}'s publish` };
    }
    return { kind: 'failed', reason: `${who}: the update of repo ${d.repo} after its publish failed` };
  }
  if (d.publishedState === 'FAILED') return { kind: 'failed', reason: `${who}'s publish failed` };
  switch (d.state) {
    case 'FAILED':
      return { kind: 'failed', reason: `${who} failed` };
    case 'CANCELLED':
      return { kind: 'failed', reason: `${who} was cancelled` };
    case 'SUPERSEDED':
      return { kind: 'failed', reason: `${who} was superseded` };
    case 'PURGING':
    case 'PURGED':
      return { kind: 'failed', reason: `${who} was purged without being published` };
    default:
      return { kind: 'waiting', reason: `waiting for build ${d.id} (${stateName(d.state)}) to be published` };
  }
}

/** Jobs whose end may admit or fail a waiting build. */
const admittingKinds: readonly (JobKind | 'git-build')[] = ['git-build', 'commit', 'check', 'publish', 'update-repo'];

/** What the scheduler uses of the other services (GitBuildService and the build workers). */
export type SchedulerDeps = {
  prisma: PrismaClient;
  builds: BuildService;
  log: Logger;
  /** queues the build's git-build job (GitBuildService.start) */
  start: (buildId: number) => Promise<unknown>;
  /** stops a build that may no longer run (GitBuildService.stop) */
  stop: (buildId: number, step: { step: 'build-failed'; reason: string }) => Promise<boolean>;
  /** the arches some live worker builds */
  liveArches: () => Promise<Set<string>>;
};

/** A build set's builds stay unadmitted while it is being created; one never sealed this long is failed. */
export const unsealedSetLimitMs = 10 * 60_000;

export class BuildScheduler {
  private readonly d: SchedulerDeps;
  /** admissions under way in this process, per build: two triggers at once must not both queue */
  private readonly admitting = new Map<number, Promise<void>>();

  constructor(deps: SchedulerDeps) {
    this.d = deps;
  }

  /** Starts the build now, or leaves it WAITING with the reason, or fails it (a dependency failed). */
  admit(buildId: number): Promise<void> {
    const under = this.admitting.get(buildId);
    if (under) return under.then(() => this.admit(buildId));
    const p = this.admitOnce(buildId).finally(() => this.admitting.delete(buildId));
    this.admitting.set(buildId, p);
    return p;
  }

  private async admitOnce(buildId: number): Promise<void> {
    const { prisma } = this.d;
    const build = await prisma.build.findUnique({
      where: { id: buildId },
      include: { source: true, buildSet: true, repo: true, dependsOn: { include: { dependsOn: true }, orderBy: { dependsOnId: 'asc' } } },
    });
    if (!build || build.state !== 'WAITING' || !build.source) return;
    const live = await prisma.job.findFirst({ where: { buildId, kind: 'git-build', status: { in: ['NEW', 'STARTED'] } }, select: { id: true } });
    if (live) return;
    if (build.buildSet && !build.buildSet.sealedAt) {
      if (Date.now() - build.buildSet.createdAt.getTime() > unsealedSetLimitMs) {
        await this.fail(buildId, `build set ${build.buildSet.id} was never completely created`);
      }
      return;
    }
    const waiting: string[] = [];
    for (const { dependsOn: dep } of build.dependsOn) {
      const verdict = dependencyVerdict({ ...dep, repo: build.repo.name, updates: await this.updatesAfterPublish(dep.id, build.repo.name) });
      if (verdict.kind === 'failed') {
        await this.fail(buildId, verdict.reason);
        return;
      }
      if (verdict.kind === 'waiting') waiting.push(verdict.reason);
    }
    if (waiting.length) {
      await this.setReason(buildId, waiting.join('; '));
      return;
    }
    const arch = build.source.arch;
    if (!(await this.d.liveArches()).has(arch)) {
      await this.setReason(buildId, `no worker builds ${arch}`);
      return;
    }
    await this.setReason(buildId, `queued for a worker that builds ${arch}`);
    await this.d.start(buildId);
  }

  /** The update-repo jobs from the dependency's last successful publish on; null when it has none. */
  private async updatesAfterPublish(depId: number, repo: string): Promise<Array<Pick<Job, 'id' | 'status'>> | null> {
    const { prisma } = this.d;
    const publish = await prisma.job.findFirst({ where: { buildId: depId, kind: 'publish', status: 'ENDED' }, orderBy: { id: 'desc' }, select: { results: true } });
    const first = (publish?.results as Record<string, unknown> | null)?.['update-repo-job'];
    if (typeof first !== 'number') return null;
    // The publish's update job, or one queued after it (the publish's may have failed, a later one ran).
    return prisma.job.findMany({ where: { kind: 'update-repo', repo, id: { gte: first } }, select: { id: true, status: true }, orderBy: { id: 'asc' }, take: 50 });
  }

  private async fail(buildId: number, reason: string): Promise<void> {
    if (await this.d.stop(buildId, { step: 'build-failed', reason })) this.d.log.info({ buildId, reason }, 'git build failed without running: a dependency failed');
    // Its own dependents follow (they are WAITING too, and admitted in id order by the sweep).
    for (const { buildId: dependent } of await this.d.prisma.buildDependency.findMany({ where: { dependsOnId: buildId }, orderBy: { buildId: 'asc' } })) {
      await this.admit(dependent);
    }
  }

  /** The reason shown on a waiting build; changed (and announced) only when it differs. */
  private async setReason(buildId: number, reason: string): Promise<void> {
    const { count } = await this.d.prisma.build.updateMany({ where: { id: buildId, state: 'WAITING', OR: [{ stateReason: null }, { stateReason: { not: reason } }] }, data: { stateReason: reason } });
    if (count) await this.d.builds.changed(buildId);
  }

  /**
   * Every waiting git build without a queued job, in id order (a dependency before its dependents,
   * so a failure travels down a chain in one pass). The worker sweep and job ends call it.
   */
  async admitWaiting(): Promise<number> {
    const waiting = await this.d.prisma.build.findMany({
      where: { state: 'WAITING', source: { isNot: null }, jobs: { none: { kind: 'git-build', status: { in: ['NEW', 'STARTED'] } } } },
      select: { id: true },
      orderBy: { id: 'asc' },
      take: 1000,
    });
    for (const { id } of waiting) {
      try {
        await this.admit(id);
      } catch (err) {
        this.d.log.warn({ err, buildId: id }, 'could not admit a waiting git build');
      }
    }
    return waiting.length;
  }

  /**
   * A build whose job is queued in the lane of an arch no live worker builds any more says so
   * (it starts when such a worker comes back: the job is still queued).
   */
  async markOrphanedQueues(): Promise<void> {
    const queued = await this.d.prisma.job.findMany({
      where: { kind: 'git-build', status: 'NEW', build: { is: { state: 'WAITING' } } },
      select: { buildId: true, lane: true },
      take: 1000,
    });
    if (!queued.length) return;
    const arches = await this.d.liveArches();
    for (const j of queued) {
      if (j.buildId === null || j.lane === null || arches.has(j.lane)) continue;
      await this.setReason(j.buildId, `no worker builds ${j.lane}`);
    }
  }

  /** The engine's ended-job listener: jobs that move builds on may let waiting builds start. */
  async jobEnded(job: Pick<Job, 'kind'>): Promise<void> {
    if (!(admittingKinds as readonly string[]).includes(job.kind)) return;
    await this.admitWaiting();
  }
}

/** A build set's builds with their dependencies by key. */
export type SetMember = { key: string; dependsOn: readonly string[] };

/**
 * The order to create a set's builds in (every build after those it depends on), or an
 * InvalidInputError naming the problem: a duplicate or unknown key, a build depending on itself,
 * or a cycle (listed).
 */
export function orderBuildSet<T extends SetMember>(members: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const m of members) {
    if (byKey.has(m.key)) throw new InvalidInputError(`build set: the key ${m.key} is used twice`, 'builds');
    byKey.set(m.key, m);
  }
  for (const m of members) {
    for (const dep of m.dependsOn) {
      if (dep === m.key) throw new InvalidInputError(`build set: ${m.key} depends on itself`, 'builds');
      if (!byKey.has(dep)) throw new InvalidInputError(`build set: ${m.key} depends on ${dep}, which is not in the set`, 'builds');
    }
  }
  const order: T[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: T, path: string[]) => {
    const s = state.get(m.key);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(m.key)), m.key];
      throw new InvalidInputError(`build set: the dependencies form a cycle: ${cycle.join(' -> ')}`, 'builds');
    }
    state.set(m.key, 'visiting');
    for (const dep of m.dependsOn) visit(byKey.get(dep)!, [...path, m.key]);
    state.set(m.key, 'done');
    order.push(m);
  };
  for (const m of members) visit(m, []);
  return order;
}
