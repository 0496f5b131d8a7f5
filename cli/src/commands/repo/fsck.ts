import { Args } from '@oclif/core';
import { isErrorResult, type JobFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class RepoFsck extends FmdCommand<typeof RepoFsck> {
  static override description = 'Queue an `ostree fsck` of the repo (admin): the job fails, naming the damaged objects, when it finds any.';
  static override examples = ['<%= config.bin %> repo fsck stable', '<%= config.bin %> repo fsck stable --json | jq .job.number'];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };

  async run(): Promise<{ job: JobFieldsFragment }> {
    const { fsckRepo: result } = await this.client().fsckRepo({ input: { repo: this.args.name } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`fsck of ${this.args.name} queued as job ${result.job.number}: fmdc job follow ${result.job.number}`);
    return { job: result.job };
  }
}
