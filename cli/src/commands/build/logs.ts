import { Flags } from '@oclif/core';
import { exitCodes } from '../../base-command.ts';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildLogs extends FollowCommand<typeof BuildLogs> {
  static override summary = 'Print the logs of a build\'s jobs (build, commit, checks, publish), oldest first; with --follow, live until the build is over.';
  static override description = followExitHelp;

  static override examples = ['<%= config.bin %> build logs 42', '<%= config.bin %> build logs 42 --follow'];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'follow the build live until it is over (published, committed, or failed)', default: false }),
  };

  async run() {
    const { number } = this.args;
    const client = this.client();
    const { build } = await client.build({ number });
    if (!build) this.error(`build ${number} not found (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc build list` shows the builds you may read.'] });
    if (this.flags.follow) {
      const r = await this.followBuildLive(number);
      return { build: r.build, reached: r.reached };
    }
    const logs: Array<{ job: number; kind: string; status: string; log: string }> = [];
    for (const job of build.jobs.edges.map((e) => e.node).sort((a, b) => a.number - b.number)) {
      const { job: found } = await client.job({ number: job.number, withLog: true });
      if (!found) continue;
      const log = found.log?.text ?? '';
      logs.push({ job: job.number, kind: job.kind, status: found.status, log });
      this.log(`── ${job.kind} job ${job.number} (${found.status.toLowerCase()}) ──`);
      if (log) this.log(log.replace(/\n$/, ''));
    }
    if (logs.length === 0) this.log(`build ${number} has no jobs yet`);
    return { build, logs };
  }
}
