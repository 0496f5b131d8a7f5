import { Args } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { jobUrlOf, type ReportedJob } from '../rest.ts';

export default class FollowJob extends FmdCommand<typeof FollowJob> {
  static override description = `Print a job's log as it grows until the job ends (flat-manager-client's \`follow-job\`).

Exits 0 when the job succeeded and 5 when it failed. The job URL is the Location a commit, publish or prune answered, \`<server>/api/v1/job/<id>\`, or \`<build URL>/commit\` and \`<build URL>/publish\`.`;

  static override examples = ['<%= config.bin %> follow-job https://flat.example.org/api/v1/job/1234', '<%= config.bin %> follow-job $BUILD_URL/commit'];

  static override args = {
    'job-url': Args.string({ description: 'the job URL', required: true }),
  };

  async run(): Promise<ReportedJob> {
    const jobUrl = jobUrlOf(this.args['job-url']);
    return (await this.rest(jobUrl)).follow(jobUrl);
  }
}
