// The fmd client: the generated SDK over fetch (queries, mutations) and graphql-ws
// (subscriptions). Runs in Node 24 (global fetch and WebSocket) and in browsers.
import { parse, print, type DocumentNode, type GraphQLFormattedError, type OperationDefinitionNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { getSdk, RefreshSessionDocument, type RefreshSessionMutation, type Sdk } from './generated/graphql.ts';

export type FmdClientOptions = {
  /** the server's base URL (`http://host:8080`) or its GraphQL endpoint (`.../graphql`) */
  url: string;
  /** a JWT; sent as `Authorization: Bearer <token>` and in the WebSocket `connection_init` */
  token?: string;
  /** defaults to the global fetch */
  fetch?: typeof globalThis.fetch;
  /** defaults to the global WebSocket (Node 22+, browsers); e.g. the `ws` package's class elsewhere */
  webSocketImpl?: unknown;
  /**
   * How queries are retried when the server cannot be reached or answers 5xx (502 while it
   * restarts, 503): `attempts` in all (default 3), waiting `delayMs` (default 250) and doubling
   * between them. Only queries: a mutation may have taken effect before its answer was lost.
   */
  retry?: { attempts?: number; delayMs?: number };
  /**
   * How often a lost WebSocket is re-opened before its subscriptions fail (default 5, the
   * graphql-ws default); `Infinity` for a dashboard that should ride out any outage. Active
   * subscriptions are started again with their original variables after a reconnect.
   */
  reconnectAttempts?: number;
  /** Told each time the WebSocket's state changes, for a connection indicator. */
  onConnectionChange?: (change: ConnectionChange) => void;
  /**
   * A password sign-in's session (what `signIn` answered) in place of `token`: the client sends
   * the access token and renews both tokens with `refreshSession` when the access token is less
   * than a minute from expiry, or when the server answers UNAUTHENTICATED with reason "expired"
   * (the request is then sent again, once). Concurrent renewals are one. `onTokens` is told the
   * new tokens (the old refresh token no longer works: store these). The WebSocket re-opens with
   * the new access token. When the session cannot be renewed (ended, signed out everywhere), the
   * request fails with an UNAUTHENTICATED FmdRequestError whose reason is "session-ended".
   */
  session?: FmdSession;
};

/** The tokens of a session: `signIn`'s and `refreshSession`'s answer carry them. */
export type FmdSessionTokens = {
  accessToken: string;
  refreshToken: string;
  /** when the access token expires; read from the token (a JWT's `exp`) when not given */
  accessTokenExpiresAt?: string | undefined;
  refreshTokenExpiresAt?: string | undefined;
};

export type FmdSession = FmdSessionTokens & {
  /** told the tokens after each renewal */
  onTokens?: (tokens: Required<FmdSessionTokens>) => void | Promise<void>;
};

/** Renew the access token when it expires in less than this. */
export const sessionRefreshMarginMs = 60_000;

/** When an access token (a JWT) expires, in ms since the epoch; undefined when it does not say. */
export function accessTokenExpiry(tokens: Pick<FmdSessionTokens, 'accessToken' | 'accessTokenExpiresAt'>): number | undefined {
  if (tokens.accessTokenExpiresAt) {
    const t = Date.parse(tokens.accessTokenExpiresAt);
    if (!Number.isNaN(t)) return t;
  }
  try {
    const part = tokens.accessToken.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a session's access token should be renewed before it is used at `now`. */
export function needsRefresh(tokens: Pick<FmdSessionTokens, 'accessToken' | 'accessTokenExpiresAt'>, now = Date.now()): boolean {
  const exp = accessTokenExpiry(tokens);
  return exp !== undefined && exp - now < sessionRefreshMarginMs;
}

/** An UNAUTHENTICATED answer because the access token expired (which a session renews). */
export function isExpiredTokenError(err: unknown): boolean {
  if (err instanceof FmdRequestError) return err.code === 'UNAUTHENTICATED' && err.errors.some((e) => e.extensions?.reason === 'expired');
  if (Array.isArray(err)) return err.some((e: GraphQLFormattedError) => e?.extensions?.code === 'UNAUTHENTICATED' && e.extensions?.reason === 'expired');
  return false;
}

/**
 * `connecting` (the first open, or `retry` after a loss), `connected`, or `closed` (`code` 1000
 * when it closed because no subscription needed it any more, 4403 when the server rejected the
 * token; after any other close it is re-opened while `reconnectAttempts` last).
 */
export type ConnectionChange =
  | { state: 'connecting'; retry: boolean }
  | { state: 'connected' }
  | { state: 'closed'; code: number; reason: string };

/** Options each SDK call accepts as its second argument. */
export type FmdRequestOptions = { signal?: AbortSignal };

/**
 * A request the server refused or could not answer: HTTP failure, GraphQL errors, or a
 * WebSocket closed by the server. Expected failures of mutations are not thrown: they are
 * typed results (`__typename` ending in `Error`).
 */
export class FmdRequestError extends Error {
  /** HTTP status, or the WebSocket close code for subscriptions; 0 when the server was not reached or the connection broke */
  readonly status: number;
  readonly errors: readonly GraphQLFormattedError[];
  readonly operationName: string | undefined;

  constructor(message: string, init: { status: number; errors?: readonly GraphQLFormattedError[]; operationName?: string | undefined; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.name = 'FmdRequestError';
    this.status = init.status;
    this.errors = init.errors ?? [];
    this.operationName = init.operationName;
  }

  /** `extensions.code` of the first GraphQL error (`UNAUTHENTICATED`, `FORBIDDEN`, ...) */
  get code(): string | undefined {
    const code = this.errors[0]?.extensions?.code;
    return typeof code === 'string' ? code : this.status === 401 || this.status === 4403 ? 'UNAUTHENTICATED' : undefined;
  }

  /** flat-manager's error-type (`invalid-token`, `token-insufficient`, ...) when the server gave one */
  get errorType(): string | undefined {
    const t = this.errors[0]?.extensions?.errorType;
    return typeof t === 'string' ? t : undefined;
  }
}

/**
 * The generated operations, one method per root field of the schema and named after it:
 * `client.builds({ repo })`, `client.createBuild({ input })`, `client.jobLog({ number })` (an
 * async iterable, like every subscription).
 */
export type FmdOperations = { [K in keyof Sdk as Uncapitalize<K & string>]: Sdk[K] };

export type FmdClient = FmdOperations & {
  /** the GraphQL endpoint in use */
  readonly endpoint: string;
  /** runs any operation over HTTP; throws FmdRequestError on errors */
  request<R, V = Record<string, unknown>>(document: DocumentNode | string, variables?: V, options?: FmdRequestOptions): Promise<R>;
  /** subscribes over graphql-ws; the iterator throws FmdRequestError on errors, `return()` unsubscribes */
  subscribe<R, V = Record<string, unknown>>(document: DocumentNode | string, variables?: V): AsyncIterableIterator<R>;
  /**
   * GETs a file the server serves beside its API (an App's `iconUrl`: a path on the server, or a
   * URL under its base-url) with the client's token; throws FmdRequestError unless it is 2xx.
   */
  fetchFile(pathOrUrl: string, options?: { signal?: AbortSignal }): Promise<Blob>;
  /** closes the WebSocket, if one was opened */
  close(): Promise<void>;
  /** the session's current tokens (after renewals), when the client was made with `session` */
  sessionTokens(): Required<FmdSessionTokens> | undefined;
  /** renews the session now (joins a renewal under way); throws when it cannot be renewed */
  renewSession(): Promise<void>;
};

/** Accepts a base URL or the endpoint itself. */
export function graphqlEndpoint(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith('/graphql')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/graphql`;
  return u.toString();
}

const printed = new WeakMap<DocumentNode, string>();
function source(document: DocumentNode | string): string {
  if (typeof document === 'string') return document;
  let s = printed.get(document);
  if (s === undefined) printed.set(document, (s = print(document)));
  return s;
}

// What a document runs decides how it travels (subscriptions over WebSocket) and whether it may
// be retried (queries only): read from the parsed document, so that a string starting with a
// fragment, a comment or the `{ ... }` shorthand is not mistaken. A string that does not parse
// goes to the server as it is (which answers why), never retried.
const parsedStrings = new Map<string, { kind: string; name: string | undefined }>();
function operationOf(document: DocumentNode | string): { kind: string; name: string | undefined } {
  if (typeof document === 'string') {
    let op = parsedStrings.get(document);
    if (!op) {
      try {
        op = operationOf(parse(document));
      } catch {
        op = { kind: 'unparsed', name: undefined };
      }
      if (parsedStrings.size < 1000) parsedStrings.set(document, op);
    }
    return op;
  }
  const op = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  return { kind: op?.operation ?? 'unparsed', name: op?.name?.value };
}

function errorsMessage(errors: readonly GraphQLFormattedError[], fallback: string): string {
  return errors.length ? errors.map((e) => e.message).join('; ') : fallback;
}

export function createFmdClient(options: FmdClientOptions): FmdClient {
  const endpoint = graphqlEndpoint(options.url);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const staticAuthorization = options.token ? `Bearer ${options.token}` : undefined;
  let session: Required<FmdSessionTokens> | undefined = options.session
    ? {
        accessToken: options.session.accessToken,
        refreshToken: options.session.refreshToken,
        accessTokenExpiresAt: options.session.accessTokenExpiresAt ?? new Date(accessTokenExpiry(options.session) ?? 0).toISOString(),
        refreshTokenExpiresAt: options.session.refreshTokenExpiresAt ?? '',
      }
    : undefined;
  const authorization = () => (session ? `Bearer ${session.accessToken}` : staticAuthorization);
  let ws: WsClient | undefined;
  let socket: WebSocket | undefined;
  let refreshing: Promise<void> | undefined;
  /** whether the socket is re-opened once after the server refused a session's token */
  let socketAuthRetry: 'none' | 'pending' | 'used' = 'none';
  let sessionEnded = false;

  /** Renews the session's tokens; concurrent calls share one renewal. */
  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      const s = session!;
      // Sent without the (expiring) access token: refreshSession needs none.
      const answer = await requestOnce<RefreshSessionMutation, unknown>(RefreshSessionDocument, { input: { refreshToken: s.refreshToken } }, undefined, null);
      const r = answer.refreshSession;
      if (r.__typename !== 'SignInPayload') {
        const message = `the session ended: ${(r as { message?: string }).message ?? (r as { __typename: string }).__typename}`;
        throw new FmdRequestError(message, { status: 401, operationName: 'RefreshSession', errors: [{ message, extensions: { code: 'UNAUTHENTICATED', errorType: 'invalid-token', reason: 'session-ended' } }] });
      }
      session = { accessToken: r.accessToken, accessTokenExpiresAt: r.accessTokenExpiresAt, refreshToken: r.refreshToken, refreshTokenExpiresAt: r.refreshTokenExpiresAt };
      await options.session?.onTokens?.({ ...session });
      // The socket authenticated with the old access token: re-open it with the new one (graphql-ws
      // starts its subscriptions again).
      if (socket && socket.readyState === 1) socket.close(4205, 'session renewed');
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /** Renews first when the access token is about to expire. */
  async function fresh(): Promise<void> {
    if (session && needsRefresh(session)) await refresh();
  }

  const attempts = Math.max(1, options.retry?.attempts ?? 3);
  const firstDelayMs = options.retry?.delayMs ?? 250;

  async function request<R, V>(document: DocumentNode | string, variables?: V, opts?: FmdRequestOptions): Promise<R> {
    const { kind } = operationOf(document);
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await fresh();
        const sent = session?.accessToken;
        try {
          return await requestOnce<R, V>(document, variables, opts);
        } catch (e) {
          // The server refused the expired token before running anything: renew (unless another
          // request already did) and send it again, once.
          if (!session || renewed || !isExpiredTokenError(e)) throw e;
          renewed = true;
          if (session.accessToken === sent) await refresh();
          return await requestOnce<R, V>(document, variables, opts);
        }
      } catch (e) {
        const transient = e instanceof FmdRequestError && (e.status === 0 || e.status >= 500) && !opts?.signal?.aborted;
        if (kind !== 'query' || !transient || attempt >= attempts) throw e;
        await sleep(firstDelayMs * 2 ** (attempt - 1), opts?.signal);
      }
    }
  }

  async function requestOnce<R, V>(document: DocumentNode | string, variables?: V, opts?: FmdRequestOptions, auth: string | null | undefined = authorization()): Promise<R> {
    const { name } = operationOf(document);
    let res: Response;
    try {
      res = await doFetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ query: source(document), variables: variables ?? {}, operationName: name }),
        signal: opts?.signal ?? null,
      });
    } catch (cause) {
      if (opts?.signal?.aborted) throw cause;
      throw new FmdRequestError(`cannot reach ${endpoint}: ${(cause as Error).message ?? String(cause)}`, { status: 0, operationName: name, cause });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (cause) {
      if (opts?.signal?.aborted) throw cause;
      throw new FmdRequestError(`connection to ${endpoint} lost: ${(cause as Error).message ?? String(cause)}`, { status: 0, operationName: name, cause });
    }
    let body: { data?: R | null; errors?: GraphQLFormattedError[] } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    const errors = body?.errors ?? [];
    if (!res.ok || errors.length || body?.data == null) {
      const fallback = `HTTP ${res.status} ${res.statusText}${body ? '' : `: ${text.slice(0, 200)}`}`;
      throw new FmdRequestError(errorsMessage(errors, fallback), { status: res.status, errors, operationName: name });
    }
    return body.data;
  }

  function wsClient(): WsClient {
    ws ??= createClient({
      url: endpoint.replace(/^http/, 'ws'),
      webSocketImpl: options.webSocketImpl,
      // A function: each (re-)connect sends the current access token, renewed first when due (or
      // when the server refused the last one: see `closed`). A session that cannot be renewed
      // sends its last token, which the server refuses for good (4403).
      connectionParams: async () => {
        try {
          if (socketAuthRetry === 'pending') {
            socketAuthRetry = 'used';
            await refresh();
          } else await fresh();
        } catch {
          sessionEnded = true;
        }
        const auth = authorization();
        return auth ? { authorization: auth } : {};
      },
      lazy: true,
      retryAttempts: options.reconnectAttempts ?? 5,
      on: {
        opened: (s) => {
          socket = s as WebSocket;
        },
        connecting: (retry: boolean) => options.onConnectionChange?.({ state: 'connecting', retry }),
        connected: () => {
          socketAuthRetry = 'none';
          options.onConnectionChange?.({ state: 'connected' });
        },
        closed: (e: unknown) => {
          let change: ConnectionChange = isCloseEvent(e) ? { state: 'closed', code: e.code, reason: e.reason } : { state: 'closed', code: 1006, reason: 'connection lost' };
          // A session's socket refused at connection_init (its access token expired meanwhile):
          // renewed and re-opened once, reported as a restart rather than a refusal.
          if (session && !sessionEnded && change.code === 4403 && socketAuthRetry === 'none') {
            socketAuthRetry = 'pending';
            change = { state: 'closed', code: 4205, reason: 'renewing the session' };
          }
          options.onConnectionChange?.(change);
        },
      },
      // 4403: the server rejected the token; retrying cannot help (unless a session renews it).
      shouldRetry: (e) => !(isCloseEvent(e) && e.code === 4403) || socketAuthRetry === 'pending',
    });
    return ws;
  }

  function subscribe<R, V>(document: DocumentNode | string, variables?: V): AsyncIterableIterator<R> {
    const { name } = operationOf(document);
    const start = () => wsClient().iterate<R>({ query: source(document), variables: (variables ?? {}) as Record<string, unknown>, operationName: name ?? null });
    let inner = start();
    let sent = session?.accessToken;
    let renewed = false;
    /** A subscription the server ended because the access token expired starts again after a renewal, once per token. */
    const renew = async (): Promise<boolean> => {
      if (!session || renewed) return false;
      renewed = true;
      await inner.return?.();
      if (session.accessToken === sent) await refresh();
      sent = session.accessToken;
      inner = start();
      return true;
    };
    const toError = (e: unknown): FmdRequestError => {
      if (e instanceof FmdRequestError) return e;
      if (isCloseEvent(e)) {
        const reason = e.code === 4403 ? 'the server rejected the token' : e.reason || 'connection closed';
        return new FmdRequestError(`subscription ${name ?? ''} closed: ${reason} (code ${e.code})`.replace('  ', ' '), { status: e.code, operationName: name, cause: e });
      }
      if (Array.isArray(e)) return new FmdRequestError(errorsMessage(e as GraphQLFormattedError[], 'subscription failed'), { status: 200, errors: e as GraphQLFormattedError[], operationName: name });
      return new FmdRequestError(`subscription ${name ?? ''} failed: ${(e as Error)?.message ?? String(e)}`, { status: 0, operationName: name, cause: e });
    };
    const it: AsyncIterableIterator<R> = {
      async next(): Promise<IteratorResult<R, undefined>> {
        let r: IteratorResult<{ data?: R | null; errors?: readonly GraphQLFormattedError[] }>;
        try {
          r = await inner.next();
        } catch (e) {
          if (isExpiredTokenError(e) && (await renew())) return it.next();
          throw toError(e);
        }
        if (r.done) return { done: true, value: undefined };
        const errors = r.value.errors ?? [];
        if (errors.length || r.value.data == null) {
          if (isExpiredTokenError(errors) && (await renew())) return it.next();
          await inner.return?.();
          throw new FmdRequestError(errorsMessage(errors, 'subscription event without data'), { status: 200, errors, operationName: name });
        }
        if (sent === session?.accessToken) renewed = false;
        return { done: false, value: r.value.data };
      },
      async return() {
        await inner.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  const sdk = getSdk<FmdRequestOptions>(<R, V>(document: DocumentNode, variables?: V, opts?: FmdRequestOptions) =>
    operationOf(document).kind === 'subscription' ? subscribe<R, V>(document, variables) : request<R, V>(document, variables, opts),
  );

  // The generator names methods after the operations (`Builds`); the client after the root
  // fields they query (`builds`).
  const operations = Object.fromEntries(Object.entries(sdk).map(([name, method]) => [name.charAt(0).toLowerCase() + name.slice(1), method])) as FmdOperations;

  return {
    ...operations,
    endpoint,
    request,
    subscribe,
    async fetchFile(pathOrUrl, opts) {
      const url = new URL(pathOrUrl, endpoint).href;
      let res: Response;
      try {
        await fresh();
        const auth = authorization();
        res = await doFetch(url, { headers: auth ? { authorization: auth } : {}, signal: opts?.signal });
      } catch (cause) {
        throw new FmdRequestError(`cannot reach ${url}: ${(cause as Error).message ?? String(cause)}`, { status: 0, cause });
      }
      if (!res.ok) throw new FmdRequestError(`GET ${url}: ${res.status} ${res.statusText}`, { status: res.status });
      return res.blob();
    },
    async close() {
      const c = ws;
      ws = undefined;
      socket = undefined;
      await c?.dispose();
    },
    sessionTokens: () => (session ? { ...session } : undefined),
    async renewSession() {
      if (!session) throw new Error('this client has no session (make it with the `session` option)');
      await refresh();
    },
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}

function isCloseEvent(e: unknown): e is { code: number; reason: string } {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'reason' in e;
}
