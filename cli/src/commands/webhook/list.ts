import { Flags } from '@oclif/core';
import type { WebhookFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

const columns = [
  { header: 'number', get: (w: WebhookFieldsFragment) => String(w.number) },
  { header: 'repo', get: (w: WebhookFieldsFragment) => w.repo ?? '(every repo)' },
  { header: 'url', get: (w: WebhookFieldsFragment) => w.url },
  { header: 'events', get: (w: WebhookFieldsFragment) => w.events.join(',') },
  { header: 'enabled', get: (w: WebhookFieldsFragment) => (w.enabled ? 'yes' : 'no') },
];

export default class WebhookList extends FmdCommand<typeof WebhookList> {
  static override description = 'List webhooks (admin; a token for some repos sees theirs).';
  static override examples = ['<%= config.bin %> webhook list', '<%= config.bin %> webhook list --repo stable --json'];

  static override flags = {
    repo: Flags.string({ description: "only this repo's webhooks (global ones are left out then)" }),
    ...pageFlags,
  };

  async run(): Promise<Page<WebhookFieldsFragment>> {
    const { repo } = this.flags;
    const page = await fetchPages(this.flags, async (p) => (await this.client().webhooks({ ...p, ...(repo && { repo }) })).webhooks);
    this.log(table(page.nodes, columns, 'no webhooks'));
    const more = morePages(page, `${this.config.bin} webhook list`);
    if (more) this.log(more);
    return page;
  }
}
