// flat-manager's REST API (/api/v1) as flat-manager-client uses it, so that fmdc's
// flat-manager-client verbs work against fmd and against a real flat-manager alike: the same
// requests, the job log followed with a `log-offset` body on GET, the same JSON results (job
// `results` parsed, `location` added) and the same error objects for --print-output/--output.
import http from 'node:http';
import https from 'node:https';

export type Trace = (line: string) => void;

export type RestResponse = { status: number; headers: http.IncomingHttpHeaders; body: unknown; text: string };

/** A request flat-manager refused (its JSON error in `details`) or could not answer (status 0). */
export class FlatManagerApiError extends Error {
  readonly url: string;
  readonly status: number;
  readonly details: Record<string, unknown>;
  constructor(url: string, status: number, details: Record<string, unknown>) {
    super(status === 0 ? `cannot reach ${url}: ${String(details.message)}` : `Api call to ${url} failed with status ${status}, details: ${JSON.stringify(details)}`);
    this.name = 'FlatManagerApiError';
    this.url = url;
    this.status = status;
    this.details = details;
  }

  /** flat-manager's error-type (`invalid-token`, `token-insufficient`, `not-found`, ...) */
  get errorType(): string | undefined {
    const t = this.details['error-type'];
    return typeof t === 'string' ? t : undefined;
  }

  /** flat-manager-client's error object in its output JSON */
  toOutput(): Record<string, unknown> {
    return { type: 'api', url: this.url, status_code: this.status, details: this.details };
  }
}

/** A job that ended broken; `job` is its last JSON (results parsed). */
export class JobFailedError extends Error {
  readonly job: Record<string, unknown>;
  readonly url: string;
  constructor(job: Record<string, unknown>, url: string) {
    super(`Job failed: ${url}${typeof job.results === 'object' && job.results && 'error' in job.results ? `: ${String((job.results as { error: unknown }).error)}` : ''}`);
    this.name = 'JobFailedError';
    this.job = job;
    this.url = url;
  }

  toOutput(): Record<string, unknown> {
    return { type: 'job', job: this.job };
  }
}

export type Job = Record<string, unknown> & { id: number; status: number; log?: string; results?: unknown; location?: string };

/** Job status codes on the wire. */
export const jobStatus = { new: 0, started: 1, ended: 2, broken: 3 } as const;

/** The server's API base from a build URL: `<base>/api/v1/build/7` -> `<base>/api/v1`. */
export function apiOfBuildUrl(buildUrl: string): string {
  const u = new URL(buildUrl);
  const parts = u.pathname.replace(/\/+$/, '').split('/');
  return `${u.origin}${parts.slice(0, -2).join('/')}`;
}

/** `<manager-url>/api/v1`; a manager URL given with a trailing slash or already ending in /api/v1 gives the same. */
export function apiOfManagerUrl(managerUrl: string): string {
  const base = managerUrl.replace(/\/+$/, '');
  return base.endsWith('/api/v1') ? base : `${base}/api/v1`;
}

/** A flat-manager build or job URL given on the command line, checked before anything is sent. */
export function checkUrl(raw: string, what: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${what} "${raw}" is not a URL.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${what} "${raw}" is not an http(s) URL.`);
  return raw.replace(/\/+$/, '');
}

/** Bad input on the command line, found before a request was made. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** flat-manager sends `results` (and `contents`) as JSON inside a string. */
function reparse(job: Job, location: string): Job {
  const out: Job = { ...job, location };
  if (typeof job.results === 'string') {
    try {
      out.results = JSON.parse(job.results) as unknown;
    } catch {
      // left as the server sent it
    }
  } else if (job.results === undefined || job.results === null) out.results = {};
  return out;
}

const redact = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k === 'authorization' ? 'Bearer <redacted>' : v]));

export type RestOptions = {
  token: string;
  /** one line per request (--verbose), with headers and bodies (--debug) */
  trace?: Trace;
  traceBodies?: boolean;
  /** progress lines, as flat-manager-client prints them */
  say?: (line: string) => void;
  /** the fastest and slowest job polls; flat-manager-client waits 1 s to 60 s */
  pollMs?: { min: number; max: number };
};

export class FlatManagerRest {
  private readonly token: string;
  private readonly trace: Trace | undefined;
  private readonly traceBodies: boolean;
  private readonly say: (line: string) => void;
  private readonly pollMs: { min: number; max: number };

  constructor(o: RestOptions) {
    this.token = o.token;
    this.trace = o.trace;
    this.traceBodies = o.traceBodies ?? false;
    this.say = o.say ?? (() => undefined);
    this.pollMs = o.pollMs ?? { min: 500, max: 10_000 };
  }

  /** One request with an optional JSON body on any method (fetch refuses a body on GET, which flat-manager's job log needs). */
  request(method: string, url: string, json?: unknown): Promise<RestResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const started = Date.now();
    this.trace?.(`> ${method} ${url}${this.traceBodies ? ` ${JSON.stringify(redact(headers))}${payload ? ` ${payload.toString()}` : ''}` : ''}`);
    return new Promise((resolve, reject) => {
      const lib = url.startsWith('https:') ? https : http;
      const req = lib.request(url, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new FlatManagerApiError(url, 0, { message: err.message })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          try {
            body = text ? (JSON.parse(text) as unknown) : null;
          } catch {
            body = null;
          }
          const status = res.statusCode ?? 0;
          this.trace?.(`< ${status} ${method} ${url} (${Date.now() - started} ms)${this.traceBodies ? ` ${JSON.stringify(res.headers)} ${text.length > 2000 ? `${text.slice(0, 2000)}...` : text}` : ''}`);
          resolve({ status, headers: res.headers, body, text });
        });
      });
      req.on('error', (err) => {
        this.trace?.(`< failed ${method} ${url}: ${err.message}`);
        reject(new FlatManagerApiError(url, 0, { message: err.message }));
      });
      req.end(payload);
    });
  }

  /** The response, or flat-manager-client's ApiError for anything but 200. */
  private async ok(method: string, url: string, json?: unknown): Promise<RestResponse> {
    const r = await this.request(method, url, json);
    if (r.status !== 200) throw this.apiError(url, r);
    return r;
  }

  private apiError(url: string, r: RestResponse): FlatManagerApiError {
    const details =
      r.body && typeof r.body === 'object' && !Array.isArray(r.body) ? (r.body as Record<string, unknown>) : { status: r.status, 'error-type': 'no-error', message: `Non-json error from server: ${r.text.slice(0, 500)}` };
    return new FlatManagerApiError(url, r.status, details);
  }

  private location(url: string, r: RestResponse): string {
    const loc = r.headers.location;
    if (!loc) throw new FlatManagerApiError(url, r.status, { 'error-type': 'no-location', message: 'the server answered without a Location header' });
    return new URL(loc, url).toString();
  }

  /** POST /build: answers the build JSON with its URL as `location`. */
  async createBuild(managerUrl: string, o: { repo: string; appId?: string | undefined; publicDownload?: boolean | undefined; buildLogUrl?: string | undefined }): Promise<Record<string, unknown> & { location: string }> {
    const url = `${apiOfManagerUrl(managerUrl)}/build`;
    const json: Record<string, unknown> = { repo: o.repo };
    if (o.appId !== undefined) json['app-id'] = o.appId;
    if (o.publicDownload !== undefined) json['public-download'] = o.publicDownload;
    if (o.buildLogUrl !== undefined) json['build-log-url'] = o.buildLogUrl;
    const r = await this.ok('POST', url, json);
    return { ...(r.body as Record<string, unknown>), location: this.location(url, r) };
  }

  async getBuild(buildUrl: string): Promise<Record<string, unknown>> {
    return (await this.ok('GET', buildUrl)).body as Record<string, unknown>;
  }

  /** POST <build>/commit; with `wait`, follows the job to its end. */
  async commit(buildUrl: string, o: { endOfLife?: string | undefined; endOfLifeRebase?: string | undefined; tokenType?: number | undefined; wait: boolean }): Promise<Job> {
    this.say(`Committing build ${buildUrl}`);
    const json: Record<string, unknown> = { endoflife: o.endOfLife ?? null, endoflife_rebase: o.endOfLifeRebase ?? null };
    if (o.tokenType !== undefined) json.token_type = o.tokenType;
    const url = `${buildUrl}/commit`;
    const r = await this.ok('POST', url, json);
    const jobUrl = this.location(url, r);
    if (!o.wait) return reparse(r.body as Job, jobUrl);
    this.say('Waiting for commit job');
    return this.followJob(jobUrl);
  }

  /**
   * POST <build>/publish; with `wait`, follows the job. A build that is already published,
   * being published or held in validation is not an error (as for flat-manager-client): the
   * answer is then `{}`.
   */
  async publish(buildUrl: string, o: { wait: boolean }): Promise<Job | Record<string, never>> {
    this.say(`Publishing build ${buildUrl}`);
    const url = `${buildUrl}/publish`;
    const r = await this.request('POST', url, {});
    if (r.status === 400) {
      const state = (r.body as { 'current-state'?: unknown } | null)?.['current-state'];
      const said: Record<string, string> = { published: 'the build has been already published', publishing: 'the build is currently being published', validating: 'the build is still being validated or held for review' };
      if (typeof state === 'string' && said[state]) {
        this.say(said[state]);
        return {};
      }
    }
    if (r.status !== 200) throw this.apiError(url, r);
    const jobUrl = this.location(url, r);
    if (!o.wait) return reparse(r.body as Job, jobUrl);
    this.say('Waiting for publish job');
    return this.followJob(jobUrl);
  }

  /** After a publish: the update-repo job it queued, followed or only looked at; undefined when there is none. */
  async updateJobOf(buildUrl: string, publishJob: Job | Record<string, never>, o: { wait: boolean }): Promise<Job | undefined> {
    const results = (publishJob as Job).results as Record<string, unknown> | undefined;
    const id = results?.['update-repo-job'];
    if (typeof id !== 'number') return undefined;
    this.say(`Queued repo update job ${id}`);
    const url = `${apiOfBuildUrl(buildUrl)}/job/${id}`;
    if (o.wait) {
      this.say('Waiting for repo update job');
      return this.followJob(url);
    }
    return this.getJob(url);
  }

  async purge(buildUrl: string): Promise<unknown> {
    this.say(`Purging build ${buildUrl}`);
    return (await this.ok('POST', `${buildUrl}/purge`, {})).body;
  }

  async getJob(jobUrl: string): Promise<Job> {
    return reparse((await this.ok('GET', jobUrl, {})).body as Job, jobUrl);
  }

  /**
   * Prints the job's log as it grows (`| ` before each line, as flat-manager-client does) until
   * the job ends; answers the last job JSON, or throws JobFailedError when it ended broken.
   * The log-offset sent is the UTF-8 length of what was printed: flat-manager's offsets are
   * bytes (fmd also takes the Python client's character counts).
   */
  async followJob(jobUrl: string): Promise<Job> {
    let printed = 0;
    let previousStatus: number = jobStatus.new;
    let reportedDelay = false;
    let idle = 0;
    let pending = '';
    for (;;) {
      const job = (await this.ok('GET', jobUrl, { 'log-offset': printed })).body as Job;
      if (job.status === jobStatus.new && !reportedDelay) {
        reportedDelay = true;
        const after = (job.start_after as { secs_since_epoch?: number } | null | undefined)?.secs_since_epoch;
        const wait = after ? after - Date.now() / 1000 : 0;
        if (wait > 1) this.say(`Waiting ${Math.floor(wait)} seconds before starting job`);
      }
      if (job.status > jobStatus.new && previousStatus === jobStatus.new) this.say('/ Job was started');
      previousStatus = job.status;
      const log = typeof job.log === 'string' ? job.log : '';
      if (log) {
        idle = 0;
        printed += Buffer.byteLength(log, 'utf8');
        // Whole lines only, so that a line split across two polls prints once with its prefix.
        const lines = (pending + log).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) this.say(`| ${line}`);
      } else idle++;
      if (job.status > jobStatus.started) {
        if (pending) this.say(`| ${pending}`);
        const done = reparse({ ...job, log: undefined } as Job, jobUrl);
        delete done.log;
        if (job.status === jobStatus.ended) {
          this.say('\\ Job completed successfully');
          return done;
        }
        this.say('\\ Job failed');
        throw new JobFailedError(done, jobUrl);
      }
      const { min, max } = this.pollMs;
      await new Promise((r) => setTimeout(r, Math.min(max, min * 2 ** Math.max(0, idle - 1))));
    }
  }

  /** POST /token_subset: a token with at most the rights of this one. */
  async createToken(managerUrl: string, o: { name: string; sub: string; scope: string[]; duration: number; prefixes?: string[] | undefined; apps?: string[] | undefined; repos?: string[] | undefined }): Promise<{ token: string }> {
    const json: Record<string, unknown> = { name: o.name, sub: o.sub, scope: o.scope, duration: o.duration };
    if (o.prefixes?.length) json.prefixes = o.prefixes;
    if (o.apps?.length) json.apps = o.apps;
    if (o.repos?.length) json.repos = o.repos;
    return (await this.ok('POST', `${apiOfManagerUrl(managerUrl)}/token_subset`, json)).body as { token: string };
  }

  /** POST /prune {repo}: queues a prune job of the repo; with `wait`, follows it. */
  async prune(managerUrl: string, o: { repo: string; wait: boolean }): Promise<Job> {
    const url = `${apiOfManagerUrl(managerUrl)}/prune`;
    this.say(`Pruning repo ${o.repo}`);
    const r = await this.ok('POST', url, { repo: o.repo });
    const jobUrl = this.location(url, r);
    if (!o.wait) return reparse(r.body as Job, jobUrl);
    this.say('Waiting for prune job');
    return this.followJob(jobUrl);
  }
}
