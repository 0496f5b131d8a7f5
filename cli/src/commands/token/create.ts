import { Args, Flags } from '@oclif/core';
import { isErrorResult, type ApiTokenFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { parseDuration } from '@fmd/sdk';
import { when } from '../../output.ts';

export default class TokenCreate extends FmdCommand<typeof TokenCreate> {
  static override description =
    'Create a token with at most the rights of your own.\n\nThe token is named as you say; the token you use is its parent (revoking the parent revokes it too). Prints just the token on stdout (shown only this once), the details on stderr.';
  static override examples = [
    '<%= config.bin %> token create ci-upload --scope build --scope upload --prefix org.example --duration 30d',
    'FMDC_TOKEN=$(<%= config.bin %> token create reader --scope download --repo stable)',
    '<%= config.bin %> token create uploader --scope upload --app org.example.App --duration 1h --json',
  ];

  static override args = {
    name: Args.string({ description: 'a name to recognise the token by', required: true }),
  };

  static override flags = {
    scope: Flags.string({ description: 'a scope to grant (repeatable or comma-separated): jobs, build, upload, publish, generate, download, republish, reviewcheck, tokenmanagement, admin', multiple: true, delimiter: ',', required: true }),
    prefix: Flags.string({ description: 'app id prefix the token is limited to (repeatable; default: your own)', multiple: true, delimiter: ',' }),
    app: Flags.string({ description: 'app id the token is limited to (repeatable; default: your own)', multiple: true, delimiter: ',' }),
    repo: Flags.string({ description: 'repo the token is limited to (repeatable; default: your own)', multiple: true, delimiter: ',' }),
    duration: Flags.string({ description: 'lifetime: 30d, 12h, 90m, 1w, 1y or seconds', default: '30d' }),
  };

  async run(): Promise<{ token: string; apiToken: ApiTokenFieldsFragment }> {
    const { name } = this.args;
    const { scope, prefix, app, repo, duration } = this.flags;
    const durationSeconds = parseDuration(duration);
    if (durationSeconds === undefined) {
      this.error(`--duration ${duration} is not a duration.`, { exit: exitCodes.usage, suggestions: ['Use a number with a unit: 30d, 12h, 90m, 1w, 1y, or plain seconds.'] });
    }
    const { createToken: result } = await this.client().createToken({
      input: { name, scopes: scope, durationSeconds, ...(prefix && { prefixes: prefix }), ...(app && { apps: app }), ...(repo && { repos: repo }) },
    });
    if (isErrorResult(result)) this.failWith(result);
    const { token, apiToken } = result;
    // The token alone goes to stdout, so that `$(fmdc token create ...)` captures just it.
    this.log(token);
    if (!this.jsonEnabled()) {
      this.logToStderr(`created token ${apiToken.tokenId} "${apiToken.name}" (${apiToken.scopes.join(', ')}), expires ${apiToken.expiresAt ? when(apiToken.expiresAt) : 'never'}; it is shown only this once.`);
      if (apiToken.parentTokenId) this.logToStderr(`parent: ${apiToken.parentTokenId}${apiToken.parent ? ` "${apiToken.parent.name}"` : ''} (revoking it revokes this one too)`);
    }
    return { token, apiToken };
  }
}

