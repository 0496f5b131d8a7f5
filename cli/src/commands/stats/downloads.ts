import { Flags } from '@oclif/core';
import type { DownloadStatsQuery } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { table } from '../../output.ts';

type Downloads = NonNullable<DownloadStatsQuery['downloadStats']>;

export default class StatsDownloads extends FmdCommand<typeof StatsDownloads> {
  static override description =
    'Installs and updates per ref (as Flathub counts them: commit and static delta fetches) over the repos and apps your token may read, counted by fmd and imported from nginx logs.';
  static override examples = ['<%= config.bin %> stats downloads', '<%= config.bin %> stats downloads --repo stable --app org.example.App --days 7', '<%= config.bin %> stats downloads --json'];

  static override flags = {
    repo: Flags.string({ description: 'only this repo' }),
    app: Flags.string({ description: 'only this app id (its refs: app/<id>/… or runtime/<id>/…)' }),
    days: Flags.integer({ description: 'the last N days, today included (1 to 366)', default: 30 }),
  };

  async run(): Promise<Downloads> {
    const { repo, app, days } = this.flags;
    const { downloadStats: d } = await this.client().downloadStats({ days, ...(repo && { repo }), ...(app && { appId: app }) });
    if (!d) this.error(`no repo "${repo}" (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc repo list` shows the repos you may read.'] });
    this.log(`${d.installs} installs, ${d.updates} updates since ${d.since.slice(0, 10)}`);
    this.log(
      table(
        d.refs,
        [
          { header: 'repo', get: (r) => r.repo },
          { header: 'ref', get: (r) => r.ref },
          { header: 'installs', get: (r) => r.installs, right: true },
          { header: 'updates', get: (r) => r.updates, right: true },
        ],
        'no downloads',
      ),
    );
    return d;
  }
}
