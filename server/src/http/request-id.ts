// One id per HTTP request (and per WebSocket connection), sent back as `x-request-id` and put
// on every log line about the request, so that a generic "internal error" answer can be matched
// with the details in the log. A sane id from a proxy in front (`x-request-id`) is kept.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const ids = new WeakMap<IncomingMessage, string>();
const SANE = /^[A-Za-z0-9._:-]{8,128}$/;
const current = new AsyncLocalStorage<string>();

export function requestIdOf(req: IncomingMessage): string {
  let id = ids.get(req);
  if (!id) {
    const given = req.headers['x-request-id'];
    id = typeof given === 'string' && SANE.test(given) ? given : randomUUID();
    ids.set(req, id);
  }
  return id;
}

/** Runs the handling of a request with its id as the current one (see currentRequestId). */
export function withRequestId<T>(req: IncomingMessage, fn: () => T): T {
  return current.run(requestIdOf(req), fn);
}

/** The id of the request whose handling is running, for log lines written below the HTTP layer. */
export function currentRequestId(): string | undefined {
  return current.getStore();
}
