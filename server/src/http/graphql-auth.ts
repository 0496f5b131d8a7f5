// Who is calling /graphql, on both transports. Over HTTP the token is checked once per request.
// Over WebSocket it arrives once, in connection_init, but a socket lives for hours: the token is
// checked again (signature, expiry, revocation) for every operation, and a running subscription
// ends with an `error` message for its operation when the token expires or is revoked.
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { Services } from '../services.ts';
import { AuthenticationError } from '../domain/errors.ts';
import { isDatabaseUnavailable } from '../db/index.ts';
import { TokenService, type Viewer } from '../domain/tokens/service.ts';
import { createContext, type GraphQLContext } from '../graphql/context.ts';
import { requestIdOf } from './request-id.ts';
import { wsRateLimitedCode, type RateLimitedError, type RateLimits } from './rate-limits.ts';

/** Resolves the viewer of a request; a bad token is remembered, not fatal, so public fields still answer. */
export async function resolveViewer(
  services: Services,
  header: string | undefined,
): Promise<{ viewer: Viewer | null; failure: AuthenticationError | null; token: string | null }> {
  if (!header) return { viewer: null, failure: null, token: null };
  try {
    const token = TokenService.tokenFromHeader(header, services.config.tokenPrefix);
    return { viewer: await services.tokens.authenticate(token), failure: null, token };
  } catch (err) {
    if (err instanceof AuthenticationError) return { viewer: null, failure: err, token: null };
    if (isDatabaseUnavailable(err)) throw unavailable();
    throw err;
  }
}

/** Over HTTP, a token refused once the client's IP is over the authentication-failure limit: 429 with Retry-After. */
export function rateLimited(err: RateLimitedError): GraphQLError {
  return new GraphQLError(err.message, {
    extensions: { code: 'RATE_LIMITED', retryAfter: err.retryAfterSecs, http: { status: 429, headers: new Map([['retry-after', String(err.retryAfterSecs)]]) } },
  });
}

export function unavailable(): GraphQLError {
  return new GraphQLError('the database is unavailable; retry shortly', {
    extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: new Map([['retry-after', '5']]) } },
  });
}

function notAuthenticated(err: AuthenticationError): GraphQLError {
  return new GraphQLError(`not authenticated: ${err.message}`, {
    originalError: err,
    extensions: { code: 'UNAUTHENTICATED', errorType: 'invalid-token', reason: err.reason },
  });
}

/** The token of one socket, as connection_init sent it (null: an anonymous socket), and its request id (the upgrade request's). */
type SocketSession = { token: string | null; viewer: Viewer | null; requestId: string; clientIp: string | null };
export type SocketExtra = { session?: SocketSession };

type WsOptions = ServerOptions<Record<string, unknown>, Extra & Partial<SocketExtra>>;
type SocketAuth = Required<Pick<WsOptions, 'onConnect' | 'context' | 'onOperation'>> & {
  /** for onSubscribe: the errors that refuse this operation, or undefined when the socket's token still holds */
  authorizeOperation(ctx: Parameters<NonNullable<WsOptions['onSubscribe']>>[0]): Promise<GraphQLError[] | undefined>;
};

/**
 * The graphql-ws hooks that authenticate a socket and each of its operations. A rejected token
 * in connection_init counts as an authentication failure of the client's IP (`ipOf` the upgrade
 * request, as express would say it); over the limit the socket is closed with 4429.
 */
export function socketAuth(services: Services, limits?: RateLimits, ipOf?: (req: Extra['request']) => string | undefined): SocketAuth {
  return {
    // connection_init carries the token: { authorization: "Bearer <jwt>" } (or `token`).
    onConnect: async (ctx) => {
      const p = ctx.connectionParams ?? {};
      const raw = (p.authorization ?? p.Authorization ?? (p.token ? `Bearer ${String(p.token)}` : undefined)) as string | undefined;
      const { viewer, failure, token } = await resolveViewer(services, raw);
      const clientIp = ipOf?.(ctx.extra.request) ?? ctx.extra.request.socket.remoteAddress ?? null;
      if (failure) {
        const limited = await limits?.authFailure(clientIp ?? undefined).catch(() => null);
        // A close reason is at most 123 bytes; graphql-ws' own 4403 that follows is ignored by a closing socket.
        if (limited) ctx.extra.socket.close(wsRateLimitedCode, `Too many authentication failures; retry in ${limited.retryAfterSecs} s`);
        return false; // closes with 4403 Forbidden: the token was rejected
      }
      ctx.extra.session = { token, viewer, requestId: requestIdOf(ctx.extra.request), clientIp };
      return true;
    },
    // Every operation re-checks the socket's token; a refusal is an `error` for that operation.
    authorizeOperation: async (ctx) => {
      const session = ctx.extra.session!;
      if (!session.token) return undefined;
      try {
        session.viewer = await services.tokens.authenticate(session.token);
      } catch (err) {
        if (err instanceof AuthenticationError) return [notAuthenticated(err)];
        if (isDatabaseUnavailable(err)) return [unavailable()];
        throw err;
      }
      return undefined;
    },
    context: (ctx): GraphQLContext => createContext(services, ctx.extra.session!.viewer, null, ctx.extra.session!.requestId, ctx.extra.session!.clientIp),
    onOperation: (ctx, _id, _payload, _args: ExecutionArgs, result) => {
      const viewer = ctx.extra.session!.viewer;
      if (!viewer || !isAsyncIterable(result)) return;
      return untilTokenEnds(result, services.tokens, viewer);
    },
  };
}

function isAsyncIterable(v: unknown): v is AsyncIterable<ExecutionResult> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

/** setTimeout's longest delay; a later expiry re-arms the timer. */
const maxTimerMs = 2 ** 31 - 1;

/**
 * Passes a subscription's results through until the token ends: a revocation (of the token or
 * one it was derived from) or its expiry makes the next read throw, which graphql-ws sends as
 * the operation's `error` message, and releases the source.
 */
export function untilTokenEnds<T>(source: AsyncIterable<T>, tokens: TokenService, viewer: Viewer): AsyncIterableIterator<T> {
  // (graphql-ws turns what next() throws into the operation's `error`, keeping a GraphQLError's extensions)
  const inner = source[Symbol.asyncIterator]();
  let end!: (err: AuthenticationError) => void;
  const ended = new Promise<never>((_resolve, reject) => {
    end = reject;
  });
  ended.catch(() => undefined); // observed by next(); a subscription that never reads again must not crash the process
  const stopWatching = tokens.onRevocation(() => {
    tokens.assertActive(viewer).catch((err: unknown) => {
      if (err instanceof AuthenticationError) end(err);
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const armExpiry = () => {
    const ms = viewer.claims.exp * 1000 - Date.now();
    timer = setTimeout(() => (ms > maxTimerMs ? armExpiry() : end(new AuthenticationError('expired', 'token expired'))), Math.max(0, Math.min(ms, maxTimerMs)));
    timer.unref();
  };
  armExpiry();
  const release = () => {
    stopWatching();
    clearTimeout(timer);
  };
  const it: AsyncIterableIterator<T> = {
    async next() {
      try {
        const r = await Promise.race([inner.next(), ended]);
        if (r.done) release();
        return r;
      } catch (err) {
        release();
        if (err instanceof AuthenticationError) err = notAuthenticated(err);
        // Not awaited: an async generator parked on an event finishes its return() only when
        // that event comes, and the operation must end now.
        inner.return?.().catch(() => undefined);
        throw err;
      }
    },
    async return() {
      release();
      return (await inner.return?.()) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}
