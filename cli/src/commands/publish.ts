import { Args, Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { parseBuildUrl, type ReportedJob } from '../rest.ts';

export default class Publish extends FmdCommand<typeof Publish> {
  static override description = `Publish a committed build into its repo (flat-manager-client's \`publish\`).

Without --wait, prints the publish job's URL (for \`fmdc follow-job\`). With --wait, prints the publish job's log as it grows (on stderr); with --wait-update, also the repo update job it queued. Exits 0 when they succeeded, 5 when one failed. A build already published (or being published, or held for review) is not an error.`;

  static override examples = ['<%= config.bin %> publish --wait $BUILD_URL', '<%= config.bin %> publish --wait-update $BUILD_URL --print-output'];

  static override args = {
    'build-url': Args.string({ description: 'the build URL `fmdc create` printed', required: true }),
  };

  static override flags = {
    wait: Flags.boolean({ description: 'wait for the publish job to end, printing its log' }),
    'wait-update': Flags.boolean({ description: 'also wait for the repo update job the publish queued' }),
  };

  async run(): Promise<ReportedJob | Record<string, never>> {
    const { buildUrl } = parseBuildUrl(this.args['build-url']);
    const job = await (await this.rest(buildUrl)).publish(buildUrl, { wait: this.flags.wait, waitUpdate: this.flags['wait-update'] });
    // Not waiting: the job URL on stdout, for `fmdc follow-job` later.
    if (!this.flags.wait && !this.flags['wait-update'] && 'location' in job) this.log(job.location);
    return job;
  }
}
