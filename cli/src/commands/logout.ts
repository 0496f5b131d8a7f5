import { Flags } from '@oclif/core';
import { FmdCommand } from '../base-command.ts';

export default class Logout extends FmdCommand<typeof Logout> {
  static override description = `Forget a stored profile (its URL and token). The token itself stays valid until it expires: \`fmdc token revoke <id>\` ends it on the server.`;

  static override examples = ['<%= config.bin %> logout', '<%= config.bin %> logout --profile prod', '<%= config.bin %> logout --all'];

  static override flags = {
    all: Flags.boolean({ description: 'forget every profile', default: false }),
  };

  async run(): Promise<{ removed: string[] }> {
    const { store, profileName } = this.settings;
    const names = this.flags.all ? Object.keys(await store.all()) : [profileName];
    const removed: string[] = [];
    for (const name of names) if (await store.delete(name)) removed.push(name);
    if (removed.length === 0) this.log(this.flags.all ? 'no profiles stored' : `no profile "${profileName}" stored (nothing to do)`);
    else this.log(`forgot profile${removed.length === 1 ? '' : 's'} ${removed.map((n) => `"${n}"`).join(', ')}`);
    return { removed };
  }
}
