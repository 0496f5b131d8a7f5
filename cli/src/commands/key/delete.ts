import { Args } from '@oclif/core';
import { isErrorResult, type DeleteKeyMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
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
        this.error(result.message, { exit: exitCodes.failed, code: result.errorType, suggestions: result.repos.map((repo) => `Move ${repo} to another key first: fmdc repo update ${repo} --key OTHER-KEY (or --key none to leave it unsigned).`) });
      }
      this.failWith(result);
    }
    this.log(`deleted key ${key.name} (${result.fingerprint})`);
    return result;
  }
}
