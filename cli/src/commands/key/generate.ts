import { Args, Flags } from '@oclif/core';
import { isErrorResult, type SigningKeyFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { parseDuration } from '@fmd/sdk';
import { details, when } from '../../output.ts';

export default class KeyGenerate extends FmdCommand<typeof KeyGenerate> {
  static override description = 'Generate an Ed25519 OpenPGP signing key on the server (admin); its private half never leaves it.';
  static override examples = [
    '<%= config.bin %> key generate "release key" --email releases@example.org',
    '<%= config.bin %> key generate 2027 --user-name "Example Apps" --expires 1y --json',
  ];

  static override args = { name: Args.string({ description: "fmd's name for the key", required: true }) };
  static override flags = {
    'user-name': Flags.string({ description: 'the name in the OpenPGP user id (default: NAME)' }),
    email: Flags.string({ description: 'the email in the OpenPGP user id' }),
    comment: Flags.string({ description: 'the comment in the OpenPGP user id' }),
    expires: Flags.string({ description: 'lifetime: 1y, 30d, 12h or seconds (default: never expires)' }),
  };

  async run(): Promise<{ key: SigningKeyFieldsFragment }> {
    const { 'user-name': userName, email, comment, expires } = this.flags;
    const expiresInSeconds = expires === undefined ? undefined : parseDuration(expires);
    if (expires !== undefined && expiresInSeconds === undefined) {
      this.error(`--expires ${expires} is not a duration.`, { exit: exitCodes.usage, suggestions: ['Use a number with a unit: 1y, 30d, 12h, or plain seconds.'] });
    }
    const { generateKey: result } = await this.client().generateKey({
      input: { name: this.args.name, ...(userName !== undefined && { userName }), ...(email !== undefined && { email }), ...(comment !== undefined && { comment }), ...(expiresInSeconds !== undefined && { expiresInSeconds }) },
    });
    if (isErrorResult(result)) this.failWith(result);
    const { key } = result;
    this.log(`generated key ${key.name}`);
    this.log(details({ fingerprint: key.fingerprint, 'key id': key.keyId, algorithm: key.algorithm, 'user id': key.userIds, expires: key.expiresAt ? when(key.expiresAt) : 'never' }));
    this.log(`use it with: fmdc repo create NAME --key ${key.keyId}, or fmdc repo update NAME --key ${key.keyId}`);
    return { key };
  }
}
