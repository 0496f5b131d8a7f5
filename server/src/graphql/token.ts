// API tokens: list, create (a subset of the caller's rights), revoke, and change events.
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import type { GraphQLContext } from './context.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { withInputNames } from './errors.ts';
import { topics } from '../domain/events.ts';
import { allScopes } from '../domain/tokens/claims.ts';
import type { ApiToken } from '../generated/prisma/client.ts';
import type { Revocation, TokenChange } from '../domain/tokens/service.ts';

const managerScopes = ['tokenmanagement', 'admin'] as const;
// the domain decides (requireTokenManagement): tokenmanagement or admin tokens, and signed-in users for their own tokens
const tokenManagers = { authenticated: true } as const;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export const ApiTokenRef = builder.prismaNode('ApiToken', {
  id: { field: 'id' },
  fields: (t) => ({
    tokenId: t.exposeString('jti', { description: 'the `jti` claim, used to revoke it' }),
    name: t.exposeString('name'),
    subject: t.exposeString('sub'),
    scopes: t.stringList({ resolve: (r) => strings(r.scopes) }),
    prefixes: t.stringList({ resolve: (r) => strings(r.prefixes) }),
    apps: t.stringList({ resolve: (r) => strings(r.apps) }),
    repos: t.stringList({ resolve: (r) => strings(r.repos) }),
    tokenType: t.exposeInt('tokenType', { nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    external: t.exposeBoolean('external', { description: 'true when minted outside fmd (same secret) and first seen on a request' }),
    parentTokenId: t.exposeString('parentJti', { nullable: true, description: 'the `tokenId` of the token this one was created from (createToken, token_subset)' }),
    owner: t.relation('owner', { nullable: true }),
  }),
});

builder.prismaObjectField('ApiToken', 'parent', (t) =>
  t.prismaField({
    type: 'ApiToken',
    nullable: true,
    description: 'the token this one was created from, when you may list it (`tokens`); `parentTokenId` names it either way',
    resolve: async (query, row, _args, ctx) => {
      const where = row.parentJti === null ? null : await ctx.services.tokens.parentWhere(ctx.viewer!, row.parentJti);
      return where ? ctx.services.prisma.apiToken.findFirst({ ...query, where }) : null;
    },
  }),
);

async function tokenFilter(ctx: GraphQLContext, includeRevoked: boolean | null | undefined) {
  return { AND: [await ctx.services.tokens.visibleTokensWhere(ctx.viewer!), includeRevoked ? {} : { revokedAt: null }] };
}

builder.queryField('tokens', (t) =>
  t.prismaConnection({
    type: 'ApiToken',
    cursor: 'id',
    description: 'Tokens you may manage: all for admins; otherwise your own token and the tokens derived from it (createToken, token_subset). Newest first.',
    authScopes: tokenManagers,
    args: { includeRevoked: t.arg.boolean({ defaultValue: false }) },
    totalCount: (_root, args, ctx, info) => countFor(info, async () => ctx.services.prisma.apiToken.count({ where: await tokenFilter(ctx, args.includeRevoked) })),
    resolve: async (query, _root, args, ctx, info) => {
      const where = await tokenFilter(ctx, args.includeRevoked);
      startCount(info, () => ctx.services.prisma.apiToken.count({ where }));
      return ctx.services.prisma.apiToken.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

const CreateTokenInput = builder.inputType('CreateTokenInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    scopes: t.stringList({ required: true, description: `any of: ${allScopes.join(', ')}` }),
    subject: t.string({ description: 'defaults to your own sub' }),
    prefixes: t.stringList({ description: 'defaults to your own prefixes' }),
    apps: t.stringList({ description: 'defaults to your own apps' }),
    repos: t.stringList({ description: 'defaults to your own repos' }),
    durationSeconds: t.int({ required: true }),
    tokenType: t.int(),
  }),
});

const CreateTokenPayload = builder.objectRef<{ token: string; row: ApiToken }>('CreateTokenPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'the JWT; shown only here, once' }),
    apiToken: t.field({ type: ApiTokenRef, resolve: (p) => p.row }),
  }),
});

builder.mutationField('createToken', (t) =>
  t.field({
    type: CreateTokenPayload,
    description: "Mints a token with at most your own rights (flat-manager's token_subset rule), named as given; the token you used is its `parent`.",
    authScopes: { authenticated: true },
    errors: { types: [ForbiddenError, InvalidInputError] },
    args: { input: t.arg({ type: CreateTokenInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const request = ctx.services.tokens.createSubset(ctx.viewer!, {
        name: input.name,
        scope: input.scopes,
        sub: input.subject ?? undefined,
        prefixes: input.prefixes ?? undefined,
        apps: input.apps ?? undefined,
        repos: input.repos ?? undefined,
        duration: input.durationSeconds,
        tokenType: input.tokenType ?? null,
      });
      const { token, row } = await withInputNames({ scope: 'scopes', duration: 'durationSeconds', sub: 'subject' }, request);
      await ctx.services.events.publish(topics.tokensChanged, { kind: 'CREATED', tokenIds: [row.jti] } satisfies TokenChange);
      return { token, row };
    },
  }),
);

const RevokeTokensInput = builder.inputType('RevokeTokensInput', {
  fields: (t) => ({ tokenIds: t.stringList({ required: true, description: 'jti values' }) }),
});

const RevokeTokensPayload = builder.objectRef<Revocation>('RevokeTokensPayload').implement({
  fields: (t) => ({
    revokedCount: t.exposeInt('revokedCount', { description: 'tokens fmd knew that this revoked (ones revoked before are not counted)' }),
    preRevokedTokenIds: t.exposeStringList('preRevokedTokenIds', {
      description:
        'ids fmd had never seen (admins only): recorded as revoked, so that a token minted elsewhere with one of them is refused when it shows up. A mistyped id lands here too.',
    }),
  }),
});

builder.mutationField('revokeTokens', (t) =>
  t.field({
    type: RevokeTokensPayload,
    description:
      'Revokes tokens by id; tokens created from them stop working too, on every transport (open WebSocket operations end). Admins may revoke any id, even one fmd has not seen yet (answered apart, in `preRevokedTokenIds`); others only tokens they may list (`tokens`), any other id is not found and nothing is revoked.',
    authScopes: { authenticated: true },
    errors: { types: [ForbiddenError, InvalidInputError, NotFoundError] },
    args: { input: t.arg({ type: RevokeTokensInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (input.tokenIds.length === 0) throw new InvalidInputError('name at least one token id', 'tokenIds');
      return ctx.services.tokens.revoke(ctx.viewer!, input.tokenIds);
    },
  }),
);

const TokenChangeKind = builder.enumType('TokenChangeKind', { values: ['CREATED', 'REVOKED'] as const });
const TokenChangeRef = builder.objectRef<TokenChange>('TokenChange').implement({
  fields: (t) => ({
    kind: t.field({ type: TokenChangeKind, resolve: (c) => c.kind }),
    tokenIds: t.exposeStringList('tokenIds'),
  }),
});

builder.subscriptionField('tokensChanged', (t) =>
  t.field({
    type: TokenChangeRef,
    description: 'Fires when a token you may list (`tokens`) is created or revoked.',
    authScopes: tokenManagers,
    subscribe: (_root, _args, ctx) => ctx.services.tokens.changesVisibleTo(ctx.requireAnyScope(managerScopes)),
    resolve: (change) => change,
  }),
);
