import { Flags } from '@oclif/core';
import type { ApiTokenFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

export default class TokenList extends FmdCommand<typeof TokenList> {
  static override description = 'List the tokens you may manage, newest first: all for admins, else yours and those created from it.';
  static override examples = ['<%= config.bin %> token list', '<%= config.bin %> token list --revoked --all --json | jq -r ".nodes[].tokenId"'];

  static override flags = {
    revoked: Flags.boolean({ description: 'include revoked tokens', default: false }),
    ...pageFlags,
  };

  async run(): Promise<Page<ApiTokenFieldsFragment>> {
    const { revoked } = this.flags;
    const page = await fetchPages(this.flags, async (p) => (await this.client().tokens({ ...p, includeRevoked: revoked })).tokens);
    const now = Date.now();
    this.log(
      table(
        page.nodes,
        [
          { header: 'id', get: (t) => t.tokenId },
          { header: 'name', get: (t) => t.name },
          { header: 'scopes', get: (t) => t.scopes.join(',') },
          { header: 'owner', get: (t) => t.owner?.name },
          // The parent's name when you may see it; its id otherwise.
          { header: 'parent', get: (t) => t.parent?.name ?? t.parentTokenId },
          { header: 'last used', get: (t) => when(t.lastUsedAt) },
          {
            header: 'state',
            get: (t) => (t.revokedAt ? `revoked ${when(t.revokedAt)}` : t.expiresAt && Date.parse(t.expiresAt) < now ? 'expired' : `expires ${t.expiresAt ? when(t.expiresAt) : 'never'}`),
          },
        ],
        revoked ? 'no tokens' : 'no active tokens (--revoked shows revoked ones)',
      ),
    );
    const more = morePages(page, `fmdc token list${revoked ? ' --revoked' : ''}`);
    if (more) this.log(more);
    return page;
  }
}
