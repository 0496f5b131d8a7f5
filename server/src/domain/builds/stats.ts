// Build statistics for the dashboard: outcomes, success rate and durations per day and per repo,
// over the builds the viewer may read.
import type { BuildState, PrismaClient } from '../../generated/prisma/client.ts';
import { InvalidInputError } from '../errors.ts';
import type { Viewer } from '../tokens/service.ts';
import { visibleBuildsWhere } from './access.ts';

export type Outcome = 'succeeded' | 'failed' | 'cancelled' | 'running' | 'purged';

/** READY: committed and every check passed. SUPERSEDED counts as cancelled: nobody waits for it. */
const outcomeOf: Record<BuildState, Outcome> = {
  UPLOADING: 'running',
  COMMITTING: 'running',
  VALIDATING: 'running',
  WAITING: 'running',
  CLONING: 'running',
  BUILDING: 'running',
  READY: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  SUPERSEDED: 'cancelled',
  PURGING: 'purged',
  PURGED: 'purged',
};

type Counts = Record<Outcome, number>;
/**
 * Median seconds of a build's phases, from its job rows: queue wait (job created → started,
 * summed over its git-build, commit and publish jobs), build (the git-build job's run; for an
 * uploaded build the upload, from creation to the commit request), commit (commit jobs' runs)
 * and publish (publish jobs' runs). Null when no build in the group went through the phase.
 */
export type PhaseStats = { queueWaitSeconds: number | null; buildSeconds: number | null; commitSeconds: number | null; publishSeconds: number | null };
type Phases = { queueWait: number[]; build: number[]; commit: number[]; publish: number[] };
export type DayStats = Counts & PhaseStats & { day: string; medianDurationSeconds: number | null; maxDurationSeconds: number | null };
export type RepoStats = Counts & PhaseStats & { repo: string; builds: number; published: number; successRate: number | null; medianDurationSeconds: number | null };
export type AppStats = Counts & PhaseStats & { appId: string; builds: number; published: number; successRate: number | null; medianDurationSeconds: number | null };
export type FailureReason = { reason: string; count: number; lastBuildId: number; lastAt: Date };
export type BuildStats = Counts & PhaseStats & {
  total: number;
  /** succeeded / (succeeded + failed); null when none ended either way */
  successRate: number | null;
  medianDurationSeconds: number | null;
  since: Date;
  /** more builds than are read at once were created in the window: the figures cover the newest */
  truncated: boolean;
  days: DayStats[];
  repos: RepoStats[];
  apps: AppStats[];
  /** the most frequent normalised first lines of failed builds' reasons and failed publishes' errors */
  failureReasons: FailureReason[];
};

export const maxStatsDays = 366;
/** The window read at most; a busier window is reported from its newest builds (`truncated`). */
const maxBuilds = 50_000;

const zero = (): Counts => ({ succeeded: 0, failed: 0, cancelled: 0, running: 0, purged: 0 });

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const noPhases = (): Phases => ({ queueWait: [], build: [], commit: [], publish: [] });
const phaseStats = (p: Phases): PhaseStats => ({
  queueWaitSeconds: median(p.queueWait),
  buildSeconds: median(p.build),
  commitSeconds: median(p.commit),
  publishSeconds: median(p.publish),
});
const maxFailureReasons = 10;

/**
 * The first non-empty line of an error, with what differs between runs of the same failure
 * (numbers, checksums, temp paths) replaced, so equal causes group together.
 */
export function normaliseFailure(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line
    .replace(/\b[0-9a-f]{7,64}\b/gi, '<hash>')
    .replace(/\/tmp\/[^\s:'"]+/g, '/tmp/…')
    .replace(/\d+/g, 'N')
    .slice(0, 200);
}

/** `2026-12-03` (UTC) */
const dayOf = (d: Date) => d.toISOString().slice(0, 10);

export class BuildStatsService {
  private readonly prisma: PrismaClient;
  constructor(prisma: PrismaClient) {
    this.prisma = prisma;
  }

  /**
   * Builds created in the last `days` days (UTC days, today included) in `repo` or every repo
   * the viewer reads. A build's duration runs from its creation to the end of its last
   * git-build or commit job: upload or build, then commit and checks' start.
   */
  async forViewer(viewer: Viewer, o: { repo?: string | null; days?: number | null; now?: Date }): Promise<BuildStats> {
    const days = o.days ?? 30;
    if (!Number.isInteger(days) || days < 1 || days > maxStatsDays) throw new InvalidInputError(`days must be a whole number from 1 to ${maxStatsDays}`, 'days');
    const now = o.now ?? new Date();
    const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
    const rows = await this.prisma.build.findMany({
      where: { AND: [visibleBuildsWhere(viewer), { createdAt: { gte: since } }, o.repo ? { repo: { name: o.repo } } : {}] },
      select: {
        state: true,
        publishedState: true,
        createdAt: true,
        repo: { select: { name: true } },
        id: true,
        appId: true,
        stateReason: true,
        jobs: {
          where: { kind: { in: ['git-build', 'commit', 'publish'] } },
          select: { kind: true, status: true, error: true, createdAt: true, startedAt: true, finishedAt: true },
          orderBy: { id: 'asc' },
        },
      },
      orderBy: { id: 'desc' },
      take: maxBuilds,
    });

    const total = zero();
    const durations: number[] = [];
    const phases = noPhases();
    type Group = { counts: Counts; durations: number[]; phases: Phases; builds: number; published: number };
    const group = (): Group => ({ counts: zero(), durations: [], phases: noPhases(), builds: 0, published: 0 });
    const perDay = new Map<string, Group>();
    for (let i = 0; i < days; i++) perDay.set(dayOf(new Date(since.getTime() + i * 86_400_000)), group());
    const perRepo = new Map<string, Group>();
    const perApp = new Map<string, Group>();
    const failures = new Map<string, FailureReason>();
    const failed = (text: string | null | undefined, b: { id: number; createdAt: Date }) => {
      const reason = text ? normaliseFailure(text) : '';
      if (!reason) return;
      const f = failures.get(reason) ?? { reason, count: 0, lastBuildId: b.id, lastAt: b.createdAt };
      f.count++;
      if (b.id >= f.lastBuildId) Object.assign(f, { lastBuildId: b.id, lastAt: b.createdAt });
      failures.set(reason, f);
    };
    for (const b of rows) {
      const outcome = outcomeOf[b.state];
      const groups = [perDay.get(dayOf(b.createdAt)), perRepo.get(b.repo.name) ?? perRepo.set(b.repo.name, group()).get(b.repo.name)!];
      if (b.appId) groups.push(perApp.get(b.appId) ?? perApp.set(b.appId, group()).get(b.appId)!);
      total[outcome]++;
      const ends = b.jobs.filter((j) => (j.kind === 'git-build' || j.kind === 'commit') && j.finishedAt).map((j) => j.finishedAt!.getTime());
      const duration = ends.length && outcome !== 'running' ? Math.max(0, (Math.max(...ends) - b.createdAt.getTime()) / 1000) : null;
      if (duration !== null) durations.push(duration);
      // The build's phases, from its job rows.
      const mine = noPhases();
      const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);
      const ran = (kind: string) => b.jobs.filter((j) => j.kind === kind && j.startedAt && j.finishedAt).map((j) => seconds(j.startedAt!, j.finishedAt!));
      const waits = b.jobs.filter((j) => j.startedAt).map((j) => seconds(j.createdAt, j.startedAt!));
      if (waits.length) mine.queueWait.push(waits.reduce((x, y) => x + y, 0));
      const gitBuild = ran('git-build');
      const firstCommit = b.jobs.find((j) => j.kind === 'commit');
      if (gitBuild.length) mine.build.push(gitBuild.reduce((x, y) => x + y, 0));
      else if (firstCommit) mine.build.push(seconds(b.createdAt, firstCommit.createdAt));
      const commit = ran('commit');
      if (commit.length) mine.commit.push(commit.reduce((x, y) => x + y, 0));
      const publish = ran('publish');
      if (publish.length) mine.publish.push(publish.reduce((x, y) => x + y, 0));
      for (const k of Object.keys(phases) as (keyof Phases)[]) phases[k].push(...mine[k]);
      for (const g of groups) {
        if (!g) continue;
        g.counts[outcome]++;
        g.builds++;
        if (b.publishedState === 'PUBLISHED') g.published++;
        if (duration !== null) g.durations.push(duration);
        for (const k of Object.keys(phases) as (keyof Phases)[]) g.phases[k].push(...mine[k]);
      }
      if (b.state === 'FAILED') failed(b.stateReason ?? b.jobs.findLast((j) => j.error)?.error, b);
      if (b.publishedState === 'FAILED') failed(b.jobs.findLast((j) => j.kind === 'publish' && j.error)?.error ?? 'publish failed', b);
    }
    const rate = (c: Counts) => (c.succeeded + c.failed ? c.succeeded / (c.succeeded + c.failed) : null);
    const summary = (g: Group) => ({ ...g.counts, ...phaseStats(g.phases), builds: g.builds, published: g.published, successRate: rate(g.counts), medianDurationSeconds: median(g.durations) });
    return {
      ...total,
      ...phaseStats(phases),
      total: rows.length,
      successRate: rate(total),
      medianDurationSeconds: median(durations),
      since,
      truncated: rows.length === maxBuilds,
      days: [...perDay].map(([day, d]) => ({
        day,
        ...d.counts,
        ...phaseStats(d.phases),
        medianDurationSeconds: median(d.durations),
        maxDurationSeconds: d.durations.length ? Math.max(...d.durations) : null,
      })),
      repos: [...perRepo].map(([repo, g]) => ({ repo, ...summary(g) })).sort((a, b) => a.repo.localeCompare(b.repo)),
      apps: [...perApp].map(([appId, g]) => ({ appId, ...summary(g) })).sort((a, b) => b.builds - a.builds || a.appId.localeCompare(b.appId)),
      failureReasons: [...failures.values()].sort((a, b) => b.count - a.count || b.lastBuildId - a.lastBuildId).slice(0, maxFailureReasons),
    };
  }
}
