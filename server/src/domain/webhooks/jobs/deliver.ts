// The webhook-deliver job: POSTs one delivery's body to its webhook, signed with the webhook's
// secret (X-Fmd-Signature-256: sha256=<hex HMAC-SHA256 of the body>), and records the attempt.
// A failed attempt (no answer within webhook-timeout-ms, a network error, any status but 2xx;
// redirects are not followed) fails the job, which the engine retries after webhook-retry-base-ms,
// then 5 times longer each time, up to webhook-attempts attempts. Each run of the job is one
// attempt row. At-least-once: a worker that dies during the POST leaves its attempt PENDING; the
// job is re-run as the next attempt (which marks the earlier one interrupted), so a receiver may
// get the same delivery twice and should drop repeats by X-Fmd-Delivery, the same on every attempt.
import { createHmac } from 'node:crypto';
import type { PrismaClient } from '../../../generated/prisma/client.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import type { WebhookService } from '../service.ts';

export type WebhookDeliverPayload = {
  /** X-Fmd-Delivery */
  deliveryId: string;
  /** the attempt number of the job's first run (a redelivery continues the count) */
  firstAttempt: number;
};

export type WebhookDeliverDeps = {
  prisma: PrismaClient;
  webhooks: WebhookService;
  config: { webhookTimeoutMs: number; webhookAttempts: number; webhookRetryBaseMs: number };
};

/** How much of a receiver's answer is kept in the delivery log. */
export const RESPONSE_BODY_CAP = 4096;
const MAX_RETRY_DELAY_MS = 6 * 3600_000;

export const signatureOf = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export function webhookDeliverJob(deps: WebhookDeliverDeps): JobKindDefinition<WebhookDeliverPayload> {
  const retryDelayMs = (attempt: number) => Math.min(deps.config.webhookRetryBaseMs * 5 ** (attempt - 1), MAX_RETRY_DELAY_MS);
  return {
    recovery: 'requeue',
    // (read when a job is queued: the factory only keeps the services)
    get maxAttempts() {
      return deps.config.webhookAttempts;
    },
    retryDelayMs,
    // A slow receiver must not hold every job slot of a worker (publishes wait behind it).
    concurrency: 2,
    handler: (run) => deliver(deps, run, retryDelayMs),
  };
}

class AttemptFailed extends Error {}

async function deliver({ prisma, webhooks, config }: WebhookDeliverDeps, run: JobRun<WebhookDeliverPayload>, retryDelayMs: (attempt: number) => number): Promise<Record<string, unknown>> {
  const { deliveryId, firstAttempt } = run.contents;
  const attempt = firstAttempt + run.job.attempts - 1;
  const first = await prisma.webhookDelivery.findFirst({ where: { deliveryId, attempt: { gte: firstAttempt } }, orderBy: { attempt: 'asc' }, include: { webhook: true } });
  if (!first) {
    await run.log(`delivery ${deliveryId} is gone (its webhook was deleted)`);
    return { delivered: false };
  }
  const hook = first.webhook;
  // Attempts a dead worker left under way: they may or may not have reached the receiver.
  await prisma.webhookDelivery.updateMany({
    where: { deliveryId, attempt: { gte: firstAttempt, lt: attempt }, state: 'PENDING' },
    data: { state: 'FAILED', error: 'interrupted: the worker making this attempt stopped', finishedAt: new Date() },
  });
  const row = await prisma.webhookDelivery.upsert({
    where: { deliveryId_attempt: { deliveryId, attempt } },
    create: { webhookId: hook.id, deliveryId, event: first.event, payload: first.payload, attempt, jobId: run.job.id },
    update: { jobId: run.job.id, state: 'PENDING' },
  });
  const isLast = run.job.attempts >= run.job.maxAttempts;
  const end = async (r: { statusCode?: number | null; error?: string | null; responseBody?: string | null; durationMs?: number | null; ok: boolean; final?: boolean }) => {
    const final = r.ok || r.final || isLast;
    await prisma.webhookDelivery.update({
      where: { id: row.id },
      data: {
        state: r.ok ? 'SUCCEEDED' : final ? 'FAILED' : 'RETRYING',
        statusCode: r.statusCode ?? null,
        error: r.error?.slice(0, 2000) ?? null,
        responseBody: r.responseBody ?? null,
        durationMs: r.durationMs ?? null,
        nextRetryAt: final ? null : new Date(Date.now() + retryDelayMs(run.job.attempts)),
        finishedAt: new Date(),
      },
    });
    return final;
  };
  if (!hook.enabled && first.event !== 'ping') {
    await end({ ok: false, error: 'the webhook is disabled', final: true });
    await run.log('not sent: the webhook is disabled');
    return { delivered: false };
  }
  if (run.signal.aborted) {
    await end({ ok: false, error: 'cancelled', final: true });
    throw new Error('cancelled');
  }
  const secret = webhooks.secretOf(hook);
  // Only the origin: `jobs` tokens read every job's log, and a URL's path or query may be a secret of its own.
  await run.log(`attempt ${attempt}: POST to ${new URL(hook.url).origin} (${first.event}, delivery ${deliveryId})`);
  const started = performance.now();
  const timeout = AbortSignal.timeout(config.webhookTimeoutMs);
  let statusCode: number | null = null;
  let responseBody: string | null = null;
  let error: string | null = null;
  try {
    const res = await fetch(hook.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.any([timeout, run.signal]),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'fmd-webhook',
        'x-fmd-event': first.event,
        'x-fmd-delivery': deliveryId,
        'x-fmd-signature-256': signatureOf(secret, first.payload),
      },
      body: first.payload,
    });
    statusCode = res.status;
    responseBody = await readCapped(res, RESPONSE_BODY_CAP, AbortSignal.any([timeout, run.signal]));
    if (res.status < 200 || res.status > 299) error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (redirects are not followed)` : `HTTP ${res.status}`;
  } catch (err) {
    // The worker stopping mid-POST is a crash for the delivery: the attempt stays PENDING and the
    // job's next run (the next attempt) marks it interrupted. A cancelled job ends the delivery.
    if (run.signal.aborted && !cancelled(run.signal)) throw err;
    error = timeout.aborted ? `no answer within ${config.webhookTimeoutMs} ms` : run.signal.aborted ? 'cancelled' : describe(err);
  }
  const durationMs = Math.round(performance.now() - started);
  const ok = error === null;
  if (run.signal.aborted && !cancelled(run.signal)) throw new Error('the worker stopped during the attempt');
  const final = await end({ ok, statusCode, error, responseBody, durationMs, final: run.signal.aborted });
  await run.log(ok ? `delivered: HTTP ${statusCode} in ${durationMs} ms` : `failed: ${error} after ${durationMs} ms${final ? ' (last attempt)' : ''}`);
  if (!ok) throw new AttemptFailed(error!);
  return { delivered: true, statusCode, attempt };
}

/** A job cancellation (the engine aborts with "cancelled"), not the worker stopping. */
const cancelled = (signal: AbortSignal) => signal.reason instanceof Error && signal.reason.message === 'cancelled';

/** The start of a response body as text, at most `cap` bytes; the rest is not read. */
async function readCapped(res: Response, cap: number, signal: AbortSignal): Promise<string | null> {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (size < cap) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // a body cut off is kept as far as it came
  } finally {
    signal.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, cap).toString('utf8');
  return text || null;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const c = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
    return `${err.message}${c}`;
  }
  return String(err);
}
