import { Args, Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { parseBuildUrl, type ReportedJob } from '../rest.ts';

export default class Commit extends FmdCommand<typeof Commit> {
  static override description = `Commit an uploaded build into its build repo (flat-manager-client's \`commit\`).

Without --wait, prints the commit job's URL (for \`fmdc follow-job\`). With --wait, prints the job's log as it grows (on stderr) and exits with its result: 0 when it succeeded, 5 when it failed.`;

  static override examples = ['<%= config.bin %> commit --wait $BUILD_URL', '<%= config.bin %> commit $BUILD_URL --end-of-life "use org.example.New" --end-of-life-rebase org.example.Old=org.example.New'];

  static override args = {
    'build-url': Args.string({ description: 'the build URL `fmdc create` printed', required: true }),
  };

  static override flags = {
    wait: Flags.boolean({ description: 'wait for the commit job to end, printing its log' }),
    'end-of-life': Flags.string({ description: 'mark the build\'s refs end-of-life with this message' }),
    'end-of-life-rebase': Flags.string({ description: 'the new id that supersedes this one (OLD=NEW)' }),
    'token-type': Flags.integer({ description: 'the token type the refs need to be downloaded (0 = none)' }),
  };

  async run(): Promise<ReportedJob> {
    const { buildUrl } = parseBuildUrl(this.args['build-url']);
    const job = await (await this.rest(buildUrl)).commit(buildUrl, {
      endOfLife: this.flags['end-of-life'],
      endOfLifeRebase: this.flags['end-of-life-rebase'],
      tokenType: this.flags['token-type'],
      wait: this.flags.wait,
    });
    // Not waiting: the job URL on stdout, for `fmdc follow-job` later.
    if (!this.flags.wait) this.log(job.location);
    return job;
  }
}
