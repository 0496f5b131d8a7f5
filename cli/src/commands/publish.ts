import { Args, Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { checkUrl, type Job } from '../rest.ts';

export default class Publish extends FmdCommand<typeof Publish> {
  static override description = `Publish a committed build into its repo (flat-manager-client's \`publish\`).

With --wait, prints the publish job's log as it grows; with --wait-update, also the repo update job it queued. Exits 0 when they succeeded, 5 when one failed. A build already published (or being published, or held for review) is not an error.`;

  static override examples = ['<%= config.bin %> publish --wait $BUILD_URL', '<%= config.bin %> publish --wait-update $BUILD_URL --print-output'];

  static override args = {
    'build-url': Args.string({ description: 'the build URL `fmdc create` printed', required: true }),
  };

  static override flags = {
    wait: Flags.boolean({ description: 'wait for the publish job to end, printing its log' }),
    'wait-update': Flags.boolean({ description: 'also wait for the repo update job the publish queued' }),
  };

  async run(): Promise<Job | Record<string, never>> {
    const buildUrl = checkUrl(this.args['build-url'], 'build URL');
    const rest = await this.rest(buildUrl);
    const wait = this.flags.wait || this.flags['wait-update'];
    const job = await rest.publish(buildUrl, { wait });
    // As flat-manager-client: the update job is looked up (or followed), its result is not part of the output.
    await rest.updateJobOf(buildUrl, job, { wait: this.flags['wait-update'] });
    return job;
  }
}
