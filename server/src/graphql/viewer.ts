// `viewer`: who the caller is and what the token allows.
import { builder } from './builder.ts';
import type { Viewer } from '../domain/tokens/service.ts';
import { visibleUsersWhere } from '../domain/users/access.ts';

export const UserRef = builder.prismaNode('User', {
  id: { field: 'id' },
  fields: (t) => ({
    name: t.exposeString('name'),
    isAdmin: t.exposeBoolean('isAdmin'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    tokens: t.prismaConnection({
      type: 'ApiToken',
      cursor: 'id',
      description: 'tokens of this user that you may manage',
      authScopes: { authenticated: true },
      resolve: async (query, user, _args, ctx) =>
        ctx.services.prisma.apiToken.findMany({
          ...query,
          where: { AND: [{ ownerId: user.id }, await ctx.services.tokens.visibleTokensWhere(ctx.viewer!)] },
          orderBy: { id: 'desc' },
        }),
    }),
  }),
});

const ViewerRef = builder.objectRef<Viewer>('Viewer').implement({
  description: 'The caller, as its token describes it (flat-manager claims).',
  fields: (t) => ({
    name: t.string({ nullable: true, resolve: (v) => v.claims.name ?? null }),
    subject: t.string({ description: 'the `sub` claim: "" (any), "build" or "build/<id>"', resolve: (v) => v.claims.sub }),
    scopes: t.stringList({ resolve: (v) => v.claims.scope }),
    prefixes: t.stringList({ resolve: (v) => v.claims.prefixes }),
    apps: t.stringList({ resolve: (v) => v.claims.apps }),
    repos: t.stringList({ resolve: (v) => v.claims.repos }),
    tokenType: t.int({ nullable: true, resolve: (v) => v.claims.token_type ?? null }),
    expiresAt: t.field({ type: 'DateTime', resolve: (v) => new Date(v.claims.exp * 1000) }),
    tokenId: t.string({ nullable: true, description: 'the `jti` claim; tokens without one cannot be revoked on their own', resolve: (v) => v.claims.jti ?? null }),
    user: t.prismaField({
      type: 'User',
      nullable: true,
      resolve: (query, v, _args, ctx) =>
        v.ownerId === null ? null : ctx.services.prisma.user.findFirst({ ...query, where: { AND: [{ id: v.ownerId }, visibleUsersWhere(v)] } }),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    authScopes: { authenticated: true },
    resolve: (_root, _args, ctx) => ctx.viewer!,
  }),
);
