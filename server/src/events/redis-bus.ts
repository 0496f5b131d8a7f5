// Fan-out of domain events across fmd processes through Redis pub/sub. Each process keeps
// one subscriber connection and re-emits locally, so N local subscribers cost one channel.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MemoryEventBus, type EventBus } from '../domain/events.ts';

const prefix = 'fmd:';

export async function createRedisEventBus(url: string, log: Logger): Promise<EventBus> {
  const pub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  const sub = new Redis(url, { lazyConnect: true });
  try {
    await Promise.all([pub.connect(), sub.connect()]);
  } catch (err) {
    pub.disconnect();
    sub.disconnect();
    throw new Error(`redis ${url}: cannot connect: ${(err as Error).message}`);
  }
  pub.on('error', (err) => log.warn({ err }, 'redis publisher error'));
  sub.on('error', (err) => log.warn({ err }, 'redis subscriber error'));
  const local = new MemoryEventBus();
  const counts = new Map<string, number>();
  sub.on('message', (channel: string, message: string) => {
    if (!channel.startsWith(prefix)) return;
    try {
      local.emitLocal(channel.slice(prefix.length), JSON.parse(message));
    } catch (err) {
      log.warn({ err, channel }, 'dropping malformed event');
    }
  });
  return {
    async publish(topic, payload) {
      await pub.publish(prefix + topic, JSON.stringify(payload));
    },
    subscribe<T>(topic: string, signal?: AbortSignal) {
      const n = (counts.get(topic) ?? 0) + 1;
      counts.set(topic, n);
      if (n === 1) void sub.subscribe(prefix + topic);
      const inner = local.subscribe<T>(topic, signal);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const left = (counts.get(topic) ?? 1) - 1;
        if (left <= 0) {
          counts.delete(topic);
          void sub.unsubscribe(prefix + topic);
        } else counts.set(topic, left);
      };
      signal?.addEventListener('abort', release, { once: true });
      const it: AsyncIterableIterator<T> = {
        next: () => inner.next(),
        async return() {
          release();
          return (await inner.return?.()) ?? { done: true, value: undefined };
        },
        [Symbol.asyncIterator]: () => it,
      };
      return it;
    },
    async close() {
      await local.close();
      pub.disconnect();
      sub.disconnect();
    },
  };
}
