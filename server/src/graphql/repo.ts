// Repositories: list, read (with refs from the repo on disk), create, update, delete (by a
// job), set the signing key (with a rotation overlap), and summary-change events.
import { resolveArrayConnection } from '@pothos/plugin-relay';
import { builder } from './builder.ts';
import { requireRepoAdmin } from '../domain/users/access.ts';
import { countFor, startCount } from './connections.ts';
import type { GraphQLContext } from './context.ts';
import { keyIdFromInput } from './key.ts';
import { ErrorInterface, orNull } from './errors.ts';
import { JobRef } from './job.ts';
import type { Job, Repo } from '../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError, UnavailableError } from '../domain/errors.ts';
import { topics } from '../domain/events.ts';
import type { RefInfo, RepoUpdatedEvent } from '../domain/repos/service.ts';
import { parseAutoPromote, parseTokenTypes, type AutoPromoteRule } from '../domain/repos/validate.ts';

const admin = { scope: 'admin' } as const;
const repoAdmins = { repoAdmin: true } as const;

const RepoRefRef = builder.objectRef<RefInfo>('RepoRef').implement({
  description: 'A ref of a repo and the commit it points at, as on disk.',
  fields: (t) => ({
    name: t.exposeString('ref', { description: 'e.g. app/org.example.App/x86_64/stable' }),
    commit: t.exposeString('commit'),
    timestamp: t.expose('timestamp', { type: 'DateTime' }),
    subject: t.exposeString('subject'),
    collectionId: t.exposeString('collectionId', { nullable: true }),
    endOfLife: t.exposeString('endOfLife', { nullable: true }),
    endOfLifeRebase: t.exposeString('endOfLifeRebase', { nullable: true }),
    tokenType: t.exposeInt('tokenType'),
    installedSize: t.float({ nullable: true, description: 'bytes', resolve: (r) => (r.installedSize === null ? null : Number(r.installedSize)) }),
    downloadSize: t.float({ nullable: true, description: 'bytes', resolve: (r) => (r.downloadSize === null ? null : Number(r.downloadSize)) }),
  }),
});

const AutoPromoteRef = builder.objectRef<AutoPromoteRule>('AutoPromoteRule').implement({
  description: 'Builds that land in the parent repo are promoted into this one.',
  fields: (t) => ({
    delaySecs: t.exposeInt('delaySecs', { description: 'how long a build stays in the parent first; a newer build there supersedes it' }),
    appIdPrefixes: t.exposeStringList('appIdPrefixes', { description: 'only builds whose app/runtime ids have one of these prefixes (empty: all)' }),
  }),
});

const AutoPromoteInput = builder.inputType('AutoPromoteInput', {
  fields: (t) => ({
    delaySecs: t.int({ description: 'default 0: promote at once' }),
    appIdPrefixes: t.stringList({ description: 'default: every build' }),
  }),
});

export const RepoRef = builder.prismaNode('Repo', {
  id: { field: 'id' },
  description: 'An OSTree repository served to flatpak clients.',
  fields: (t) => ({
    name: t.exposeString('name'),
    title: t.exposeString('title', { nullable: true }),
    comment: t.exposeString('comment', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    homepage: t.exposeString('homepage', { nullable: true }),
    icon: t.exposeString('icon', { nullable: true }),
    collectionId: t.exposeString('collectionId', { nullable: true }),
    deployCollectionId: t.exposeBoolean('deployCollectionId'),
    suggestedRemoteName: t.exposeString('suggestedRemoteName', { nullable: true }),
    defaultBranch: t.exposeString('defaultBranch', { nullable: true }),
    redirectUrl: t.exposeString('redirectUrl', { nullable: true }),
    baseUrl: t.exposeString('baseUrl', { nullable: true }),
    runtimeRepoUrl: t.exposeString('runtimeRepoUrl', { nullable: true }),
    subsets: t.field({ type: 'JSON', description: '{ subset name: [app-id prefixes] }', resolve: (r) => r.subsets }),
    deltaSettings: t.field({ type: 'JSON', description: '{ generate, jobs, ignoreRefs, prune, pruneDepth }', resolve: (r) => r.deltaSettings }),
    hooks: t.field({ type: 'JSON', description: '{ checks: [{ name, command, reviewable }], publish, postPublish }', resolve: (r) => r.hooks }),
    defaultTokenType: t.exposeInt('defaultTokenType'),
    autoPublish: t.exposeBoolean('autoPublish', { description: 'policy: every git build into this repo is published once committed' }),
    authRequiredTokenTypes: t.intList({ description: 'refs whose commits have one of these token types need a download token', resolve: (r) => parseTokenTypes(r.authRequiredTokenTypes) }),
    key: t.relation('key', { nullable: true }),
    previousKey: t.relation('previousKey', { nullable: true, description: 'during a key rotation, the old key that still signs until previousKeyUntil' }),
    previousKeyUntil: t.expose('previousKeyUntil', { type: 'DateTime', nullable: true }),
    parent: t.prismaField({
      type: 'Repo',
      nullable: true,
      description: 'the repo builds are promoted from (null when you may not read it)',
      resolve: (query, r, _a, ctx) =>
        r.parentId === null || !ctx.viewer
          ? null
          : ctx.services.prisma.repo.findFirst({ ...query, where: { AND: [{ id: r.parentId }, ctx.services.repos.visibleWhere(ctx.viewer)] } }),
    }),
    autoPromote: t.field({
      type: AutoPromoteRef,
      nullable: true,
      description: 'the rule that promotes builds from the parent repo into this one, if any',
      resolve: (r) => parseAutoPromote(r.autoPromote),
    }),
    summaryUpdatedAt: t.expose('summaryUpdatedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    flatpakrepoUrl: t.string({
      nullable: true,
      description: 'where clients get the .flatpakrepo file (null until base-url is configured)',
      resolve: (r, _a, ctx) => {
        const url = ctx.services.repos.configuredRepoUrl(r.name);
        return url ? `${url.slice(0, -1)}.flatpakrepo` : null;
      },
    }),
    refs: t.connection({
      type: RepoRefRef,
      description: 'refs of the repo, by name, read from the repo on disk',
      args: { prefix: t.arg.string({ description: 'only refs starting with this, e.g. app/org.example.' }) },
      resolve: async (r, args, ctx) => {
        const refs = await ctx.services.repos.refs(r.name);
        const list = args.prefix ? refs.filter((x) => x.ref.startsWith(args.prefix!)) : refs;
        return resolveArrayConnection({ args }, list);
      },
    }),
  }),
});

builder.queryField('repos', (t) =>
  t.prismaConnection({
    type: 'Repo',
    cursor: 'id',
    description: 'Repos your token may read, by name.',
    authScopes: { authenticated: true },
    totalCount: (_root, _args, ctx, info) => countFor(info, () => ctx.services.prisma.repo.count({ where: ctx.services.repos.visibleWhere(ctx.viewer!) })),
    resolve: (query, _root, _args, ctx, info) => {
      const where = ctx.services.repos.visibleWhere(ctx.viewer!);
      startCount(info, () => ctx.services.prisma.repo.count({ where }));
      return ctx.services.prisma.repo.findMany({ ...query, where, orderBy: { name: 'asc' } });
    },
  }),
);

builder.queryField('repo', (t) =>
  t.prismaField({
    type: 'Repo',
    nullable: true,
    authScopes: { authenticated: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.services.prisma.repo.findFirst({ ...query, where: { AND: [{ name: args.name }, ctx.services.repos.visibleWhere(ctx.viewer!)] } }),
  }),
);

// Settings shared by create and update. Missing = keep; null = clear.
type InputFields = Parameters<NonNullable<Parameters<typeof builder.inputType>[1]['fields']>>[0];
function settingsFields(t: InputFields) {
  return {
    title: t.string(),
    comment: t.string(),
    description: t.string(),
    homepage: t.string(),
    icon: t.string({ description: 'URL of an icon' }),
    deployCollectionId: t.boolean({ description: 'clients adding the repo take its collection id (default true)' }),
    suggestedRemoteName: t.string(),
    defaultBranch: t.string(),
    redirectUrl: t.string(),
    baseUrl: t.string({ description: 'public URL of the repo (the .flatpakrepo Url); defaults to this server' }),
    runtimeRepoUrl: t.string({ description: '.flatpakrepo of the repo runtimes come from' }),
    parent: t.string({ description: 'name of the repo builds are promoted from' }),
    autoPromote: t.field({ type: AutoPromoteInput, description: 'promote every build that lands in the parent (null: only by promoteBuild)' }),
    subsets: t.field({ type: 'JSON', description: '{ name: [app-id prefixes] }' }),
    deltaSettings: t.field({ type: 'JSON', description: '{ generate: bool, jobs?: int, ignoreRefs: [glob], prune: bool, pruneDepth?: int }' }),
    hooks: t.field({ type: 'JSON', description: '{ checks: [{ name, command: [argv], reviewable }], publish?: [argv], postPublish?: [argv] }' }),
    defaultTokenType: t.int(),
    authRequiredTokenTypes: t.intList(),
    autoPublish: t.boolean({ description: 'publish every git build into this repo once committed' }),
  };
}

/** GraphQL input -> service input: drop what was not given, keep explicit nulls. */
function settingsFrom(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) out[k] = v;
  return out;
}

const RepoPayload = builder.objectRef<{ repo: Repo; job: Job | null }>('RepoPayload').implement({
  fields: (t) => ({
    repo: t.field({ type: RepoRef, resolve: (p) => p.repo }),
    job: t.field({
      type: JobRef,
      nullable: true,
      description: 'the update-repo job that brings the change to the summary and signatures, when it needs one',
      resolve: (p) => p.job,
    }),
  }),
});

const CreateRepoInput = builder.inputType('CreateRepoInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: '[A-Za-z0-9_-], at most 64; the repo is served at /repo/<name>/' }),
    collectionId: t.string({ description: 'reverse-DNS collection id, e.g. org.example.Stable; cannot change later' }),
    keyId: t.id({ description: 'signing key' }),
    ...settingsFields(t),
  }),
});

builder.mutationField('createRepo', (t) =>
  t.field({
    type: RepoPayload,
    description: 'Creates a repo: the row, then an archive-z2 OSTree repo with its collection id and a first (signed) summary.',
    authScopes: admin,
    errors: { types: [InvalidInputError] },
    args: { input: t.arg({ type: CreateRepoInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { keyId, name, ...rest } = input;
      const repo = await ctx.services.repos.create({
        name,
        ...settingsFrom(rest),
        keyId: keyId == null ? null : keyIdFromInput(String(keyId), 'keyId'),
      } as Parameters<GraphQLContext['services']['repos']['create']>[0]);
      return { repo, job: null };
    },
  }),
);

const UpdateRepoInput = builder.inputType('UpdateRepoInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'the repo to change' }),
    collectionId: t.string({ description: 'accepted only when unchanged' }),
    ...settingsFields(t),
  }),
});

builder.mutationField('updateRepo', (t) =>
  t.field({
    type: RepoPayload,
    description: 'Changes settings (omitted fields are kept, null clears). Summary metadata changes reach the summary through an update-repo job (in the payload).',
    authScopes: repoAdmins,
    errors: { types: [NotFoundError, InvalidInputError, UnavailableError] },
    args: { input: t.arg({ type: UpdateRepoInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { name, ...rest } = input;
      requireRepoAdmin(ctx.viewer!, name);
      return ctx.services.repos.update(name, settingsFrom(rest) as Parameters<GraphQLContext['services']['repos']['update']>[1]);
    },
  }),
);

const DeleteRepoInput = builder.inputType('DeleteRepoInput', { fields: (t) => ({ name: t.string({ required: true }) }) });

const DeleteRepoPayload = builder.objectRef<{ name: string; job: Job }>('DeleteRepoPayload').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    job: t.field({ type: JobRef, description: 'the job that removes the files, then the row', resolve: (p) => p.job }),
  }),
});

builder.mutationField('deleteRepo', (t) =>
  t.field({
    type: DeleteRepoPayload,
    description: 'Hides the repo at once and queues a job that deletes its files, then its row.',
    authScopes: admin,
    errors: { types: [NotFoundError, UnavailableError] },
    args: { input: t.arg({ type: DeleteRepoInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { repo, job } = await ctx.services.repos.delete(input.name);
      return { name: repo.name, job };
    },
  }),
);

const SetRepoKeyInput = builder.inputType('SetRepoKeyInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    keyId: t.id({ description: 'the new key; null leaves the repo unsigned' }),
    overlapSeconds: t.int({
      description: 'how long the previous key keeps signing beside the new one (default 30 days; 0 = switch at once)',
    }),
  }),
});

builder.mutationField('setRepoKey', (t) =>
  t.field({
    type: RepoPayload,
    description: 'Sets the signing key; its update-repo job (in the payload) re-signs heads and the summary. During the overlap both keys sign.',
    authScopes: admin,
    errors: { types: [NotFoundError, InvalidInputError, UnavailableError] },
    args: { input: t.arg({ type: SetRepoKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const keyId = input.keyId == null ? null : keyIdFromInput(String(input.keyId), 'keyId');
      return ctx.services.repos.setKey(input.repo, keyId, input.overlapSeconds ?? undefined);
    },
  }),
);

builder.objectType(UnavailableError, {
  name: 'UnavailableError',
  description: 'A dependency (database, job queue) is down; retry later.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof UnavailableError,
  fields: () => ({}),
});

const RepoUpdateRef = builder.objectRef<RepoUpdatedEvent>('RepoUpdate').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    indexSha: t.exposeString('indexSha', { nullable: true, description: 'sha256 of the new summary.idx' }),
    updatedAt: t.field({ type: 'DateTime', resolve: (e) => new Date(e.updatedAt) }),
    repo: t.field({
      type: RepoRef,
      nullable: true,
      resolve: (e, _a, ctx) => (ctx.viewer ? orNull(ctx.services.repos.getVisible(ctx.viewer, e.name)) : null),
    }),
  }),
});

builder.subscriptionField('repoUpdated', (t) =>
  t.field({
    type: RepoUpdateRef,
    description: "Fires when the repo's summary changes (after it is signed and live).",
    authScopes: { authenticated: true },
    args: { name: t.arg.string({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      if (!ctx.viewer) throw ctx.authorizationError('not authenticated');
      await ctx.services.repos.getVisible(ctx.viewer, args.name);
      return ctx.services.events.subscribe<RepoUpdatedEvent>(topics.repoUpdated(args.name));
    },
    resolve: (e) => e,
  }),
);
