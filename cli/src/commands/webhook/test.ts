import { Args } from '@oclif/core';
import { isErrorResult, type WebhookDeliveryFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class WebhookTest extends FmdCommand<typeof WebhookTest> {
  static override description = 'Send a `ping` delivery to a webhook (admin), enabled or not; `webhook deliveries` shows how it went.';
  static override examples = ['<%= config.bin %> webhook test 3', '<%= config.bin %> webhook test 3 --json'];

  static override args = { id: Args.string({ description: 'the webhook: its number or ID', required: true }) };

  async run(): Promise<WebhookDeliveryFieldsFragment> {
    const { id } = this.args;
    const { testWebhook: result } = await this.client().testWebhook({ input: { id } });
    if (isErrorResult(result)) this.failWith(result);
    const d = result.delivery;
    this.log(`queued ping delivery ${d.deliveryId} (job ${d.jobNumber ?? '-'}); see ${this.config.bin} webhook deliveries ${id}`);
    return d;
  }
}
