import { Flags } from '@oclif/core';
import { isErrorResult, type JobFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class RetentionRun extends FmdCommand<typeof RetentionRun> {
  static override description =
    "Start a retention run now (admin): with --repo, the purge of the repo's old builds never published; without, the global sweep (work dirs, build caches, job logs, audit entries).";
  static override examples = [
    '<%= config.bin %> retention run --repo stable --dry-run   # list what would be purged',
    '<%= config.bin %> retention run',
    '<%= config.bin %> retention run --repo stable --json | jq .job.number',
  ];

  static override flags = {
    repo: Flags.string({ description: 'the repo whose builds to purge' }),
    'dry-run': Flags.boolean({ description: "only report what would be deleted (default: the repo's or the server's dry-run setting)", allowNo: true }),
  };

  async run(): Promise<{ job: JobFieldsFragment }> {
    const { repo, 'dry-run': dryRun } = this.flags;
    const { runRetention: result } = await this.client().runRetention({ input: { ...(repo !== undefined && { repo }), ...(dryRun !== undefined && { dryRun }) } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`retention run${repo ? ` of ${repo}` : ''} queued as job ${result.job.number}: fmdc job follow ${result.job.number}`);
    return { job: result.job };
  }
}
