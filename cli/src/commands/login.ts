import { Flags } from '@oclif/core';
import type { SignInFieldsFragment, ViewerQuery } from '@fmd/sdk';
import { createFmdClient, FmdRequestError } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { askPassword, askSecret, NotInteractiveError } from '../prompt.ts';
import { readTokenFile } from '../config.ts';

export default class Login extends FmdCommand<typeof Login> {
  static override description = `Check a token against a server and store both as a profile, so that later commands need neither. Or, with --user, sign in with a user's password.

With --user the password is asked for without echo (or read from the first line of standard input with --password-stdin); the session's short-lived access token and its refresh token are stored, and later commands renew them on their own. \`fmdc logout\` ends the session on the server.

The token comes from --token, --token-file, or standard input (piped, or typed at a hidden prompt); it is checked with the server before anything is stored. Profiles live in profiles.json in fmdc's config dir (readable by you only). --profile (or FMDC_PROFILE) picks one; without it, "default". A profile's token is only sent to its own server.`;

  static override examples = [
    '<%= config.bin %> login --url https://flat.example.org',
    'echo "$TOKEN" | <%= config.bin %> login --url https://flat.example.org --profile prod',
    '<%= config.bin %> login --url http://localhost:8080 --token-file ~/fmd-admin.token',
    '<%= config.bin %> --profile prod whoami',
    '<%= config.bin %> login --url https://flat.example.org --user alice',
    'printf "%s\\n" "$PASSWORD" | <%= config.bin %> login --url https://flat.example.org --user ci-bot --password-stdin',
  ];

  static override flags = {
    url: Flags.string({ description: 'the fmd (or flat-manager) server URL', required: true }),
    user: Flags.string({ description: 'sign in as this user with a password (asked for without echo)', exclusive: ['token', 'token-file'] }),
    'password-stdin': Flags.boolean({ description: 'with --user: read the password from the first line of standard input', default: false }),
  };

  async run(): Promise<{ profile: string; url: string; viewer?: ViewerQuery['viewer']; user?: SignInFieldsFragment['user']; session?: SignInFieldsFragment['session'] }> {
    const url = this.serverUrl(); // --url, required here
    if (this.flags.user) return this.signIn(url, this.flags.user);
    if (this.flags['password-stdin']) this.error('--password-stdin goes with --user.', { exit: exitCodes.usage, suggestions: ['Sign in with `fmdc login --url <server> --user <name> --password-stdin`.'] });
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

  /** Password sign-in: the session's tokens go to the profile. */
  private async signIn(url: string, username: string): Promise<{ profile: string; url: string; user: SignInFieldsFragment['user']; session: SignInFieldsFragment['session'] }> {
    let password: string;
    try {
      password = await askPassword({ fromStdin: this.flags['password-stdin'], question: `Password for ${username} at ${url}: ` });
    } catch (e) {
      if (!(e instanceof NotInteractiveError)) throw e;
      this.error('no terminal to ask for the password on.', { exit: exitCodes.usage, suggestions: ['Pipe it in with --password-stdin.'] });
    }
    if (!password) this.error('no password given.', { exit: exitCodes.usage });
    const client = createFmdClient({ url });
    let result;
    try {
      result = (await client.signIn({ input: { username, password } })).signIn;
    } finally {
      await client.close();
    }
    if (result.__typename === 'SignInError') {
      const locked = result.signInProblem === 'LOCKED';
      this.error(`${url} refused the sign-in: ${result.message}${locked && result.lockedUntil ? ` (locked until ${result.lockedUntil})` : ''}. Nothing was stored.`, {
        exit: exitCodes.auth,
        code: result.signInProblem.toLowerCase().replace(/_/g, '-'),
        suggestions: [locked ? 'Wait until then, or ask an admin to unlock the account (`fmdc user unlock <name>`).' : 'Check the user name and password.'],
      });
    }
    if (result.__typename !== 'SignInPayload') this.failWith(result);
    const profile = this.settings.profileName;
    await this.settings.store.set(profile, {
      url,
      token: result.accessToken,
      refreshToken: result.refreshToken,
      accessTokenExpiresAt: result.accessTokenExpiresAt,
      refreshTokenExpiresAt: result.refreshTokenExpiresAt,
      user: result.user.name,
    });
    this.log(`signed in to ${url} as ${result.user.name}${result.user.isAdmin ? ' (admin)' : ''}; the session lasts until ${result.refreshTokenExpiresAt} unless renewed or ended (fmdc logout)`);
    this.log(`stored as profile "${profile}" in ${this.settings.store.file}`);
    return { profile, url, user: result.user, session: result.session };
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
