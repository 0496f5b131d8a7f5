import type { RepoFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

export default class RepoList extends FmdCommand<typeof RepoList> {
  static override description = 'List the repos your token may read, by name.';
  static override examples = ['<%= config.bin %> repo list', '<%= config.bin %> repo list --all --json | jq -r ".nodes[].name"', '<%= config.bin %> repo list --first 10 --after <cursor>'];

  static override flags = { ...pageFlags };

  async run(): Promise<Page<RepoFieldsFragment>> {
    const page = await fetchPages(this.flags, async (p) => (await this.client().repos(p)).repos);
    this.log(
      table(
        page.nodes,
        [
          { header: 'name', get: (r) => r.name },
          { header: 'title', get: (r) => r.title },
          { header: 'collection id', get: (r) => r.collectionId },
          { header: 'key', get: (r) => r.key?.name },
          { header: 'parent', get: (r) => r.parent?.name },
          { header: 'summary updated', get: (r) => when(r.summaryUpdatedAt) },
        ],
        'no repos (an admin creates one with `fmdc repo create`)',
      ),
    );
    const more = morePages(page, 'fmdc repo list');
    if (more) this.log(more);
    return page;
  }
}
