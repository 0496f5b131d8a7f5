import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import type { SigningKeyFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { resolveKey } from '../../key-ref.ts';

export default class KeyExport extends FmdCommand<typeof KeyExport> {
  static override description = 'Print the public half of a signing key.\n\nASCII-armored, or with --flatpakrepo base64 for the GPGKey= line of .flatpakrepo/.flatpakref files.';
  static override examples = [
    '<%= config.bin %> key export "release key" > release.asc',
    '<%= config.bin %> key export 0123456789ABCDEF --file release.asc',
    'echo "GPGKey=$(<%= config.bin %> key export "release key" --flatpakrepo)" >> org.example.App.flatpakref',
  ];

  static override args = { key: Args.string({ description: 'the key: name, fingerprint, key id or ID', required: true }) };
  static override flags = {
    flatpakrepo: Flags.boolean({ description: 'the binary key in base64 (GPGKey= of .flatpakrepo files) instead of armored', default: false }),
    file: Flags.string({ char: 'f', description: 'write it to this file instead of stdout' }),
  };

  async run(): Promise<{ key: SigningKeyFieldsFragment; format: 'armored' | 'base64'; output?: string }> {
    const key = await resolveKey(this.client(), this.args.key, this);
    const format = this.flags.flatpakrepo ? 'base64' : 'armored';
    const text = format === 'base64' ? `${key.publicKeyBase64}\n` : key.publicKeyArmored.endsWith('\n') ? key.publicKeyArmored : `${key.publicKeyArmored}\n`;
    const { file: output } = this.flags;
    if (output) {
      try {
        writeFileSync(output, text);
      } catch (e) {
        this.error(`cannot write ${output}: ${(e as Error).message}`, { exit: exitCodes.usage });
      }
      this.logToStderr(`wrote the ${format} public key of ${key.name} (${key.fingerprint}) to ${output}`);
    } else if (!this.jsonEnabled()) {
      process.stdout.write(text);
    }
    return { key, format, ...(output && { output }) };
  }
}
