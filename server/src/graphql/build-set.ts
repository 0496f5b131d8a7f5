// Build sets and build dependencies on GraphQL: createBuildSet, the BuildSet node, and a build's
// dependsOn / dependents / buildSet. BuildSetService and BuildScheduler hold the rules; every
// build shown goes through the builds' visibility rule.
import { builder } from './builder.ts';
import { buildInputNames, withInputNames } from './errors.ts';
import { BuildNode, BuildStateEnum, GitBuildSourceInput } from './build.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { visibleBuildsWhere } from '../domain/builds/access.ts';
import { BuildBusyError, WrongStateError } from '../domain/builds/states.ts';
import type { BuildSetWithBuilds } from '../domain/builds/git/build-sets.ts';

const BuildSetStateCount = builder.objectRef<{ state: string; count: number }>('BuildSetStateCount').implement({
  description: 'How many builds of a set (those you may read) are in a state.',
  fields: (t) => ({
    state: t.field({ type: BuildStateEnum, resolve: (c) => c.state as never }),
    count: t.exposeInt('count'),
  }),
});

export const BuildSetNode = builder.prismaNode('BuildSet', {
  id: { field: 'id' },
  description: 'Git builds created together and built in dependency order (e.g. a BaseApp or an extension and the app that uses it).',
  fields: (t) => ({
    number: t.exposeInt('id'),
    name: t.exposeString('name', { nullable: true }),
    repo: t.relation('repo'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    builds: t.relatedConnection('builds', {
      cursor: 'id',
      description: 'the builds of the set you may read, in the order they were created (dependencies first)',
      query: (_args, ctx) => ({ where: visibleBuildsWhere(ctx.viewer!), orderBy: { id: 'asc' } }),
    }),
    states: t.field({
      type: [BuildSetStateCount],
      description: 'how many of its builds (those you may read) are in each state',
      resolve: (s, _a, ctx) => ctx.services.buildSets.stateCounts(ctx.viewer!, s.id),
    }),
  }),
});

builder.prismaObjectFields('Build', (t) => ({
  dependsOn: t.prismaField({
    type: ['Build'],
    description: 'the builds this one waits for (those you may read): it starts once each is published and the repo update after it has ended',
    resolve: (query, b, _a, ctx) =>
      ctx.services.prisma.build.findMany({ ...query, where: { AND: [{ dependents: { some: { buildId: b.id } } }, visibleBuildsWhere(ctx.viewer!)] }, orderBy: { id: 'asc' } }),
  }),
  dependents: t.prismaConnection({
    type: 'Build',
    cursor: 'id',
    description: 'the builds that wait for this one (those you may read)',
    resolve: (query, b, _a, ctx) =>
      ctx.services.prisma.build.findMany({ ...query, where: { AND: [{ dependsOn: { some: { dependsOnId: b.id } } }, visibleBuildsWhere(ctx.viewer!)] }, orderBy: { id: 'asc' } }),
  }),
  buildSet: t.prismaField({
    type: 'BuildSet',
    nullable: true,
    description: 'the build set it was created in',
    // A set is visible to whoever reads one of its builds: this one.
    resolve: (query, b, _a, ctx) => (b.buildSetId === null ? null : ctx.services.prisma.buildSet.findUnique({ ...query, where: { id: b.buildSetId } })),
  }),
}));

const BuildSetMemberInput = builder.inputType('BuildSetMemberInput', {
  fields: (t) => ({
    key: t.string({ required: true, description: 'names this build inside the set (1-64 of A-Z a-z 0-9 _ . -)' }),
    git: t.field({ type: GitBuildSourceInput, required: true, description: 'its source (git.dependsOn: builds outside the set it also waits for)' }),
    appId: t.string({ description: 'the app it builds; must match your token prefixes (default: what the manifest says)' }),
    dependsOn: t.stringList({ description: 'keys of the builds of the set it waits for' }),
  }),
});

const CreateBuildSetInput = builder.inputType('CreateBuildSetInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    name: t.string(),
    builds: t.field({ type: [BuildSetMemberInput], required: true, description: 'at most 50; no cycles' }),
  }),
});

const BuildSetMember = builder.objectRef<{ key: string; id: number }>('BuildSetMember').implement({
  fields: (t) => ({
    key: t.exposeString('key'),
    build: t.field({ type: BuildNode, resolve: (m, _a, ctx) => ctx.services.builds.get(m.id) }),
  }),
});

const CreateBuildSetPayload = builder.objectRef<BuildSetWithBuilds>('CreateBuildSetPayload').implement({
  fields: (t) => ({
    buildSet: t.field({ type: BuildSetNode, resolve: (s) => s }),
    builds: t.field({ type: [BuildSetMember], description: 'each key and its build, in dependency order', resolve: (s) => s.builds }),
  }),
});

builder.mutationField('createBuildSet', (t) =>
  t.field({
    type: CreateBuildSetPayload,
    description:
      'Creates several git builds that start in dependency order: a build starts once the builds it depends on are published and the repo update after them has ended. A failed dependency fails its dependents without running them.',
    authScopes: { authenticated: true },
    errors: { types: [NotFoundError, InvalidInputError, ForbiddenError, WrongStateError, BuildBusyError] },
    args: { input: t.arg({ type: CreateBuildSetInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      withInputNames(
        buildInputNames,
        ctx.services.buildSets.create(ctx.viewer!, {
          repo: input.repo,
          name: input.name,
          builds: input.builds.map((b) => ({ key: b.key, git: b.git, appId: b.appId, dependsOn: b.dependsOn })),
        }),
      ),
  }),
);
