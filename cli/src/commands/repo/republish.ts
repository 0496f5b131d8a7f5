import { Args, Flags } from '@oclif/core';
import { isErrorResult, type JobFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class RepoRepublish extends FmdCommand<typeof RepoRepublish> {
  static override description = "Queue a republish job: an app's refs in the repo are committed again, e.g. to mark them end-of-life.";
  static override examples = [
    '<%= config.bin %> repo republish stable org.example.App',
    '<%= config.bin %> repo republish stable org.example.Old --end-of-life "use org.example.New" --end-of-life-rebase org.example.New',
  ];

  static override args = {
    name: Args.string({ description: 'the repo', required: true }),
    app: Args.string({ description: 'the app id', required: true }),
  };
  static override flags = {
    'end-of-life': Flags.string({ description: 'mark the app end-of-life with this message' }),
    'end-of-life-rebase': Flags.string({ description: 'the app id that replaces it' }),
  };

  async run(): Promise<{ job: JobFieldsFragment }> {
    const { name, app } = this.args;
    const eol = this.flags['end-of-life'];
    const rebase = this.flags['end-of-life-rebase'];
    const { republishApp: result } = await this.client().republishApp({
      input: { repo: name, app, ...(eol !== undefined && { endOfLife: eol }), ...(rebase !== undefined && { endOfLifeRebase: rebase }) },
    });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`republish of ${app} in ${name} queued as job ${result.job.number}: fmdc job follow ${result.job.number}`);
    return { job: result.job };
  }
}
