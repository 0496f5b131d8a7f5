import { Args } from '@oclif/core';
import { isErrorResult, type JobFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class RepoPrune extends FmdCommand<typeof RepoPrune> {
  static override description = 'Queue a prune job: removes objects no ref of the repo reaches any more.';
  static override examples = ['<%= config.bin %> repo prune stable', '<%= config.bin %> repo prune stable --json | jq .job.number'];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };

  async run(): Promise<{ job: JobFieldsFragment }> {
    const { pruneRepo: result } = await this.client().pruneRepo({ input: { repo: this.args.name } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`prune of ${this.args.name} queued as job ${result.job.number}: fmdc job follow ${result.job.number}`);
    return { job: result.job };
  }
}
