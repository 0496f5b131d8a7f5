// Git credentials (deploy keys, HTTPS tokens for private sources) and git sources (a git
// repository whose pushes build into a repo through a webhook). Secrets go in and never come
// out: a credential's secret has no field, a source's webhook secret is in the payload of the
// mutation that set it and nowhere else.
import { builder } from './builder.ts';
import type { GraphQLContext } from './context.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { rowId } from './node.ts';
import { visibleBuildsWhere, noRows } from '../domain/builds/access.ts';
import { visibleGitCredentialsWhere, visibleGitSourcesWhere } from '../domain/builds/git/access.ts';
import { gitCredentialKinds } from '../domain/builds/git/credentials.ts';
import type { GitCredential, GitSource } from '../generated/prisma/client.ts';

const errors = { types: [NotFoundError, InvalidInputError, ForbiddenError] };

/** A visibility rule that refuses the viewer outright shows nothing (lists are empty, links null). */
function orNone<T>(where: () => T): T | typeof noRows {
  try {
    return where();
  } catch (err) {
    if (err instanceof ForbiddenError) return noRows;
    throw err;
  }
}

const credentialsWhere = (ctx: GraphQLContext) => (ctx.viewer ? orNone(() => visibleGitCredentialsWhere(ctx.viewer!)) : noRows);
const sourcesWhere = (ctx: GraphQLContext) => (ctx.viewer ? orNone(() => visibleGitSourcesWhere(ctx.viewer!)) : noRows);

const GitCredentialKindEnum = builder.enumType('GitCredentialKind', {
  description: 'SSH_KEY: a private deploy key (ssh:// URLs); HTTPS_TOKEN: a token sent as the password of https:// URLs',
  values: gitCredentialKinds,
});

export const GitCredentialRef = builder.prismaNode('GitCredential', {
  id: { field: 'id' },
  description: "A secret for cloning a repo's private git sources. The secret itself is never shown.",
  fields: (t) => ({
    number: t.exposeInt('id', { description: 'what git builds and git sources name as `credential`' }),
    repo: t.relation('repo'),
    name: t.exposeString('name'),
    kind: t.field({ type: GitCredentialKindEnum, resolve: (c) => c.kind }),
    username: t.exposeString('username', { nullable: true, description: 'the HTTPS user name (tokens)' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const GitSourceRef = builder.prismaNode('GitSource', {
  id: { field: 'id' },
  description:
    'A git repository whose pushes build into a repo: the forge posts push events to `webhookUrl`, signed with the secret shown when it was registered. Builds act with the rights of the token that registered it; the source is disabled when that token is revoked or expires.',
  fields: (t) => ({
    number: t.exposeInt('id', { description: 'the id in the webhook URL' }),
    repo: t.relation('repo'),
    url: t.exposeString('url'),
    branch: t.exposeString('branch', { description: 'pushes to this branch build' }),
    manifestPath: t.exposeString('manifestPath', { nullable: true }),
    appId: t.exposeString('appId', { nullable: true }),
    arch: t.exposeString('arch', { nullable: true }),
    autoPublish: t.exposeBoolean('autoPublish'),
    credential: t.prismaField({
      type: 'GitCredential',
      nullable: true,
      description: 'what it clones with (null for a public source, or when you may not see it)',
      resolve: (query, s, _a, ctx) =>
        s.credentialId === null ? null : ctx.services.prisma.gitCredential.findFirst({ ...query, where: { AND: [{ id: s.credentialId }, credentialsWhere(ctx)] } }),
    }),
    webhookUrl: t.string({
      description: 'where the forge posts push events (absolute once base-url is configured, else the path)',
      resolve: (s, _a, ctx) => ctx.services.gitSources.webhookUrl(s.id),
    }),
    enabled: t.boolean({ resolve: (s, _a, ctx) => ctx.services.gitSources.disabledReason(s) === null }),
    disabledReason: t.string({
      nullable: true,
      description: 'why its pushes build nothing (its token was revoked or expired); null while enabled',
      resolve: (s, _a, ctx) => ctx.services.gitSources.disabledReason(s),
    }),
    registeredByTokenId: t.exposeString('tokenJti', { description: 'the jti of the token its builds act with' }),
    lastPushAt: t.expose('lastPushAt', { type: 'DateTime', nullable: true, description: 'the last push that started a build' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    builds: t.prismaConnection({
      type: 'Build',
      cursor: 'id',
      description: 'builds its pushes started that you may read, newest first',
      resolve: (query, s, _a, ctx) =>
        ctx.services.prisma.build.findMany({
          ...query,
          where: { AND: [{ source: { gitSourceId: s.id } }, ctx.viewer ? orNone(() => visibleBuildsWhere(ctx.viewer!)) : noRows] },
          orderBy: { id: 'desc' },
        }),
    }),
  }),
});

builder.prismaObjectField('Repo', 'gitCredentials', (t) =>
  t.relatedConnection('gitCredentials', {
    cursor: 'id',
    totalCount: true,
    description: "the repo's git credentials, by name (tokens that may build into the repo, and admins)",
    query: (_args, ctx) => ({ where: credentialsWhere(ctx), orderBy: { name: 'asc' } }),
  }),
);

builder.prismaObjectField('Repo', 'gitSources', (t) =>
  t.relatedConnection('gitSources', {
    cursor: 'id',
    totalCount: true,
    description: "the repo's git sources you may manage, oldest first",
    query: (_args, ctx) => ({ where: sourcesWhere(ctx), orderBy: { id: 'asc' } }),
  }),
);

// --- credentials ---------------------------------------------------------------------------------

const CreateGitCredentialInput = builder.inputType('CreateGitCredentialInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    name: t.string({ required: true, description: 'unique in the repo' }),
    kind: t.field({ type: GitCredentialKindEnum, required: true }),
    username: t.string({ description: 'HTTPS tokens: the user name sent with the token (forges differ: x-access-token on GitHub, oauth2 on GitLab); SSH keys take none' }),
    secret: t.string({ required: true, description: 'the private key (OpenSSH/PEM, no passphrase) or the token; stored encrypted, never shown again' }),
  }),
});

const GitCredentialPayload = builder.objectRef<{ credential: GitCredential }>('GitCredentialPayload').implement({
  fields: (t) => ({ gitCredential: t.field({ type: GitCredentialRef, resolve: (p) => p.credential }) }),
});

builder.mutationField('createGitCredential', (t) =>
  t.field({
    type: GitCredentialPayload,
    description: 'Stores a deploy key or HTTPS token for cloning private git sources of a repo.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: CreateGitCredentialInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ credential: await ctx.services.gitCredentials.create(ctx.viewer!, input) }),
  }),
);

const ByIdInput = (name: string) => builder.inputType(name, { fields: (t) => ({ id: t.id({ required: true }) }) });

const DeletedPayload = (name: string) =>
  builder.objectRef<{ id: string; number: number }>(name).implement({
    fields: (t) => ({ deletedId: t.exposeID('id'), number: t.exposeInt('number') }),
  });

const DeleteGitCredentialPayload = DeletedPayload('DeleteGitCredentialPayload');

builder.mutationField('deleteGitCredential', (t) =>
  t.field({
    type: DeleteGitCredentialPayload,
    description: 'Deletes a git credential; sources and builds that used it clone without one from now on.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: ByIdInput('DeleteGitCredentialInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const row = await ctx.services.gitCredentials.delete(ctx.viewer!, rowId('GitCredential', input.id, 'id'));
      return { id: String(input.id), number: row.id };
    },
  }),
);

// --- sources -------------------------------------------------------------------------------------

const RegisterGitSourceInput = builder.inputType('RegisterGitSourceInput', {
  fields: (t) => ({
    repo: t.string({ required: true }),
    url: t.string({ required: true, description: 'the git URL to clone (its scheme must be one of git-url-schemes)' }),
    branch: t.string({ required: true, description: 'pushes to this branch build' }),
    manifestPath: t.string({ description: 'default: found in the checkout' }),
    appId: t.string({ description: 'the app the manifest must build' }),
    arch: t.string({ description: "default: the first of the workers' arches" }),
    autoPublish: t.boolean({ description: 'publish each build once committed (needs the publish scope)' }),
    credential: t.id({ description: 'a GitCredential of the repo, for a private source' }),
    secret: t.string({ description: 'the webhook secret (16+ characters); default: generated' }),
  }),
});

const GitSourceSecretPayload = (name: string) =>
  builder.objectRef<{ source: GitSource; secret: string }>(name).implement({
    fields: (t) => ({
      gitSource: t.field({ type: GitSourceRef, resolve: (p) => p.source }),
      secret: t.exposeString('secret', { description: 'the webhook secret: give it to the forge now, it is never shown again' }),
      webhookUrl: t.string({ resolve: (p, _a, ctx) => ctx.services.gitSources.webhookUrl(p.source.id) }),
    }),
  });

builder.mutationField('registerGitSource', (t) =>
  t.field({
    type: GitSourceSecretPayload('RegisterGitSourcePayload'),
    description: "Registers a git source whose pushes build with your token's rights; answers its webhook URL and secret.",
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: RegisterGitSourceInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      ctx.services.gitSources.register(ctx.viewer!, { ...input, credential: input.credential == null ? null : rowId('GitCredential', input.credential, 'credential') }),
  }),
);

builder.mutationField('deleteGitSource', (t) =>
  t.field({
    type: DeletedPayload('DeleteGitSourcePayload'),
    description: 'Deletes a git source: its webhook URL answers 404 from now on. Its builds stay.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: ByIdInput('DeleteGitSourceInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const row = await ctx.services.gitSources.delete(ctx.viewer!, rowId('GitSource', input.id, 'id'));
      return { id: String(input.id), number: row.id };
    },
  }),
);

const RotateGitSourceSecretInput = builder.inputType('RotateGitSourceSecretInput', {
  fields: (t) => ({ id: t.id({ required: true }), secret: t.string({ description: 'the new secret (16+ characters); default: generated' }) }),
});

builder.mutationField('rotateGitSourceSecret', (t) =>
  t.field({
    type: GitSourceSecretPayload('RotateGitSourceSecretPayload'),
    description: 'Replaces the webhook secret of a git source; events signed with the old one are refused from now on.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: RotateGitSourceSecretInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.gitSources.rotateSecret(ctx.viewer!, rowId('GitSource', input.id, 'id'), input.secret),
  }),
);

// --- on a git build ----------------------------------------------------------------------------------

builder.prismaObjectField('BuildSource', 'gitSource', (t) =>
  t.prismaField({
    type: 'GitSource',
    nullable: true,
    description: 'the git source whose push started the build (null when none, or you may not manage it)',
    resolve: (query, s, _a, ctx) =>
      s.gitSourceId === null ? null : ctx.services.prisma.gitSource.findFirst({ ...query, where: { AND: [{ id: s.gitSourceId }, sourcesWhere(ctx)] } }),
  }),
);

builder.prismaObjectField('BuildSource', 'credential', (t) =>
  t.prismaField({
    type: 'GitCredential',
    nullable: true,
    description: 'the credential it clones with (null when none, or you may not see it)',
    resolve: (query, s, _a, ctx) =>
      s.credentialId === null ? null : ctx.services.prisma.gitCredential.findFirst({ ...query, where: { AND: [{ id: s.credentialId }, credentialsWhere(ctx)] } }),
  }),
);
