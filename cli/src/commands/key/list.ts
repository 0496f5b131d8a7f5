import type { SigningKeyFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

export default class KeyList extends FmdCommand<typeof KeyList> {
  static override description = 'List the signing keys, newest first.';
  static override examples = ['<%= config.bin %> key list', '<%= config.bin %> key list --all --json | jq -r ".nodes[].fingerprint"'];

  static override flags = { ...pageFlags };

  async run(): Promise<Page<SigningKeyFieldsFragment>> {
    const page = await fetchPages(this.flags, async (p) => (await this.client().keys(p)).keys);
    this.log(
      table(
        page.nodes,
        [
          { header: 'name', get: (k) => k.name },
          { header: 'key id', get: (k) => k.keyId },
          { header: 'algorithm', get: (k) => k.algorithm },
          { header: 'user id', get: (k) => k.userIds.join('; ') },
          { header: 'created', get: (k) => when(k.createdAt) },
          { header: 'expires', get: (k) => (k.expiresAt ? when(k.expiresAt) : 'never') },
        ],
        'no signing keys (`fmdc key generate NAME` makes one)',
      ),
    );
    const more = morePages(page, 'fmdc key list');
    if (more) this.log(more);
    return page;
  }
}
