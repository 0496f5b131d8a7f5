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
export type DayStats = Counts & { day: string; medianDurationSeconds: number | null; maxDurationSeconds: number | null };
export type RepoStats = { repo: string; builds: number; published: number };
export type BuildStats = Counts & {
  total: number;
  /** succeeded / (succeeded + failed); null when none ended either way */
  successRate: number | null;
  medianDurationSeconds: number | null;
  since: Date;
  /** more builds than are read at once were created in the window: the figures cover the newest */
  truncated: boolean;
  days: DayStats[];
  repos: RepoStats[];
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
        jobs: { where: { kind: { in: ['git-build', 'commit'] }, finishedAt: { not: null } }, select: { finishedAt: true } },
      },
      orderBy: { id: 'desc' },
      take: maxBuilds,
    });

    const total = zero();
    const durations: number[] = [];
    const perDay = new Map<string, { counts: Counts; durations: number[] }>();
    for (let i = 0; i < days; i++) perDay.set(dayOf(new Date(since.getTime() + i * 86_400_000)), { counts: zero(), durations: [] });
    const perRepo = new Map<string, RepoStats>();
    for (const b of rows) {
      const outcome = outcomeOf[b.state];
      total[outcome]++;
      const day = perDay.get(dayOf(b.createdAt));
      day && day.counts[outcome]++;
      const ends = b.jobs.map((j) => j.finishedAt!.getTime());
      if (ends.length && outcome !== 'running') {
        const seconds = Math.max(0, (Math.max(...ends) - b.createdAt.getTime()) / 1000);
        durations.push(seconds);
        day?.durations.push(seconds);
      }
      const r = perRepo.get(b.repo.name) ?? { repo: b.repo.name, builds: 0, published: 0 };
      r.builds++;
      if (b.publishedState === 'PUBLISHED') r.published++;
      perRepo.set(b.repo.name, r);
    }
    const ended = total.succeeded + total.failed;
    return {
      ...total,
      total: rows.length,
      successRate: ended ? total.succeeded / ended : null,
      medianDurationSeconds: median(durations),
      since,
      truncated: rows.length === maxBuilds,
      days: [...perDay].map(([day, d]) => ({ day, ...d.counts, medianDurationSeconds: median(d.durations), maxDurationSeconds: d.durations.length ? Math.max(...d.durations) : null })),
      repos: [...perRepo.values()].sort((a, b) => a.repo.localeCompare(b.repo)),
    };
  }
}
