import { Args, Flags } from '@oclif/core';
import type { RepoQuery, RepoRefFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { formatDuration } from '@fmd/sdk';
import { bytes, details, table, when } from '../../output.ts';

export default class RepoShow extends FmdCommand<typeof RepoShow> {
  static override description = "Show a repo's settings, signing key and, with --refs, what it serves.";
  static override examples = ['<%= config.bin %> repo show stable', '<%= config.bin %> repo show stable --refs --prefix app/org.example.', '<%= config.bin %> repo show stable --json'];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };
  static override flags = {
    refs: Flags.boolean({ description: 'also list its refs (read from the repo on disk)', default: false }),
    prefix: Flags.string({ description: 'with --refs: only refs starting with this, e.g. app/org.example.', dependsOn: ['refs'] }),
  };

  async run(): Promise<Omit<NonNullable<RepoQuery['repo']>, 'refs'> & { refs?: RepoRefFieldsFragment[] }> {
    const { name } = this.args;
    const { prefix } = this.flags;
    const client = this.client();
    const page = (after?: string) => client.repo({ name, refsFirst: this.flags.refs ? 100 : 1, ...(after && { refsAfter: after }), ...(prefix && { refPrefix: prefix }) });
    const { repo: found } = await page();
    if (!found) this.error(`no repo "${name}" (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc repo list` shows the repos you may read.'] });
    const { refs: firstRefs, ...repo } = found;
    const json = (v: unknown) => (v && typeof v === 'object' && Object.keys(v).length ? JSON.stringify(v) : undefined);
    this.log(
      details({
        name: repo.name,
        title: repo.title,
        comment: repo.comment,
        description: repo.description,
        homepage: repo.homepage,
        icon: repo.icon,
        'collection id': repo.collectionId,
        'deploy collection id': repo.deployCollectionId,
        'suggested remote': repo.suggestedRemoteName,
        'default branch': repo.defaultBranch,
        'base URL': repo.baseUrl,
        '.flatpakrepo': repo.flatpakrepoUrl,
        'redirect URL': repo.redirectUrl,
        'runtime repo': repo.runtimeRepoUrl,
        key: repo.key ? `${repo.key.name} (${repo.key.fingerprint})` : 'none: unsigned',
        'previous key': repo.previousKey ? `${repo.previousKey.name} (${repo.previousKey.fingerprint}) until ${when(repo.previousKeyUntil)}` : undefined,
        parent: repo.parent?.name,
        'auto promote': repo.autoPromote
          ? `after ${formatDuration(repo.autoPromote.delaySecs)}${repo.autoPromote.appIdPrefixes.length ? `, only ${repo.autoPromote.appIdPrefixes.join(', ')}` : ''}`
          : undefined,
        'auto publish': repo.autoPublish,
        'default token type': repo.defaultTokenType,
        'auth required token types': repo.authRequiredTokenTypes.map(String),
        subsets: json(repo.subsets),
        'delta settings': json(repo.deltaSettings),
        hooks: json(repo.hooks),
        'git sources': repo.gitSources.totalCount || undefined,
        'git credentials': repo.gitCredentials.totalCount || undefined,
        created: when(repo.createdAt),
        updated: when(repo.updatedAt),
        'summary updated': when(repo.summaryUpdatedAt),
      }),
    );
    if (!this.flags.refs) return repo;
    const refs = firstRefs.edges.map((e) => e.node);
    for (let info = firstRefs.pageInfo; info.hasNextPage && info.endCursor; ) {
      const { repo: next } = await page(info.endCursor);
      if (!next) break;
      refs.push(...next.refs.edges.map((e) => e.node));
      info = next.refs.pageInfo;
    }
    this.log('');
    this.log(
      table(
        refs,
        [
          { header: 'ref', get: (r) => r.name },
          { header: 'commit', get: (r) => r.commit.slice(0, 12) },
          { header: 'date', get: (r) => when(r.timestamp) },
          { header: 'download', get: (r) => bytes(r.downloadSize), right: true },
          { header: 'installed', get: (r) => bytes(r.installedSize), right: true },
          { header: 'end of life', get: (r) => r.endOfLife ?? (r.endOfLifeRebase && `rebase to ${r.endOfLifeRebase}`) },
        ],
        'no refs',
      ),
    );
    return { ...repo, refs };
  }
}
