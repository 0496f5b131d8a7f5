import { Flags } from '@oclif/core';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { jobDetails } from '../../build-output.ts';
import { numberArg } from '../../numbers.ts';

export default class JobShow extends FmdCommand<typeof JobShow> {
  static override description = 'Show a job: its kind, status, times and error; --log adds its log so far.';
  static override examples = ['<%= config.bin %> job show 17', '<%= config.bin %> job show 17 --log', '<%= config.bin %> job show 17 --json'];

  static override args = {
    number: numberArg('job number'),
  };

  static override flags = {
    log: Flags.boolean({ description: 'print its log so far too', default: false }),
  };

  async run() {
    const { number } = this.args;
    const { job } = await this.client().job({ number, withLog: this.flags.log });
    if (!job) this.error(`job ${number} not found (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc job list` shows the jobs you may read.'] });
    this.log(jobDetails(job));
    if (job.log?.text) this.log(`\n${job.log.text.replace(/\n$/, '')}`);
    return job;
  }
}
