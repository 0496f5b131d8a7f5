import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildPromote extends FollowCommand<typeof BuildPromote> {
  static override summary = 'Promote a published build into a child repo (e.g. beta -> stable): its commits are published again there by a promote job. The build must be published in the target\'s parent.';
  static override description = followExitHelp;

  static override examples = ['<%= config.bin %> build promote 42 --to stable', '<%= config.bin %> build promote 42 --to stable --follow'];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    to: Flags.string({ description: 'the repo to promote into', required: true }),
    follow: Flags.boolean({ char: 'f', description: 'follow the promote job live until it ends', default: false }),
  };

  async run() {
    const { number } = this.args;
    const { promoteBuild: result } = await this.client().promoteBuild({ input: { build: number, targetRepo: this.flags.to } });
    if (isErrorResult(result)) this.failWith(result);
    this.logToStderr(`promoting build ${number} into ${this.flags.to}: promote job ${result.job.number}`);
    if (!this.flags.follow) {
      this.log(`promotion ${result.promotion.number} (${result.promotion.state.toLowerCase()}): job ${result.job.number}; follow it with \`${this.config.bin} job follow ${result.job.number}\``);
      return result;
    }
    const r = await this.followJobLive(result.job.number);
    return { ...result, job: r.job };
  }
}
