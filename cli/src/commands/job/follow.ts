import { Flags } from '@oclif/core';
import { exitCodes } from '../../base-command.ts';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

export default class JobFollow extends FollowCommand<typeof JobFollow> {
  static override summary = 'Print a job\'s log live until the job is over, then exit with its result.';
  static override description = followExitHelp;

  static override examples = ['<%= config.bin %> job follow 17', '<%= config.bin %> job follow 17 --from-offset 2048'];

  static override args = {
    number: numberArg('job number'),
  };

  static override flags = {
    'from-offset': Flags.integer({ description: 'start at this byte of the log (what an earlier follow printed)', default: 0, min: 0 }),
  };

  async run() {
    const { number } = this.args;
    const { job } = await this.client().job({ number });
    if (!job) this.error(`job ${number} not found (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc job list` shows the jobs you may read.'] });
    const r = await this.followJobLive(number, this.flags['from-offset']);
    return { job: r.job, nextOffset: r.nextOffset };
  }
}
