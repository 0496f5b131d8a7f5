import { Args, Errors, Flags } from '@oclif/core';
import { PushError, pushRepo, type PushProgress, type PushResult } from '@fmd/sdk/push';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { bytes } from '../output.ts';
import type { ReportedJob } from '../rest.ts';

export type PushSummary = {
  /** the build's JSON after the push (and commit/publish) */
  build: Record<string, unknown>;
  push: PushResult;
  commit_job?: ReportedJob;
  /** `{}` when the build was already published (or is being published) */
  publish_job?: ReportedJob | Record<string, never>;
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
    const verbs = await this.rest(buildUrl);
    const progress = new ProgressView(process.stderr);
    const note = (line: string) => {
      progress.clear();
      process.stderr.write(`${line}\n`);
    };
    try {
      const pushed = await pushRepo({
        buildUrl,
        token: verbs.rest.token,
        repo,
        refs,
        ignoreDelta: f['ignore-delta'] ?? [],
        extraIds: f['extra-id'] ?? [],
        buildLogUrl: f['build-log-url'],
        minimalToken: f['minimal-token'],
        concurrency: f.parallel,
        client: verbs.rest,
        onLog: note,
        onProgress: (p) => progress.update(p),
      });
      progress.finish();
      note(
        `Pushed ${Object.keys(pushed.refs).length} ref(s): ${pushed.objects.uploaded} of ${pushed.objects.metadata + pushed.objects.files} objects sent (${bytes(pushed.bytesUploaded)}), ` +
          `the rest already on the server${pushed.deltaParts.length ? `, ${pushed.deltaParts.length} delta parts` : ''}, in ${(pushed.durationMs / 1000).toFixed(1)} s${pushed.retries ? ` (${pushed.retries} retries)` : ''}.`,
      );

      // flat-manager-client's order and choices: a publish needs the commit done, so it waits for it.
      const summary: Omit<PushSummary, 'build'> = { push: pushed };
      if (f.commit || f.publish) {
        const commit = { endOfLife: f['end-of-life'], endOfLifeRebase: f['end-of-life-rebase'], tokenType: f['token-type'] };
        summary.commit_job = await verbs.commit(pushed.buildUrl, { ...commit, wait: f.publish || f.wait });
      }
      if (f.publish) {
        summary.publish_job = await verbs.publish(pushed.buildUrl, { wait: f.wait, waitUpdate: f['wait-update'], onUpdateJob: (job) => (summary.update_job = job) });
      }
      const build = await verbs.rest.getBuild(pushed.buildUrl);
      this.log(`${pushed.buildUrl}: ${stateText(build)}`);
      return { build, ...summary };
    } catch (err) {
      progress.clear();
      throw err instanceof PushError ? this.explainPush(err) : err;
    }
  }

  /** A push failure as a CLI error with the exit code of its kind (REST failures are the base command's). */
  private explainPush(err: PushError): Errors.CLIError {
    // A repo or ref that is not there is a wrong argument; a broken repo or a failed conversion is not.
    const usage = err.kind === 'repo-not-found' || err.kind === 'ref-not-found' || err.kind === 'no-refs';
    return new Errors.CLIError(err.message, { exit: usage ? exitCodes.usage : exitCodes.failed, code: err.kind });
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
