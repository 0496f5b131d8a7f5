// With a notification channel a queued job starts within milliseconds, not at the next poll
// (processEvery is 10 s here). In-process, and across Agenda instances through Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Agenda } from 'agenda';
import type { NotificationChannel } from 'agenda';
import { createTestDatabase } from '../../../test/kit/database.ts';
import { InMemoryNotificationChannel, MariaDbBackend, RedisNotificationChannel } from './index.ts';

const redisUrl = process.env.FMD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const db = await createTestDatabase();
await new MariaDbBackend({ pool: db.pool, ensureSchema: true }).connect();

async function redisReachable(): Promise<boolean> {
  const probe = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const latencies: number[] = [];
let started: (() => void) | undefined;

/** Queues `count` jobs one after the other through `producer`, returns queued -> started latencies. */
async function measure(producer: Agenda, count: number): Promise<number[]> {
  latencies.length = 0;
  for (let i = 0; i < count; i++) {
    const ran = new Promise<void>((r) => (started = r));
    await producer.now('ping', { at: Date.now() });
    await Promise.race([ran, new Promise((_, reject) => setTimeout(() => reject(new Error('job did not start within 2 s')), 2000))]);
  }
  return latencies.sort((a, b) => a - b);
}

function makeAgenda(channel: NotificationChannel): Agenda {
  // A short lock lifetime: Agenda's per-job watchdog timer would otherwise hold the process for minutes.
  const agenda = new Agenda({ backend: new MariaDbBackend({ pool: db.pool, notificationChannel: channel }), processEvery: 10_000, defaultLockLifetime: 2000 });
  agenda.define('ping', async (job) => {
    latencies.push(Date.now() - (job.attrs.data as { at: number }).at);
    started?.();
  });
  return agenda;
}

test('in-process channel: pickup in milliseconds', async () => {
  const agenda = makeAgenda(new InMemoryNotificationChannel());
  await agenda.start();
  const latencies = await measure(agenda, 20).finally(() => agenda.stop());
  const p99 = latencies[latencies.length - 1] ?? Infinity;
  assert.ok(p99 < 500, `in-process latencies ${latencies.join(',')} ms`);
});

test('Redis channel: a producer that never starts wakes a worker elsewhere in milliseconds', async (t) => {
  if (!(await redisReachable())) {
    t.skip(`Redis unreachable at ${redisUrl} (set FMD_TEST_REDIS_URL)`);
    return;
  }
  const channelName = `fmd-test-${randomBytes(4).toString('hex')}`;
  const worker = makeAgenda(new RedisNotificationChannel({ url: redisUrl, channelName }));
  const producerChannel = new RedisNotificationChannel({ url: redisUrl, channelName });
  const producer = makeAgenda(producerChannel);
  await worker.start();
  // Agenda connects the channel in start(); a producer that only queues connects it itself.
  await producerChannel.connect();
  await producer.ready;
  const latencies = await measure(producer, 20).finally(() => Promise.all([worker.stop(), producerChannel.disconnect()]));
  const p99 = latencies[latencies.length - 1] ?? Infinity;
  assert.ok(p99 < 500, `redis latencies ${latencies.join(',')} ms`);
});
