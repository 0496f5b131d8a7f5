import { Flags } from '@oclif/core';
import type { UsersQuery } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';
import { grantText } from '../../users.ts';

type ListedUser = UsersQuery['users']['edges'][number]['node'];

export default class UserList extends FmdCommand<typeof UserList> {
  static override description = 'List users (admins see everyone; others only themselves).';
  static override examples = ['<%= config.bin %> user list', '<%= config.bin %> user list --search ali', '<%= config.bin %> user list --all --json | jq -r ".nodes[].name"'];

  static override flags = {
    search: Flags.string({ description: 'only users whose name, display name or email contains this' }),
    ...pageFlags,
  };

  async run(): Promise<Page<ListedUser>> {
    const { search } = this.flags;
    const page = await fetchPages(this.flags, async (p) => (await this.client().users({ ...p, ...(search !== undefined && { search }) })).users);
    const now = Date.now();
    this.log(
      table(
        page.nodes,
        [
          { header: 'name', get: (u) => u.name },
          { header: 'display name', get: (u) => u.displayName },
          { header: 'email', get: (u) => u.email },
          { header: 'roles', get: (u) => [u.isAdmin ? 'admin' : '', ...u.roles.map(grantText)].filter(Boolean).join('; ') },
          { header: 'last sign-in', get: (u) => when(u.lastSignInAt) },
          { header: 'state', get: (u) => (u.disabled ? 'disabled' : u.lockedUntil && Date.parse(u.lockedUntil) > now ? `locked until ${when(u.lockedUntil)}` : 'active') },
        ],
        search ? 'no users match' : 'no users',
      ),
    );
    const more = morePages(page, `fmdc user list${search ? ` --search ${search}` : ''}`);
    if (more) this.log(more);
    return page;
  }
}
