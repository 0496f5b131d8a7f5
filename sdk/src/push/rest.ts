// flat-manager's REST API (`/api/v1`), as flat-manager-client uses it: builds, uploads, refs,
// commit/publish jobs and their logs. fmd speaks it too. Node only (node:http): flat-manager
// takes JSON bodies on GET (missing_objects, job logs), which fetch refuses to send.
import http from 'node:http';
import https from 'node:https';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { createFmdClient } from '../client.ts';

const gzipAsync = promisify(gzip);

/** What went wrong, for callers that map failures to exit codes. */
export type FlatManagerErrorKind =
  /** the URL given is not a build URL / not a URL */
  | 'bad-url'
  /** no connection (refused, DNS, reset, timeout) */
  | 'unreachable'
  /** 401/403: token missing, invalid, expired or without the rights */
  | 'auth'
  /** 404 */
  | 'not-found'
  /** another 4xx: the server refused the request */
  | 'refused'
  /** 5xx or an answer that is not what the protocol says */
  | 'server'
  /** a job the client followed ended in failure */
  | 'job-failed';

export class FlatManagerError extends Error {
  readonly kind: FlatManagerErrorKind;
  /** HTTP status; 0 when there was no answer */
  readonly status: number;
  readonly url: string | undefined;
  /** flat-manager's error JSON (`status`, `error-type`, `message`, `current-state`...) when the server sent one */
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, init: { kind: FlatManagerErrorKind; status?: number; url?: string; details?: Record<string, unknown>; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.name = 'FlatManagerError';
    this.kind = init.kind;
    this.status = init.status ?? 0;
    this.url = init.url;
    this.details = init.details;
  }

  /** Worth retrying: no answer, or the server failed (5xx, 408, 429). */
  get transient(): boolean {
    return this.kind === 'unreachable' || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** A parsed build URL: `<server>/api/v1/build/<id>`. */
export type BuildLocation = { buildUrl: string; apiUrl: string; serverUrl: string; buildId: number };

export function parseBuildUrl(url: string): BuildLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FlatManagerError(`not a URL: ${JSON.stringify(url)} (expected <server>/api/v1/build/<id>, as \`fmdc create\` prints)`, { kind: 'bad-url' });
  }
  const m = /^(.*)\/api\/v1\/build\/(\d+)\/?$/.exec(u.pathname);
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !m || u.search || u.hash) {
    throw new FlatManagerError(`not a build URL: ${url} (expected <server>/api/v1/build/<id>, as \`fmdc create\` prints)`, { kind: 'bad-url' });
  }
  const serverUrl = `${u.origin}${m[1]}`;
  return { serverUrl, apiUrl: `${serverUrl}/api/v1`, buildUrl: `${serverUrl}/api/v1/build/${m[2]}`, buildId: Number(m[2]) };
}

/** The API base (`<server>/api/v1`) of a manager URL as `fmdc create` takes it (with or without `/api/v1`). */
export function apiUrlOf(managerUrl: string): string {
  let u: URL;
  try {
    u = new URL(managerUrl);
  } catch {
    throw new FlatManagerError(`not a URL: ${JSON.stringify(managerUrl)}`, { kind: 'bad-url' });
  }
  const base = u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${u.origin}${base}/api/v1`;
}

export type RestResponse = { status: number; headers: http.IncomingHttpHeaders; body: any; text: string };

/** flat-manager's job JSON: status 0 new, 1 started, 2 ended, 3 broken; `results` is a JSON string. */
export type FlatManagerJob = { id: number; kind: number; status: number; contents: string; results?: string; log: string; start_after?: unknown; repo?: string | null; [k: string]: unknown };

export const JOB_STATUS = { new: 0, started: 1, ended: 2, broken: 3 } as const;

export type FollowJobOptions = {
  /** each piece of log text as it arrives */
  onLog?: (text: string) => void;
  /** status changes (0 new, 1 started, 2 ended, 3 broken) */
  onStatus?: (status: number, job: FlatManagerJob) => void;
  signal?: AbortSignal;
  /**
   * The job's number (its id on the REST API). With it, and a server that has fmd's GraphQL API
   * at `<server>/graphql`, the log streams over the `jobLog` subscription instead of polling; a
   * `/api/v1/job/<id>` URL names it already. Without GraphQL (flat-manager), polling it is.
   */
  jobId?: number;
  /** false: always poll (flat-manager-client's way) */
  live?: boolean;
  /** first and longest poll interval; polls get slower while nothing happens (defaults 250 ms, 2 s) */
  minPollMs?: number;
  maxPollMs?: number;
};

/** A job followed to its end: its last JSON, the whole log, and its URL. */
export type FollowedJob = { job: FlatManagerJob; log: string; url: string; results: Record<string, unknown> };

/**
 * One client per server and token, with a keep-alive agent (a push makes hundreds of requests;
 * a new connection each time costs more than a small upload).
 */
export class FlatManagerRestClient {
  readonly token: string;
  readonly #agents: { http: http.Agent; https: https.Agent };

  constructor(o: { token: string; maxSockets?: number }) {
    this.token = o.token;
    const opts = { keepAlive: true, maxSockets: o.maxSockets ?? 16 };
    this.#agents = { http: new http.Agent(opts), https: new https.Agent(opts) };
  }

  /** Closes idle keep-alive connections (the process can then exit at once). */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /**
   * One request. `body` is JSON (sent gzip'd with `gzip`), raw bytes, or a writer that streams
   * the body itself (with `length` as its Content-Length). Never throws for an HTTP status: see `check`.
   */
  request(
    method: string,
    url: string,
    o: { json?: unknown; gzip?: boolean; body?: Buffer; write?: (req: http.ClientRequest) => Promise<void>; length?: number; headers?: Record<string, string>; token?: string | null; signal?: AbortSignal } = {},
  ): Promise<RestResponse> {
    return (async () => {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token === undefined ? this.token : o.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let payload = o.body;
      if (o.json !== undefined) {
        payload = Buffer.from(JSON.stringify(o.json));
        headers['content-type'] = 'application/json';
        if (o.gzip) {
          payload = await gzipAsync(payload);
          headers['content-encoding'] = 'gzip';
        }
      }
      if (payload) headers['content-length'] = String(payload.length);
      else if (o.length !== undefined) headers['content-length'] = String(o.length);
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      return await new Promise<RestResponse>((resolve, reject) => {
        // A body writer's own failure (a file it could not read) is that error, not a network one.
        let writeError: unknown;
        const fail = (err: unknown) => reject(writeError ?? networkError(err, method, url));
        const req = mod.request(u, { method, headers, agent: u.protocol === 'https:' ? this.#agents.https : this.#agents.http, signal: o.signal }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = null;
            try {
              body = text ? JSON.parse(text) : null;
            } catch {
              body = null;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
          });
          res.on('error', fail);
        });
        req.on('error', fail);
        if (o.write) {
          o.write(req).then(
            () => req.end(),
            (err) => {
              // Closed under the writer: the request's own error event tells why.
              if (req.destroyed) return;
              writeError = err;
              req.destroy(err instanceof Error ? err : new Error(String(err)));
            },
          );
        }
        else req.end(payload);
      });
    })();
  }

  /** Throws a FlatManagerError for any answer but 200 (what flat-manager-client accepts). */
  check(r: RestResponse, what: string, url: string): RestResponse {
    if (r.status === 200) return r;
    const details = r.body && typeof r.body === 'object' && !Array.isArray(r.body) ? (r.body as Record<string, unknown>) : undefined;
    const message = typeof details?.message === 'string' ? details.message : r.text.slice(0, 300) || `HTTP ${r.status}`;
    const kind: FlatManagerErrorKind = r.status === 401 || r.status === 403 ? 'auth' : r.status === 404 ? 'not-found' : r.status >= 500 || r.status < 400 ? 'server' : 'refused';
    const hint = r.status === 401 ? ' (the server did not accept the token)' : r.status === 403 ? ' (the token lacks the rights for this)' : '';
    throw new FlatManagerError(`${what} failed: HTTP ${r.status}: ${message}${hint}`, { kind, status: r.status, url, details });
  }

  async #json(method: string, url: string, what: string, o: Parameters<FlatManagerRestClient['request']>[2] = {}): Promise<RestResponse> {
    return this.check(await this.request(method, url, o), what, url);
  }

  // --- builds -------------------------------------------------------------------------------------

  /** POST /build: a new build in `repo`; answers its JSON and URL (the Location header). */
  async createBuild(apiUrl: string, input: { repo: string; appId?: string; publicDownload?: boolean; buildLogUrl?: string }): Promise<{ build: Record<string, unknown>; url: string }> {
    const json: Record<string, unknown> = { repo: input.repo };
    if (input.appId !== undefined) json['app-id'] = input.appId;
    if (input.publicDownload !== undefined) json['public-download'] = input.publicDownload;
    if (input.buildLogUrl !== undefined) json['build-log-url'] = input.buildLogUrl;
    const r = await this.#json('POST', `${apiUrl}/build`, 'create build', { json });
    return { build: r.body, url: String(r.headers.location ?? '') };
  }

  async getBuild(buildUrl: string, token?: string): Promise<Record<string, unknown>> {
    return (await this.#json('GET', buildUrl, 'get build', { token })).body;
  }

  /** missing_objects for one list of names (the caller chunks). */
  async missingObjects(buildUrl: string, wanted: readonly string[], token?: string): Promise<string[]> {
    const r = await this.#json('GET', `${buildUrl}/missing_objects`, 'missing_objects', { json: { wanted }, gzip: true, token });
    if (!Array.isArray(r.body?.missing)) throw new FlatManagerError(`missing_objects: unexpected answer ${r.text.slice(0, 200)}`, { kind: 'server', status: r.status, url: buildUrl });
    return r.body.missing as string[];
  }

  /** build_ref: binds `ref` to `commit` in the build. */
  async createRef(buildUrl: string, ref: string, commit: string, o: { buildLogUrl?: string | null; token?: string } = {}): Promise<Record<string, unknown>> {
    return (await this.#json('POST', `${buildUrl}/build_ref`, `build_ref ${ref}`, { json: { ref, commit, 'build-log-url': o.buildLogUrl ?? null }, token: o.token })).body;
  }

  async addExtraIds(buildUrl: string, ids: readonly string[], token?: string): Promise<Record<string, unknown>> {
    return (await this.#json('POST', `${buildUrl}/add_extra_ids`, 'add_extra_ids', { json: { ids }, token })).body;
  }

  /** POST commit: starts the commit job; answers it and its URL. */
  async commitBuild(buildUrl: string, o: { endOfLife?: string | null; endOfLifeRebase?: string | null; tokenType?: number | null } = {}): Promise<{ job: FlatManagerJob; url: string }> {
    const json: Record<string, unknown> = { endoflife: o.endOfLife ?? null, endoflife_rebase: o.endOfLifeRebase ?? null };
    if (o.tokenType !== undefined && o.tokenType !== null) json.token_type = o.tokenType;
    const r = await this.#json('POST', `${buildUrl}/commit`, 'commit', { json });
    return { job: r.body, url: String(r.headers.location ?? `${buildUrl}/commit`) };
  }

  /**
   * POST publish: starts the publish job; answers it and its URL, or `alreadyPublished` when the
   * server says the build is published already (flat-manager-client treats that as done).
   */
  async publishBuild(buildUrl: string): Promise<{ job: FlatManagerJob; url: string } | { alreadyPublished: true }> {
    const r = await this.request('POST', `${buildUrl}/publish`, { json: {} });
    if (r.status === 400 && r.body?.['current-state'] === 'published') return { alreadyPublished: true };
    this.check(r, 'publish', `${buildUrl}/publish`);
    return { job: r.body, url: String(r.headers.location ?? `${buildUrl}/publish`) };
  }

  async purgeBuild(buildUrl: string): Promise<Record<string, unknown>> {
    return (await this.#json('POST', `${buildUrl}/purge`, 'purge', { json: {} })).body;
  }

  /** POST token_subset: a token with at most the rights of this one. */
  async createToken(apiUrl: string, input: { name: string; sub: string; scope: string[]; duration: number; prefixes?: string[]; apps?: string[]; repos?: string[] }): Promise<string> {
    const r = await this.#json('POST', `${apiUrl}/token_subset`, 'create token', { json: input });
    return String(r.body.token);
  }

  // --- jobs ---------------------------------------------------------------------------------------

  /** GET a job (`<api>/job/<id>` or a build's `/commit`, `/publish`) with the log after `logOffset` bytes. */
  async getJob(jobUrl: string, logOffset = 0): Promise<FlatManagerJob> {
    return (await this.#json('GET', jobUrl, 'get job', { json: { 'log-offset': logOffset } })).body;
  }

  /**
   * Follows a job to its end as flat-manager-client's wait_for_job does: polls with the log
   * offset (UTF-8 bytes printed so far), slower while nothing happens, and rides out a few
   * failed polls. Throws FlatManagerError `job-failed` when the job broke.
   */
  async followJob(jobUrl: string, o: FollowJobOptions = {}): Promise<FollowedJob> {
    const minPoll = o.minPollMs ?? 250;
    const maxPoll = o.maxPollMs ?? 2000;
    let log = '';
    let offset = 0;
    let status = -1;
    const jobId = o.jobId ?? Number(/\/api\/v1\/job\/(\d+)\/?$/.exec(jobUrl)?.[1] ?? NaN);
    if (o.live !== false && Number.isInteger(jobId)) {
      // The live log up to the job's end; then one poll below gives the final status and results.
      log = await this.#liveLog(jobUrl, jobId, o);
      offset = Buffer.byteLength(log, 'utf8');
    }
    let pollMs = minPoll;
    let failures = 0;
    for (;;) {
      o.signal?.throwIfAborted();
      let job: FlatManagerJob | undefined;
      try {
        job = await this.getJob(jobUrl, offset);
        failures = 0;
      } catch (err) {
        if (!(err instanceof FlatManagerError) || !err.transient || ++failures > 5) throw err;
      }
      if (job) {
        if (job.status !== status) {
          status = job.status;
          o.onStatus?.(status, job);
        }
        if (job.log) {
          log += job.log;
          offset += Buffer.byteLength(job.log, 'utf8');
          o.onLog?.(job.log);
          pollMs = minPoll;
        } else {
          pollMs = Math.min(maxPoll, Math.round(pollMs * 1.5));
        }
        if (job.status > JOB_STATUS.started) {
          const followed = { job: { ...job, log }, log, url: jobUrl, results: jobResults(job) };
          if (job.status !== JOB_STATUS.ended) {
            const reason = typeof followed.results.error === 'string' ? `: ${followed.results.error}` : '';
            throw Object.assign(new FlatManagerError(`job ${job.id} failed${reason}`, { kind: 'job-failed', url: jobUrl }), { followed });
          }
          return followed;
        }
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * The job's log over fmd's `jobLog` subscription, as it is written, until the job is over.
   * Answers what arrived; an empty string when the server has no GraphQL API or refuses it (the
   * caller then polls), or what arrived before the subscription broke (the caller polls on from there).
   */
  async #liveLog(jobUrl: string, jobId: number, o: FollowJobOptions): Promise<string> {
    const server = /^(.*)\/api\/v1\//.exec(jobUrl)?.[1];
    if (!server) return '';
    const client = createFmdClient({ url: server, token: this.token });
    let log = '';
    try {
      // A plain HTTP query first: a server without /graphql answers it at once, where a
      // WebSocket would be retried for seconds.
      const probe = await client.request<{ job: { statusCode: number } | null }>('query JobProbe($number: Int!) { job(number: $number) { statusCode } }', { number: jobId }).catch(() => null);
      if (!probe?.job) return '';
      const chunks = client.subscribe<{ jobLog: { text: string; offset: number } }>('subscription JobLogFollow($number: Int!) { jobLog(number: $number, fromOffset: 0) { text offset } }', { number: jobId });
      const onAbort = () => void chunks.return?.();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const { jobLog } of chunks) {
          if (!jobLog.text) continue;
          log += jobLog.text;
          o.onLog?.(jobLog.text);
        }
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
      }
    } catch {
      // Broken off: polling goes on from what arrived.
    } finally {
      await client.close().catch(() => undefined);
    }
    return log;
  }
}

/** A job's `results`, which flat-manager sends as a JSON string. */
export function jobResults(job: FlatManagerJob): Record<string, unknown> {
  if (typeof job.results !== 'string') return {};
  try {
    const r = JSON.parse(job.results) as unknown;
    return r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function networkError(err: unknown, method: string, url: string): Error {
  if (err instanceof FlatManagerError) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  const e = err as NodeJS.ErrnoException;
  const what = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : e.code ?? e.message;
  let origin = url;
  try {
    origin = new URL(url).origin;
  } catch {
    // keep the URL as given
  }
  return new FlatManagerError(`cannot reach ${origin} (${method} ${new URL(url).pathname}): ${what}`, { kind: 'unreachable', url, cause: err });
}
