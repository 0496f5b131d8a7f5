import { Args, Flags } from '@oclif/core';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { parseDuration } from '@fmd/sdk';
import { apiUrlOf } from '../rest.ts';

export default class CreateToken extends FmdCommand<typeof CreateToken> {
  static override description = `Create a token with at most the rights of yours and print it (flat-manager-client's \`create-token\`).

Scopes are the words after the subject (flat-manager-client's form) or --scope. The subject limits the builds the token may touch: "build" for all, "build/<id>" for one.`;

  static override examples = [
    '<%= config.bin %> create-token https://flat.example.org ci-upload build upload build --duration 3600',
    '<%= config.bin %> create-token http://localhost:8080 reader build --scope download --repo stable --duration 30d',
  ];

  static override strict = false;

  static override args = {
    'manager-url': Args.string({ description: 'the server, as http(s)://host[:port]', required: true }),
    name: Args.string({ description: 'a name to recognise the token by', required: true }),
    subject: Args.string({ description: 'the token\'s subject (sub claim): build, or build/<id>', required: true }),
    scope: Args.string({ description: 'scopes to grant (any number): jobs build upload publish generate download republish reviewcheck tokenmanagement', ignoreStdin: true }),
  };

  static override flags = {
    scope: Flags.string({ description: 'a scope to grant (repeatable), beside the positional ones', multiple: true, delimiter: ',' }),
    prefix: Flags.string({ description: 'app id prefix the token is limited to (repeatable)', multiple: true, delimiter: ',' }),
    app: Flags.string({ description: 'app id the token is limited to (repeatable)', multiple: true, delimiter: ',' }),
    repo: Flags.string({ description: 'repo the token is limited to (repeatable)', multiple: true, delimiter: ',' }),
    duration: Flags.string({ description: 'lifetime in seconds (flat-manager-client\'s form) or as 30d, 12h, 90m, 1w, 1y', default: '86400' }),
  };

  async run(): Promise<{ token: string }> {
    const managerUrl = this.args['manager-url'];
    apiUrlOf(managerUrl); // a bad URL is a usage error before anything else
    const scopes = [...this.argList.slice(3), ...(this.flags.scope ?? [])];
    const duration = parseDuration(this.flags.duration);
    if (duration === undefined) {
      this.error(`--duration ${this.flags.duration} is not a duration.`, { exit: exitCodes.usage, suggestions: ['Use seconds, or a number with a unit: 30d, 12h, 90m, 1w, 1y.'] });
    }
    const data = await (await this.rest(managerUrl)).createToken(managerUrl, {
      name: this.args.name,
      sub: this.args.subject,
      scope: scopes,
      duration,
      prefixes: this.flags.prefix,
      apps: this.flags.app,
      repos: this.flags.repo,
    });
    // The token alone on stdout, so that `$(fmdc create-token ...)` captures it.
    if (!this.flags['print-output']) this.log(data.token);
    return data;
  }
}
