import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildCommit extends FollowCommand<typeof BuildCommit> {
  static override summary = 'Commit an uploaded build: its refs become signed commits in its build repo, then its checks run.';
  static override description = followExitHelp;

  static override examples = [
    '<%= config.bin %> build commit 42 --follow',
    '<%= config.bin %> build commit 42 --end-of-life "Use org.example.NewApp" --end-of-life-rebase org.example.NewApp',
  ];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    'end-of-life': Flags.string({ description: 'mark the refs end-of-life with this message' }),
    'end-of-life-rebase': Flags.string({ description: 'the app id that replaces this one' }),
    'token-type': Flags.integer({ description: 'token type of the commits (refs of some types need a download token)' }),
    follow: Flags.boolean({ char: 'f', description: 'follow the commit job live until it ends', default: false }),
  };

  async run() {
    const { number } = this.args;
    const f = this.flags;
    const { commitBuild: result } = await this.client().commitBuild({
      input: {
        build: number,
        ...(f['end-of-life'] !== undefined && { endOfLife: f['end-of-life'] }),
        ...(f['end-of-life-rebase'] !== undefined && { endOfLifeRebase: f['end-of-life-rebase'] }),
        ...(f['token-type'] !== undefined && { tokenType: f['token-type'] }),
      },
    });
    if (isErrorResult(result)) this.failWith(result);
    this.logToStderr(`committing build ${number}: commit job ${result.job.number}`);
    if (!f.follow) {
      this.log(`commit job ${result.job.number} queued; follow it with \`${this.config.bin} job follow ${result.job.number}\``);
      return result;
    }
    const r = await this.followJobLive(result.job.number);
    return { ...result, job: r.job };
  }
}
