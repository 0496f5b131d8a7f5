import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { isErrorResult, type SigningKeyFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { askSecret } from '../../prompt.ts';
import { details } from '../../output.ts';

const passphraseEnv = 'FMDC_KEY_PASSPHRASE';

export default class KeyImport extends FmdCommand<typeof KeyImport> {
  static override description = `Import an ASCII-armored OpenPGP private key (admin) from a file or stdin.\n\nA protected key's passphrase comes from --passphrase-file, ${passphraseEnv}, or a prompt on a terminal; it is stored re-sealed with the server's master key.`;
  static override examples = [
    '<%= config.bin %> key import "release key" release-private.asc',
    'gpg --export-secret-keys --armor 0123456789ABCDEF | <%= config.bin %> key import "release key" --passphrase-file ~/.release-pass',
    `${passphraseEnv}=... <%= config.bin %> key import "release key" release-private.asc --json`,
  ];

  static override args = {
    name: Args.string({ description: "fmd's name for the key", required: true }),
    // ignoreStdin: oclif would otherwise take piped key material for the file name.
    file: Args.string({ description: 'the armored private key; "-" or none reads stdin', ignoreStdin: true }),
  };
  static override flags = {
    'passphrase-file': Flags.string({ description: `read the passphrase from this file (first line); or set ${passphraseEnv}` }),
  };

  async run(): Promise<{ key: SigningKeyFieldsFragment }> {
    const { name, file } = this.args;
    const fromStdin = file === undefined || file === '-';
    if (fromStdin && process.stdin.isTTY) {
      this.error('no key file given, and stdin is a terminal.', { exit: exitCodes.usage, suggestions: ['Give the file, or pipe the key in: gpg --export-secret-keys --armor KEYID | fmdc key import NAME'] });
    }
    let armored: string;
    try {
      armored = readFileSync(fromStdin ? 0 : file, 'utf8');
    } catch (e) {
      this.error(`cannot read ${fromStdin ? 'stdin' : file}: ${(e as Error).message}`, { exit: exitCodes.usage });
    }
    if (!armored.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
      const what = armored.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') ? 'a public key only' : 'not an ASCII-armored OpenPGP private key';
      this.error(`${fromStdin ? 'stdin' : file} is ${what}.`, { exit: exitCodes.usage, suggestions: ['Export the private key armored: gpg --export-secret-keys --armor KEYID'] });
    }

    let passphrase = this.passphrase();
    const client = this.client();
    for (;;) {
      const { importKey: result } = await client.importKey({ input: { name, armoredPrivateKey: armored, ...(passphrase !== undefined && { passphrase }) } });
      if (!isErrorResult(result)) {
        const { key } = result;
        this.log(`imported key ${key.name}`);
        this.log(details({ fingerprint: key.fingerprint, 'key id': key.keyId, algorithm: key.algorithm, 'user id': key.userIds }));
        return { key };
      }
      const reason = result.__typename === 'InvalidKeyError' ? result.reason : undefined;
      // A terminal with the key from a file: ask, as gpg would (stdin is free for the answer).
      if ((reason === 'passphrase_required' || reason === 'wrong_passphrase') && !fromStdin && process.stdin.isTTY && !this.jsonEnabled()) {
        if (reason === 'wrong_passphrase') this.logToStderr('wrong passphrase.');
        passphrase = await askSecret(`Passphrase for ${file}: `);
        continue;
      }
      if (reason === 'passphrase_required' || reason === 'wrong_passphrase') {
        this.error(result.message, { exit: exitCodes.failed, code: reason, suggestions: [`Give the passphrase with --passphrase-file FILE or ${passphraseEnv}.`] });
      }
      this.failWith(result);
    }
  }

  private passphrase(): string | undefined {
    const file = this.flags['passphrase-file'];
    if (file !== undefined) {
      try {
        return readFileSync(file, 'utf8').split(/\r?\n/)[0];
      } catch (e) {
        this.error(`cannot read --passphrase-file ${file}: ${(e as Error).message}`, { exit: exitCodes.usage });
      }
    }
    return process.env[passphraseEnv] || undefined;
  }
}
