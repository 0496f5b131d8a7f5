import { Args, Flags } from '@oclif/core';
import { isErrorResult, type WebhookFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { details } from '../../output.ts';
import { webhookEventNames } from '../../webhook-events.ts';

export default class WebhookUpdate extends FmdCommand<typeof WebhookUpdate> {
  static override description = 'Change a webhook (admin); flags left out keep their value.';
  static override examples = [
    '<%= config.bin %> webhook update 3 --disable',
    '<%= config.bin %> webhook update 3 --hook-url https://ci.example.org/fmd2 --event build.published',
    '<%= config.bin %> webhook update 3 --secret "$(openssl rand -hex 32)"',
  ];

  static override args = { id: Args.string({ description: 'the webhook: its number or ID', required: true }) };
  static override flags = {
    // (--url is the fmd server's.)
    'hook-url': Flags.string({ description: 'a new receiver URL (http or https)' }),
    event: Flags.string({ description: `the events, replacing the old list (repeatable or comma-separated): ${webhookEventNames.join(', ')}`, multiple: true, delimiter: ',' }),
    secret: Flags.string({ description: 'a new signing secret (16 to 256 characters)' }),
    description: Flags.string({ description: 'a new note ("" clears it)' }),
    enable: Flags.boolean({ description: 'send events again', exclusive: ['disable'] }),
    disable: Flags.boolean({ description: 'stop sending events (queued retries end unsent)', exclusive: ['enable'] }),
  };

  async run(): Promise<WebhookFieldsFragment> {
    const url = this.flags['hook-url'];
    const { event, secret, description, enable, disable } = this.flags;
    const input = {
      id: this.args.id,
      ...(url !== undefined && { url }),
      ...(event !== undefined && { events: event }),
      ...(secret !== undefined && { secret }),
      ...(description !== undefined && { description }),
      ...(enable && { enabled: true }),
      ...(disable && { enabled: false }),
    };
    if (Object.keys(input).length === 1) this.error('nothing to change.', { exit: exitCodes.usage, suggestions: ['Give --hook-url, --event, --secret, --description, --enable or --disable.'] });
    const { updateWebhook: result } = await this.client().updateWebhook({ input });
    if (isErrorResult(result)) this.failWith(result);
    const w = result.webhook;
    this.log(details({ number: w.number, repo: w.repo ?? '(every repo)', url: w.url, events: w.events, enabled: w.enabled, description: w.description }));
    return w;
  }
}
