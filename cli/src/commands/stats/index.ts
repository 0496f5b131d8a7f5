import { Flags } from '@oclif/core';
import { formatDuration, type BuildStatsQuery } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { details, table } from '../../output.ts';

type BuildStats = BuildStatsQuery['buildStats'];
const pct = (r: number | null | undefined) => (r === null || r === undefined ? '-' : `${Math.round(r * 1000) / 10} %`);
const dur = (s: number | null | undefined) => (s === null || s === undefined ? '-' : formatDuration(Math.round(s)));

export default class Stats extends FmdCommand<typeof Stats> {
  static override description =
    'Build statistics over the builds your token may read: outcomes, success rate, median queue wait, build, commit and publish times, per app, and the top failure reasons. `fmdc stats downloads` shows installs and updates.';
  static override examples = ['<%= config.bin %> stats', '<%= config.bin %> stats --repo stable --days 7', '<%= config.bin %> stats --json'];

  static override flags = {
    repo: Flags.string({ description: 'only builds in this repo' }),
    days: Flags.integer({ description: 'the last N days, today included (1 to 366)', default: 30 }),
  };

  async run(): Promise<BuildStats> {
    const { repo, days } = this.flags;
    const { buildStats: s } = await this.client().buildStats({ days, ...(repo && { repo }) });
    this.log(
      details({
        window: `${s.since.slice(0, 10)} to today (${days} days)${repo ? ` in ${repo}` : ''}`,
        builds: `${s.total}: ${s.succeeded} succeeded, ${s.failed} failed, ${s.cancelled} cancelled, ${s.running} running`,
        'success rate': pct(s.successRate),
        'median duration': dur(s.medianDurationSeconds),
        'median phases': `queue ${dur(s.queueWaitSeconds)}, build ${dur(s.buildSeconds)}, commit ${dur(s.commitSeconds)}, publish ${dur(s.publishSeconds)}`,
      }),
    );
    this.log('');
    this.log(
      table(
        s.apps,
        [
          { header: 'app', get: (a) => a.appId },
          { header: 'builds', get: (a) => a.builds, right: true },
          { header: 'success', get: (a) => pct(a.successRate), right: true },
          { header: 'queue', get: (a) => dur(a.queueWaitSeconds), right: true },
          { header: 'build', get: (a) => dur(a.buildSeconds), right: true },
          { header: 'commit', get: (a) => dur(a.commitSeconds), right: true },
          { header: 'publish', get: (a) => dur(a.publishSeconds), right: true },
        ],
        'no app builds',
      ),
    );
    this.log('');
    this.log(
      table(
        s.failureReasons,
        [
          { header: 'failures', get: (f) => f.count, right: true },
          { header: 'last build', get: (f) => `#${f.lastBuildNumber}` },
          { header: 'reason', get: (f) => f.reason },
        ],
        'no failures',
      ),
    );
    return s;
  }
}
