import { Args, Flags } from '@oclif/core';
import { isErrorResult, type RepoFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { resolveKey } from '../../key-ref.ts';
import { details } from '../../output.ts';
import { FlagValueError, flagOfField, repoSettingFlags, repoSettingsInput } from '../../repo-settings.ts';

export default class RepoCreate extends FmdCommand<typeof RepoCreate> {
  static override description = 'Create a repo (admin): an OSTree repo served at /repo/NAME/ with a first, signed summary.';
  static override examples = [
    '<%= config.bin %> repo create stable --collection-id org.example.Stable --key "release key" --title "Example apps"',
    '<%= config.bin %> repo create beta --parent stable --auto-promote --auto-promote-delay 2d',
    '<%= config.bin %> repo create test --subset free=org.example.free --delta-settings \'{"generate":true}\' --json',
  ];

  static override args = { name: Args.string({ description: 'the repo name: A-Z a-z 0-9 _ -, at most 64', required: true }) };
  static override flags = {
    'collection-id': Flags.string({ description: 'reverse-DNS collection id, e.g. org.example.Stable; cannot change later' }),
    key: Flags.string({ description: 'the signing key: its name, fingerprint, key id or ID (`fmdc key list`)' }),
    ...repoSettingFlags,
  };

  async run(): Promise<{ repo: RepoFieldsFragment }> {
    let settings: Record<string, unknown>;
    try {
      settings = repoSettingsInput(this.flags);
    } catch (e) {
      if (e instanceof FlagValueError) this.error(e.message, { exit: exitCodes.usage });
      throw e;
    }
    const client = this.client();
    const keyId = this.flags.key === undefined ? undefined : (await resolveKey(client, this.flags.key, this)).id;
    const { createRepo: result } = await client.createRepo({
      input: { name: this.args.name, ...settings, ...(this.flags['collection-id'] !== undefined && { collectionId: this.flags['collection-id'] }), ...(keyId && { keyId }) },
    });
    if (isErrorResult(result)) this.failWith({ ...result, ...('field' in result && result.field && { field: flagOfField(result.field) }) });
    const { repo } = result;
    this.log(`created repo ${repo.name}`);
    this.log(details({ 'collection id': repo.collectionId, key: repo.key ? `${repo.key.name} (${repo.key.fingerprint})` : 'none: unsigned', '.flatpakrepo': repo.flatpakrepoUrl }));
    return { repo };
  }
}
