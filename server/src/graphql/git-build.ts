// Git builds on GraphQL: a build's git source, and cancelling or rebuilding one. Creating one is
// createBuild with a `git` input (build.ts). GitBuildService holds the rules.
import { builder } from './builder.ts';
import { BuildNode } from './build.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { BuildBusyError, WrongStateError } from '../domain/builds/states.ts';
import { visibleBuildsWhere } from '../domain/builds/access.ts';
import { readableJobsWhere } from '../domain/jobs/access.ts';

builder.prismaObject('BuildSource', {
  description: 'Where a git build comes from, and what its manifest said once it was read.',
  fields: (t) => ({
    url: t.exposeString('url'),
    ref: t.exposeString('gitRef', { description: 'the branch, tag or commit asked for (HEAD: the default branch)' }),
    commit: t.exposeString('commit', { nullable: true, description: 'the commit the ref resolved to, once cloned' }),
    manifestPath: t.exposeString('manifestPath', { nullable: true, description: 'asked for, or found by discovery once cloned' }),
    arch: t.exposeString('arch'),
    branch: t.exposeString('branch', { nullable: true, description: "flatpak-builder's --default-branch" }),
    runtime: t.exposeString('runtime', { nullable: true, description: "the manifest's runtime (id//version)" }),
    sdk: t.exposeString('sdk', { nullable: true, description: "the manifest's sdk (id//version)" }),
    autoCommit: t.exposeBoolean('autoCommit'),
    autoPublish: t.exposeBoolean('autoPublish', { nullable: true, description: "publish once committed, as asked (true or false); null when not asked: the repo's autoPublish policy decides" }),
    activeAt: t.expose('activeAt', { type: 'DateTime', nullable: true, description: 'when the build last wrote to its log' }),
    job: t.prismaField({
      type: 'Job',
      nullable: true,
      description: 'the latest git-build job (null when you may not read it)',
      resolve: (query, s, _a, ctx) =>
        ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ buildId: s.buildId, kind: 'git-build' }, readableJobsWhere(ctx.viewer)] }, orderBy: { id: 'desc' } }),
    }),
    rebuildOf: t.prismaField({
      type: 'Build',
      nullable: true,
      description: 'the build this one re-runs (null when none, or you may not read it)',
      resolve: (query, s, _a, ctx) =>
        s.rebuildOfId === null || !ctx.viewer
          ? null
          : ctx.services.prisma.build.findFirst({ ...query, where: { AND: [{ id: s.rebuildOfId }, visibleBuildsWhere(ctx.viewer)] } }),
    }),
  }),
});

const errors = { types: [NotFoundError, InvalidInputError, ForbiddenError, WrongStateError, BuildBusyError] };

const BuildPayload = builder.objectRef<{ id: number }>('GitBuildPayload').implement({
  fields: (t) => ({
    build: t.field({ type: BuildNode, resolve: (p, _a, ctx) => ctx.services.builds.get(p.id) }),
  }),
});

const CancelBuildInput = builder.inputType('CancelBuildInput', {
  fields: (t) => ({
    build: t.int({ required: true, description: 'build number' }),
    reason: t.string({ description: "recorded as the build's stateReason" }),
  }),
});

builder.mutationField('cancelBuild', (t) =>
  t.field({
    type: BuildPayload,
    description: 'Stops a git build that is waiting, cloning or building: its tools are killed, it ends CANCELLED and its work dir is removed.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: CancelBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ id: (await ctx.services.gitBuilds.cancel(ctx.viewer!, input.build, input.reason)).id }),
  }),
);

const RebuildBuildInput = builder.inputType('RebuildBuildInput', { fields: (t) => ({ build: t.int({ required: true, description: 'build number' }) }) });

builder.mutationField('rebuildBuild', (t) =>
  t.field({
    type: BuildPayload,
    description: 'A new git build of the same source commit, manifest, arch and flags as the given one (the payload has the new build).',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: RebuildBuildInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ id: (await ctx.services.gitBuilds.rebuild(ctx.viewer!, input.build)).id }),
  }),
);
