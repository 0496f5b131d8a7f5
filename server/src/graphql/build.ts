// Builds: the GraphQL twin of flat-manager's build API. The same BuildService enforces the same
// state machine and token rules (scopes, sub build/<id>, repos, prefixes) as /api/v1.
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import type { GraphQLContext } from './context.ts';
import { buildInputNames, ErrorInterface, orNull, withInputNames } from './errors.ts';
import { JobRef } from './job.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { buildActionNames, buildActions } from '../domain/builds/actions.ts';
import { buildVisibility, buildVisible, visibleBuildsWhere } from '../domain/builds/access.ts';
import { readableJobsWhere } from '../domain/jobs/access.ts';
import { BuildBusyError, publishedStateCode, repoStateCode, WrongStateError } from '../domain/builds/states.ts';
import { buildTopic, allBuildsTopic, repoBuildsTopic } from '../domain/builds/service.ts';
import type { Job, Prisma, Promotion } from '../generated/prisma/client.ts';
import type { Viewer } from '../domain/tokens/service.ts';

builder.objectType(WrongStateError, {
  name: 'WrongStateError',
  description: "The build is in another state (flat-manager's wrong-repo-state / wrong-published-state).",
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof WrongStateError,
  fields: (t) => ({ currentState: t.exposeString('currentState'), expectedState: t.exposeString('expectedState') }),
});

builder.objectType(BuildBusyError, {
  name: 'BuildBusyError',
  description: 'The build is being committed or published and cannot be changed now.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof BuildBusyError,
  fields: () => ({}),
});

export const BuildStateEnum = builder.enumType('BuildState', {
  description:
    "flat-manager repo_state: UPLOADING 0, COMMITTING 1, READY 2, FAILED 3, PURGING 4, PURGED 5, VALIDATING 6. fmd's git builds add WAITING, CLONING, BUILDING (code 0) and CANCELLED, SUPERSEDED (code 3)",
  values: ['UPLOADING', 'COMMITTING', 'READY', 'FAILED', 'PURGING', 'PURGED', 'VALIDATING', 'WAITING', 'CLONING', 'BUILDING', 'CANCELLED', 'SUPERSEDED'] as const,
});

export const PublishedStateEnum = builder.enumType('PublishedState', {
  description: 'flat-manager published_state: UNPUBLISHED 0, PUBLISHING 1, PUBLISHED 2, FAILED 3',
  values: ['UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED'] as const,
});

const BuildActionEnum = builder.enumType('BuildAction', {
  description: 'commitBuild, publishBuild, purgeBuild, cancelBuild, rebuildBuild, promoteBuild',
  values: buildActionNames,
});
const CheckStatusEnum = builder.enumType('CheckStatus', { values: ['PENDING', 'PASSED', 'FAILED', 'REVIEW_REQUIRED'] as const });

builder.prismaObject('BuildRef', {
  description: 'A ref a build uploaded and the commit it points at in the upload.',
  fields: (t) => ({
    number: t.exposeInt('id'),
    name: t.exposeString('refName', { description: 'app/ID/ARCH/BRANCH, runtime/ID/ARCH/BRANCH or screenshots/ARCH' }),
    commit: t.exposeString('commit'),
    buildLogUrl: t.exposeString('buildLogUrl', { nullable: true }),
  }),
});

builder.prismaObject('Check', {
  description: "A check hook's verdict on a build; REVIEW_REQUIRED waits for reviewCheck.",
  fields: (t) => ({
    name: t.exposeString('name'),
    status: t.field({ type: CheckStatusEnum, resolve: (c) => c.status }),
    results: t.expose('results', { type: 'JSON', nullable: true }),
    job: t.prismaField({
      type: 'Job',
      nullable: true,
      resolve: (query, c, _a, ctx) =>
        c.jobId === null ? null : ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ id: c.jobId }, readableJobsWhere(ctx.viewer)] } }),
    }),
  }),
});

const PublishedRef = builder.objectRef<{ ref: string; commit: string }>('PublishedRef').implement({
  fields: (t) => ({ ref: t.exposeString('ref'), commit: t.exposeString('commit', { description: 'the commit in the published repo' }) }),
});

const refList = (v: unknown) => Object.entries((v ?? {}) as Record<string, string>).map(([ref, commit]) => ({ ref, commit }));

const PromotionStateEnum = builder.enumType('PromotionState', {
  description: 'PROMOTING (queued or running), PROMOTED, FAILED, or SKIPPED (an auto-promotion superseded by a newer build)',
  values: ['PROMOTING', 'PROMOTED', 'FAILED', 'SKIPPED'] as const,
});

// A build's token need not cover the repos it was promoted between.
function visibleRepo(ctx: GraphQLContext, id: number, query: { include?: Prisma.RepoInclude; select?: Prisma.RepoSelect }) {
  if (!ctx.viewer) return null;
  return ctx.services.prisma.repo.findFirst({ ...query, where: { AND: [{ id }, ctx.services.repos.visibleWhere(ctx.viewer)] } });
}

const PromotionRef = builder.prismaObject('Promotion', {
  description: "A published build's refs published again into a child repo (e.g. beta -> stable) by a promote job.",
  fields: (t) => ({
    number: t.exposeInt('id'),
    build: t.relation('build'),
    sourceRepo: t.prismaField({
      type: 'Repo',
      nullable: true,
      description: "the target's parent, where the build's commits came from (null when you may not read it)",
      resolve: (query, p, _a, ctx) => visibleRepo(ctx, p.sourceRepoId, query),
    }),
    targetRepo: t.prismaField({
      type: 'Repo',
      nullable: true,
      description: 'the repo it publishes into (null when you may not read it)',
      resolve: (query, p, _a, ctx) => visibleRepo(ctx, p.targetRepoId, query),
    }),
    state: t.field({ type: PromotionStateEnum, resolve: (p) => p.state }),
    auto: t.exposeBoolean('auto', { description: "started by the target repo's autoPromote rule" }),
    reason: t.exposeString('reason', { nullable: true, description: 'why it failed or was skipped' }),
    refs: t.field({ type: [PublishedRef], description: 'the commits it made in the target repo', resolve: (p) => refList(p.refs) }),
    job: t.prismaField({
      type: 'Job',
      nullable: true,
      description: 'the promote job (null when you may not read it)',
      resolve: (query, p, _a, ctx) =>
        p.jobId === null ? null : ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ id: p.jobId }, readableJobsWhere(ctx.viewer)] } }),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

// Include mode (whole rows) on purpose: Pothos' `select` mode saved no CPU on the list page (its
// loader lookup per field costs what the skipped columns save), and it would re-read the rows
// payloads and subscriptions hand it: a second read that could fail.
export const BuildNode = builder.prismaNode('Build', {
  id: { field: 'id' },
  description: 'An upload of refs to a repo, committed and then published (flat-manager build).',
  fields: (t) => ({
    number: t.exposeInt('id', { description: 'the build id on the flat-manager REST API and in the CLI' }),
    repo: t.relation('repo'),
    appId: t.exposeString('appId', { nullable: true }),
    state: t.field({ type: BuildStateEnum, resolve: (b) => b.state }),
    stateCode: t.int({ description: 'flat-manager repo_state', resolve: (b) => repoStateCode[b.state] }),
    stateReason: t.exposeString('stateReason', { nullable: true }),
    publishedState: t.field({ type: PublishedStateEnum, resolve: (b) => b.publishedState }),
    publishedStateCode: t.int({ description: 'flat-manager published_state', resolve: (b) => publishedStateCode[b.publishedState] }),
    publicDownload: t.exposeBoolean('publicDownload'),
    buildLogUrl: t.exposeString('buildLogUrl', { nullable: true }),
    endOfLife: t.exposeString('endOfLife', { nullable: true }),
    endOfLifeRebase: t.exposeString('endOfLifeRebase', { nullable: true }),
    tokenType: t.exposeInt('tokenType', { nullable: true }),
    extraIds: t.stringList({ resolve: (b) => (b.extraIds as string[] | null) ?? [] }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    // A second query per page: Prisma refuses relationLoadStrategy 'join' on MariaDB.
    refs: t.relation('refs', { query: { orderBy: { id: 'asc' } } }),
    checks: t.relation('checks', { query: { orderBy: { id: 'asc' } } }),
    jobs: t.relatedConnection('jobs', {
      cursor: 'id',
      description: 'the jobs of this build you may read',
      query: (_args, ctx) => ({ where: readableJobsWhere(ctx.viewer), orderBy: { id: 'desc' } }),
    }),
    publishedRefs: t.field({
      type: [PublishedRef],
      description: "what the publish put in the build's repo (empty until it is published)",
      resolve: (b) => refList(b.publishedRefs),
    }),
    source: t.relation('source', { nullable: true, description: 'the git source of a build fmd builds itself (null for uploaded builds)' }),
    actions: t.field({
      type: [BuildActionEnum],
      description: "what your token may do to the build in its state now (the mutations still check; show buttons from this)",
      select: { state: true, publishedState: true, appId: true, repo: { select: { name: true } }, source: { select: { commit: true } } },
      resolve: (b, _a, ctx) => buildActions(ctx.viewer, { id: b.id, state: b.state, publishedState: b.publishedState, appId: b.appId, repoName: b.repo.name, source: b.source }),
    }),
    promotions: t.prismaField({
      type: ['Promotion'],
      description: 'promotions of this build into other repos, oldest first',
      // With Pothos' query the relations below come in the same read as the rows: a promotion
      // that vanishes meanwhile (its repo deleted) is left out instead of failing the list.
      resolve: (query, b, _a, ctx) => ctx.services.promotions.list(b.id, query),
    }),
  }),
});

const readers = { anyScope: ['build', 'upload', 'download', 'admin'] } as const;

builder.queryField('builds', (t) =>
  t.prismaConnection({
    type: 'Build',
    cursor: 'id',
    description: 'Builds your token covers (repos and app-id prefixes), newest first.',
    authScopes: readers,
    args: {
      repo: t.arg.string(),
      appId: t.arg.string(),
      state: t.arg({ type: BuildStateEnum }),
      publishedState: t.arg({ type: PublishedStateEnum }),
      createdAfter: t.arg({ type: 'DateTime' }),
      createdBefore: t.arg({ type: 'DateTime' }),
    },
    totalCount: (_root, args, ctx, info) => countFor(info, () => ctx.services.prisma.build.count({ where: whereFor(ctx, args) })),
    resolve: (query, _root, args, ctx, info) => {
      const where = whereFor(ctx, args);
      startCount(info, () => ctx.services.prisma.build.count({ where }));
      return ctx.services.prisma.build.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

function whereFor(ctx: GraphQLContext, args: Parameters<GraphQLContext['services']['builds']['where']>[0]) {
  return { AND: [ctx.services.builds.where(args), visibleBuildsWhere(ctx.viewer!)] };
}

builder.queryField('build', (t) =>
  t.prismaField({
    type: 'Build',
    nullable: true,
    description: 'A build by its flat-manager number.',
    authScopes: readers,
    args: { number: t.arg.int({ required: true }) },
    resolve: (query, _root, args, ctx) => ctx.services.prisma.build.findFirst({ ...query, where: { AND: [{ id: args.number }, visibleBuildsWhere(ctx.viewer!)] } }),
  }),
);

// --- mutations -----------------------------------------------------------------------------------

const errors = { types: [NotFoundError, InvalidInputError, ForbiddenError, WrongStateError, BuildBusyError] };

// Payloads carry the rows the domain returned or re-read them through it: no second lookup that
// could fail because the row changed in between.
const BuildPayload = builder.objectRef<{ id: number }>('BuildPayload').implement({
  fields: (t) => ({
    build: t.field({ type: BuildNode, resolve: (p, _a, ctx) => ctx.services.builds.get(p.id) }),
  }),
});

const JobPayload = builder.objectRef<{ job: Job; buildId: number | null }>('BuildJobPayload').implement({
  description: 'The job a build operation queued.',
  fields: (t) => ({
    job: t.field({ type: JobRef, resolve: (p) => p.job }),
    build: t.field({
      type: BuildNode,
      nullable: true,
      resolve: (p, _a, ctx) => (p.buildId === null ? null : orNull(ctx.services.builds.get(p.buildId))),
    }),
  }),
});

export const GitBuildSourceInput = builder.inputType('GitBuildSourceInput', {
  description: 'Where fmd builds the app from: a git repository holding a flatpak-builder manifest.',
  fields: (t) => ({
    url: t.string({ required: true, description: 'git URL; its scheme must be one of the git-url-schemes config key' }),
    ref: t.string({ description: "branch, tag or 40-hex commit (default: the remote's default branch)" }),
    manifestPath: t.string({ description: 'manifest path in the checkout (default: <appId>.yml|yaml|json at the root, else the only manifest)' }),
    arch: t.string({ description: "default: the first of the build-arches config key (the machine's)" }),
    branch: t.string({ description: "flatpak-builder's --default-branch when the manifest names none (default: the repo's default branch)" }),
    autoCommit: t.boolean({ description: 'commit the build once built (default: true)' }),
    autoPublish: t.boolean({ description: "publish it once committed (true needs the publish scope); false opts out of the repo's autoPublish policy, absent follows it" }),
    credential: t.int({ description: "a git credential of the repo (deploy key or HTTPS token), by number" }),
    dependsOn: t.intList({ description: 'builds (numbers) this one waits for' }),
  }),
});

const CreateBuildInput = builder.inputType('CreateBuildInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    git: t.field({ type: GitBuildSourceInput, description: 'build from git instead of waiting for uploads' }),
    appId: t.string({ description: 'the app this build is for; must match your token prefixes' }),
    publicDownload: t.boolean({ description: 'serve the build repo without a token (default: true without appId, false with one)' }),
    buildLogUrl: t.string(),
  }),
});

builder.mutationField('createBuild', (t) =>
  t.field({
    type: BuildPayload,
    description:
      'Creates a build with an empty upload repo (objects are uploaded over /api/v1/build/<number>/upload), or, with `git`, a build fmd makes itself from a git source.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: CreateBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const { git, ...rest } = input;
      const created = git ? ctx.services.gitBuilds.create(ctx.viewer!, { ...rest, ...git }) : ctx.services.builds.create(ctx.viewer!, rest);
      return { id: (await withInputNames(buildInputNames, created)).id };
    },
  }),
);

const AddBuildRefInput = builder.inputType('AddBuildRefInput', {
  fields: (t) => ({
    build: t.int({ required: true, description: 'build number' }),
    ref: t.string({ required: true }),
    commit: t.string({ required: true }),
    buildLogUrl: t.string(),
  }),
});

builder.mutationField('addBuildRef', (t) =>
  t.field({
    type: BuildPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: AddBuildRefInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      await ctx.services.builds.addRef(ctx.viewer!, input.build, input);
      return { id: input.build };
    },
  }),
);

const CommitBuildInput = builder.inputType('CommitBuildInput', {
  fields: (t) => ({
    build: t.int({ required: true }),
    endOfLife: t.string(),
    endOfLifeRebase: t.string({ description: 'the app id that replaces this one' }),
    tokenType: t.int(),
  }),
});

builder.mutationField('commitBuild', (t) =>
  t.field({
    type: JobPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: CommitBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      return { job: await ctx.services.builds.commit(ctx.viewer!, input.build, input), buildId: input.build };
    },
  }),
);

const BuildNumberInput = (name: string) => builder.inputType(name, { fields: (t) => ({ build: t.int({ required: true }) }) });
const PublishBuildInput = BuildNumberInput('PublishBuildInput');
const PurgeBuildInput = BuildNumberInput('PurgeBuildInput');

builder.mutationField('publishBuild', (t) =>
  t.field({
    type: JobPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: PublishBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      return { job: await ctx.services.builds.publish(ctx.viewer!, input.build), buildId: input.build };
    },
  }),
);

builder.mutationField('purgeBuild', (t) =>
  t.field({
    type: BuildPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: PurgeBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ id: (await ctx.services.builds.purge(ctx.viewer!, input.build)).id }),
  }),
);

const RepublishAppInput = builder.inputType('RepublishAppInput', {
  fields: (t) => ({ repo: t.string({ required: true }), app: t.string({ required: true }), endOfLife: t.string(), endOfLifeRebase: t.string() }),
});

builder.mutationField('republishApp', (t) =>
  t.field({
    type: JobPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: RepublishAppInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ job: await ctx.services.builds.republish(ctx.viewer!, input.repo, input), buildId: null }),
  }),
);

const PruneRepoInput = builder.inputType('PruneRepoInput', { fields: (t) => ({ repo: t.string({ required: true }) }) });

builder.mutationField('pruneRepo', (t) =>
  t.field({
    type: JobPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: PruneRepoInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ job: await ctx.services.builds.prune(ctx.viewer!, input.repo), buildId: null }),
  }),
);

const ReviewCheckInput = builder.inputType('ReviewCheckInput', {
  fields: (t) => ({
    job: t.int({ required: true, description: 'the check job number' }),
    status: t.field({ type: CheckStatusEnum, required: true }),
    reason: t.string(),
    results: t.string(),
  }),
});

builder.mutationField('reviewCheck', (t) =>
  t.field({
    type: BuildPayload,
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: ReviewCheckInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ id: (await ctx.services.builds.reviewCheck(ctx.viewer!, input.job, input)).buildId }),
  }),
);

const PromoteBuildInput = builder.inputType('PromoteBuildInput', {
  fields: (t) => ({
    build: t.int({ required: true, description: 'build number' }),
    targetRepo: t.string({ required: true, description: "the repo to publish into; the build must be published in that repo's parent" }),
  }),
});

const PromotionPayload = builder.objectRef<{ promotion: Promotion; job: Job }>('PromoteBuildPayload').implement({
  fields: (t) => ({
    promotion: t.field({ type: PromotionRef, resolve: (p) => p.promotion }),
    build: t.field({ type: BuildNode, resolve: (p, _a, ctx) => ctx.services.builds.get(p.promotion.buildId) }),
    job: t.field({
      type: JobRef,
      description: 'the promote job (it starts after the delay of an auto-promotion)',
      resolve: (p) => p.job,
    }),
  }),
});

builder.mutationField('promoteBuild', (t) =>
  t.field({
    type: PromotionPayload,
    description: "Publishes a published build's commits into a child repo (its parent is where the build is published) through a promote job.",
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: PromoteBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      return ctx.services.promotions.promote(ctx.viewer!, input.build, input.targetRepo);
    },
  }),
);

// --- subscriptions -------------------------------------------------------------------------------

/** Build change events of a topic; with `visibleTo`, only those of builds that viewer may read. */
async function* buildUpdates(ctx: GraphQLContext, topic: string, first: number | null, visibleTo?: Viewer) {
  // Decided in memory on the build every subscriber shares (forEvent): no query per subscriber.
  const visibility = visibleTo ? buildVisibility(visibleTo) : null;
  const sub = ctx.services.events.subscribe<{ id: number }>(topic);
  try {
    if (first !== null) yield { id: first };
    for (;;) {
      const r = await sub.next();
      if (r.done) return;
      if (visibility !== null) {
        const build = await ctx.services.builds.forEvent(r.value).catch((err: unknown) => {
          if (err instanceof NotFoundError) return null;
          throw err;
        });
        if (!build || !buildVisible(visibility, { id: build.id, repoName: build.repo.name, appId: build.appId })) continue;
      }
      yield r.value;
    }
  } finally {
    await sub.return?.();
  }
}

builder.subscriptionField('buildUpdated', (t) =>
  t.field({
    type: BuildNode,
    description: 'The build now, then each time its state, refs or checks change.',
    args: { number: t.arg.int({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const viewer = ctx.requireAnyScope(['build', 'upload', 'download', 'admin']);
      await ctx.services.builds.getFor(viewer, args.number, ['build', 'upload', 'download', 'admin']);
      return buildUpdates(ctx, buildTopic(args.number), args.number);
    },
    resolve: (payload, _a, ctx) => ctx.services.builds.forEvent(payload as { id: number }),
  }),
);

builder.subscriptionField('buildsUpdated', (t) =>
  t.field({
    type: BuildNode,
    description: 'Each build of `repo` when it changes; without `repo`, each build your token may read, in any repo.',
    args: { repo: t.arg.string() },
    subscribe: async (_root, args, ctx) => {
      const viewer = ctx.requireAnyScope(['build', 'upload', 'download', 'admin']);
      if (args.repo) await ctx.services.repos.getVisible(viewer, args.repo);
      // A topic carries every build of it: the caller's repos, prefixes (and sub) still apply.
      return buildUpdates(ctx, args.repo ? repoBuildsTopic(args.repo) : allBuildsTopic, null, viewer);
    },
    resolve: (payload, _a, ctx) => ctx.services.builds.forEvent(payload as { id: number }),
  }),
);
