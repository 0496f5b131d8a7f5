import { Args } from '@oclif/core';
import { isErrorResult, type DeleteKeyMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { resolveKey } from '../../key-ref.ts';

type Deleted = Extract<DeleteKeyMutation['deleteKey'], { __typename: 'DeleteKeyPayload' }>;

export default class KeyDelete extends FmdCommand<typeof KeyDelete> {
  static override description = 'Delete a signing key (admin); refused while a repo signs with it.';
  static override examples = ['<%= config.bin %> key delete "old key"', '<%= config.bin %> key delete 0123456789ABCDEF --json'];

  static override args = { key: Args.string({ description: 'the key: name, fingerprint, key id or ID', required: true }) };

  async run(): Promise<Deleted> {
    const client = this.client();
    const key = await resolveKey(client, this.args.key, this);
    const { deleteKey: result } = await client.deleteKey({ input: { id: key.id } });
    if (isErrorResult(result)) {
      if (result.__typename === 'KeyInUseError') {
        this.error(result.message, { exit: 1, code: result.errorType, suggestions: [`Move ${result.repos.join(', ')} to another key first: fmdc repo update REPO --key OTHER.`] });
      }
      this.failWith(result);
    }
    this.log(`deleted key ${key.name} (${result.fingerprint})`);
    return result;
  }
}
