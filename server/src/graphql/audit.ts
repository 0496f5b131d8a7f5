// The audit log: every executed mutation root field is recorded (auditMutations wraps them all,
// on both transports), and admins read the log through `auditLog`.
import { defaultFieldResolver, GraphQLError, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import type { GraphQLContext } from './context.ts';
import { DomainError } from '../domain/errors.ts';
import { targetOf, type AuditFilter } from '../domain/audit/service.ts';

const admins = { scope: 'admin' } as const;

export const AuditEntryRef = builder.prismaNode('AuditEntry', {
  id: { field: 'id' },
  description: 'One write: a GraphQL mutation root field or a REST write route. Identifiers only, never secrets.',
  fields: (t) => ({
    number: t.exposeInt('id', { description: 'the row number (newer entries have larger numbers)' }),
    transport: t.exposeString('transport', { description: '`graphql` or `rest`' }),
    action: t.exposeString('action', { description: 'the mutation field (`createRepo`), or the method and route pattern (`POST /api/v1/build/:id/commit`)' }),
    tokenId: t.exposeString('tokenId', { nullable: true, description: 'the `jti` of the token used, when it was valid' }),
    tokenName: t.exposeString('tokenName', { nullable: true }),
    subject: t.exposeString('subject', { nullable: true }),
    target: t.exposeString('target', { nullable: true, description: 'what it acted on: `repo=stable`, `build=12`, `tokenIds=…`' }),
    result: t.exposeString('result', { description: '`ok`, a typed error\'s errorType, a GraphQL error code, or the HTTP status' }),
    requestId: t.exposeString('requestId', { nullable: true }),
    clientIp: t.exposeString('clientIp', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('auditLog', (t) =>
  t.prismaConnection({
    type: 'AuditEntry',
    cursor: 'id',
    description: 'The audit log, newest first (admins only). Filters combine; `target` matches a part of the target.',
    authScopes: admins,
    args: {
      action: t.arg.string(),
      tokenId: t.arg.string(),
      target: t.arg.string(),
      result: t.arg.string(),
      since: t.arg({ type: 'DateTime', description: 'entries at or after this time' }),
      until: t.arg({ type: 'DateTime', description: 'entries before this time' }),
    },
    totalCount: (_root, args, ctx, info) => countFor(info, () => ctx.services.prisma.auditEntry.count({ where: ctx.services.audit.where(args as AuditFilter) })),
    resolve: (query, _root, args, ctx, info) => {
      const where = ctx.services.audit.where(args as AuditFilter);
      startCount(info, () => ctx.services.prisma.auditEntry.count({ where }));
      return ctx.services.prisma.auditEntry.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

/** The outcome of a mutation: `ok`, the typed error's errorType, or the thrown error's code. */
function resultOf(value: unknown): string {
  // A typed error comes back as Pothos' proxy of the DomainError (instanceof does not see
  // through it), so it is known by its errorType.
  if (typeof value === 'object' && value !== null) {
    const errorType = (value as { errorType?: unknown }).errorType;
    if (typeof errorType === 'string') return errorType;
  }
  return 'ok';
}

function failureOf(err: unknown): string {
  if (err instanceof DomainError) return err.errorType;
  if (err instanceof GraphQLError) {
    const e = err.extensions ?? {};
    if (typeof e.code === 'string') return e.code;
    if (typeof e.errorType === 'string') return e.errorType;
    if (err.originalError instanceof DomainError) return err.originalError.errorType;
  }
  return 'INTERNAL_SERVER_ERROR';
}

/** What a successful mutation created, when its input could not name it (a new build's number, a new token's id). */
function createdOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const idOf = (o: unknown) => (typeof o === 'object' && o !== null && typeof (o as { id?: unknown }).id === 'number' ? (o as { id: number }).id : null);
  const parts: string[] = [];
  const build = idOf(v.build);
  if (build !== null) parts.push(`build=${build}`);
  const buildSet = idOf(v.buildSet);
  if (buildSet !== null) parts.push(`buildSet=${buildSet}`);
  const row = v.row as { jti?: unknown } | undefined;
  if (row && typeof row.jti === 'string') parts.push(`tokenIds=${row.jti}`);
  return parts.length ? parts.join(' ') : null;
}

/**
 * Records every executed mutation root field in the audit log: action = the field name, target =
 * the identifiers its input names, result = `ok` or the error. Wraps the resolvers Pothos built
 * (scope checks and typed errors included), so refusals are recorded too; the recording never
 * fails the mutation (AuditService.record does not throw).
 */
export function auditMutations(schema: GraphQLSchema): void {
  const mutation = schema.getMutationType();
  if (!mutation) return;
  for (const field of Object.values(mutation.getFields())) {
    const resolve = field.resolve ?? defaultFieldResolver;
    field.resolve = async (root, args: Record<string, unknown>, ctx: GraphQLContext, info) => {
      const input = args.input ?? args;
      let result = 'INTERNAL_SERVER_ERROR';
      let created: string | null = null;
      try {
        const value = await resolve(root, args, ctx, info);
        result = resultOf(value);
        if (result === 'ok') created = createdOf(value);
        return value;
      } catch (err) {
        result = failureOf(err);
        throw err;
      } finally {
        const named = targetOf(input);
        const target = [named, created && !named?.includes(created) ? created : null].filter(Boolean).join(' ') || null;
        await ctx.services.audit.record({ transport: 'graphql', action: field.name, viewer: ctx.viewer, target, result, requestId: ctx.requestId, clientIp: ctx.clientIp });
      }
    };
  }
}
