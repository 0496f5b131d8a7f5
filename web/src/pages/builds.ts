// Builds: the filterable, paged, live list (/builds), the git build form (/builds/new) and a
// build's page (/builds/:number) with its actions and the live log of its current job.
import { isErrorResult, type BuildQuery } from '@fmd/sdk';
import { liveLog, type LiveLog } from '../live-log.ts';
import { badge, confirmInline, copyButton, errorLine, h, link, shortDate, showFormErrors, table, type Child } from '../ui.ts';
import { fill } from '../forms.ts';
import { readable, type Page, type PageContext } from './page.ts';
import {
  buildHeaders,
  buildMatches,
  buildRow,
  buildStateBadges,
  buildStates,
  debounce,
  followLiveList,
  jobHeaders,
  jobRow,
  LiveRows,
  liveTable,
  pageArgs,
  pager,
  pageSize,
  promoteTargets,
  publishedStates,
  shortCommit,
  withQuery,
  type Build,
  type BuildAction,
  type Job,
} from './builds-shared.ts';

type RepoItem = { name: string; parent: { name: string } | null };

/** `2026-12-03` (a date input, UTC) → that day's start, or the next day's with `plusDays` 1; undefined when not a date. */
function dayStart(day: string | null, plusDays = 0): string | undefined {
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const t = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : new Date(t + plusDays * 86_400_000).toISOString();
}

/** The repos the viewer reads (for selects); empty when they cannot be listed. */
async function repoList(ctx: PageContext): Promise<RepoItem[]> {
  try {
    const r = await ctx.client.repos({ first: 100 }, { signal: ctx.signal });
    return r.repos.edges.map((e) => ({ name: e.node.name, parent: e.node.parent }));
  } catch {
    return [];
  }
}

function select(name: string, options: readonly (string | [string, string])[], value: string | null, any?: string): HTMLSelectElement {
  const s = h('select', { name });
  if (any !== undefined) s.append(h('option', { value: '' }, any));
  for (const o of options) {
    const [v, label] = typeof o === 'string' ? [o, o.toLowerCase().replace(/_/g, ' ')] : o;
    s.append(h('option', { value: v, selected: v === value }, label));
  }
  return s;
}

// --- /builds -------------------------------------------------------------------------------------

export const buildsPage: Page = {
  title: 'Builds',
  async render(ctx) {
    const q = ctx.query;
    const listArgs = {
      ...pageArgs(q),
      repo: q.get('repo') || undefined,
      appId: q.get('appId') || undefined,
      // a value the server has no name for (a hand-edited URL) filters nothing
      state: buildStates.find((x) => x === q.get('state')),
      publishedState: publishedStates.find((x) => x === q.get('published')),
      createdAfter: dayStart(q.get('from')),
      createdBefore: dayStart(q.get('to'), 1),
    };
    const [repos, result] = await Promise.all([
      repoList(ctx),
      ctx.client.builds(listArgs, { signal: ctx.signal }),
    ]);
    const conn = result.builds;

    // filters: a GET form the router turns into a URL, so back and forward keep them
    const repoNames = repos.map((r) => r.name);
    const repoSel = repoNames.length ? select('repo', repoNames.map((n) => [n, n] as [string, string]), q.get('repo'), 'all repos') : h('input', { name: 'repo', value: q.get('repo') ?? '' });
    const stateSel = select('state', buildStates, q.get('state'), 'any state');
    const pubSel = select('published', publishedStates, q.get('published'), 'any');
    const appId = h('input', { name: 'appId', value: q.get('appId') ?? '', placeholder: 'org.example.App', autocomplete: 'off', spellcheck: false });
    const from = h('input', { name: 'from', type: 'date', value: q.get('from') ?? '' });
    const to = h('input', { name: 'to', type: 'date', value: q.get('to') ?? '' });
    const filters = h(
      'form',
      { className: 'filters', ariaLabel: 'Filter builds', role: 'search' },
      h('label', {}, 'Repo', repoSel),
      h('label', {}, 'State', stateSel),
      h('label', {}, 'Published', pubSel),
      h('label', {}, 'App ID', appId),
      h('label', {}, 'Created from', from),
      h('label', {}, 'Created until', to),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '/builds', className: 'button-link secondary' }, 'Clear')),
    );
    const apply = () => {
      ctx.navigate(withQuery('/builds', new URLSearchParams(), { repo: repoSel.value, state: stateSel.value, published: pubSel.value, appId: appId.value.trim(), from: from.value, to: to.value }));
    };
    filters.onsubmit = (e) => {
      e.preventDefault();
      apply();
    };
    for (const s of [repoSel, stateSel, pubSel]) if (s instanceof HTMLSelectElement) s.onchange = apply;

    const firstPage = !q.has('after') && !q.has('before');
    const rows = new LiveRows<Build>(
      conn.edges.map((e) => e.node),
      buildRow,
      pageSize,
    );
    const filtered = ['repo', 'state', 'published', 'appId', 'from', 'to'].some((k) => q.get(k));
    const tbl = liveTable(buildHeaders, rows, filtered ? 'No build matches these filters.' : firstPage ? 'No builds yet. Start one with “New git build”, or push one with fmdc.' : 'No builds on this page.', 'Builds');
    const count = h('span', { className: 'muted' });
    followLiveList(ctx, {
      events: ctx.client.buildsUpdated({ repo: q.get('repo') || undefined }),
      item: (e) => e.buildsUpdated,
      matches: (b) => buildMatches(b, q),
      rows,
      table: tbl,
      firstPage,
      total: conn.totalCount,
      count: (n) => (count.textContent = `${n} build${n === 1 ? '' : 's'}`),
      reread: async () => {
        const r = await ctx.client.builds(listArgs, { signal: ctx.signal });
        return { items: r.builds.edges.map((e) => e.node), totalCount: r.builds.totalCount };
      },
    });

    return h(
      'div',
      { className: 'stack' },
      readable(ctx.viewer).startBuilds && h('div', { className: 'page-actions' }, h('a', { href: withQuery('/builds/new', new URLSearchParams(), { repo: q.get('repo') }), className: 'button-link primary' }, 'New git build')),
      h('section', { className: 'card', ariaLabel: 'Filters' }, filters),
      h('section', { className: 'card' }, h('h2', {}, 'Builds ', count), tbl.element, pager('/builds', q, conn.pageInfo, 'Build list')),
    );
  },
};

// --- /builds/new ---------------------------------------------------------------------------------

export const newBuildPage: Page = {
  title: 'New git build',
  async render(ctx) {
    if (!readable(ctx.viewer).startBuilds) {
      return h('p', { className: 'empty' }, `Starting builds needs a token with the build scope; this one has ${ctx.viewer.scopes.join(', ') || 'none'}. `, link('/builds', 'Builds'), '.');
    }
    const repos = await repoList(ctx);
    const q = ctx.query;
    // the hint is outside the label (described-by), so the input's name is just the label
    const field = (label: string, input: HTMLElement, hint?: string) => {
      if (!hint) return h('label', {}, label, input);
      const id = `hint-${input.getAttribute('name') ?? label}`;
      input.setAttribute('aria-describedby', id);
      return h('div', { className: 'field' }, h('label', {}, label, input), h('span', { className: 'hint muted', id }, hint));
    };
    const url = h('input', { name: 'url', type: 'text', required: true, placeholder: 'https://example.org/org.example.App.git', autocomplete: 'off', spellcheck: false, value: q.get('url') ?? '' });
    const ref = h('input', { name: 'ref', placeholder: 'main, v1.2, or a 40-hex commit', autocomplete: 'off', spellcheck: false });
    const manifestPath = h('input', { name: 'manifestPath', placeholder: 'org.example.App.yml', autocomplete: 'off', spellcheck: false });
    const appId = h('input', { name: 'appId', placeholder: 'org.example.App', autocomplete: 'off', spellcheck: false });
    const repo =
      repos.length > 0
        ? select(
            'repo',
            repos.map((r) => [r.name, r.name] as [string, string]),
            q.get('repo') ?? repos[0]!.name,
          )
        : h('input', { name: 'repo', required: true, value: q.get('repo') ?? '' });
    repo.required = true;
    const arch = h('input', { name: 'arch', placeholder: 'default: the workers’ first arch', autocomplete: 'off', spellcheck: false });
    arch.setAttribute('list', 'arch-options');
    const arches = h('datalist', { id: 'arch-options' }, ...['x86_64', 'aarch64', 'i386', 'arm'].map((a) => h('option', { value: a })));
    const branch = h('input', { name: 'branch', placeholder: 'default: the repo’s default branch', autocomplete: 'off', spellcheck: false });
    const credential = h('input', { name: 'credential', type: 'number', min: '1', placeholder: 'none' });
    const dependsOn = h('input', { name: 'dependsOn', placeholder: 'e.g. 12, 13', autocomplete: 'off' });
    const autoCommit = h('input', { name: 'autoCommit', type: 'checkbox', checked: true });
    const autoPublish = select(
      'autoPublish',
      [
        ['', 'as the repo’s policy says'],
        ['true', 'yes, publish once committed'],
        ['false', 'no'],
      ],
      '',
    );
    const submit = h('button', { type: 'submit' }, 'Start build');
    const form = h(
      'form',
      { className: 'card build-form', ariaLabel: 'New git build' },
      h('p', { className: 'muted' }, 'fmd clones the repository, builds the flatpak-builder manifest in a jail and uploads the result into a new build of the repo.'),
      field('Git URL', url),
      field('Ref', ref, 'branch, tag or commit; empty: the remote’s default branch'),
      field('Manifest path', manifestPath, 'empty: <App ID>.yml|yaml|json at the root, else the only manifest'),
      field('App ID', appId, 'empty: what the manifest says'),
      field('Repo', repo),
      field('Arch', arch),
      arches,
      h(
        'details',
        {},
        h('summary', {}, 'More options'),
        h('div', { className: 'form-grid' }, field('Default branch', branch), field('Credential', credential, 'number of a git credential of the repo (private sources)'), field('Depends on builds', dependsOn, 'build numbers this one waits for')),
      ),
      h('label', { className: 'inline' }, autoCommit, 'Auto-commit once built'),
      field('Auto-publish', autoPublish),
      submit,
    );
    form.onsubmit = async (e) => {
      e.preventDefault();
      showFormErrors(form, null);
      const opt = (i: HTMLInputElement) => i.value.trim() || undefined;
      const deps = dependsOn.value.trim() ? dependsOn.value.split(/[\s,]+/).filter(Boolean).map((s) => Number(s.replace(/^#/, ''))) : undefined;
      if (deps?.some((n) => !Number.isInteger(n) || n < 1)) {
        showFormErrors(form, { message: 'Build numbers, separated by commas', field: 'dependsOn' });
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Starting…';
      try {
        const r = await ctx.client.createBuild({
          input: {
            repo: repo.value.trim(),
            appId: opt(appId),
            git: {
              url: url.value.trim(),
              ref: opt(ref),
              manifestPath: opt(manifestPath),
              arch: opt(arch),
              branch: opt(branch),
              credential: credential.value ? Number(credential.value) : undefined,
              dependsOn: deps,
              autoCommit: autoCommit.checked,
              autoPublish: autoPublish.value === '' ? undefined : autoPublish.value === 'true',
            },
          },
        });
        const res = r.createBuild;
        if (isErrorResult(res)) {
          showFormErrors(form, { message: res.message, field: 'field' in res && res.field !== 'build' ? res.field : null });
          return;
        }
        if (res.__typename === 'BuildPayload') ctx.navigate(`/builds/${res.build.number}`);
      } catch (err) {
        const m = ctx.failed(err);
        if (m) showFormErrors(form, m);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Start build';
      }
    };
    setTimeout(() => url.focus(), 0);
    return form;
  },
};

// --- /builds/:number -----------------------------------------------------------------------------

type FullBuild = NonNullable<BuildQuery['build']>;

const actionLabels: Record<BuildAction, string> = { COMMIT: 'Commit', PUBLISH: 'Publish', PURGE: 'Purge', CANCEL: 'Cancel', REBUILD: 'Rebuild', PROMOTE: 'Promote' };
const actionHelp: Record<BuildAction, string> = {
  COMMIT: 'commits the uploaded refs into the build repo, then runs the repo’s checks',
  PUBLISH: 'publishes the committed build into the repo',
  PURGE: 'deletes the build’s upload repo and files; the build can no longer be committed or published',
  CANCEL: 'stops the git build; it ends cancelled',
  REBUILD: 'starts a new git build of the same commit, manifest, arch and flags',
  PROMOTE: 'publishes the build’s commits into a child repo',
};

function dl(items: [string, Child][]): HTMLDListElement {
  return h('dl', {}, ...items.filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function yesNo(v: boolean | null | undefined, nullText = '—'): string {
  return v === null || v === undefined ? nullText : v ? 'yes' : 'no';
}

function jsonText(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

export const buildPage: Page = {
  title: (ctx) => `Build #${ctx.params.number}`,
  async render(ctx) {
    const number = Number(ctx.params.number);
    if (!Number.isInteger(number) || number < 1) return errorLine(`“${ctx.params.number}” is not a build number.`);
    const [first, repos] = await Promise.all([ctx.client.build({ number }, { signal: ctx.signal }), repoList(ctx)]);
    if (!first.build) return h('p', { className: 'empty' }, `There is no build #${number}, or your token may not read it. `, link('/builds', 'All builds'), '.');
    let build: Build = first.build;
    let jobs: Job[] = first.build.jobs.edges.map((e) => e.node);
    let dependents: FullBuild['dependents']['edges'] = first.build.dependents.edges;

    const summary = h('section', { className: 'card', ariaLabel: 'Build' });
    const actionsCard = h('section', { className: 'card', ariaLabel: 'Actions' });
    const result = h('div', { className: 'action-result', role: 'status', ariaLive: 'polite' });
    const sourceCard = h('section', { className: 'card', ariaLabel: 'Source' });
    const refsCard = h('section', { className: 'card', ariaLabel: 'Refs' });
    const checksCard = h('section', { className: 'card', ariaLabel: 'Checks' });
    const jobsCard = h('section', { className: 'card', ariaLabel: 'Jobs' });
    const logCard = h('section', { className: 'card', ariaLabel: 'Log' });

    // --- summary, source, refs, checks: re-rendered from each live event
    const renderSummary = () => {
      const b = build;
      fill(
        summary,
        h('h2', {}, 'Status', buildStateBadges(b)),
        b.stateReason ? h('p', { className: ['FAILED', 'CANCELLED', 'SUPERSEDED'].includes(b.state) ? 'error' : 'muted' }, ...reasonText(b.stateReason)) : null,
        dl([
          ['State', h('span', { className: 'state-text' }, b.state.toLowerCase())],
          ['Published', b.publishedState.toLowerCase()],
          ['App ID', b.appId ?? h('span', { className: 'muted' }, 'none (any app)')],
          ['Repo', link(`/repos/${encodeURIComponent(b.repo.name)}`, b.repo.name)],
          ['Runtime', b.source?.runtime ?? null],
          ['SDK', b.source?.sdk ?? null],
          ['Branch', b.source?.branch ?? null],
          ['Git commit', b.source?.commit ? h('span', {}, shortCommit(b.source.commit), ' ', copyButton(() => b.source!.commit!, 'Copy')) : null],
          ['Build set', b.buildSet ? `#${b.buildSet.number}${b.buildSet.name ? ` ${b.buildSet.name}` : ''}` : null],
          ['Waits for', b.dependsOn.length ? h('span', { className: 'inline-list' }, ...b.dependsOn.map((d) => h('span', {}, link(`/builds/${d.number}`, `#${d.number}`), ' ', badge(d.state)))) : null],
          ['Needed by', dependents.length ? h('span', { className: 'inline-list' }, ...dependents.map((d) => h('span', {}, link(`/builds/${d.node.number}`, `#${d.node.number}`), ' ', badge(d.node.state)))) : null],
          ['Rebuild of', b.source?.rebuildOf ? link(`/builds/${b.source.rebuildOf.number}`, `#${b.source.rebuildOf.number}`) : null],
          ['Created', shortDate(b.createdAt)],
          ['Updated', shortDate(b.updatedAt)],
          ['Public download', yesNo(b.publicDownload)],
          ['Token type', b.tokenType ?? null],
          ['End of life', b.endOfLife ?? null],
          ['EOL rebase', b.endOfLifeRebase ?? null],
          ['Extra ids', b.extraIds.length ? b.extraIds.join(', ') : null],
          ['Build log', b.buildLogUrl ? h('a', { href: b.buildLogUrl, rel: 'noopener noreferrer', target: '_blank' }, b.buildLogUrl) : null],
        ]),
      );
    };

    const renderSource = () => {
      const s = build.source;
      if (!s) {
        sourceCard.hidden = true;
        return;
      }
      sourceCard.hidden = false;
      fill(sourceCard, 
        h('h2', {}, 'Git source'),
        dl([
          ['Git URL', h('code', {}, s.url)],
          ['Ref', s.ref],
          ['Commit', s.commit ? h('code', {}, s.commit) : h('span', { className: 'muted' }, 'not cloned yet')],
          ['Manifest path', s.manifestPath ?? h('span', { className: 'muted' }, 'found in the checkout')],
          ['Arch', s.arch],
          ['Default branch', s.branch ?? null],
          ['Auto-commit', yesNo(s.autoCommit)],
          ['Auto-publish', yesNo(s.autoPublish, 'repo policy')],
          ['Credential', s.credential ? `#${s.credential.number} ${s.credential.name} (${s.credential.kind.toLowerCase().replace('_', ' ')})` : null],
          ['Git source', s.gitSource ? `#${s.gitSource.number} ${s.gitSource.url} (${s.gitSource.branch})` : null],
          ['Last output', s.activeAt ? shortDate(s.activeAt) : null],
          ['Build job', s.job ? h('span', {}, link(`/jobs/${s.job.number}`, `#${s.job.number}`), ' ', badge(s.job.status), s.job.progressMessage ? ` ${s.job.progressMessage}` : '') : null],
        ]),
      );
    };

    /** "Download .flatpak": asks for the bundle, waits while its job makes it, then saves it. */
    // Kept across re-renders of the refs card (live updates), so a download under way stays in view.
    const bundleCells = new Map<string, HTMLElement>();
    const bundleButton = (ref: string) => {
      const cached = bundleCells.get(ref);
      if (cached) return cached;
      const button = h('button', { type: 'button', className: 'small secondary', ariaLabel: `Download ${ref} as a .flatpak bundle` }, 'Download .flatpak');
      const status = h('span', { className: 'bundle-status', role: 'status' });
      button.addEventListener('click', () => void getBundle(ref, button, status));
      const cell = h('span', {}, button, ' ', status);
      bundleCells.set(ref, cell);
      return cell;
    };
    const getBundle = async (ref: string, button: HTMLButtonElement, status: HTMLElement) => {
      button.disabled = true;
      try {
        const r = (await ctx.client.requestBundle({ input: { build: number, ref } })).requestBundle;
        if (isErrorResult(r)) throw new Error(r.message);
        let bundle = r.bundle;
        while (bundle.state !== 'READY') {
          if (bundle.state === 'FAILED') throw new Error(bundle.error ?? 'making the bundle failed');
          fill(status, 'Making the bundle', bundle.job ? h('span', {}, ' (job ', link(`/jobs/${bundle.job.number}`, `#${bundle.job.number}`), ')') : '', '…');
          await new Promise((done) => setTimeout(done, 1000));
          if (ctx.signal.aborted) return;
          const again = (await ctx.client.bundle({ number: bundle.number }, { signal: ctx.signal })).bundle;
          if (!again) throw new Error('the bundle is gone');
          bundle = again;
        }
        fill(status, 'Downloading…');
        const res = await ctx.download(bundle.url!, ctx.signal);
        if (!res.ok) throw new Error(`the download answered HTTP ${res.status}`);
        const file = h('a', { href: URL.createObjectURL(await res.blob()), download: bundle.fileName }, bundle.fileName);
        fill(status, 'Saved ', file, ` (${bundle.size ?? 0} bytes): flatpak install --bundle ${bundle.fileName}`);
        file.click();
      } catch (err) {
        if (ctx.signal.aborted) return;
        fill(status, h('span', { className: 'error' }, `Could not get the bundle: ${err instanceof Error ? err.message : ctx.failed(err)}`));
      } finally {
        button.disabled = false;
      }
    };

    const renderRefs = () => {
      const b = build;
      // A committed build's app and runtime refs download as single-file bundles.
      const bundleable = (ref: string) => b.state === 'READY' && /^(app|runtime)\//.test(ref);
      const refRows = b.refs.map((r) => h('tr', {}, h('td', {}, h('code', {}, r.name)), h('td', {}, shortCommit(r.commit)), h('td', {}, bundleable(r.name) ? bundleButton(r.name) : '')));
      const pubRows = b.publishedRefs.map((r) => h('tr', {}, h('td', {}, h('code', {}, r.ref)), h('td', {}, shortCommit(r.commit))));
      const promoRows = b.promotions.map((p) =>
        h(
          'tr',
          {},
          h('td', {}, p.targetRepo?.name ?? '—'),
          h('td', {}, badge(p.state), p.auto ? h('span', { className: 'muted' }, ' auto') : null, p.reason ? h('div', { className: 'muted' }, p.reason) : null),
          h('td', {}, p.job ? link(`/jobs/${p.job.number}`, `#${p.job.number}`) : '—'),
          h('td', { className: 'date' }, shortDate(p.updatedAt)),
        ),
      );
      fill(refsCard, 
        h('h2', {}, 'Refs'),
        table(['Ref', 'Commit', 'Bundle'], refRows, b.source && !b.refs.length ? 'No refs yet: they come when the git build has built them.' : 'No refs uploaded yet.'),
        pubRows.length ? h('h3', {}, 'Published') : null,
        pubRows.length ? table(['Ref', 'Commit in the repo'], pubRows, '') : null,
        promoRows.length ? h('h3', {}, 'Promotions') : null,
        promoRows.length ? table(['Into', 'State', 'Job', 'Updated'], promoRows, '') : null,
      );
    };

    const renderChecks = () => {
      const checks = build.checks;
      checksCard.hidden = checks.length === 0;
      fill(checksCard, 
        h('h2', {}, 'Checks'),
        table(
          ['Check', 'Status', 'Job', 'Results'],
          checks.map((c) =>
            h(
              'tr',
              {},
              h('td', {}, c.name),
              h('td', {}, badge(c.status), c.status === 'REVIEW_REQUIRED' && c.job ? reviewButtons(c.name, c.job.number) : null),
              h('td', {}, c.job ? link(`/jobs/${c.job.number}`, `#${c.job.number}`) : '—'),
              h('td', {}, c.results ? h('pre', { className: 'small-pre' }, jsonText(c.results)) : '—'),
            ),
          ),
          'No checks.',
        ),
      );
    };

    /** Approve / Reject of a check that waits for a review (reviewCheck, scope reviewcheck). */
    const reviewButtons = (name: string, job: number) => {
      const box = h('div', { className: 'actions review' });
      for (const [label, status] of [
        ['Approve', 'PASSED'],
        ['Reject', 'FAILED'],
      ] as const) {
        const b = h('button', { type: 'button', className: status === 'FAILED' ? 'danger small' : 'small', ariaLabel: `${label} check ${name}` }, label);
        b.onclick = async () => {
          for (const x of box.querySelectorAll('button')) x.disabled = true;
          try {
            const r = (await ctx.client.reviewCheck({ input: { job, status, reason: `${label.toLowerCase()}d in the dashboard` } })).reviewCheck;
            if (isErrorResult(r)) {
              say(`Review refused: ${r.message}`, true);
              for (const x of box.querySelectorAll('button')) x.disabled = false;
              return;
            }
            if (r.__typename === 'BuildPayload') update(r.build);
            say(`Check ${name} ${status === 'PASSED' ? 'approved' : 'rejected'}.`);
            refetch();
          } catch (err) {
            const m = ctx.failed(err);
            if (m) say(`Review failed: ${m}`, true);
            for (const x of box.querySelectorAll('button')) x.disabled = false;
          }
        };
        box.append(b);
      }
      return box;
    };

    const renderJobs = () => {
      fill(jobsCard, h('h2', {}, 'Jobs'), table(jobHeaders, jobs.map(jobRow), build.source ? 'No jobs yet.' : 'No jobs yet: the build waits for its uploads and a commit.'));
    };

    // --- actions ---------------------------------------------------------------------------------
    let actionKey = '';
    let busy = false;
    const renderActions = (force = false) => {
      const targets = promoteTargets(build, repos);
      const acts = build.actions.filter((a) => a !== 'PROMOTE' || targets.length > 0);
      const key = `${acts.join()}|${targets.join()}`;
      if (key === actionKey && !force) return;
      actionKey = key;
      const buttons: Child[] = [];
      for (const a of acts) {
        if (a === 'PROMOTE') {
          const target = select('targetRepo', targets.map((t) => [t, t] as [string, string]), targets[0] ?? null);
          const b = h('button', { type: 'button', className: 'secondary' }, actionLabels[a]);
          b.title = actionHelp[a];
          b.disabled = busy;
          b.onclick = () => run(a, b, target.value);
          buttons.push(h('span', { className: 'promote-group' }, h('label', { className: 'inline' }, 'into', target), b));
          continue;
        }
        const b = h('button', { type: 'button', className: a === 'PURGE' || a === 'CANCEL' ? 'danger' : a === 'REBUILD' ? 'secondary' : '' }, actionLabels[a]);
        b.title = actionHelp[a];
        b.disabled = busy;
        b.onclick = () => {
          if (a === 'PURGE') confirmInline(b, { question: `Purge build #${build.number}? Its files are deleted; this cannot be undone.`, yes: 'Yes, purge', no: 'Keep it', onYes: () => void run('PURGE', b) });
          else if (a === 'CANCEL') confirmInline(b, { question: `Cancel build #${build.number}? Its build stops and it ends cancelled.`, yes: 'Yes, cancel it', no: 'Keep building', onYes: () => void run('CANCEL', b) });
          else void run(a, b);
        };
        buttons.push(b);
      }
      fill(actionsCard, 
        h('h2', {}, 'Actions'),
        acts.length ? h('div', { className: 'actions' }, ...buttons) : h('p', { className: 'empty' }, nothingToDo(build)),
        result,
      );
    };

    const say = (node: Child, error = false) => {
      fill(result, typeof node === 'string' ? h('p', { className: error ? 'error' : 'ok' }, node) : node);
      if (error) result.setAttribute('role', 'alert');
      else result.setAttribute('role', 'status');
    };

    const run = async (a: BuildAction, button: HTMLButtonElement, targetRepo?: string) => {
      busy = true;
      for (const b of actionsCard.querySelectorAll('button')) b.disabled = true;
      button.setAttribute('aria-busy', 'true');
      say(`${actionLabels[a]}…`);
      const input = { build: number };
      try {
        let msg: Child;
        let next: Build | undefined;
        switch (a) {
          case 'COMMIT': {
            const r = (await ctx.client.commitBuild({ input })).commitBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'BuildJobPayload') {
              next = r.build ?? undefined;
              msg = h('p', { className: 'ok' }, 'Commit queued: job ', link(`/jobs/${r.job.number}`, `#${r.job.number}`), '.');
            }
            break;
          }
          case 'PUBLISH': {
            const r = (await ctx.client.publishBuild({ input })).publishBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'BuildJobPayload') {
              next = r.build ?? undefined;
              msg = h('p', { className: 'ok' }, 'Publish queued: job ', link(`/jobs/${r.job.number}`, `#${r.job.number}`), '.');
            }
            break;
          }
          case 'PURGE': {
            const r = (await ctx.client.purgeBuild({ input })).purgeBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'BuildPayload') next = r.build;
            msg = `Build #${number} purged.`;
            break;
          }
          case 'CANCEL': {
            const r = (await ctx.client.cancelBuild({ input: { build: number, reason: `cancelled from the dashboard by ${ctx.viewer.user?.name ?? ctx.viewer.name ?? 'a user'}` } })).cancelBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'GitBuildPayload') next = r.build;
            msg = `Build #${number} cancelled.`;
            break;
          }
          case 'REBUILD': {
            const r = (await ctx.client.rebuildBuild({ input })).rebuildBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'GitBuildPayload') msg = h('p', { className: 'ok' }, 'Rebuild started: ', link(`/builds/${r.build.number}`, `build #${r.build.number}`), '.');
            break;
          }
          case 'PROMOTE': {
            const r = (await ctx.client.promoteBuild({ input: { build: number, targetRepo: targetRepo! } })).promoteBuild;
            if (isErrorResult(r)) throw r;
            if (r.__typename === 'PromoteBuildPayload') {
              next = r.build;
              msg = h('p', { className: 'ok' }, `Promotion into ${targetRepo} queued: job `, link(`/jobs/${r.job.number}`, `#${r.job.number}`), '.');
            }
            break;
          }
        }
        busy = false;
        if (next) update(next);
        // a live event may have re-rendered the buttons while they were disabled
        renderActions(true);
        say(msg);
        refetch();
      } catch (err) {
        busy = false;
        renderActions(true);
        if (err && typeof err === 'object' && 'errorType' in err && 'message' in err) {
          say(`${actionLabels[a]} refused: ${String(err.message)}`, true);
        } else {
          const m = ctx.failed(err);
          if (m) say(`${actionLabels[a]} failed: ${m}`, true);
        }
      }
    };

    // --- the log of the current job ----------------------------------------------------------------
    let log: LiveLog | undefined;
    let logJob: number | undefined;
    let pinned = false; // the user chose a job: do not move the log to newer ones
    const logPicker = h('select', { name: 'logJob' });
    const logSlot = h('div', {});
    logPicker.onchange = () => {
      pinned = true;
      showLog(Number(logPicker.value));
    };
    const currentJob = (): Job | undefined => jobs.find((j) => j.status === 'STARTED') ?? jobs.find((j) => j.status === 'NEW' && !j.dependsOn) ?? jobs[0];
    const showLog = (n: number | undefined) => {
      if (n === logJob && log) return;
      log?.stop();
      log = undefined;
      logJob = n;
      if (n === undefined) {
        fill(logSlot, h('p', { className: 'empty' }, build.source ? 'No job has run yet.' : 'No job has run yet: uploads have no log here.'));
        return;
      }
      const j = jobs.find((x) => x.number === n);
      log = liveLog(ctx, n, { label: `Log of job ${n}${j ? ` (${j.kind})` : ''}`, onEnd: () => refetch() });
      fill(logSlot, log.element);
    };
    const renderLogPicker = () => {
      const cur = currentJob();
      if (!pinned && cur) showLog(cur.number);
      else if (!jobs.length) showLog(undefined);
      logPicker.replaceChildren(...jobs.map((j) => h('option', { value: String(j.number), selected: j.number === logJob }, `#${j.number} ${j.kind} (${j.status.toLowerCase()})`)));
      fill(logCard, h('h2', {}, 'Log', jobs.length > 1 ? h('label', { className: 'inline muted' }, 'job', logPicker) : null, logJob ? h('span', { className: 'muted' }, link(`/jobs/${logJob}`, `job #${logJob}`)) : null), logSlot);
    };

    const update = (b: Build) => {
      build = b;
      renderSummary();
      renderSource();
      renderRefs();
      renderChecks();
      renderActions();
    };

    // jobs (and dependents) are not in the live event: read again when the build moved
    const refetch = debounce(async () => {
      try {
        const r = await ctx.client.build({ number }, { signal: ctx.signal });
        if (!r.build) return;
        jobs = r.build.jobs.edges.map((e) => e.node);
        dependents = r.build.dependents.edges;
        update(r.build);
        renderJobs();
        renderLogPicker();
      } catch (err) {
        if (ctx.signal.aborted) return;
        const m = ctx.failed(err);
        if (m) say(`Could not refresh the build: ${m}`, true);
      }
    }, 300, ctx.signal);

    let lastSig = '';
    const signature = (b: Build) => JSON.stringify([b.state, b.publishedState, b.source?.job?.number, b.source?.job?.status, b.checks.map((c) => [c.status, c.job?.number]), b.promotions.map((p) => [p.state, p.job?.number])]);
    lastSig = signature(build);
    ctx.follow(ctx.client.buildUpdated({ number }), ({ buildUpdated: b }) => {
      update(b);
      const sig = signature(b);
      if (sig !== lastSig) {
        lastSig = sig;
        refetch();
      }
    });
    ctx.onReconnect(refetch);

    update(build);
    renderJobs();
    renderLogPicker();
    return h('div', { className: 'stack build-page' }, h('p', { className: 'crumbs' }, link('/builds', '← Builds')), summary, actionsCard, logCard, sourceCard, refsCard, checksCard, jobsCard);
  },
};

/** A state reason, its "build N" (superseded by, waiting for, dependency) linked to that build. */
function reasonText(reason: string): Child[] {
  return reason.split(/(\bbuild \d+)/).map((part) => {
    const n = /^build (\d+)$/.exec(part)?.[1];
    return n ? h('span', {}, 'build ', link(`/builds/${n}`, `#${n}`)) : part;
  });
}

function nothingToDo(b: Build): string {
  switch (b.state) {
    case 'COMMITTING':
    case 'VALIDATING':
      return 'Nothing to do while the build is committed and checked.';
    case 'PURGING':
      return 'The build is being purged.';
    case 'PURGED':
      return 'The build is purged: nothing left to do.';
    default:
      return b.publishedState === 'PUBLISHING' ? 'Nothing to do while the build is published.' : 'No action applies in this state.';
  }
}
