import { Flags } from '@oclif/core';
import { createFmdClient } from '@fmd/sdk';
import { FmdCommand } from '../base-command.ts';

export default class Logout extends FmdCommand<typeof Logout> {
  static override description = `Forget a stored profile (its URL and token). A password sign-in's session (\`fmdc login --user\`) is ended on the server first; --everywhere ends every session of that user. An API token itself stays valid until it expires: \`fmdc token revoke <id>\` ends it on the server.`;

  static override examples = ['<%= config.bin %> logout', '<%= config.bin %> logout --profile prod', '<%= config.bin %> logout --all', '<%= config.bin %> logout --everywhere'];

  static override flags = {
    all: Flags.boolean({ description: 'forget every profile', default: false }),
    everywhere: Flags.boolean({ description: "end every session of the profile's user (all browsers and machines), not only this one", default: false, exclusive: ['all'] }),
  };

  async run(): Promise<{ removed: string[]; endedSessions: number }> {
    const { store, profileName } = this.settings;
    const names = this.flags.all ? Object.keys(await store.all()) : [profileName];
    let endedSessions = 0;
    const removed: string[] = [];
    for (const name of names) {
      const profile = await store.get(name);
      if (profile?.refreshToken) endedSessions += await this.endSession(name, profile.url, profile.refreshToken);
      if (await store.delete(name)) removed.push(name);
    }
    if (removed.length === 0) this.log(this.flags.all ? 'no profiles stored' : `no profile "${profileName}" stored (nothing to do)`);
    else this.log(`forgot profile${removed.length === 1 ? '' : 's'} ${removed.map((n) => `"${n}"`).join(', ')}${endedSessions ? `; ended ${endedSessions} session${endedSessions === 1 ? '' : 's'} on the server` : ''}`);
    return { removed, endedSessions };
  }

  /** Ends a profile's session on its server; a session that already ended is no failure (the profile is forgotten anyway). */
  private async endSession(name: string, url: string, refreshToken: string): Promise<number> {
    const profile = (await this.settings.store.get(name))!;
    const client = createFmdClient({ url, session: { accessToken: profile.token, refreshToken, accessTokenExpiresAt: profile.accessTokenExpiresAt } });
    try {
      if (this.flags.everywhere) {
        const r = (await client.signOutEverywhere()).signOutEverywhere;
        if (r.__typename === 'SignOutEverywherePayload') return r.endedSessions;
        this.warn(`${url}: ${r.message}`);
        return 0;
      }
      // The refresh token names the session to end.
      const r = (await client.signOut({ input: { refreshToken } })).signOut;
      if (r.__typename === 'SignOutPayload') return r.ended ? 1 : 0;
      this.warn(`${url}: ${r.message}`);
      return 0;
    } catch (err) {
      this.warn(`could not end the session of profile "${name}" on ${url} (${(err as Error).message}); forgetting it here anyway`);
      return 0;
    } finally {
      await client.close();
    }
  }
}
