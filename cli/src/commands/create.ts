import { Args, Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';
import { apiUrlOf } from '../rest.ts';

export default class Create extends FmdCommand<typeof Create> {
  static override description = `Create a build to upload to (flat-manager-client's \`create\`), and print its URL.

The build URL is what \`fmdc push\`, \`commit\`, \`publish\` and \`purge\` take. Works against fmd and against flat-manager (REST API /api/v1).`;

  static override examples = [
    'BUILD_URL=$(<%= config.bin %> create https://flat.example.org stable)',
    '<%= config.bin %> --token-file token.txt create https://flat.example.org beta org.example.App --build-log-url https://ci.example.org/job/42',
    '<%= config.bin %> create http://localhost:8080 stable --print-output',
  ];

  static override args = {
    'manager-url': Args.string({ description: 'the server, as http(s)://host[:port]', required: true }),
    repo: Args.string({ description: 'the repo to build for', required: true }),
    'app-id': Args.string({ description: 'the app the build is for (limits the refs it may hold)', ignoreStdin: true }),
  };

  static override flags = {
    public_download: Flags.boolean({ description: 'allow public read access to the build repo', aliases: ['public-download'], exclusive: ['no_public_download'] }),
    no_public_download: Flags.boolean({ description: 'no public read access to the build repo', aliases: ['no-public-download'] }),
    'build-log-url': Flags.string({ description: 'URL of the build log for the whole build' }),
  };

  async run(): Promise<Record<string, unknown> & { location: string }> {
    const managerUrl = this.args['manager-url'];
    apiUrlOf(managerUrl); // a bad URL is a usage error before anything else
    const { public_download: yes, no_public_download: no } = this.flags;
    const build = await (await this.rest(managerUrl)).createBuild(managerUrl, {
      repo: this.args.repo,
      appId: this.args['app-id'],
      publicDownload: yes ? true : no ? false : undefined,
      buildLogUrl: this.flags['build-log-url'],
    });
    // Only the URL on stdout, so that `$(fmdc create ...)` captures it; --print-output prints the whole build instead.
    if (!this.flags['print-output']) this.log(build.location);
    return build;
  }
}
