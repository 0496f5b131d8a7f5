import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildPublish extends FollowCommand<typeof BuildPublish> {
  static override summary = 'Publish a committed build into its repo (a failed publish may be published again).';
  static override description = followExitHelp;

  static override examples = ['<%= config.bin %> build publish 42', '<%= config.bin %> build publish 42 --follow --json'];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'follow the publish job live until it ends', default: false }),
  };

  async run() {
    const { number } = this.args;
    const { publishBuild: result } = await this.client().publishBuild({ input: { build: number } });
    if (isErrorResult(result)) this.failWith(result);
    this.logToStderr(`publishing build ${number}: publish job ${result.job.number}`);
    if (!this.flags.follow) {
      this.log(`publish job ${result.job.number} queued; follow it with \`${this.config.bin} job follow ${result.job.number}\``);
      return result;
    }
    const r = await this.followJobLive(result.job.number);
    return { ...result, job: r.job };
  }
}
