// flat-manager-client's verbs on top of @fmd/sdk/push's REST client (the one `fmdc push` uses),
// so that they work against fmd and against a real flat-manager alike: the same requests, the
// job log followed as flat-manager-client prints it (`| ` before each line), the same JSON
// results (job `results` parsed, the job URL as `location`), and --verbose/--debug tracing of
// every request. Progress goes to stderr, so stdout holds only what a script captures (a build
// URL, a token, or the JSON of --json/--print-output).
import { apiUrlOf, FlatManagerError, FlatManagerRestClient, JOB_STATUS, jobResults, parseBuildUrl, type FlatManagerJob } from '@fmd/sdk/push';

export type Trace = (line: string) => void;

/** A job as flat-manager-client reports it: its JSON with `results` parsed and its URL as `location`. */
export type ReportedJob = Omit<FlatManagerJob, 'results'> & { results: Record<string, unknown>; location: string };

type RequestOptions = NonNullable<Parameters<FlatManagerRestClient['request']>[2]>;

/** The REST client, logging each request for --verbose (one line each) and --debug (with bodies). */
export class TracedRestClient extends FlatManagerRestClient {
  readonly #trace: Trace | undefined;
  readonly #bodies: boolean;

  constructor(o: { token: string; trace?: Trace | undefined; bodies?: boolean }) {
    super({ token: o.token });
    this.#trace = o.trace;
    this.#bodies = o.bodies ?? false;
  }

  override async request(method: string, url: string, o: RequestOptions = {}): ReturnType<FlatManagerRestClient['request']> {
    const trace = this.#trace;
    if (!trace) return super.request(method, url, o);
    // The token never goes into a log: CI logs are often public.
    const sent = this.#bodies ? ` ${JSON.stringify({ ...(o.headers ?? {}), ...((o.token ?? this.token) && { authorization: 'Bearer <redacted>' }) })}${o.json === undefined ? '' : ` ${clip(JSON.stringify(o.json))}`}` : '';
    trace(`> ${method} ${url}${sent}`);
    const started = Date.now();
    try {
      const r = await super.request(method, url, o);
      trace(`< ${r.status} ${method} ${url} (${Date.now() - started} ms)${this.#bodies ? ` ${JSON.stringify(r.headers)} ${clip(r.text)}` : ''}`);
      return r;
    } catch (err) {
      trace(`< failed ${method} ${url}: ${(err as Error).message}`);
      throw err;
    }
  }
}

const clip = (s: string) => (s.length > 2000 ? `${s.slice(0, 2000)}... (${s.length} characters)` : s);

/** A job URL given on the command line: any http(s) URL (`<api>/job/<id>`, `<build>/commit`, ...). */
export function jobUrlOf(raw: string): string {
  let u: URL | undefined;
  try {
    u = new URL(raw);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new FlatManagerError(`not a URL: ${JSON.stringify(raw)} (expected <server>/api/v1/job/<id>)`, { kind: 'bad-url' });
  }
  return raw.replace(/\/+$/, '');
}

export { apiUrlOf, parseBuildUrl };

/** flat-manager-client's commands over the REST client, printing as it does. */
export class FlatManagerVerbs {
  readonly rest: FlatManagerRestClient;
  readonly say: (line: string) => void;

  constructor(rest: FlatManagerRestClient, say: (line: string) => void) {
    this.rest = rest;
    this.say = say;
  }

  static reported(job: FlatManagerJob, url: string): ReportedJob {
    return { ...job, results: jobResults(job), location: url };
  }

  /**
   * Prints the job's log as it grows until the job ends, and answers it; a job that ended
   * broken throws FlatManagerError `job-failed` (with `followed`, the job and its whole log).
   * With the job's id (or a `/api/v1/job/<id>` URL) fmd streams the log over its subscription;
   * flat-manager is polled.
   */
  async follow(jobUrl: string, jobId?: number): Promise<ReportedJob> {
    let pending = '';
    let started = false;
    const flush = () => {
      if (pending) this.say(`| ${pending}`);
      pending = '';
    };
    try {
      const done = await this.rest.followJob(jobUrl, {
        ...(jobId !== undefined && { jobId }),
        onStatus: (status, job) => {
          if (status === JOB_STATUS.new) {
            const after = (job.start_after as { secs_since_epoch?: number } | null | undefined)?.secs_since_epoch;
            if (after && after - Date.now() / 1000 > 1) this.say(`Waiting ${Math.floor(after - Date.now() / 1000)} seconds before starting job`);
          }
          if (status > JOB_STATUS.new && !started) this.say('/ Job was started');
          started ||= status > JOB_STATUS.new;
        },
        // Whole lines only, so that a line split across two polls prints once with its prefix.
        onLog: (text) => {
          const lines = (pending + text).split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) this.say(`| ${line}`);
        },
      });
      flush();
      this.say('\\ Job completed successfully');
      return FlatManagerVerbs.reported(done.job, jobUrl);
    } catch (err) {
      flush();
      if (err instanceof FlatManagerError && err.kind === 'job-failed') this.say('\\ Job failed');
      throw err;
    }
  }

  async createBuild(managerUrl: string, input: { repo: string; appId?: string | undefined; publicDownload?: boolean | undefined; buildLogUrl?: string | undefined }): Promise<Record<string, unknown> & { location: string }> {
    const { build, url } = await this.rest.createBuild(apiUrlOf(managerUrl), {
      repo: input.repo,
      ...(input.appId !== undefined && { appId: input.appId }),
      ...(input.publicDownload !== undefined && { publicDownload: input.publicDownload }),
      ...(input.buildLogUrl !== undefined && { buildLogUrl: input.buildLogUrl }),
    });
    return { ...build, location: url };
  }

  async commit(buildUrl: string, o: { endOfLife?: string | undefined; endOfLifeRebase?: string | undefined; tokenType?: number | undefined; wait: boolean }): Promise<ReportedJob> {
    this.say(`Committing build ${buildUrl}`);
    const { job, url } = await this.rest.commitBuild(buildUrl, { endOfLife: o.endOfLife ?? null, endOfLifeRebase: o.endOfLifeRebase ?? null, tokenType: o.tokenType ?? null });
    if (!o.wait) return FlatManagerVerbs.reported(job, url);
    this.say('Waiting for commit job');
    return this.follow(url, job.id);
  }

  /**
   * Publishes; with `wait`, follows the job, with `waitUpdate` also the repo update job it
   * queued (which is otherwise only looked up, as flat-manager-client does). A build already
   * published, being published, or held in validation is not an error: the answer is then `{}`.
   */
  async publish(buildUrl: string, o: { wait: boolean; waitUpdate: boolean; onUpdateJob?: (job: ReportedJob) => void }): Promise<ReportedJob | Record<string, never>> {
    this.say(`Publishing build ${buildUrl}`);
    let started: Awaited<ReturnType<FlatManagerRestClient['publishBuild']>>;
    try {
      started = await this.rest.publishBuild(buildUrl);
    } catch (err) {
      const state = err instanceof FlatManagerError && err.status === 400 ? err.details?.['current-state'] : undefined;
      if (state === 'publishing') this.say('the build is currently being published');
      else if (state === 'validating') this.say('the build is still being validated or held for review');
      else throw err;
      return {};
    }
    if ('alreadyPublished' in started) {
      this.say('the build has been already published');
      return {};
    }
    let job = FlatManagerVerbs.reported(started.job, started.url);
    if (o.wait || o.waitUpdate) {
      this.say('Waiting for publish job');
      job = await this.follow(started.url, started.job.id);
    }
    const updateJobId = job.results['update-repo-job'];
    if (typeof updateJobId === 'number') {
      this.say(`Queued repo update job ${updateJobId}`);
      const updateUrl = `${parseBuildUrl(buildUrl).apiUrl}/job/${updateJobId}`;
      let update: ReportedJob;
      if (o.waitUpdate) {
        this.say('Waiting for repo update job');
        update = await this.follow(updateUrl);
      } else update = FlatManagerVerbs.reported(await this.rest.getJob(updateUrl), updateUrl);
      o.onUpdateJob?.(update);
    }
    return job;
  }

  /** Purges; a build still being committed or published is left alone without failing, as flat-manager-client does (CI clean-up steps rely on it). */
  async purge(buildUrl: string): Promise<Record<string, unknown>> {
    this.say(`Purging build ${buildUrl}`);
    try {
      return await this.rest.purgeBuild(buildUrl);
    } catch (err) {
      if (!(err instanceof FlatManagerError && err.status === 400 && err.details?.message === "Can't prune build while in use")) throw err;
      this.say('the build is in use (being committed or published) and was not purged');
      return {};
    }
  }

  /** POST /prune {repo} (flat-manager's API; flat-manager-client has no verb for it). */
  async prune(managerUrl: string, o: { repo: string; wait: boolean }): Promise<ReportedJob> {
    const url = `${apiUrlOf(managerUrl)}/prune`;
    this.say(`Pruning repo ${o.repo}`);
    const r = this.rest.check(await this.rest.request('POST', url, { json: { repo: o.repo } }), 'prune', url);
    const jobUrl = String(r.headers.location ?? '');
    if (!o.wait) return FlatManagerVerbs.reported(r.body as FlatManagerJob, jobUrl);
    this.say('Waiting for prune job');
    return this.follow(jobUrl);
  }

  async createToken(managerUrl: string, input: { name: string; sub: string; scope: string[]; duration: number; prefixes?: string[] | undefined; apps?: string[] | undefined; repos?: string[] | undefined }): Promise<{ token: string }> {
    const token = await this.rest.createToken(apiUrlOf(managerUrl), {
      name: input.name,
      sub: input.sub,
      scope: input.scope,
      duration: input.duration,
      ...(input.prefixes?.length && { prefixes: input.prefixes }),
      ...(input.apps?.length && { apps: input.apps }),
      ...(input.repos?.length && { repos: input.repos }),
    });
    return { token };
  }
}
