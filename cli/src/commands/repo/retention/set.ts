import { Args, Flags } from '@oclif/core';
import { isErrorResult, parseDuration } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../../base-command.ts';
import { details } from '../../../output.ts';

type Settings = { purgeBuildsAfterDays?: number | null; pruneIntervalSecs?: number | null; fsckIntervalSecs?: number | null; dryRun?: boolean };

export default class RepoRetentionSet extends FmdCommand<typeof RepoRetentionSet> {
  static override description =
    "Change a repo's retention settings (admin). Flags not given keep their value; \"off\" turns a schedule (or the purge) off.";
  static override examples = [
    '<%= config.bin %> repo retention set stable --purge-after 30 --prune-every 1d --fsck-every 1w',
    '<%= config.bin %> repo retention set stable --dry-run        # scheduled purges and prunes only report',
    '<%= config.bin %> repo retention set stable --no-dry-run --fsck-every off',
  ];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };
  static override flags = {
    'purge-after': Flags.string({ description: 'purge builds never published that are older than this many days ("off": never)' }),
    'prune-every': Flags.string({ description: 'prune the repo this often (1d, 12h, seconds; at least 60 s; "off")' }),
    'fsck-every': Flags.string({ description: 'run `ostree fsck` on the repo this often (1w, 1d; at least 60 s; "off")' }),
    'dry-run': Flags.boolean({ description: 'scheduled purges and prunes only report what they would delete', allowNo: true }),
  };

  async run(): Promise<Settings> {
    const f = this.flags;
    const input: Settings = {};
    const usage = (message: string): never => this.error(message, { exit: exitCodes.usage });
    if (f['purge-after'] !== undefined) {
      if (f['purge-after'] === 'off') input.purgeBuildsAfterDays = null;
      else if (/^\d+$/.test(f['purge-after'])) input.purgeBuildsAfterDays = Number(f['purge-after']);
      else usage(`--purge-after: ${f['purge-after']} is not a number of days or "off"`);
    }
    const interval = (flag: 'prune-every' | 'fsck-every'): number | null | undefined => {
      const v = f[flag];
      if (v === undefined) return undefined;
      if (v === 'off') return null;
      return parseDuration(v) ?? usage(`--${flag}: ${v} is not a duration (1d, 12h or seconds) or "off"`);
    };
    const prune = interval('prune-every');
    const fsck = interval('fsck-every');
    if (prune !== undefined) input.pruneIntervalSecs = prune;
    if (fsck !== undefined) input.fsckIntervalSecs = fsck;
    if (f['dry-run'] !== undefined) input.dryRun = f['dry-run'];
    if (Object.keys(input).length === 0) {
      this.error('nothing to change.', { exit: exitCodes.usage, suggestions: ['Give a setting, e.g. --purge-after 30; `fmdc repo retention set --help` lists them.'] });
    }
    const { updateRepoRetention: result } = await this.client().updateRepoRetention({ input: { repo: this.args.name, ...input } });
    if (isErrorResult(result)) this.failWith(result);
    const r = result.retention;
    this.log(details({ repo: result.repo.name, 'purge builds after (days)': r.purgeBuildsAfterDays ?? 'never', 'prune every (s)': r.pruneIntervalSecs ?? 'off', 'fsck every (s)': r.fsckIntervalSecs ?? 'off', 'dry run': r.dryRun }));
    return r;
  }
}
