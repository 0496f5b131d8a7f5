import { Flags } from '@oclif/core';
import type { ViewerQuery } from '@fmd/sdk';
import { createFmdClient, FmdRequestError } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { askSecret } from '../prompt.ts';
import { readTokenFile } from '../config.ts';

export default class Login extends FmdCommand<typeof Login> {
  static override description = `Check a token against a server and store both as a profile, so that later commands need neither.

The token comes from --token, --token-file, or standard input (piped, or typed at a hidden prompt); it is checked with the server before anything is stored. Profiles live in profiles.json in fmdc's config dir (readable by you only). --profile (or FMDC_PROFILE) picks one; without it, "default". A profile's token is only sent to its own server.`;

  static override examples = [
    '<%= config.bin %> login --url https://flat.example.org',
    'echo "$TOKEN" | <%= config.bin %> login --url https://flat.example.org --profile prod',
    '<%= config.bin %> login --url http://localhost:8080 --token-file ~/fmd-admin.token',
    '<%= config.bin %> --profile prod whoami',
  ];

  static override flags = {
    url: Flags.string({ description: 'the fmd (or flat-manager) server URL', required: true }),
  };

  async run(): Promise<{ profile: string; url: string; viewer: ViewerQuery['viewer'] }> {
    const url = this.serverUrl(); // --url, required here
    const token = this.flags.token ?? (this.flags['token-file'] ? await readTokenFile(this.flags['token-file']) : await this.readToken());
    const client = createFmdClient({ url, token });
    let viewer: ViewerQuery['viewer'];
    try {
      ({ viewer } = await client.viewer());
    } catch (err) {
      if (err instanceof FmdRequestError && err.code === 'UNAUTHENTICATED') {
        this.error(`${url} rejected the token: ${err.message}. Nothing was stored.`, { exit: exitCodes.auth, code: err.errorType ?? 'invalid-token', suggestions: ['Check that the token is for this server and has not expired or been revoked.'] });
      }
      throw err;
    } finally {
      await client.close();
    }
    const profile = this.settings.profileName;
    await this.settings.store.set(profile, { url, token });
    const who = viewer.user ? `${viewer.user.name}${viewer.user.isAdmin ? ' (admin)' : ''}` : viewer.subject ? `subject ${viewer.subject}` : 'a token without a user';
    this.log(`logged in to ${url} as ${who}, token ${viewer.name ? `"${viewer.name}" ` : ''}(${viewer.scopes.join(', ') || 'no scopes'}), expires ${viewer.expiresAt ?? 'never'}`);
    this.log(`stored as profile "${profile}" in ${this.settings.store.file}`);
    return { profile, url, viewer };
  }

  /** The token from a pipe, or typed at a prompt that does not echo it. */
  private async readToken(): Promise<string> {
    const stdin = process.stdin;
    let text = '';
    if (!stdin.isTTY) {
      for await (const chunk of stdin) text += String(chunk);
    } else {
      text = await askSecret('API token: ');
    }
    const token = (text.split(/\r?\n/).find((l) => l.trim()) ?? '').trim();
    if (!token) this.error('no token given.', { exit: exitCodes.usage, suggestions: ['Pass it with --token or --token-file, or on standard input.'] });
    return token;
  }
}
