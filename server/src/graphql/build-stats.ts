// buildStats and downloadStats: the dashboard's figures over the builds and repos a token may read.
import { builder } from './builder.ts';
import { maxDownloadStatsDays, type DownloadDayStats, type DownloadRefStats, type DownloadStats } from '../domain/stats/downloads.ts';
import { maxStatsDays, type AppStats, type BuildStats, type DayStats, type FailureReason, type PhaseStats, type RepoStats } from '../domain/builds/stats.ts';

const counts = {
  succeeded: 'committed with every check passed (READY)',
  failed: 'FAILED',
  cancelled: 'CANCELLED or SUPERSEDED',
  running: 'not over yet',
  purged: 'PURGING or PURGED',
} as const;

const phases = {
  queueWaitSeconds: 'median seconds its jobs (git-build, commit, publish) waited in the queue, summed per build',
  buildSeconds: "median seconds of the git-build job's run; for an uploaded build, of the upload (creation to commit request)",
  commitSeconds: 'median seconds of the commit jobs',
  publishSeconds: 'median seconds of the publish jobs',
} as const;
// `t`: the field builder of the object type being implemented (its fields are named above).
const phaseFields = (t: any) => Object.fromEntries(Object.entries(phases).map(([k, d]) => [k, t.exposeFloat(k as keyof PhaseStats, { nullable: true, description: d })]));
const outcomeFields = (t: any) => Object.fromEntries(Object.entries(counts).map(([k, d]) => [k, t.exposeInt(k as keyof typeof counts, { description: d })]));

const BuildStatsDay = builder.objectRef<DayStats>('BuildStatsDay').implement({
  description: 'The builds created on one UTC day.',
  fields: (t) => ({
    day: t.exposeString('day', { description: 'YYYY-MM-DD (UTC)' }),
    ...outcomeFields(t),
    ...phaseFields(t),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
    maxDurationSeconds: t.exposeFloat('maxDurationSeconds', { nullable: true }),
  }),
});

const RepoBuildStats = builder.objectRef<RepoStats>('RepoBuildStats').implement({
  fields: (t) => ({
    repo: t.exposeString('repo'),
    builds: t.exposeInt('builds', { description: 'builds created in the window' }),
    published: t.exposeInt('published', { description: 'of those, the ones published now' }),
    ...outcomeFields(t),
    ...phaseFields(t),
    successRate: t.exposeFloat('successRate', { nullable: true, description: 'succeeded / (succeeded + failed)' }),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
  }),
});

const AppBuildStats = builder.objectRef<AppStats>('AppBuildStats').implement({
  description: "The builds of one app id in the window.",
  fields: (t) => ({
    appId: t.exposeString('appId'),
    builds: t.exposeInt('builds', { description: 'builds created in the window' }),
    published: t.exposeInt('published', { description: 'of those, the ones published now' }),
    ...outcomeFields(t),
    ...phaseFields(t),
    successRate: t.exposeFloat('successRate', { nullable: true, description: 'succeeded / (succeeded + failed)' }),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
  }),
});

const BuildFailureReason = builder.objectRef<FailureReason>('BuildFailureReason').implement({
  description: "A failure's first line with numbers, checksums and temp paths replaced (N, <hash>, /tmp/…), so equal causes group together.",
  fields: (t) => ({
    reason: t.exposeString('reason'),
    count: t.exposeInt('count', { description: 'failed builds or publishes with this reason in the window' }),
    lastBuildNumber: t.exposeInt('lastBuildId', { description: 'the number of the newest build that failed so' }),
    lastAt: t.expose('lastAt', { type: 'DateTime', description: 'when that build was created' }),
  }),
});

const BuildStatsRef = builder.objectRef<BuildStats>('BuildStats').implement({
  description:
    "Outcomes and durations of the builds created in the window. A build's duration runs from its creation to the end of its last git-build or commit job; builds still running have none.",
  fields: (t) => ({
    total: t.exposeInt('total'),
    ...outcomeFields(t),
    ...phaseFields(t),
    successRate: t.exposeFloat('successRate', { nullable: true, description: 'succeeded / (succeeded + failed); null when none ended either way' }),
    medianDurationSeconds: t.exposeFloat('medianDurationSeconds', { nullable: true }),
    since: t.expose('since', { type: 'DateTime', description: 'the start of the window (midnight UTC)' }),
    truncated: t.exposeBoolean('truncated', { description: 'the window held more builds than are read at once; the figures cover the newest' }),
    days: t.field({ type: [BuildStatsDay], description: 'one entry per day of the window, oldest first', resolve: (s) => s.days }),
    repos: t.field({ type: [RepoBuildStats], description: 'repos with builds in the window', resolve: (s) => s.repos }),
    apps: t.field({ type: [AppBuildStats], description: 'app ids with builds in the window, most builds first', resolve: (s) => s.apps }),
    failureReasons: t.field({ type: [BuildFailureReason], description: 'the 10 most frequent reasons of failed builds and publishes in the window', resolve: (s) => s.failureReasons }),
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

const DownloadStatsDay = builder.objectRef<DownloadDayStats>('DownloadStatsDay').implement({
  description: 'Downloads on one UTC day.',
  fields: (t) => ({
    day: t.exposeString('day', { description: 'YYYY-MM-DD (UTC)' }),
    installs: t.exposeInt('installs'),
    updates: t.exposeInt('updates'),
  }),
});

const DownloadStatsRef = builder.objectRef<DownloadRefStats>('DownloadStatsRef').implement({
  description: 'Downloads of one ref of a repo in the window.',
  fields: (t) => ({
    repo: t.exposeString('repo'),
    ref: t.exposeString('ref', { description: 'app/<id>/<arch>/<branch> or runtime/...' }),
    appId: t.exposeString('appId'),
    installs: t.exposeInt('installs'),
    updates: t.exposeInt('updates'),
  }),
});

const DownloadStatsRefType = builder.objectRef<DownloadStats>('DownloadStats').implement({
  description:
    'Downloads counted as Flathub counts them: a fetch of a commit object or of a static delta superblock is one download of that commit\'s ref; an update when the delta starts from another commit or the client sent Flatpak-Upgrade-From (flatpak update), else an install. Counted by fmd when it serves /repo/ and read from nginx\'s access log by `fmd stats import-nginx-log`.',
  fields: (t) => ({
    since: t.expose('since', { type: 'DateTime', description: 'the start of the window (midnight UTC)' }),
    installs: t.exposeInt('installs'),
    updates: t.exposeInt('updates'),
    days: t.field({ type: [DownloadStatsDay], description: 'one entry per day of the window, oldest first', resolve: (s) => s.days }),
    refs: t.field({ type: [DownloadStatsRef], description: 'refs downloaded in the window, most downloaded first', resolve: (s) => s.refs }),
  }),
});

builder.queryField('downloadStats', (t) =>
  t.field({
    type: DownloadStatsRefType,
    nullable: true,
    description: `Installs and updates over the last \`days\` days (1 to ${maxDownloadStatsDays}, today included), in \`repo\` or every repo, of \`appId\` or every app, counting the refs of the repos and apps your token may read. Null when \`repo\` is unknown or not yours.`,
    authScopes: { anyScope: ['build', 'upload', 'download', 'admin'] },
    args: { repo: t.arg.string(), appId: t.arg.string(), days: t.arg.int({ defaultValue: 30 }) },
    resolve: (_root, args, ctx) => ctx.services.downloadStats.forViewer(ctx.viewer!, { repo: args.repo, appId: args.appId, days: args.days }),
  }),
);
