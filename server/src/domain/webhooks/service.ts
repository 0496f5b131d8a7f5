// Webhooks: fmd's events POSTed to outside receivers. `notify` is called where an event happens
// (listeners of the build and job services, or any domain code) and queues one webhook-deliver
// job per enabled webhook that subscribes to the event, for its repo or globally. Delivery never
// runs in an event-bus subscriber: every API process receives those, and each would send its own
// copy. The secret is sealed with the master key bound to the webhook's row, leaves the service
// only through `secretOf` (the deliver job signs with it) and in the answer to `create`, and is
// never logged.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Prisma, PrismaClient, Webhook, WebhookDelivery } from '../../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { openPrivateKey, sealPrivateKey } from '../keys/pgp.ts';
import type { RepoService } from '../repos/service.ts';
import type { Viewer } from '../tokens/service.ts';
import { requireWebhookManagement, visibleWebhooksWhere } from './access.ts';

/** The events a webhook may subscribe to. */
export const webhookEvents = ['build.state', 'build.published', 'build.failed', 'repo.updated', 'repo.fsck_failed'] as const;
export type WebhookSubscribable = (typeof webhookEvents)[number];
/** `ping` is sent by testWebhook only, whatever the webhook subscribes to. */
export type WebhookEvent = WebhookSubscribable | 'ping';

export type NewWebhook = {
  /** null (or none): every repo */
  repo?: string | null;
  url: string;
  events: string[];
  secret?: string | null;
  enabled?: boolean | null;
  description?: string | null;
};

export type WebhookChange = {
  url?: string | null;
  events?: string[] | null;
  secret?: string | null;
  enabled?: boolean | null;
  /** "" clears it */
  description?: string | null;
};

export type WebhookWithRepo = Webhook & { repo: { name: string } | null };

const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_URL = 2048;

/** Binds a sealed secret to its row, so it cannot be moved to another webhook. */
const sealContext = (id: number) => `webhook:${id}`;

export function validateWebhookUrl(value: unknown): string {
  if (typeof value !== 'string' || !value.trim()) throw new InvalidInputError('a webhook needs a URL', 'url');
  const s = value.trim();
  if (s.length > MAX_URL || CONTROL.test(s)) throw new InvalidInputError(`the URL is at most ${MAX_URL} characters, without control characters`, 'url');
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new InvalidInputError(`${JSON.stringify(s.slice(0, 80))} is not a URL`, 'url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidInputError(`a webhook URL is http or https, not ${url.protocol.replace(/:$/, '')}`, 'url');
  if (!url.hostname) throw new InvalidInputError('the URL has no host', 'url');
  // A user and password in the URL would be stored and shown in clear: the secret signs instead.
  if (url.username || url.password) throw new InvalidInputError('a webhook URL carries no user or password (the secret signs each delivery)', 'url');
  return url.toString();
}

function validateEvents(value: unknown): WebhookSubscribable[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidInputError(`a webhook needs at least one event of ${webhookEvents.join(', ')}`, 'events');
  const unknown = value.filter((e) => !(webhookEvents as readonly unknown[]).includes(e));
  if (unknown.length) throw new InvalidInputError(`unknown event ${unknown.map((e) => JSON.stringify(String(e).slice(0, 40))).join(', ')}: events are ${webhookEvents.join(', ')}`, 'events');
  return webhookEvents.filter((e) => value.includes(e));
}

function validateSecret(value: unknown): string {
  if (typeof value !== 'string' || value.length < 16 || value.length > 256 || CONTROL.test(value) || /\s/.test(value)) {
    throw new InvalidInputError('a webhook secret is 16 to 256 characters, without spaces or control characters', 'secret');
  }
  return value;
}

function validateDescription(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value !== 'string' || value.length > 255 || CONTROL.test(value)) throw new InvalidInputError('a description is at most 255 characters, without control characters', 'description');
  return value;
}

export const eventsOf = (w: Pick<Webhook, 'events'>): string[] => (Array.isArray(w.events) ? (w.events as unknown[]).filter((e): e is string => typeof e === 'string') : []);

export class WebhookService {
  private readonly prisma: PrismaClient;
  private readonly repos: RepoService;
  private readonly jobs: JobQueue;
  private readonly masterKey: () => string;
  private readonly log: Logger;

  constructor(deps: { prisma: PrismaClient; repos: RepoService; jobs: JobQueue; masterKey: () => string; log: Logger }) {
    this.prisma = deps.prisma;
    this.repos = deps.repos;
    this.jobs = deps.jobs;
    this.masterKey = deps.masterKey;
    this.log = deps.log;
  }

  /** Creates a webhook; answers it with its secret (the only time the secret is shown). */
  async create(viewer: Viewer, input: NewWebhook): Promise<{ webhook: WebhookWithRepo; secret: string }> {
    const repoName = input.repo === undefined || input.repo === null || input.repo === '' ? null : input.repo;
    requireWebhookManagement(viewer, repoName);
    const repo = repoName === null ? null : await this.repos.get(repoName).catch(() => Promise.reject(new InvalidInputError(`repo ${repoName} does not exist`, 'repo')));
    const url = validateWebhookUrl(input.url);
    const events = validateEvents(input.events);
    const secret = input.secret === undefined || input.secret === null ? randomBytes(32).toString('hex') : validateSecret(input.secret);
    const description = validateDescription(input.description);
    const webhook = await this.prisma.$transaction(async (tx) => {
      const row = await tx.webhook.create({
        data: { repoId: repo?.id ?? null, url, events, enabled: input.enabled ?? true, description, secretEncrypted: '', creatorTokenId: viewer.claims.jti ?? null },
      });
      return tx.webhook.update({ where: { id: row.id }, data: { secretEncrypted: sealPrivateKey(secret, this.masterKey(), sealContext(row.id)) }, include: { repo: { select: { name: true } } } });
    });
    return { webhook, secret };
  }

  /** A webhook the viewer may see; others, and unknown ids, are not found. */
  async get(viewer: Viewer, id: number): Promise<WebhookWithRepo> {
    const row = await this.prisma.webhook.findFirst({ where: { AND: [{ id }, visibleWebhooksWhere(viewer)] }, include: { repo: { select: { name: true } } } });
    if (!row) throw new NotFoundError('webhook', String(id));
    return row;
  }

  /** Webhooks of a repo (or every visible one, with no repo), oldest first. */
  listWhere(viewer: Viewer, repo: string | null | undefined): Prisma.WebhookWhereInput {
    const and: Prisma.WebhookWhereInput[] = [visibleWebhooksWhere(viewer)];
    if (repo) and.push({ repo: { name: repo } });
    return { AND: and };
  }

  async update(viewer: Viewer, id: number, change: WebhookChange): Promise<WebhookWithRepo> {
    const row = await this.get(viewer, id);
    requireWebhookManagement(viewer, row.repo?.name ?? null);
    const data: Prisma.WebhookUpdateInput = {};
    if (change.url != null) data.url = validateWebhookUrl(change.url);
    if (change.events != null) data.events = validateEvents(change.events);
    if (change.secret != null) data.secretEncrypted = sealPrivateKey(validateSecret(change.secret), this.masterKey(), sealContext(id));
    if (change.enabled != null) data.enabled = change.enabled;
    if (change.description !== undefined) data.description = validateDescription(change.description);
    return this.prisma.webhook.update({ where: { id }, data, include: { repo: { select: { name: true } } } });
  }

  /** Deletes a webhook with its delivery log; its queued deliveries end without sending. */
  async delete(viewer: Viewer, id: number): Promise<WebhookWithRepo> {
    const row = await this.get(viewer, id);
    requireWebhookManagement(viewer, row.repo?.name ?? null);
    await this.prisma.webhook.deleteMany({ where: { id } });
    return row;
  }

  /** Queues a `ping` delivery to the webhook (enabled or not) and answers its first attempt. */
  async test(viewer: Viewer, id: number): Promise<WebhookDelivery> {
    const row = await this.get(viewer, id);
    requireWebhookManagement(viewer, row.repo?.name ?? null);
    return this.enqueue(row, 'ping', row.repo?.name ?? null, { webhook: row.id, message: 'a test delivery from fmd' });
  }

  /** Sends a delivery again: new attempts with the same delivery id and the same body. */
  async redeliver(viewer: Viewer, deliveryRowId: number): Promise<WebhookDelivery> {
    const attempt = await this.prisma.webhookDelivery.findFirst({ where: { id: deliveryRowId, webhook: visibleWebhooksWhere(viewer) } });
    if (!attempt) throw new NotFoundError('webhook delivery', String(deliveryRowId));
    const webhook = await this.get(viewer, attempt.webhookId);
    requireWebhookManagement(viewer, webhook.repo?.name ?? null);
    const last = await this.prisma.webhookDelivery.findFirst({ where: { deliveryId: attempt.deliveryId }, orderBy: { attempt: 'desc' } });
    if (last && (last.state === 'PENDING' || last.state === 'RETRYING')) throw new InvalidInputError(`delivery ${attempt.deliveryId} is still under way`, 'id');
    const first = (last?.attempt ?? 0) + 1;
    const row = await this.prisma.webhookDelivery.create({ data: { webhookId: webhook.id, deliveryId: attempt.deliveryId, event: attempt.event, payload: attempt.payload, attempt: first } });
    return this.queueJob(row, webhook.repo?.name ?? null);
  }

  /**
   * Queues one delivery of `kind` to every enabled webhook of `repo` (and every global one) that
   * subscribes to it. Answers the number queued. Callers whose own change must not fail because
   * of a webhook use notifySafely.
   */
  async notify(kind: WebhookEvent, repo: string | null, data: Record<string, unknown>): Promise<number> {
    const hooks = await this.prisma.webhook.findMany({
      where: { enabled: true, OR: [{ repoId: null }, ...(repo === null ? [] : [{ repo: { name: repo } }])] },
      include: { repo: { select: { name: true } } },
      orderBy: { id: 'asc' },
    });
    let queued = 0;
    for (const hook of hooks) {
      // (A binary-collated name matched; the comparison also holds on a case-insensitive column.)
      if (hook.repo && hook.repo.name !== repo) continue;
      if (kind !== 'ping' && !eventsOf(hook).includes(kind)) continue;
      await this.enqueue(hook, kind, repo, data);
      queued++;
    }
    return queued;
  }

  /** notify for listeners: a failure is logged, never passed to the change that fired it. */
  async notifySafely(kind: WebhookEvent, repo: string | null, data: () => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<void> {
    try {
      await this.notify(kind, repo, await data());
    } catch (err) {
      this.log.warn({ err, event: kind, repo }, 'could not queue webhook deliveries');
    }
  }

  private async enqueue(hook: Webhook, kind: WebhookEvent, repo: string | null, data: Record<string, unknown>): Promise<WebhookDelivery> {
    const deliveryId = randomUUID();
    // The body is fixed here: every attempt sends (and signs) exactly these bytes.
    const payload = JSON.stringify({ event: kind, delivery: deliveryId, repo, webhook: hook.id, createdAt: new Date().toISOString(), data });
    const row = await this.prisma.webhookDelivery.create({ data: { webhookId: hook.id, deliveryId, event: kind, payload, attempt: 1 } });
    return this.queueJob(row, repo);
  }

  private async queueJob(row: WebhookDelivery, repo: string | null): Promise<WebhookDelivery> {
    const job = await this.jobs.enqueue('webhook-deliver', { deliveryId: row.deliveryId, firstAttempt: row.attempt }, { repo: repo ?? undefined });
    return this.prisma.webhookDelivery.update({ where: { id: row.id }, data: { jobId: job.id } });
  }

  /** The signing secret, for the deliver job. Never hand it to an API answer or a log. */
  secretOf(hook: Pick<Webhook, 'id' | 'secretEncrypted'>): string {
    return openPrivateKey(hook.secretEncrypted, this.masterKey(), sealContext(hook.id));
  }
}
