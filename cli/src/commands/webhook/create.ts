import { Args, Flags } from '@oclif/core';
import { isErrorResult, type WebhookFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { webhookEventNames } from '../../webhook-events.ts';

export default class WebhookCreate extends FmdCommand<typeof WebhookCreate> {
  static override description =
    "Create a webhook (admin): fmd POSTs the events to the URL, signed with the webhook's secret.\n\nPrints just the secret on stdout (shown only this once), the details on stderr. Without --repo it receives every repo's events (needs an admin token for every repo).";
  static override examples = [
    '<%= config.bin %> webhook create https://ci.example.org/fmd --repo stable --event build.published --event build.failed',
    'SECRET=$(<%= config.bin %> webhook create https://hooks.example.org/fmd --event repo.fsck_failed)',
  ];

  // (The receiver's URL is an argument: --url is the fmd server's.)
  static override args = { 'hook-url': Args.string({ description: 'where to POST (http or https; redirects are not followed)', required: true }) };

  static override flags = {
    event: Flags.string({ description: `an event to send (repeatable or comma-separated): ${webhookEventNames.join(', ')}`, multiple: true, delimiter: ',', required: true }),
    repo: Flags.string({ description: 'the repo whose events it receives (default: every repo)' }),
    secret: Flags.string({ description: 'the signing secret, 16 to 256 characters (default: generated)' }),
    description: Flags.string({ description: 'a note to recognise it by' }),
    disabled: Flags.boolean({ description: 'create it disabled', default: false }),
  };

  async run(): Promise<{ secret: string; webhook: WebhookFieldsFragment }> {
    const url = this.args['hook-url'];
    const { event, repo, secret, description, disabled } = this.flags;
    const { createWebhook: result } = await this.client().createWebhook({
      input: { url, events: event!, ...(repo && { repo }), ...(secret && { secret }), ...(description && { description }), ...(disabled && { enabled: false }) },
    });
    if (isErrorResult(result)) this.failWith(result);
    // The secret alone goes to stdout, so that `$(fmdc webhook create ...)` captures just it.
    this.log(result.secret);
    if (!this.jsonEnabled()) {
      const w = result.webhook;
      this.logToStderr(`created webhook ${w.number} for ${w.repo ?? 'every repo'}: ${w.events.join(', ')} -> ${w.url}${w.enabled ? '' : ' (disabled)'}; its secret is shown only this once.`);
    }
    return { secret: result.secret, webhook: result.webhook };
  }
}
