import { Args, Flags } from '@oclif/core';
import { formatDuration, type RepoRetentionQuery } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../../base-command.ts';
import { details, table } from '../../../output.ts';

type Retention = NonNullable<NonNullable<RepoRetentionQuery['repo']>['retention']>;

export default class RepoRetentionShow extends FmdCommand<typeof RepoRetentionShow> {
  static override description = "Show a repo's retention settings, its queued scheduled runs and its latest retention, prune and fsck runs (admin).";
  static override examples = ['<%= config.bin %> repo retention show stable', '<%= config.bin %> repo retention show stable --runs 20 --json'];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };
  static override flags = { runs: Flags.integer({ description: 'latest runs to list (1 to 100)', default: 10, min: 1, max: 100 }) };

  async run(): Promise<Retention> {
    const { name } = this.args;
    const { repo } = await this.client().repoRetention({ name, runs: this.flags.runs });
    if (!repo) this.error(`no repo "${name}" (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc repo list` shows the repos you may read.'] });
    const r = repo.retention;
    if (!r) this.error('retention settings are for admin tokens', { exit: exitCodes.auth, code: 'forbidden' });
    const every = (secs: number | null | undefined) => (secs == null ? 'off' : `every ${formatDuration(secs)}`);
    this.log(
      details({
        'purge builds after': r.purgeBuildsAfterDays == null ? 'never' : `${r.purgeBuildsAfterDays} day(s)`,
        prune: every(r.pruneIntervalSecs),
        fsck: every(r.fsckIntervalSecs),
        'dry run': r.dryRun,
      }),
    );
    const next = r.scheduled.filter((x) => x.job);
    if (next.length) {
      this.log('\nScheduled:');
      this.log(table(next, [{ header: 'kind', get: (x) => x.kind }, { header: 'job', get: (x) => String(x.job!.number) }, { header: 'status', get: (x) => x.job!.status }, { header: 'due', get: (x) => x.job!.startAfter ?? '' }]));
    }
    this.log('\nLatest runs:');
    this.log(
      r.lastRuns.length
        ? table(r.lastRuns, [
            { header: 'job', get: (j) => String(j.number) },
            { header: 'kind', get: (j) => j.kind },
            { header: 'status', get: (j) => j.status },
            { header: 'dry run', get: (j) => String((j.results as { dryRun?: boolean } | null)?.dryRun ?? '') },
            { header: 'finished', get: (j) => j.finishedAt ?? '' },
            { header: 'error', get: (j) => j.error ?? '' },
          ])
        : '(none)',
    );
    return r;
  }
}
