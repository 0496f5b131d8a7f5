// Domain events (token changes, job progress, log lines, ...). Services publish; GraphQL
// subscriptions listen. One process uses memory; several fan out through Redis
// (server/src/events/redis-bus.ts) behind the same interface.
import { EventEmitter, on } from 'node:events';

export type EventBus = {
  publish(topic: string, payload: unknown): Promise<void>;
  /** An async iterator of payloads published to `topic` from now on; `return()` unsubscribes. */
  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T>;
  close(): Promise<void>;
};

export class MemoryEventBus implements EventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  async publish(topic: string, payload: unknown): Promise<void> {
    this.emitter.emit(topic, payload);
  }
  /** Delivers to subscribers in this process only; used by the Redis bus for local fan-out. */
  emitLocal(topic: string, payload: unknown): void {
    this.emitter.emit(topic, payload);
  }
  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
    const it = on(this.emitter, topic, { signal }) as AsyncIterableIterator<unknown[]>;
    const mapped: AsyncIterableIterator<T> = {
      async next() {
        const r = await it.next();
        return r.done ? { done: true, value: undefined } : { done: false, value: r.value[0] as T };
      },
      async return() {
        await it.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return mapped;
      },
    };
    return mapped;
  }
  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export const topics = {
  tokensChanged: 'tokens.changed',
  /** a repo's summary changed (payload: RepoUpdatedEvent); one topic per repo name */
  repoUpdated: (repo: string) => `repo.updated.${repo}`,
} as const;
