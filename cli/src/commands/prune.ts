import { Args, Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { apiUrlOf, type ReportedJob } from '../rest.ts';

export default class Prune extends FmdCommand<typeof Prune> {
  static override description = `Queue a prune of a repo: objects no ref reaches any more are deleted (flat-manager's POST /api/v1/prune). fmd's own form is \`fmdc repo prune\`.

Prints the job URL; with --wait, prints the job's log as it grows and exits 0 when it succeeded, 5 when it failed.`;

  static override examples = ['<%= config.bin %> prune https://flat.example.org stable', '<%= config.bin %> prune http://localhost:8080 stable --wait'];

  static override args = {
    'manager-url': Args.string({ description: 'the server, as http(s)://host[:port]', required: true }),
    repo: Args.string({ description: 'the repo to prune', required: true }),
  };

  static override flags = {
    wait: Flags.boolean({ description: 'wait for the prune job to end, printing its log' }),
  };

  async run(): Promise<ReportedJob> {
    const managerUrl = this.args['manager-url'];
    apiUrlOf(managerUrl); // a bad URL is a usage error before anything else
    const job = await (await this.rest(managerUrl)).prune(managerUrl, { repo: this.args.repo, wait: this.flags.wait });
    if (!this.flags.wait) this.log(String(job.location));
    return job;
  }
}
