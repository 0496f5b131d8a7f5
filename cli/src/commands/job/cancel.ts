import { isErrorResult } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { numberArg } from '../../numbers.ts';

export default class JobCancel extends FmdCommand<typeof JobCancel> {
  static override description = 'Cancel a queued job, or ask a running one to stop at its next checkpoint. (A git build is stopped with `build cancel`.)';
  static override examples = ['<%= config.bin %> job cancel 17'];

  static override args = {
    number: numberArg('job number'),
  };

  async run() {
    const { number } = this.args;
    const { cancelJob: result } = await this.client().cancelJob({ input: { number } });
    if (isErrorResult(result)) this.failWith(result);
    const { job } = result;
    this.log(`job ${number}: ${job.status.toLowerCase()}${job.cancelRequested && job.status !== 'BROKEN' ? ', cancel requested' : ''}`);
    return result;
  }
}
