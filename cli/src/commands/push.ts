import { Args, Errors, Flags } from '@oclif/core';
import {
  FlatManagerError,
  FlatManagerRestClient,
  jobResults,
  PushError,
  pushRepo,
  type FlatManagerJob,
  type FollowedJob,
  type PushProgress,
  type PushResult,
} from '@fmd/sdk/push';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { bytes } from '../output.ts';

/** A job as flat-manager-client reports it: its JSON with `results` parsed and its URL as `location`. */
type ReportedJob = Omit<FlatManagerJob, 'results'> & { results: Record<string, unknown>; location: string };

export type PushSummary = {
  /** the build's JSON after the push (and commit/publish) */
  build: Record<string, unknown>;
  push: PushResult;
  commit_job?: ReportedJob;
  publish_job?: ReportedJob | { alreadyPublished: true };
  update_job?: ReportedJob;
};

export default class Push extends FmdCommand<typeof Push> {
  static override description = `Upload the commits of a local OSTree repo into a build, then optionally commit and publish it.

Works as flat-manager-client's push (same arguments and flags, against fmd or flat-manager): without refs it pushes every app/, runtime/ and screenshots/ ref of the repo. Only objects the server lacks are sent, several requests at once; failed requests are retried and resume where they stopped, and running the same push again finishes an interrupted one. A bare or bare-user repo is read through a temporary archive copy made with \`ostree pull-local\`.`;

  static override examples = [
    '<%= config.bin %> push https://fmd.example.org/api/v1/build/12 repo',
    '<%= config.bin %> push $BUILD_URL repo app/org.example.App/x86_64/stable --commit --publish --wait',
    '<%= config.bin %> push $BUILD_URL repo --commit --end-of-life "Use org.example.New" --end-of-life-rebase org.example.New',
    '<%= config.bin %> push $BUILD_URL repo --extra-id org.example.App.Locale --ignore-delta "*.Debug" --json',
  ];

  static override strict = false;
  static override usage = 'push BUILD-URL LOCAL-REPO [REFS...] [--commit] [--publish] [--wait] [--wait-update] [--extra-id ID]... [--end-of-life TEXT] [--end-of-life-rebase ID] [--token-type N] [--build-log-url URL] [--minimal-token] [--ignore-delta GLOB]... [--json]';

  static override args = {
    'build-url': Args.string({ description: 'the build to push into: <server>/api/v1/build/<id>, as `fmdc create` prints', required: true }),
    'local-repo': Args.string({ description: 'the local OSTree repo (archive, or bare/bare-user)', required: true }),
    refs: Args.string({ description: 'refs to push (several may follow); default: every app/, runtime/ and screenshots/ ref' }),
  };

  static override flags = {
    commit: Flags.boolean({ description: 'commit the build after pushing' }),
    publish: Flags.boolean({ description: 'commit and publish the build after pushing (waits for the commit)' }),
    wait: Flags.boolean({ description: 'wait for the commit (and publish) job to finish' }),
    'wait-update': Flags.boolean({ description: 'with --publish: wait for the repo update job the publish queues' }),
    'extra-id': Flags.string({ description: 'add an extra collection id to the build (repeatable)', multiple: true, multipleNonGreedy: true }),
    'end-of-life': Flags.string({ description: 'mark the committed refs end-of-life with this message' }),
    'end-of-life-rebase': Flags.string({ description: 'the app id that supersedes this one (end-of-life rebase)' }),
    'token-type': Flags.integer({ description: 'token type of the committed refs (flatpak xa.token-type)' }),
    'build-log-url': Flags.string({ description: 'URL of the build log, recorded with each ref' }),
    'minimal-token': Flags.boolean({ description: 'upload with a one-hour token limited to this build and uploads, made from yours' }),
    'ignore-delta': Flags.string({ description: 'do not upload static deltas of app ids matching this glob (repeatable)', multiple: true, multipleNonGreedy: true }),
    parallel: Flags.integer({ description: 'upload requests in flight at once', default: 6, min: 1, max: 32 }),
  };

  async run(): Promise<PushSummary> {
    const [buildUrl, repo, ...refs] = this.argList as [string, string, ...string[]];
    const f = this.flags;
    // --token, --token-file, REPO_TOKEN, FMDC_TOKEN, or the profile of the build's server.
    const token = await this.apiTokenFor(buildUrl);
    const rest = new FlatManagerRestClient({ token });
    const progress = new ProgressView(process.stderr);
    const note = (line: string) => {
      progress.clear();
      process.stderr.write(`${line}\n`);
    };
    try {
      const pushed = await pushRepo({
        buildUrl,
        token,
        repo,
        refs,
        ignoreDelta: f['ignore-delta'] ?? [],
        extraIds: f['extra-id'] ?? [],
        buildLogUrl: f['build-log-url'],
        minimalToken: f['minimal-token'],
        concurrency: f.parallel,
        client: rest,
        onLog: note,
        onProgress: (p) => progress.update(p),
      });
      progress.finish();
      note(
        `Pushed ${Object.keys(pushed.refs).length} ref(s): ${pushed.objects.uploaded} of ${pushed.objects.metadata + pushed.objects.files} objects sent (${bytes(pushed.bytesUploaded)}), ` +
          `the rest already on the server${pushed.deltaParts.length ? `, ${pushed.deltaParts.length} delta parts` : ''}, in ${(pushed.durationMs / 1000).toFixed(1)} s${pushed.retries ? ` (${pushed.retries} retries)` : ''}.`,
      );

      const summary: Omit<PushSummary, 'build'> = { push: pushed };
      const follow = async (url: string, what: string, jobId?: number): Promise<FollowedJob> => {
        note(`Waiting for ${what} job`);
        return rest.followJob(url, {
          jobId,
          onStatus: (status) => status === 1 && note('/ Job was started'),
          onLog: (text) => {
            for (const line of text.split(/(?<=\n)/)) process.stderr.write(`| ${line}`);
          },
        });
      };
      const reported = (job: FlatManagerJob, url: string): ReportedJob => ({ ...job, results: jobResults(job), location: url });

      // flat-manager-client's order and choices: a publish needs the commit done, so it waits for it.
      if (f.commit || f.publish) {
        note(`Committing build ${pushed.buildUrl}`);
        const started = await rest.commitBuild(pushed.buildUrl, { endOfLife: f['end-of-life'] ?? null, endOfLifeRebase: f['end-of-life-rebase'] ?? null, tokenType: f['token-type'] ?? null });
        summary.commit_job = reported(started.job, started.url);
        if (f.publish || f.wait) {
          const done = await this.jobOrFail(follow(started.url, 'commit', started.job.id), 'commit');
          summary.commit_job = reported(done.job, started.url);
        }
      }
      if (f.publish) {
        note(`Publishing build ${pushed.buildUrl}`);
        const started = await rest.publishBuild(pushed.buildUrl);
        if ('alreadyPublished' in started) {
          note('the build has been already published');
          summary.publish_job = started;
        } else {
          let job = started.job;
          if (f.wait || f['wait-update']) job = (await this.jobOrFail(follow(started.url, 'publish', started.job.id), 'publish')).job;
          summary.publish_job = reported(job, started.url);
          const updateJobId = jobResults(job)['update-repo-job'];
          if (typeof updateJobId === 'number') {
            note(`Queued repo update job ${updateJobId}`);
            const updateUrl = `${pushed.buildUrl.replace(/\/build\/\d+$/, '')}/job/${updateJobId}`;
            const update = f['wait-update'] ? (await this.jobOrFail(follow(updateUrl, 'repo update'), 'repo update')).job : await rest.getJob(updateUrl);
            summary.update_job = reported(update, updateUrl);
          }
        }
      }
      const build = await rest.getBuild(pushed.buildUrl);
      this.log(`${pushed.buildUrl}: ${stateText(build)}`);
      return { build, ...summary };
    } catch (err) {
      progress.clear();
      throw this.explainPush(err);
    } finally {
      rest.close();
    }
  }

  private async jobOrFail(p: Promise<FollowedJob>, what: string): Promise<FollowedJob> {
    try {
      const done = await p;
      process.stderr.write('\\ Job completed successfully\n');
      return done;
    } catch (err) {
      if (err instanceof FlatManagerError && err.kind === 'job-failed') {
        process.stderr.write('\\ Job failed\n');
        throw new Errors.CLIError(`the ${what} ${err.message}`, { exit: exitCodes.jobFailed, code: 'job-failed' });
      }
      throw err;
    }
  }

  /** A push failure as a CLI error with the exit code of its kind. */
  private explainPush(err: unknown): unknown {
    if (err instanceof PushError) {
      // A repo or ref that is not there is a wrong argument; a broken repo or a failed conversion is not.
      const usage = err.kind === 'repo-not-found' || err.kind === 'ref-not-found' || err.kind === 'no-refs';
      return new Errors.CLIError(err.message, { exit: usage ? exitCodes.usage : exitCodes.failed, code: err.kind });
    }
    if (err instanceof FlatManagerError) {
      const exit = { 'bad-url': exitCodes.usage, unreachable: exitCodes.unreachable, auth: exitCodes.auth }[err.kind as string] ?? exitCodes.failed;
      const suggestions =
        err.kind === 'unreachable'
          ? ['Check the build URL and that the server is running; running the same push again resumes it.']
          : err.kind === 'auth'
            ? ['Use a token with the upload (and, to commit or publish, build/publish) scope for this repo; `fmdc whoami` shows yours.']
            : err.kind === 'not-found'
              ? ['Check the build id; `fmdc create <server> <repo>` makes a new build.']
              : err.transient
                ? ['The server failed; running the same push again resumes it.']
                : [];
      return new Errors.CLIError(err.message, { exit, code: err.kind, suggestions });
    }
    return err;
  }
}

function stateText(build: Record<string, unknown>): string {
  const state = typeof build.state === 'string' ? build.state : `repo_state ${String(build.repo_state)}`;
  return `build ${String(build.id)} is ${state}`;
}

/**
 * The push's progress on stderr: a bar redrawn in place on a terminal (objects, bytes, rate,
 * ETA), otherwise a plain line every few seconds, so CI logs show progress without flooding.
 */
class ProgressView {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  #shown = false;
  #last = 0;
  #lastPhase = '';

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  update(p: PushProgress): void {
    if (p.phase !== 'uploading' && p.phase !== 'deltas') {
      this.#lastPhase = p.phase;
      return;
    }
    const now = Date.now();
    const phaseChanged = p.phase !== this.#lastPhase;
    this.#lastPhase = p.phase;
    const complete = p.objectsDone === p.objectsTotal;
    if (!phaseChanged && !complete && now - this.#last < (this.#tty ? 100 : 5000)) return;
    this.#last = now;
    const pct = p.bytesTotal ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
    const rate = p.bytesPerSecond;
    const eta = rate > 0 ? formatSeconds((p.bytesTotal - p.bytesDone) / rate) : '--:--';
    const text = `${p.objectsDone}/${p.objectsTotal} objects, ${bytes(p.bytesDone)}/${bytes(p.bytesTotal)}, ${bytes(Math.round(rate))}/s, ETA ${eta}`;
    if (this.#tty) {
      const width = 24;
      const fill = Math.round((pct / 100) * width);
      this.#out.write(`\r\x1b[K[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${text}`);
      this.#shown = true;
    } else {
      this.#out.write(`uploading: ${pct}% ${text}\n`);
    }
  }

  /** Removes the bar (before other output, or when done). */
  clear(): void {
    if (this.#shown) this.#out.write('\r\x1b[K');
    this.#shown = false;
  }

  finish(): void {
    this.clear();
  }
}

function formatSeconds(s: number): string {
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
