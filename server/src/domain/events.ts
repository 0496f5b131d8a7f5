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
  /** a user's roles, admin flag or disabled flag changed (payload: { userIds }) */
  usersChanged: 'users.changed',
  /** a repo's summary changed (payload: RepoUpdatedEvent); one topic per repo name */
  repoUpdated: (repo: string) => `repo.updated.${repo}`,
} as const;

/**
 * `load` shared by every subscriber of one event: the bus hands the same payload object to all
 * subscribers in a process (the memory bus emits it, the Redis bus parses each message once), so
 * keyed on it one read serves them all, and the entry goes away with the event.
 */
export function perEvent<E extends object, T>(load: (event: E) => Promise<T>): (event: E) => Promise<T> {
  const memo = new WeakMap<E, Promise<T>>();
  return (event) => {
    let p = memo.get(event);
    if (!p) memo.set(event, (p = load(event)));
    return p;
  };
}
