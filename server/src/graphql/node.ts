// Relay's `node` and `nodes`: a global id resolves through the visibility rule of its type, the
// same rule the type's own queries use. An id that is malformed, of an unknown type, unknown or
// not visible to the caller is null, so an answer never says which.
import { isFmdAdmin } from '../domain/users/access.ts';
import { brandWithType } from '@pothos/core';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo, GraphQLSchema } from 'graphql';
import type { GraphQLContext } from './context.ts';
import { ForbiddenError, InvalidInputError } from '../domain/errors.ts';
import { visibleBuildsWhere } from '../domain/builds/access.ts';
import { visibleJobsWhere } from '../domain/jobs/access.ts';
import { visibleGitCredentialsWhere, visibleGitSourcesWhere } from '../domain/builds/git/access.ts';
import { visibleKeysWhere } from '../domain/keys/access.ts';
import { visibleUsersWhere } from '../domain/users/access.ts';
import { visibleWebhooksWhere } from '../domain/webhooks/access.ts';
import type { Viewer } from '../domain/tokens/service.ts';
import { hasScope } from '../domain/tokens/claims.ts';

/** Pothos' selection for a type: `{ include }` or `{ select }`, spread into a find. */
type Query = Record<string, unknown>;
type Loader = (ctx: GraphQLContext, viewer: Viewer, ids: number[], query: Query) => Promise<{ id: number }[]>;

const byId = (ids: number[]) => ({ id: { in: ids } });

/**
 * The row id an input names by a global id of `typename` or by its plain row number; anything
 * else is an InvalidInputError on `field`.
 */
export function rowId(typename: string, id: string | number, field: string): number {
  const s = String(id);
  const rowNumber = (v: string) => /^[1-9]\d{0,9}$/.test(v) && Number(v) <= 2 ** 31 - 1;
  if (rowNumber(s)) return Number(s);
  try {
    const g = decodeGlobalID(s);
    if (g.typename === typename && rowNumber(g.id)) return Number(g.id);
  } catch {
    // not a global id
  }
  throw new InvalidInputError(`${JSON.stringify(s.slice(0, 80))} is not a ${typename} id`, field);
}

/** One loader per Node type; buildSchema refuses a Node type missing here. */
const loaders: Record<string, Loader> = {
  // the audit log is the admins'
  AuditEntry: ({ services }, viewer, ids, query) => {
    if (!isFmdAdmin(viewer)) throw new ForbiddenError('the audit log is for admins', 'admin');
    return services.prisma.auditEntry.findMany({ ...query, where: byId(ids) });
  },
  ApiToken: async ({ services }, viewer, ids, query) =>
    services.prisma.apiToken.findMany({ ...query, where: { AND: [byId(ids), await services.tokens.visibleTokensWhere(viewer)] } }),
  Build: ({ services }, viewer, ids, query) => services.prisma.build.findMany({ ...query, where: { AND: [byId(ids), visibleBuildsWhere(viewer)] } }),
  BuildSet: ({ services }, viewer, ids, query) => services.prisma.buildSet.findMany({ ...query, where: { AND: [byId(ids), services.buildSets.visibleWhere(viewer)] } }),
  GitCredential: ({ services }, viewer, ids, query) =>
    services.prisma.gitCredential.findMany({ ...query, where: { AND: [byId(ids), visibleGitCredentialsWhere(viewer)] } }),
  GitSource: ({ services }, viewer, ids, query) => services.prisma.gitSource.findMany({ ...query, where: { AND: [byId(ids), visibleGitSourcesWhere(viewer)] } }),
  Job: ({ services }, viewer, ids, query) => services.prisma.job.findMany({ ...query, where: { AND: [byId(ids), visibleJobsWhere(viewer)] } }),
  Repo: ({ services }, viewer, ids, query) => services.prisma.repo.findMany({ ...query, where: { AND: [byId(ids), services.repos.visibleWhere(viewer)] } }),
  SigningKey: ({ services }, viewer, ids, query) => services.prisma.signingKey.findMany({ ...query, where: { AND: [byId(ids), visibleKeysWhere(viewer)] } }),
  User: ({ services }, viewer, ids, query) => services.prisma.user.findMany({ ...query, where: { AND: [byId(ids), visibleUsersWhere(viewer)] } }),
  // a user's roles and sessions: its own, and every user's for admins
  RoleGrant: ({ services }, viewer, ids, query) => services.prisma.roleGrant.findMany({ ...query, where: { AND: [byId(ids), { user: visibleUsersWhere(viewer) }] } }),
  Session: ({ services }, viewer, ids, query) =>
    services.prisma.userSession.findMany({ ...query, where: { AND: [byId(ids), { endedAt: null }, isFmdAdmin(viewer) ? {} : { userId: viewer.ownerId ?? -1 }] } }),
  Invite: ({ services }, viewer, ids, query) => {
    if (!isFmdAdmin(viewer)) throw new ForbiddenError('invites are for admins', 'admin');
    return services.prisma.invite.findMany({ ...query, where: byId(ids) });
  },
  Webhook: ({ services }, viewer, ids, query) => services.prisma.webhook.findMany({ ...query, where: { AND: [byId(ids), visibleWebhooksWhere(viewer)] } }),
  WebhookDelivery: ({ services }, viewer, ids, query) =>
    services.prisma.webhookDelivery.findMany({ ...query, where: { AND: [byId(ids), { webhook: visibleWebhooksWhere(viewer) }] } }),
};

/** Fails at start-up when a type implements Node without a visibility rule here. */
export function checkNodeLoaders(schema: GraphQLSchema): void {
  const node = schema.getType('Node');
  if (!node || !('getFields' in node)) return;
  const missing = schema
    .getPossibleTypes(node as Parameters<GraphQLSchema['getPossibleTypes']>[0])
    .map((t) => t.name)
    .filter((name) => !(name in loaders));
  if (missing.length) throw new Error(`Node types without a visibility rule in graphql/node.ts: ${missing.join(', ')}`);
}

type GlobalId = { typename: string; id: unknown } | null | undefined;

const ROW_ID = /^[1-9]\d{0,9}$/;

/** The rows behind global ids, in order; null where the caller may not see one. */
export async function resolveVisibleNodes(ctx: GraphQLContext, info: GraphQLResolveInfo, globalIds: readonly GlobalId[]): Promise<unknown[]> {
  const results: unknown[] = globalIds.map(() => null);
  const viewer = ctx.viewer;
  if (!viewer) return results;
  const wanted = new Map<string, Map<number, number[]>>();
  globalIds.forEach((g, index) => {
    if (!g || !(g.typename in loaders) || typeof g.id !== 'string' || !ROW_ID.test(g.id)) return;
    const id = Number(g.id);
    if (id > 2 ** 31 - 1) return;
    const ofType = wanted.get(g.typename) ?? new Map<number, number[]>();
    wanted.set(g.typename, ofType);
    ofType.set(id, [...(ofType.get(id) ?? []), index]);
  });
  await Promise.all(
    [...wanted].map(async ([typename, indexesById]) => {
      let rows: { id: number }[];
      try {
        const query = (await queryFromInfo({ context: ctx, info, typeName: typename })) as Query;
        rows = await loaders[typename]!(ctx, viewer, [...indexesById.keys()], query);
      } catch (err) {
        if (err instanceof ForbiddenError) return; // the token may see no row of this type
        throw err;
      }
      for (const row of rows) {
        brandWithType(row, typename as never);
        for (const index of indexesById.get(row.id) ?? []) results[index] = row;
      }
    }),
  );
  return results;
}
