// Repos: the list, the form that creates one, and a repo's page (how to use it, its refs, its
// settings, promotion and signing key), refreshed live when its summary changes.
import { allNodes, formatDuration, type RepoFieldsFragment, type RepoRefFieldsFragment, type SigningKeyFieldsFragment, type CreateRepoInput, type UpdateRepoInput } from '@fmd/sdk';
import type { Page, PageContext } from './page.ts';
import { copyButton, errorLine, formatBytes, h, link, shortDate, table, type Child } from '../ui.ts';
import { checkbox, checked, field, fill, FieldError, joinList, onSubmit, optional, parseJsonField, readDuration, section, select, splitList, value } from '../forms.ts';
import { flatpakrepoUrl, installCommands, remoteAddCommand, remoteName, shortCommit } from './repos-commands.ts';
import { retentionCard } from './repos-retention.ts';

type Repo = RepoFieldsFragment;
type KeyOption = Pick<SigningKeyFieldsFragment, 'id' | 'name' | 'fingerprint' | 'expiresAt'>;

const isAdmin = (ctx: PageContext): boolean => ctx.viewer.scopes.includes('admin');
const repoHref = (name: string): string => `/repos/${encodeURIComponent(name)}`;
const keyHref = (id: string): string => `/keys/${encodeURIComponent(id)}`;
const serverOrigin = (ctx: PageContext): string => new URL(ctx.client.endpoint).origin;

async function listRepos(ctx: PageContext): Promise<Repo[]> {
  const out: Repo[] = [];
  for await (const r of allNodes((after) => ctx.client.repos({ first: 100, after }, { signal: ctx.signal }).then((x) => x.repos))) out.push(r);
  return out;
}

async function listKeys(ctx: PageContext): Promise<KeyOption[]> {
  const out: KeyOption[] = [];
  for await (const k of allNodes((after) => ctx.client.keys({ first: 100, after }, { signal: ctx.signal }).then((x) => x.keys))) out.push(k);
  return out;
}

function promotionText(r: Pick<Repo, 'parent' | 'autoPromote'>): string {
  if (!r.parent) return '—';
  if (!r.autoPromote) return 'by hand (promoteBuild)';
  const prefixes = r.autoPromote.appIdPrefixes.length ? ` of ${r.autoPromote.appIdPrefixes.join(', ')}` : '';
  return `automatic${prefixes}, ${r.autoPromote.delaySecs ? `after ${formatDuration(r.autoPromote.delaySecs)}` : 'at once'}`;
}

function keyCell(k: Repo['key']): Child {
  return k ? h('span', {}, link(keyHref(k.id), k.name), ' ', h('code', { title: k.fingerprint }, k.fingerprint.slice(-16))) : h('span', { className: 'muted' }, 'unsigned');
}

// --- list ---------------------------------------------------------------------------------

export const reposPage: Page = {
  title: 'Repos',
  async render(ctx) {
    const body = h('div', { className: 'stack' });
    const refresh = async (): Promise<void> => {
      let repos: Repo[];
      try {
        repos = await listRepos(ctx);
      } catch (err) {
        const message = ctx.failed(err);
        if (message) body.replaceChildren(errorLine(message));
        return;
      }
      const rows = repos.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, link(repoHref(r.name), r.name)),
          h('td', {}, r.title ?? ''),
          h('td', {}, r.collectionId ? h('code', {}, r.collectionId) : '—'),
          h('td', {}, keyCell(r.key), r.previousKey && h('div', { className: 'muted' }, `rotating from ${r.previousKey.name} until ${shortDate(r.previousKeyUntil)}`)),
          h('td', {}, r.parent ? link(repoHref(r.parent.name), r.parent.name) : '—'),
          h('td', {}, promotionText(r)),
          h('td', { className: 'date' }, shortDate(r.summaryUpdatedAt)),
        ),
      );
      const empty = isAdmin(ctx) ? h('p', { className: 'empty' }, 'No repos yet. ', link('/repos/new', 'Create one'), '.') : h('p', { className: 'empty' }, 'No repos your token may read.');
      body.replaceChildren(
        rows.length
          ? h('section', { className: 'card' }, h('h2', {}, `${repos.length} repo${repos.length === 1 ? '' : 's'}`), table(['Name', 'Title', 'Collection ID', 'Signing key', 'Parent', 'Promotion', 'Summary updated'], rows, ''))
          : empty,
      );
    };
    ctx.onReconnect(() => void refresh());
    await refresh();
    return h('div', { className: 'stack' }, isAdmin(ctx) && h('div', { className: 'actions' }, h('a', { href: '/repos/new', className: 'button' }, 'New repo')), body);
  },
};

// --- settings form (create and edit) ------------------------------------------------------

function keySelect(keys: KeyOption[], selected: string | undefined): HTMLSelectElement {
  return select('keyId', [['', '— unsigned —'], ...keys.map((k) => [k.id, `${k.name} (${k.fingerprint.slice(-16)}${k.expiresAt ? `, expires ${k.expiresAt.slice(0, 10)}` : ''})`] as const)], selected ?? '');
}

/**
 * The repo settings form: every field of CreateRepoInput (`repo` undefined) or UpdateRepoInput.
 * Inputs are named after the input fields, so server errors land next to them.
 */
function settingsForm(opts: { repo?: Repo; keys: KeyOption[]; repos: Repo[] }): HTMLFormElement {
  const r = opts.repo;
  const text = (name: string, v: string | null | undefined, props: Omit<Partial<HTMLInputElement>, 'dataset'> = {}): HTMLInputElement => h('input', { name, value: v ?? '', ...props });
  const json = (name: string, v: unknown): HTMLTextAreaElement => h('textarea', { name, rows: 4, spellcheck: false, value: v === undefined || v === null ? '' : JSON.stringify(v, null, 2) });
  const parents = opts.repos.filter((p) => p.name !== r?.name);
  const autoPromote = h('input', { name: 'autoPromote', checked: !!r?.autoPromote });
  const promoteFields = h(
    'div',
    { className: 'sub-fields' },
    field('Promotion delay', text('delaySecs', formatDuration(r?.autoPromote?.delaySecs ?? 0), { placeholder: '0' }), 'how long a build stays in the parent first, e.g. 2d, 12h; 0 = at once'),
    field('App id prefixes to promote', text('appIdPrefixes', joinList(r?.autoPromote?.appIdPrefixes), { placeholder: 'all' }), 'comma-separated; empty promotes every build'),
  );
  const syncPromote = (): void => {
    promoteFields.hidden = !autoPromote.checked;
  };
  autoPromote.addEventListener('change', syncPromote);
  syncPromote();

  const form = h(
    'form',
    { className: 'repo-settings', noValidate: false },
    !r && field('Name', text('name', '', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}', autocomplete: 'off' }), 'letters, digits, _ and -; served at /repo/<name>/'),
    field('Title', text('title', r?.title)),
    r
      ? field('Collection ID', text('collectionId', r.collectionId, { readOnly: true }), 'set when the repo was created; cannot change')
      : field('Collection ID', text('collectionId', '', { placeholder: 'org.example.Stable' }), 'reverse-DNS; cannot change later'),
    !r && field('Signing key', keySelect(opts.keys, undefined), opts.keys.length ? 'commits and summaries are signed with it' : h('span', {}, 'no keys yet: ', link('/keys', 'generate one'), ' first, or create the repo unsigned')),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Promotion'),
      field('Parent repo', select('parent', [['', '— none —'], ...parents.map((p) => [p.name, p.title ? `${p.name} (${p.title})` : p.name] as const)], r?.parent?.name ?? ''), 'builds are promoted into this repo from its parent'),
      checkbox('Promote builds from the parent automatically', autoPromote),
      promoteFields,
    ),
    checkbox('Publish git builds automatically', h('input', { name: 'autoPublish', checked: r?.autoPublish ?? false }), 'every git build into this repo is published once committed'),
    h(
      'details',
      { className: 'more' },
      h('summary', {}, 'More settings'),
      h(
        'div',
        { className: 'form-grid' },
        field('Comment', text('comment', r?.comment)),
        field('Description', h('textarea', { name: 'description', rows: 2, value: r?.description ?? '' })),
        field('Homepage', text('homepage', r?.homepage, { type: 'url' })),
        field('Icon URL', text('icon', r?.icon, { type: 'url' })),
        field('Suggested remote name', text('suggestedRemoteName', r?.suggestedRemoteName, { placeholder: r?.name ?? 'the repo name' })),
        field('Default branch', text('defaultBranch', r?.defaultBranch, { placeholder: 'stable' })),
        field('Base URL', text('baseUrl', r?.baseUrl, { type: 'url' }), 'public URL of the repo; defaults to this server'),
        field('Runtime repo URL', text('runtimeRepoUrl', r?.runtimeRepoUrl, { type: 'url' }), '.flatpakrepo of the repo runtimes come from'),
        field('Redirect URL', text('redirectUrl', r?.redirectUrl, { type: 'url' })),
        checkbox('Clients take the collection ID', h('input', { name: 'deployCollectionId', checked: r?.deployCollectionId ?? true })),
        field('Default token type', text('defaultTokenType', r ? String(r.defaultTokenType) : '', { type: 'number', min: '0', placeholder: '0' })),
        field('Token types that need a download token', text('authRequiredTokenTypes', joinList(r?.authRequiredTokenTypes.map(String)), { placeholder: 'none' }), 'comma-separated integers'),
        field('Subsets (JSON)', json('subsets', r?.subsets), '{ "name": ["app-id prefix", ...] }'),
        field('Delta settings (JSON)', json('deltaSettings', r?.deltaSettings), '{ "generate": true, "jobs": 4, "ignoreRefs": [], "prune": true, "pruneDepth": 3 }'),
        field('Hooks (JSON)', json('hooks', r?.hooks), '{ "checks": [{ "name", "command": [argv], "reviewable" }], "publish": [argv], "postPublish": [argv] }'),
      ),
    ),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, r ? 'Save' : 'Create repo')),
  );
  return form;
}

function intList(form: HTMLFormElement, name: string): number[] {
  const items = splitList(value(form, name));
  const nums = items.map(Number);
  if (nums.some((n) => !Number.isInteger(n) || n < 0)) throw new FieldError(name, 'token types are whole numbers, e.g. 1, 2');
  return nums;
}

/** The settings a form holds, as the fields both inputs share (empty text: undefined). */
function readSettings(form: HTMLFormElement): Omit<CreateRepoInput, 'name' | 'keyId' | 'collectionId'> {
  const delay = readDuration(form, 'delaySecs', '2d, 12h, 30m or seconds', { zero: true });
  const tokenType = value(form, 'defaultTokenType').trim();
  return {
    title: optional(value(form, 'title')),
    comment: optional(value(form, 'comment')),
    description: optional(value(form, 'description')),
    homepage: optional(value(form, 'homepage')),
    icon: optional(value(form, 'icon')),
    suggestedRemoteName: optional(value(form, 'suggestedRemoteName')),
    defaultBranch: optional(value(form, 'defaultBranch')),
    baseUrl: optional(value(form, 'baseUrl')),
    runtimeRepoUrl: optional(value(form, 'runtimeRepoUrl')),
    redirectUrl: optional(value(form, 'redirectUrl')),
    deployCollectionId: checked(form, 'deployCollectionId'),
    autoPublish: checked(form, 'autoPublish'),
    defaultTokenType: tokenType ? Number(tokenType) : undefined,
    authRequiredTokenTypes: intList(form, 'authRequiredTokenTypes'),
    parent: optional(value(form, 'parent')),
    autoPromote: checked(form, 'autoPromote') ? { delaySecs: delay ?? 0, appIdPrefixes: splitList(value(form, 'appIdPrefixes')) } : undefined,
    subsets: parseJsonField('subsets', value(form, 'subsets')),
    deltaSettings: parseJsonField('deltaSettings', value(form, 'deltaSettings')),
    hooks: parseJsonField('hooks', value(form, 'hooks')),
  };
}

const clearedTo: Record<string, unknown> = { defaultTokenType: 0, subsets: {}, hooks: { checks: [] } };

/** What an update sends: only the settings that differ from the repo's, emptied ones as null (cleared). */
export function changedSettings(repo: Repo, s: ReturnType<typeof readSettings>): Omit<UpdateRepoInput, 'name'> {
  const current: Record<string, unknown> = {
    title: repo.title,
    comment: repo.comment,
    description: repo.description,
    homepage: repo.homepage,
    icon: repo.icon,
    suggestedRemoteName: repo.suggestedRemoteName,
    defaultBranch: repo.defaultBranch,
    baseUrl: repo.baseUrl,
    runtimeRepoUrl: repo.runtimeRepoUrl,
    redirectUrl: repo.redirectUrl,
    deployCollectionId: repo.deployCollectionId,
    autoPublish: repo.autoPublish,
    defaultTokenType: repo.defaultTokenType,
    authRequiredTokenTypes: repo.authRequiredTokenTypes,
    parent: repo.parent?.name,
    autoPromote: repo.autoPromote ? { delaySecs: repo.autoPromote.delaySecs, appIdPrefixes: repo.autoPromote.appIdPrefixes } : undefined,
    subsets: repo.subsets,
    deltaSettings: repo.deltaSettings,
    hooks: repo.hooks,
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    // An emptied text clears the setting; an emptied JSON box goes back to the default (delta settings: kept).
    if (v === undefined && k === 'deltaSettings') continue;
    const next = v !== undefined ? v : k in clearedTo ? clearedTo[k] : null;
    if (JSON.stringify(next) !== JSON.stringify(current[k] ?? null)) out[k] = next;
  }
  return out as Omit<UpdateRepoInput, 'name'>;
}

// --- new repo -----------------------------------------------------------------------------

export const newRepoPage: Page = {
  title: 'New repo',
  async render(ctx) {
    if (!isAdmin(ctx)) return h('p', {}, 'Creating repos needs a token with the admin scope. ', link('/repos', 'Back to the repos'), '.');
    const [keys, repos] = await Promise.all([listKeys(ctx), listRepos(ctx)]);
    const form = settingsForm({ keys, repos });
    onSubmit(form, {
      failed: ctx.failed,
      run: async () => {
        const input: CreateRepoInput = { name: value(form, 'name').trim(), collectionId: optional(value(form, 'collectionId')), keyId: optional(value(form, 'keyId')), ...readSettings(form) };
        return (await ctx.client.createRepo({ input })).createRepo;
      },
      done: (r) => ctx.navigate(repoHref(r.repo.name)),
    });
    return h('section', { className: 'card' }, h('h2', {}, 'Create a repo'), form);
  },
};

// --- repo page ----------------------------------------------------------------------------

type RefsPage = { refs: RepoRefFieldsFragment[]; hasMore: boolean; endCursor: string | null };

export const repoPage: Page = {
  title: (ctx) => `Repo ${ctx.params.name}`,
  async render(ctx) {
    const name = ctx.params.name!;
    const admin = isAdmin(ctx);
    const first = await ctx.client.repo({ name, refsFirst: 200, gitFirst: 1 }, { signal: ctx.signal });
    if (!first.repo) return h('p', {}, `There is no repo named “${name}”, or your token may not read it. `, link('/repos', 'All repos'), '.');
    let repo: Repo = first.repo;
    let refs: RefsPage = { refs: first.repo.refs.edges.map((e) => e.node), hasMore: first.repo.refs.pageInfo.hasNextPage, endCursor: first.repo.refs.pageInfo.endCursor };
    // Keys and other repos feed the forms (admins) and the children list; a token that may not list them still sees the repo.
    const [keys, repos] = await Promise.all([admin ? listKeys(ctx).catch(() => [] as KeyOption[]) : Promise.resolve([] as KeyOption[]), listRepos(ctx).catch(() => [] as Repo[])]);

    const notice = h('div', { className: 'notices', role: 'status' });
    const usage = h('section', { className: 'card' });
    const refsCard = h('section', { className: 'card' });
    const settingsCard = h('section', { className: 'card' });
    const promotionCard = h('section', { className: 'card' });
    const keyCard = h('section', { className: 'card' });

    const jobNotice = (what: string, job: { number: number } | null | undefined): void => {
      notice.replaceChildren(h('p', { className: 'ok' }, what, job ? h('span', {}, ' The summary is updated by ', link(`/jobs/${job.number}`, `job ${job.number}`), '.') : null));
    };

    const drawUsage = (): void => {
      const url = flatpakrepoUrl(repo, serverOrigin(ctx));
      const remote = remoteName(repo);
      const add = remoteAddCommand(remote, url);
      const installs = installCommands(remote, refs.refs.map((r) => r.name), repo.defaultBranch);
      usage.replaceChildren(
        h('h2', {}, 'Use this repo'),
        h('p', {}, h('a', { href: url, download: `${repo.name}.flatpakrepo` }, `${repo.name}.flatpakrepo`), ' ', h('span', { className: 'muted' }, url)),
        commandLine('Add the remote', add),
        installs.length ? h('div', { className: 'commands' }, ...installs.map((c) => commandLine(`Install ${c.appId}${c.branch ? ` (${c.branch})` : ''}`, c.command))) : h('p', { className: 'empty' }, 'No apps published yet.'),
      );
    };

    const drawRefs = (): void => {
      const rows = refs.refs.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, r.name), r.subject && h('div', { className: 'muted' }, r.subject)),
          h('td', {}, h('code', { title: r.commit }, shortCommit(r.commit))),
          h('td', { className: 'num' }, formatBytes(r.installedSize)),
          h('td', { className: 'num' }, formatBytes(r.downloadSize)),
          h('td', { className: 'date' }, shortDate(r.timestamp)),
          h('td', {}, r.endOfLife ?? (r.endOfLifeRebase ? '' : '—'), r.endOfLifeRebase && h('div', { className: 'muted' }, `rebased to ${r.endOfLifeRebase}`)),
        ),
      );
      const more = refs.hasMore ? h('button', { type: 'button', className: 'secondary' }, 'Load more refs') : null;
      if (more)
        more.onclick = async () => {
          more.disabled = true;
          try {
            const next = await ctx.client.repo({ name, refsFirst: 200, refsAfter: refs.endCursor, gitFirst: 1 }, { signal: ctx.signal });
            const page = next.repo?.refs;
            if (page) refs = { refs: [...refs.refs, ...page.edges.map((e) => e.node)], hasMore: page.pageInfo.hasNextPage, endCursor: page.pageInfo.endCursor };
            drawRefs();
            drawUsage();
          } catch (err) {
            const message = ctx.failed(err);
            if (message) more.after(errorLine(message));
            more.disabled = false;
          }
        };
      fill(refsCard, h('h2', {}, 'Refs', h('span', { className: 'muted' }, `${refs.refs.length}${refs.hasMore ? '+' : ''}`)), table(['Ref', 'Commit', 'Installed', 'Download', 'Date', 'End of life'], rows, 'No refs published yet.'), more);
    };

    const dl = (...pairs: [string, Child][]): HTMLDListElement => h('dl', {}, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]));
    const settingsList = h('div', {});
    const drawSettings = (): void => {
      settingsList.replaceChildren(
        dl(
          ['Title', repo.title],
          ['Collection ID', repo.collectionId && h('code', {}, repo.collectionId)],
          ['Comment', repo.comment],
          ['Description', repo.description],
          ['Homepage', repo.homepage && h('a', { href: repo.homepage, rel: 'noopener noreferrer' }, repo.homepage)],
          ['Icon', repo.icon],
          ['Suggested remote name', repo.suggestedRemoteName],
          ['Default branch', repo.defaultBranch],
          ['Base URL', repo.baseUrl],
          ['Runtime repo', repo.runtimeRepoUrl],
          ['Redirect URL', repo.redirectUrl],
          ['Clients take the collection ID', repo.deployCollectionId ? 'yes' : 'no'],
          ['Publish git builds automatically', repo.autoPublish ? 'yes' : 'no'],
          ['Default token type', String(repo.defaultTokenType)],
          ['Download token needed for token types', repo.authRequiredTokenTypes.length ? repo.authRequiredTokenTypes.join(', ') : 'none'],
          ['Subsets', jsonValue(repo.subsets)],
          ['Delta settings', jsonValue(repo.deltaSettings)],
          ['Hooks', jsonValue(repo.hooks)],
          ['Summary updated', shortDate(repo.summaryUpdatedAt)],
          ['Created', shortDate(repo.createdAt)],
        ),
      );
    };
    // Admins get the settings as a form (the current values in its inputs), others as a list.
    // A form someone has typed into is not redrawn by live updates.
    let settingsDirty = false;
    let rotateDirty = false;
    const drawSettingsCard = (): void => {
      if (!admin) return fill(settingsCard, h('h2', {}, 'Settings'), settingsList);
      settingsDirty = false;
      fill(settingsCard, h('h2', {}, 'Settings'), dl(['Summary updated', shortDate(repo.summaryUpdatedAt)], ['Created', shortDate(repo.createdAt)]), editForm());
    };
    const editForm = (): HTMLFormElement => {
      const form = settingsForm({ repo, keys, repos });
      form.ariaLabel = 'Repo settings';
      const touched = (): void => void (settingsDirty = true);
      form.addEventListener('input', touched);
      form.addEventListener('change', touched);
      onSubmit(form, {
        failed: ctx.failed,
        run: async () => {
          const input: UpdateRepoInput = { name, ...changedSettings(repo, readSettings(form)) };
          return (await ctx.client.updateRepo({ input })).updateRepo;
        },
        done: (r) => {
          repo = r.repo;
          jobNotice('Settings saved.', r.job);
          drawAll();
        },
      });
      return form;
    };

    const drawPromotion = (): void => {
      const children = repos.filter((c) => c.parent?.name === repo.name);
      fill(promotionCard, 
        h('h2', {}, 'Promotion'),
        dl(
          ['Promoted from', repo.parent ? link(repoHref(repo.parent.name), repo.parent.name) : 'no parent: builds land here directly'],
          ['Rule', promotionText(repo)],
          ['Promotes into', children.length ? h('span', {}, ...children.flatMap((c, i) => [i ? ', ' : '', link(repoHref(c.name), c.name), ` (${promotionText(c)})`])) : 'no repo has this one as parent'],
        ),
        admin && h('p', { className: 'muted' }, 'Change the parent and the rule in Settings above.'),
      );
    };

    const keyInfo = h('div', {});
    const rotateSlot = h('div', {});
    fill(keyCard, h('h2', {}, 'Signing key'), keyInfo, rotateSlot);
    const drawRotate = (): void => {
      rotateDirty = false;
      if (admin) fill(rotateSlot, rotateForm());
    };
    const drawKey = (): void => {
      const k = repo.key;
      const p = repo.previousKey;
      fill(keyInfo,
        dl(
          ['Key', k ? h('span', {}, link(keyHref(k.id), k.name), ' ', h('code', {}, k.fingerprint)) : 'unsigned'],
          ['Expires', k ? (k.expiresAt ? shortDate(k.expiresAt) : 'never') : null],
          ['Previous key', p ? h('span', {}, link(keyHref(p.id), p.name), ' still signs until ', shortDate(repo.previousKeyUntil)) : 'none'],
        ),
      );
    };
    const rotateForm = (): HTMLElement => {
      const others = keys.filter((x) => x.id !== repo.key?.id);
      const form = h(
        'form',
        { className: 'rotate', ariaLabel: 'Rotate key' },
        h('h3', {}, 'Rotate the key'),
        field('New key', keySelect(others, others[0]?.id), others.length ? null : h('span', {}, 'no other key: ', link('/keys', 'generate one'), ' first')),
        field('Overlap', h('input', { name: 'overlapSeconds', defaultValue: '30d' }), 'how long the current key keeps signing beside the new one; 0 switches at once'),
        h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Rotate key')),
      );
      const touched = (): void => void (rotateDirty = true);
      form.addEventListener('input', touched);
      form.addEventListener('change', touched);
      onSubmit(form, {
        failed: ctx.failed,
        run: async () => {
          const overlap = readDuration(form, 'overlapSeconds', '30d, 12h or seconds', { zero: true });
          const keyId = optional(value(form, 'keyId')) ?? null;
          const target = keyId ? (keys.find((x) => x.id === keyId)?.name ?? keyId) : 'no key (unsigned)';
          if (!confirm(`Sign ${name} with ${target}${repo.key && overlap ? `, with ${repo.key.name} still signing for ${value(form, 'overlapSeconds').trim()}` : ''}?`)) return { __typename: 'Cancelled' as const };
          return (await ctx.client.setRepoKey({ input: { repo: name, keyId, overlapSeconds: overlap } })).setRepoKey;
        },
        done: (r) => {
          if (r.__typename === 'Cancelled') return;
          repo = r.repo;
          jobNotice(`Key changed to ${repo.key?.name ?? 'none (unsigned)'}.`, r.job);
          drawAll();
        },
      });
      return form;
    };

    const dangerCard = admin ? h('section', { className: 'card' }, h('h2', {}, 'Delete'), deleteButton(ctx, name)) : null;
    const retention = admin ? retentionCard(ctx, name) : null;

    const drawAll = (): void => {
      drawUsage();
      drawRefs();
      drawSettings();
      drawSettingsCard();
      drawPromotion();
      drawKey();
      drawRotate();
    };
    // A live update re-reads the repo (settings and refs) but keeps a half-filled edit form.
    const refresh = async (): Promise<void> => {
      try {
        const next = await ctx.client.repo({ name, refsFirst: Math.max(200, refs.refs.length), gitFirst: 1 }, { signal: ctx.signal });
        if (!next.repo) {
          notice.replaceChildren(errorLine('This repo was deleted.'));
          return;
        }
        repo = next.repo;
        refs = { refs: next.repo.refs.edges.map((e) => e.node), hasMore: next.repo.refs.pageInfo.hasNextPage, endCursor: next.repo.refs.pageInfo.endCursor };
        drawUsage();
        drawRefs();
        drawSettings();
        drawPromotion();
        drawKey();
        if (!settingsDirty) drawSettingsCard();
        if (!rotateDirty) drawRotate();
      } catch (err) {
        const message = ctx.failed(err);
        if (message) notice.replaceChildren(errorLine(message));
      }
    };
    drawAll();
    ctx.follow(ctx.client.repoUpdated({ name }), () => void refresh());
    ctx.onReconnect(() => void refresh());
    return h('div', { className: 'stack' }, notice, usage, refsCard, settingsCard, promotionCard, keyCard, retention, dangerCard);
  },
};

function jsonValue(v: unknown): Child {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object' && Object.keys(v as object).length === 0) return h('span', { className: 'muted' }, 'none');
  return h('pre', {}, JSON.stringify(v, null, 2));
}

/** A shell command in a code box with a copy button; the label names both for screen readers. */
export function commandLine(label: string, command: string): HTMLElement {
  const b = copyButton(() => command);
  b.ariaLabel = `Copy: ${label}`;
  return h('div', { className: 'command' }, h('span', { className: 'muted' }, label), h('div', { className: 'command-line' }, h('code', {}, command), b));
}

function deleteButton(ctx: PageContext, name: string): HTMLElement {
  const button = h('button', { type: 'button', className: 'danger' }, 'Delete repo');
  const out = h('div', {}, h('p', { className: 'muted' }, 'Hides the repo at once; a job removes its files. Builds and clients using it stop working.'), button);
  button.onclick = async () => {
    const typed = prompt(`Delete repo ${name} and all its files? Type its name to confirm.`);
    if (typed !== name) return;
    button.disabled = true;
    for (const e of out.querySelectorAll('.error')) e.remove();
    try {
      const r = (await ctx.client.deleteRepo({ input: { name } })).deleteRepo;
      if (r.__typename === 'DeleteRepoPayload') ctx.navigate('/repos');
      else out.append(errorLine(r.message));
    } catch (err) {
      const message = ctx.failed(err);
      if (message) out.append(errorLine(message));
    }
    button.disabled = false;
  };
  return out;
}
