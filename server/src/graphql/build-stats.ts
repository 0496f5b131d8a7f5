// buildStats: the dashboard's figures over the builds a token may read.
import { builder } from './builder.ts';
import { maxStatsDays, type BuildStats, type DayStats, type RepoStats } from '../domain/builds/stats.ts';

const counts = {
  succeeded: 'committed with every check passed (READY)',
  failed: 'FAILED',
  cancelled: 'CANCELLED or SUPERSEDED',
  running: 'not over yet',
  purged: 'PURGING or PURGED',
} as const;

const BuildStatsDay = builder.objectRef<DayStats>('BuildStatsDay').implement({
  description: 'The builds created on one UTC day.',
  fields: (t) => ({
    day: t.exposeString('day', { description: 'YYYY-MM-DD (UTC)' }),
    ...Object.fromEntries(Object.entries(counts).map(([k, d]) => [k, t.exposeInt(k as keyof typeof counts, { description: d })])),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
    maxDurationSeconds: t.exposeFloat('maxDurationSeconds', { nullable: true }),
  }),
});

const RepoBuildStats = builder.objectRef<RepoStats>('RepoBuildStats').implement({
  fields: (t) => ({
    repo: t.exposeString('repo'),
    builds: t.exposeInt('builds', { description: 'builds created in the window' }),
    published: t.exposeInt('published', { description: 'of those, the ones published now' }),
  }),
});

const BuildStatsRef = builder.objectRef<BuildStats>('BuildStats').implement({
  description:
    "Outcomes and durations of the builds created in the window. A build's duration runs from its creation to the end of its last git-build or commit job; builds still running have none.",
  fields: (t) => ({
    total: t.exposeInt('total'),
    ...Object.fromEntries(Object.entries(counts).map(([k, d]) => [k, t.exposeInt(k as keyof typeof counts, { description: d })])),
    successRate: t.exposeFloat('successRate', { nullable: true, description: 'succeeded / (succeeded + failed); null when none ended either way' }),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
    since: t.expose('since', { type: 'DateTime', description: 'the start of the window (midnight UTC)' }),
    truncated: t.exposeBoolean('truncated', { description: 'the window held more builds than are read at once; the figures cover the newest' }),
    days: t.field({ type: [BuildStatsDay], description: 'one entry per day of the window, oldest first', resolve: (s) => s.days }),
    repos: t.field({ type: [RepoBuildStats], description: 'repos with builds in the window', resolve: (s) => s.repos }),
  }),
});

builder.queryField('buildStats', (t) =>
  t.field({
    type: BuildStatsRef,
    description: `Build outcomes and durations over the last \`days\` days (1 to ${maxStatsDays}, today included), in \`repo\` or every repo, counting the builds your token may read.`,
    authScopes: { anyScope: ['build', 'upload', 'download', 'admin'] },
    args: { repo: t.arg.string(), days: t.arg.int({ defaultValue: 30 }) },
    resolve: (_root, args, ctx) => ctx.services.buildStats.forViewer(ctx.viewer!, { repo: args.repo, days: args.days }),
  }),
);
