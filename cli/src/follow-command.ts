// The base of the commands that follow a job or a build live (build create/logs/commit/publish/
// rebuild/promote --follow, job follow): the log goes to stdout as it comes (to stderr with
// --json, so that stdout stays one JSON document), notes to stderr, and the command ends with
// the exit code of what it followed. Ctrl-C stops following, not the job.
import type { Command } from '@oclif/core';
import { FmdCommand, exitCodes } from './base-command.ts';
import type { JobFieldsFragment } from '@fmd/sdk';
import { followBuild, followJob, Interrupted, type BuildResult, type BuildWithJobs, type FollowOptions, type JobResult, type Outcome } from './follow.ts';

/** What --help says about the exit codes of following. */
export const followExitHelp = `Exit codes when following: 0 it succeeded, ${exitCodes.jobFailed} it failed (the reason is printed), ${exitCodes.jobCancelled} it was cancelled, ${exitCodes.interrupted} Ctrl-C (it goes on on the server).`;

export abstract class FollowCommand<T extends typeof Command> extends FmdCommand<T> {
  /** Runs `follow` until it is over or Ctrl-C (SIGINT) or SIGTERM. */
  private async interruptible<R>(resume: string, follow: (o: FollowOptions) => Promise<R>): Promise<R> {
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      return await follow({
        signal: ac.signal,
        text: (chunk) => void (this.jsonEnabled() ? process.stderr : process.stdout).write(chunk),
        note: (line) => this.logToStderr(line),
      });
    } catch (err) {
      if (err instanceof Interrupted) {
        this.error(`stopped following; it goes on on the server. ${resume} picks it up again.`, { exit: exitCodes.interrupted, code: 'interrupted' });
      }
      throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }

  /** Fails the command with the exit code of a failed or cancelled outcome. */
  private end(what: string, outcome: Outcome, reason: string | null): void {
    if (outcome === 'succeeded') return;
    this.error(`${what} ${outcome}: ${reason ?? 'no reason given'}`, {
      exit: outcome === 'failed' ? exitCodes.jobFailed : exitCodes.jobCancelled,
      code: outcome === 'failed' ? 'failed' : 'cancelled',
    });
  }

  /** Follows a job's log and status; ends the command unless the job ended well. */
  protected async followJobLive(number: number, fromOffset = 0): Promise<JobResult<JobFieldsFragment>> {
    const r = await this.interruptible(`\`${this.config.bin} job follow ${number}\``, (o) => followJob(this.client(), number, { ...o, fromOffset }));
    if (r.outcome === 'succeeded') this.logToStderr(`${r.job.kind} job ${number} ended`);
    this.end(`${r.job.kind} job ${number}`, r.outcome, r.reason);
    return r;
  }

  /** Follows a build through its jobs; ends the command unless the build got where it was going. */
  protected async followBuildLive(number: number): Promise<BuildResult<BuildWithJobs>> {
    const r = await this.interruptible(`\`${this.config.bin} build logs ${number} --follow\``, (o) => followBuild(this.client(), number, o));
    if (r.outcome === 'succeeded') this.logToStderr(`build ${number} ${r.reached}`);
    this.end(`build ${number}`, r.outcome, r.reason);
    return r;
  }
}
