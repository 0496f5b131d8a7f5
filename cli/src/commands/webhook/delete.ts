import { Args, Flags } from '@oclif/core';
import { isErrorResult, type DeleteWebhookMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { confirmByName, NotInteractiveError } from '../../prompt.ts';

type Deleted = Extract<DeleteWebhookMutation['deleteWebhook'], { __typename: 'DeleteWebhookPayload' }>;

export default class WebhookDelete extends FmdCommand<typeof WebhookDelete> {
  static override description = 'Delete a webhook and its delivery log (admin). Asks first unless --yes.';
  static override examples = ['<%= config.bin %> webhook delete 3', '<%= config.bin %> webhook delete 3 --yes --json'];

  static override args = { id: Args.string({ description: 'the webhook: its number or ID', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask (needed when stdin is not a terminal)', default: false }),
  };

  async run(): Promise<Deleted> {
    const { id } = this.args;
    if (!this.flags.yes) {
      let confirmed: boolean;
      try {
        confirmed = await confirmByName(`Delete webhook ${id} and its delivery log?`, id);
      } catch (e) {
        if (!(e instanceof NotInteractiveError)) throw e;
        this.error(`not deleting webhook ${id} without --yes: there is no terminal to ask on.`, { exit: exitCodes.usage, suggestions: [`Run \`fmdc webhook delete ${id} --yes\`.`] });
      }
      if (!confirmed) this.error('not confirmed; nothing deleted.', { exit: exitCodes.usage });
    }
    const { deleteWebhook: result } = await this.client().deleteWebhook({ input: { id } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`deleted webhook ${result.number}`);
    return result;
  }
}
