// The single Pothos schema builder. One file per type/area registers on it (see index.ts).
import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ErrorsPlugin from '@pothos/plugin-errors';
import ValidationPlugin from '@pothos/plugin-validation';
import type PrismaTypes from '../generated/pothos-prisma-types.ts';
import { getDatamodel } from '../generated/pothos-prisma-types.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { GraphQLContext } from './context.ts';
import { resolveVisibleNodes } from './node.ts';
import type { Scope } from '../domain/tokens/claims.ts';
import { hasScope } from '../domain/tokens/claims.ts';
import { isFmdAdmin } from '../domain/users/access.ts';

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: GraphQLContext;
  AuthScopes: { authenticated: boolean; scope: Scope; anyScope: readonly Scope[]; repoAdmin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin],
  prisma: {
    // The client is per server instance; Pothos asks the context for it.
    client: (ctx: GraphQLContext): PrismaClient => ctx.services.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // node/nodes go through each type's visibility rule (node.ts), with the raw id: Pothos'
    // parse would turn "SigningKey:xxx" into NaN and hand it to Prisma.
    nodeQueryOptions: {
      args: { id: { extensions: { relayGlobalIDAlwaysParse: false } } },
      resolve: async (_root, args, ctx, info) => (await resolveVisibleNodes(ctx, info, [args.id]))[0] as never,
    },
    nodesQueryOptions: {
      args: { ids: { extensions: { relayGlobalIDAlwaysParse: false } } },
      resolve: (_root, args, ctx, info) => resolveVisibleNodes(ctx, info, args.ids) as never,
    },
  },
  scopeAuth: {
    authScopes: (ctx) => ({
      authenticated: ctx.viewer !== null,
      // `admin` alone is fmd's administration (every repo, no roles bounding it); a repo's
      // administration is `repoAdmin` here and `requireRepoAdmin` in the domain.
      scope: (scope: Scope) => ctx.viewer !== null && (scope === 'admin' ? isFmdAdmin(ctx.viewer) : hasScope(ctx.viewer.claims, scope)),
      repoAdmin: () => ctx.viewer !== null && hasScope(ctx.viewer.claims, 'admin'),
      anyScope: (scopes: readonly Scope[]) => ctx.viewer !== null && scopes.some((s) => hasScope(ctx.viewer!.claims, s)),
    }),
    // Unauthenticated and forbidden are told apart, with flat-manager's error-type.
    unauthorizedError: (_parent, ctx, _info, result) => ctx.authorizationError(result.message),
  },
  errors: {
    directResult: true,
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
