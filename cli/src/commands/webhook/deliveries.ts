import { Args } from '@oclif/core';
import type { WebhookDeliveriesQuery } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

type Delivery = WebhookDeliveriesQuery['webhookDeliveries']['edges'][number]['node'];

const columns = [
  { header: 'time', get: (d: Delivery) => when(d.createdAt) },
  { header: 'event', get: (d: Delivery) => d.event },
  { header: 'delivery', get: (d: Delivery) => d.deliveryId },
  { header: 'attempt', get: (d: Delivery) => String(d.attempt) },
  { header: 'state', get: (d: Delivery) => d.state.toLowerCase() },
  { header: 'status', get: (d: Delivery) => (d.statusCode === null || d.statusCode === undefined ? '-' : String(d.statusCode)) },
  { header: 'ms', get: (d: Delivery) => (d.durationMs === null || d.durationMs === undefined ? '-' : String(d.durationMs)) },
  { header: 'error', get: (d: Delivery) => d.error ?? (d.nextRetryAt ? `retry ${when(d.nextRetryAt)}` : '-') },
];

export default class WebhookDeliveries extends FmdCommand<typeof WebhookDeliveries> {
  static override description = "Show a webhook's delivery attempts, newest first (admin). Retries are attempts of the same delivery id. --json adds bodies and answers.";
  static override examples = ['<%= config.bin %> webhook deliveries 3', '<%= config.bin %> webhook deliveries 3 --first 10 --json'];

  static override args = { id: Args.string({ description: 'the webhook: its number or ID', required: true }) };
  static override flags = { ...pageFlags };

  async run(): Promise<Page<Delivery>> {
    const { id } = this.args;
    const page = await fetchPages(this.flags, async (p) => (await this.client().webhookDeliveries({ ...p, webhook: id })).webhookDeliveries);
    this.log(table(page.nodes, columns, 'no deliveries'));
    const more = morePages(page, `${this.config.bin} webhook deliveries ${id}`);
    if (more) this.log(more);
    return page;
  }
}
