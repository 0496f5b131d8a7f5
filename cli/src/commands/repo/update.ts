import { Args, Flags } from '@oclif/core';
import { isErrorResult, type JobFieldsFragment, type RepoFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { parseDelay } from '@fmd/sdk';
import { resolveKey } from '../../key-ref.ts';
import { FlagValueError, clearable, flagOfField, repoSettingFlags, repoSettingsInput } from '../../repo-settings.ts';

export default class RepoUpdate extends FmdCommand<typeof RepoUpdate> {
  static override description =
    'Change settings of a repo (admin).\n\nFlags not given keep their value; --clear empties one. Summary changes reach clients through an update-repo job.';
  static override examples = [
    '<%= config.bin %> repo update stable --title "Example apps" --homepage https://example.org',
    '<%= config.bin %> repo update stable --clear redirect-url --clear icon',
    '<%= config.bin %> repo update stable --key "release key 2027" --key-overlap 30d',
    '<%= config.bin %> repo update beta --no-auto-promote --hooks @hooks.json',
  ];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };
  static override flags = {
    'collection-id': Flags.string({ description: 'accepted only when unchanged (a collection id cannot change)' }),
    ...repoSettingFlags,
    clear: Flags.string({ description: 'set a setting back to empty (repeatable)', multiple: true, options: Object.values(clearable) }),
    key: Flags.string({ description: 'sign with this key from now on: name, fingerprint, key id or ID; "none" leaves the repo unsigned', helpGroup: 'SIGNING' }),
    'key-overlap': Flags.string({ description: 'with --key: how long the previous key keeps signing beside the new one (default 30d; 0 switches at once)', dependsOn: ['key'], helpGroup: 'SIGNING' }),
  };

  async run(): Promise<{ repo: RepoFieldsFragment; jobs: JobFieldsFragment[] }> {
    const { name } = this.args;
    let settings: Record<string, unknown>;
    let overlapSeconds: number | undefined;
    try {
      settings = repoSettingsInput(this.flags);
      for (const flag of this.flags.clear ?? []) {
        const field = Object.entries(clearable).find(([, f]) => f === flag)![0];
        if (field in settings) throw new FlagValueError(flag, 'given a value and --clear at once');
        settings[field] = null;
      }
      const overlap = this.flags['key-overlap'];
      if (overlap !== undefined) {
        overlapSeconds = parseDelay(overlap);
        if (overlapSeconds === undefined) throw new FlagValueError('key-overlap', `${overlap} is not a duration (30d, 12h or seconds)`);
      }
    } catch (e) {
      if (e instanceof FlagValueError) this.error(e.message, { exit: exitCodes.usage });
      throw e;
    }
    if (this.flags['collection-id'] !== undefined) settings.collectionId = this.flags['collection-id'];
    if (Object.keys(settings).length === 0 && this.flags.key === undefined) {
      this.error('nothing to change.', { exit: exitCodes.usage, suggestions: ['Give a setting to change, e.g. --title, or --clear one; `fmdc repo update --help` lists them.'] });
    }

    const client = this.client();
    const jobs: JobFieldsFragment[] = [];
    let repo: RepoFieldsFragment | undefined;
    // The key is looked up first, so that a wrong key changes nothing.
    const key = this.flags.key === undefined || this.flags.key === 'none' ? null : await resolveKey(client, this.flags.key, this);
    if (Object.keys(settings).length) {
      const { updateRepo: result } = await client.updateRepo({ input: { name, ...settings } });
      if (isErrorResult(result)) this.failWith({ ...result, ...('field' in result && result.field && { field: flagOfField(result.field) }) });
      repo = result.repo;
      if (result.job) jobs.push(result.job);
    }
    if (this.flags.key !== undefined) {
      const { setRepoKey: result } = await client.setRepoKey({ input: { repo: name, keyId: key?.id ?? null, ...(overlapSeconds !== undefined && { overlapSeconds }) } });
      if (isErrorResult(result)) this.failWith({ ...result, ...('field' in result && result.field && { field: flagOfField(result.field === 'keyId' ? 'keyId' : result.field) }) });
      repo = result.repo;
      if (result.job) jobs.push(result.job);
    }
    this.log(`updated repo ${name}${repo!.key ? `, signed with ${repo!.key.name}` : ''}`);
    for (const job of jobs) this.log(`the summary is updated by job ${job.number}: fmdc job follow ${job.number}`);
    return { repo: repo!, jobs };
  }
}
