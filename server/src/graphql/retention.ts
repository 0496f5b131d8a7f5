// Retention: a repo's settings (purge age, prune and fsck schedules, dry run) with its queued and
// latest runs, changing them, and starting a run now. Admins only, as repo settings are.
import { builder } from './builder.ts';
import { requireRepoAdmin } from '../domain/users/access.ts';
import { requireFmdAdmin } from '../domain/users/service.ts';
import { JobRef } from './job.ts';
import { RepoRef } from './repo.ts';
import type { Job, Repo } from '../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../domain/errors.ts';

const repoAdmins = { repoAdmin: true } as const;

const ScheduledRunRef = builder.objectRef<{ kind: string; job: Job | null }>('ScheduledRetentionRun').implement({
  description: "One of a repo's retention schedules and its run queued (or running) now.",
  fields: (t) => ({
    kind: t.exposeString('kind', { description: 'retention-sweep (the build purge), prune or repo-fsck' }),
    job: t.field({ type: JobRef, nullable: true, description: 'the queued run (startAfter: when it is due) or the one running; null when the schedule is off', resolve: (r) => r.job }),
  }),
});

const RepoRetentionRef = builder.objectRef<Repo>('RepoRetention').implement({
  description: 'What fmd deletes and checks in a repo on its own. Scheduled purges and prunes honour dryRun.',
  fields: (t) => ({
    purgeBuildsAfterDays: t.exposeInt('purgeBuildsAfterDays', {
      nullable: true,
      description: 'builds never published (failed, cancelled, superseded, unpublished, abandoned uploads) created longer ago are purged; null = never',
    }),
    pruneIntervalSecs: t.exposeInt('pruneIntervalSecs', { nullable: true, description: 'the repo is pruned this often; null = only on request' }),
    fsckIntervalSecs: t.exposeInt('fsckIntervalSecs', { nullable: true, description: '`ostree fsck` runs this often; null = only on request' }),
    dryRun: t.exposeBoolean('retentionDryRun', { description: 'scheduled purges and prunes only report what they would delete' }),
    scheduled: t.field({ type: [ScheduledRunRef], description: 'each schedule with its queued run', resolve: (r, _a, ctx) => ctx.services.retention.nextRuns(r.name) }),
    lastRuns: t.field({
      type: [JobRef],
      description: 'the latest retention-sweep, prune and repo-fsck jobs of the repo (scheduled or not), newest first',
      args: { first: t.arg.int({ defaultValue: 10, description: '1 to 100' }) },
      resolve: (r, args, ctx) => {
        const first = args.first ?? 10;
        if (first < 1 || first > 100) throw new InvalidInputError('first must be from 1 to 100', 'first');
        return ctx.services.retention.lastRuns(r.name, first);
      },
    }),
  }),
});

builder.objectField(RepoRef, 'retention', (t) =>
  t.field({
    type: RepoRetentionRef,
    nullable: true,
    authScopes: repoAdmins,
    description: "retention settings and runs (the repo's admins only: others get an error and null)",
    resolve: (r, _args, ctx) => {
      requireRepoAdmin(ctx.viewer!, r.name);
      return r;
    },
  }),
);

const UpdateRepoRetentionInput = builder.inputType('UpdateRepoRetentionInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    purgeBuildsAfterDays: t.int({ description: '0 to 36500; null = never purge' }),
    pruneIntervalSecs: t.int({ description: '60 to 31622400 (366 days); null = off' }),
    fsckIntervalSecs: t.int({ description: '60 to 31622400 (366 days); null = off' }),
    dryRun: t.boolean({ description: 'scheduled purges and prunes only report' }),
  }),
});

const RepoRetentionPayload = builder.objectRef<{ repo: Repo }>('RepoRetentionPayload').implement({
  fields: (t) => ({
    repo: t.field({ type: RepoRef, resolve: (p) => p.repo }),
    retention: t.field({ type: RepoRetentionRef, resolve: (p) => p.repo }),
  }),
});

builder.mutationField('updateRepoRetention', (t) =>
  t.field({
    type: RepoRetentionPayload,
    description: "Changes a repo's retention settings (omitted fields are kept, null turns one off) and re-times its schedules.",
    authScopes: repoAdmins,
    errors: { types: [NotFoundError, InvalidInputError] },
    args: { input: t.arg({ type: UpdateRepoRetentionInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const { repo, ...rest } = input;
      requireRepoAdmin(ctx.viewer!, repo);
      const settings: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rest)) if (v !== undefined) settings[k] = v;
      return { repo: await ctx.services.retention.update(repo, settings) };
    },
  }),
);

const RetentionJobPayload = builder.objectRef<{ job: Job }>('RetentionJobPayload').implement({
  fields: (t) => ({ job: t.field({ type: JobRef, resolve: (p) => p.job }) }),
});

const RunRetentionInput = builder.inputType('RunRetentionInput', {
  fields: (t) => ({
    repo: t.string({ description: "the repo whose old builds to purge; omitted: the global sweep (work dirs, build caches, job logs, audit entries)" }),
    dryRun: t.boolean({ description: "only report what would be deleted (default: the repo's, or the config's, dry-run setting)" }),
  }),
});

builder.mutationField('runRetention', (t) =>
  t.field({
    type: RetentionJobPayload,
    description: 'Starts a retention run now, as a retention-sweep job.',
    authScopes: repoAdmins,
    errors: { types: [NotFoundError] },
    args: { input: t.arg({ type: RunRetentionInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      if (input.repo == null) requireFmdAdmin(ctx.viewer!);
      else requireRepoAdmin(ctx.viewer!, input.repo);
      return { job: await ctx.services.retention.runNow(input.repo ?? null, input.dryRun ?? null) };
    },
  }),
);

const FsckRepoInput = builder.inputType('FsckRepoInput', { fields: (t) => ({ repo: t.string({ required: true }) }) });

builder.mutationField('fsckRepo', (t) =>
  t.field({
    type: RetentionJobPayload,
    description: 'Starts an `ostree fsck` of the repo now (a repo-fsck job: it fails, naming the problems, when the repo is damaged).',
    authScopes: repoAdmins,
    errors: { types: [NotFoundError] },
    args: { input: t.arg({ type: FsckRepoInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      requireRepoAdmin(ctx.viewer!, input.repo);
      return { job: await ctx.services.retention.fsckNow(input.repo) };
    },
  }),
);
