// Webhooks: fmd's events POSTed to outside receivers, and the log of their delivery attempts.
// Admins only (a token restricted to some repos: the webhooks of those repos). The secret goes
// in (or is generated) and comes out once, in createWebhook's payload.
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { rowId } from './node.ts';
import { eventsOf, webhookEvents, type WebhookWithRepo } from '../domain/webhooks/service.ts';
import type { WebhookDelivery } from '../generated/prisma/client.ts';

/** the domain decides which repos (requireWebhookManagement, visibleWebhooksWhere) */
const admins = { repoAdmin: true } as const;
const errors = { types: [NotFoundError, InvalidInputError, ForbiddenError] };

const WebhookDeliveryStateEnum = builder.enumType('WebhookDeliveryState', {
  description: 'PENDING: queued or under way; SUCCEEDED: answered 2xx; RETRYING: failed, another attempt follows at nextRetryAt; FAILED: failed, and it was the last attempt',
  values: ['PENDING', 'SUCCEEDED', 'RETRYING', 'FAILED'] as const,
});

export const WebhookRef = builder.prismaNode('Webhook', {
  id: { field: 'id' },
  description: `Where events of a repo (or of every repo) are POSTed, signed with the webhook's secret. Events: ${webhookEvents.join(', ')} (and ping, from testWebhook).`,
  include: { repo: { select: { name: true } } },
  fields: (t) => ({
    number: t.exposeInt('id'),
    repo: t.string({ nullable: true, description: 'the repo whose events it receives; null: every repo', resolve: (w) => w.repo?.name ?? null }),
    url: t.exposeString('url'),
    events: t.stringList({ resolve: (w) => eventsOf(w) }),
    enabled: t.exposeBoolean('enabled'),
    description: t.exposeString('description', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.relatedConnection('deliveries', {
      cursor: 'id',
      totalCount: true,
      description: 'delivery attempts, newest first (each retry is an attempt of its own, with the same deliveryId)',
      query: () => ({ orderBy: { id: 'desc' } }),
    }),
  }),
});

export const WebhookDeliveryRef = builder.prismaNode('WebhookDelivery', {
  id: { field: 'id' },
  description: 'One attempt at delivering one event to a webhook.',
  fields: (t) => ({
    number: t.exposeInt('id'),
    webhook: t.relation('webhook'),
    deliveryId: t.exposeString('deliveryId', { description: 'X-Fmd-Delivery: the same on every attempt of a delivery' }),
    event: t.exposeString('event'),
    payload: t.exposeString('payload', { description: 'the exact JSON body sent (and signed)' }),
    attempt: t.exposeInt('attempt'),
    state: t.field({ type: WebhookDeliveryStateEnum, resolve: (d) => d.state }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'the HTTP status the receiver answered' }),
    error: t.exposeString('error', { nullable: true }),
    responseBody: t.exposeString('responseBody', { nullable: true, description: 'the start of the answer (at most 4 KiB)' }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    nextRetryAt: t.expose('nextRetryAt', { type: 'DateTime', nullable: true }),
    jobNumber: t.exposeInt('jobId', { nullable: true, description: 'the webhook-deliver job making the attempts' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('webhooks', (t) =>
  t.prismaConnection({
    type: 'Webhook',
    cursor: 'id',
    description: 'Webhooks you may manage (admins), oldest first; `repo` keeps those of one repo (global ones are left out then).',
    authScopes: admins,
    args: { repo: t.arg.string() },
    totalCount: (_root, args, ctx, info) => countFor(info, () => ctx.services.prisma.webhook.count({ where: ctx.services.webhooks.listWhere(ctx.viewer!, args.repo) })),
    resolve: (query, _root, args, ctx, info) => {
      const where = ctx.services.webhooks.listWhere(ctx.viewer!, args.repo);
      startCount(info, () => ctx.services.prisma.webhook.count({ where }));
      return ctx.services.prisma.webhook.findMany({ ...query, where, orderBy: { id: 'asc' } });
    },
  }),
);

builder.queryField('webhookDeliveries', (t) =>
  t.prismaConnection({
    type: 'WebhookDelivery',
    cursor: 'id',
    description: "A webhook's delivery attempts, newest first (each retry is an attempt of its own, with the same deliveryId).",
    authScopes: admins,
    args: { webhook: t.arg.id({ required: true, description: 'the Webhook id (or its number)' }) },
    totalCount: async (_root, args, ctx, info) => {
      const hook = await ctx.services.webhooks.get(ctx.viewer!, rowId('Webhook', args.webhook, 'webhook'));
      return countFor(info, () => ctx.services.prisma.webhookDelivery.count({ where: { webhookId: hook.id } }));
    },
    resolve: async (query, _root, args, ctx, info) => {
      const hook = await ctx.services.webhooks.get(ctx.viewer!, rowId('Webhook', args.webhook, 'webhook'));
      const where = { webhookId: hook.id };
      startCount(info, () => ctx.services.prisma.webhookDelivery.count({ where }));
      return ctx.services.prisma.webhookDelivery.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    repo: t.string({ description: 'the repo whose events it receives; none: every repo (needs an admin token for every repo)' }),
    url: t.string({ required: true, description: 'http or https; redirects are not followed' }),
    events: t.stringList({ required: true, description: `one or more of ${webhookEvents.join(', ')}` }),
    secret: t.string({ description: 'the HMAC key (16 to 256 characters); default: generated. Shown once, in the answer' }),
    enabled: t.boolean({ description: 'default true' }),
    description: t.string(),
  }),
});

const CreateWebhookPayload = builder.objectRef<{ webhook: WebhookWithRepo; secret: string }>('CreateWebhookPayload').implement({
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, resolve: (p) => p.webhook }),
    secret: t.exposeString('secret', { description: 'the signing secret: keep it now, it is never shown again' }),
  }),
});

builder.mutationField('createWebhook', (t) =>
  t.field({
    type: CreateWebhookPayload,
    description: 'Creates a webhook; answers its secret, this once.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: CreateWebhookInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.webhooks.create(ctx.viewer!, input),
  }),
);

const UpdateWebhookInput = builder.inputType('UpdateWebhookInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    url: t.string(),
    events: t.stringList(),
    secret: t.string({ description: 'a new secret (16 to 256 characters)' }),
    enabled: t.boolean(),
    description: t.string({ description: '"" clears it' }),
  }),
});

const WebhookPayload = builder.objectRef<{ webhook: WebhookWithRepo }>('UpdateWebhookPayload').implement({
  fields: (t) => ({ webhook: t.field({ type: WebhookRef, resolve: (p) => p.webhook }) }),
});

builder.mutationField('updateWebhook', (t) =>
  t.field({
    type: WebhookPayload,
    description: 'Changes a webhook; fields left out keep their value.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: UpdateWebhookInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const { id, ...change } = input;
      return { webhook: await ctx.services.webhooks.update(ctx.viewer!, rowId('Webhook', id, 'id'), change) };
    },
  }),
);

const WebhookByIdInput = (name: string) => builder.inputType(name, { fields: (t) => ({ id: t.id({ required: true }) }) });

const DeleteWebhookPayload = builder.objectRef<{ id: string; number: number }>('DeleteWebhookPayload').implement({
  fields: (t) => ({ deletedId: t.exposeID('id'), number: t.exposeInt('number') }),
});

builder.mutationField('deleteWebhook', (t) =>
  t.field({
    type: DeleteWebhookPayload,
    description: 'Deletes a webhook and its delivery log; deliveries still queued are not sent.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: WebhookByIdInput('DeleteWebhookInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const row = await ctx.services.webhooks.delete(ctx.viewer!, rowId('Webhook', input.id, 'id'));
      return { id: String(input.id), number: row.id };
    },
  }),
);

const WebhookDeliveryPayload = (name: string) =>
  builder.objectRef<{ delivery: WebhookDelivery }>(name).implement({
    fields: (t) => ({ delivery: t.field({ type: WebhookDeliveryRef, resolve: (p) => p.delivery }) }),
  });

builder.mutationField('testWebhook', (t) =>
  t.field({
    type: WebhookDeliveryPayload('TestWebhookPayload'),
    description: 'Queues a `ping` delivery to the webhook (enabled or not); answers its first attempt.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: WebhookByIdInput('TestWebhookInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => ({ delivery: await ctx.services.webhooks.test(ctx.viewer!, rowId('Webhook', input.id, 'id')) }),
  }),
);

builder.mutationField('redeliverWebhookDelivery', (t) =>
  t.field({
    type: WebhookDeliveryPayload('RedeliverWebhookDeliveryPayload'),
    description: 'Sends an ended delivery again (same delivery id and body, new attempts); answers the first new attempt.',
    authScopes: { authenticated: true },
    errors,
    args: { input: t.arg({ type: WebhookByIdInput('RedeliverWebhookDeliveryInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => ({ delivery: await ctx.services.webhooks.redeliver(ctx.viewer!, rowId('WebhookDelivery', input.id, 'id')) }),
  }),
);
