import { Args } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { parseBuildUrl } from '../rest.ts';

export default class Purge extends FmdCommand<typeof Purge> {
  static override description = `Purge a build that was not published: its uploads and build repo are deleted (flat-manager-client's \`purge\`).`;

  static override examples = ['<%= config.bin %> purge $BUILD_URL'];

  static override args = {
    'build-url': Args.string({ description: 'the build URL `fmdc create` printed', required: true }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { buildUrl } = parseBuildUrl(this.args['build-url']);
    return (await this.rest(buildUrl)).purge(buildUrl);
  }
}
