// The app catalog: the apps of a repo from its appstream data, with search (`/catalog?repo=&q=`,
// in the URL so links and the back button work), and an app's page (`/catalog/app?repo=&id=`: app
// ids have dots, which the server takes for file names in a path, so they go in the query) with
// its icon, description, install lines, .flatpakref link, refs, releases, screenshots and the
// builds that published it. Icons need the token, so they are fetched with it and shown as data URLs.
import { allNodes, type AppsQuery, type FmdClient } from '@fmd/sdk';
import type { Page, PageContext } from './page.ts';
import { errorLine, formatBytes, h, link, shortDate, table, badge, type Child } from '../ui.ts';
import { field, section } from '../forms.ts';
import { remoteAddCommand } from './repos-commands.ts';
import { commandLine } from './repos.ts';

type AppSummary = NonNullable<AppsQuery['apps']>[number];

export const appHref = (repo: string, id: string): string => `/catalog/app?${new URLSearchParams({ repo, id })}`;

/** The app's icon as an <img> (filled in once fetched with the token), or a placeholder. */
function appIcon(ctx: PageContext, app: Pick<AppSummary, 'iconUrl' | 'name'>, size: number): HTMLElement {
  const img = h('img', { className: `app-icon size-${size}`, width: size, height: size, alt: `${app.name} icon` });
  if (!app.iconUrl) return h('span', { className: `app-icon size-${size} placeholder`, ariaHidden: 'true' });
  void iconDataUrl(ctx.client, app.iconUrl, ctx.signal).then(
    (src) => (img.src = src),
    () => (img.alt = `${app.name} (no icon)`),
  );
  return img;
}

async function iconDataUrl(client: FmdClient, url: string, signal: AbortSignal): Promise<string> {
  const blob = await client.fetchFile(url, { signal });
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// --- list -----------------------------------------------------------------------------------

export const catalogPage: Page = {
  title: 'Catalog',
  async render(ctx) {
    const repos: string[] = [];
    try {
      for await (const r of allNodes((after) => ctx.client.repos({ first: 100, after }, { signal: ctx.signal }).then((x) => x.repos))) repos.push(r.name);
    } catch (err) {
      const message = ctx.failed(err);
      return message ? errorLine(message) : h('div');
    }
    if (!repos.length) return h('p', { className: 'empty' }, 'No repos your token may read.');
    const repo = repos.includes(ctx.query.get('repo') ?? '') ? ctx.query.get('repo')! : repos[0]!;
    const q = ctx.query.get('q') ?? '';

    const repoSelect = h('select', { name: 'repo' }, ...repos.map((r) => h('option', { value: r, selected: r === repo }, r)));
    const search = h('input', { name: 'q', type: 'search', value: q, maxLength: 200, placeholder: 'name, id, summary or developer' });
    const form = h('form', { className: 'filters', ariaLabel: 'Search apps' }, field('Repo', repoSelect), field('Search', search), h('button', { type: 'submit' }, 'Search'));
    form.setAttribute('role', 'search');
    const go = (e?: Event): void => {
      e?.preventDefault();
      const p = new URLSearchParams({ repo: repoSelect.value });
      if (search.value.trim()) p.set('q', search.value.trim());
      ctx.navigate(`/catalog?${p}`);
    };
    form.addEventListener('submit', go);
    repoSelect.addEventListener('change', () => go());

    let apps: AppSummary[] | null;
    try {
      apps = (await ctx.client.apps({ repo, search: q || null }, { signal: ctx.signal })).apps;
    } catch (err) {
      const message = ctx.failed(err);
      return h('div', { className: 'stack' }, form, message ? errorLine(message) : null);
    }
    const list = apps ?? [];
    const cards = list.map((a) =>
      h(
        'li',
        { className: 'app-card' },
        appIcon(ctx, a, 64),
        h('div', {}, h('h3', {}, link(appHref(a.repo, a.id), a.name)), h('p', {}, a.summary ?? ''), h('p', { className: 'muted' }, h('code', {}, a.id), a.developer ? ` · ${a.developer}` : '')),
      ),
    );
    const heading = `${list.length} app${list.length === 1 ? '' : 's'} in ${repo}${q ? ` matching “${q}”` : ''}`;
    return h(
      'div',
      { className: 'stack' },
      form,
      h('section', { className: 'card', ariaLabel: 'Apps' }, h('h2', {}, heading), cards.length ? h('ul', { className: 'app-list' }, ...cards) : h('p', { className: 'empty' }, q ? 'No app matches.' : 'No apps published in this repo yet.')),
    );
  },
};

// --- one app --------------------------------------------------------------------------------

export const appPage: Page = {
  title: 'App',
  async render(ctx) {
    const repoName = ctx.query.get('repo') ?? '';
    const id = ctx.query.get('id') ?? '';
    if (!repoName || !id) return h('p', { className: 'empty' }, 'Which app? ', link('/catalog', 'Find it in the catalog'), '.');
    let data;
    try {
      data = await ctx.client.app({ repo: repoName, id }, { signal: ctx.signal });
    } catch (err) {
      const message = ctx.failed(err);
      return message ? errorLine(message) : h('div');
    }
    const app = data.app;
    if (!app) return h('p', { className: 'empty' }, `No app ${id} in repo ${repoName} that your token may see. `, link('/catalog', 'Back to the catalog'), '.');
    const origin = new URL(ctx.client.endpoint).origin;
    const abs = (u: string) => new URL(u, origin).href;
    const flatpakref = abs(app.flatpakrefUrl);

    const header = h(
      'section',
      { className: 'card app-header', ariaLabel: 'App' },
      appIcon(ctx, app, 128),
      h(
        'div',
        {},
        h('h2', {}, app.name),
        h('p', {}, app.summary ?? ''),
        h(
          'dl',
          { className: 'facts' },
          ...([
            ['ID', h('code', {}, app.id)],
            ['Repo', link(`/repos/${encodeURIComponent(app.repo)}`, app.repo)],
            ['Developer', app.developer],
            ['License', app.license],
            ['Homepage', app.homepage && /^https?:\/\//.test(app.homepage) ? h('a', { href: app.homepage, rel: 'noopener noreferrer' }, app.homepage) : null],
            ['Arches', app.arches.join(', ')],
          ] as Array<[string, Child]>)
            .filter(([, v]) => v)
            .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
      ),
    );
    const description = app.description
      ? section('Description', ...app.description.split('\n\n').map((p) => (p.startsWith('• ') ? h('ul', {}, ...p.split('\n').map((li) => h('li', {}, li.replace(/^• /, '')))) : h('p', {}, p))))
      : null;
    const install = section(
      'Install',
      commandLine('Add the remote', remoteAddCommand(app.remoteName, abs(app.flatpakrepoUrl))),
      commandLine(`Install ${app.id}`, app.installCommand),
      h('p', {}, 'Or open ', h('a', { href: flatpakref, download: `${app.id}.flatpakref` }, `${app.id}.flatpakref`), ' with a software installer.'),
    );
    const refs = section(
      'Refs',
      table(
        ['Ref', 'Installed size', 'Download size', 'Updated', 'End of life'],
        app.refs.map((r) =>
          h('tr', {}, h('td', {}, h('code', {}, r.name)), h('td', {}, formatBytes(r.installedSize)), h('td', {}, formatBytes(r.downloadSize)), h('td', { className: 'date' }, shortDate(r.timestamp)), h('td', {}, r.endOfLife ? `${r.endOfLife}${r.endOfLifeRebase ? ` (→ ${r.endOfLifeRebase})` : ''}` : '—')),
        ),
        'No refs of this app in the repo.',
      ),
    );
    const releases = section(
      'Releases',
      app.releases.length
        ? h('ul', { className: 'releases' }, ...app.releases.map((r) => h('li', {}, h('strong', {}, r.version), r.date ? h('span', { className: 'muted' }, ` ${r.date}`) : null, r.description ? h('p', {}, r.description) : null)))
        : h('p', { className: 'empty' }, 'The appstream data names no releases.'),
    );
    // The page may load images from this server only: screenshots elsewhere are links.
    const screenshots = app.screenshots.length
      ? section(
          'Screenshots',
          h(
            'ul',
            { className: 'screenshots' },
            ...app.screenshots.map((s) =>
              h('li', {}, new URL(s.url, origin).origin === origin ? h('img', { src: s.url, alt: s.caption ?? 'screenshot', loading: 'lazy' }) : null, h('a', { href: s.url, rel: 'noopener noreferrer' }, s.caption ?? s.url)),
            ),
          ),
        )
      : null;
    const builds = section(
      'Published builds',
      table(
        ['Build', 'State', 'Published', 'Created'],
        app.builds.map((b) => h('tr', {}, h('td', {}, link(`/builds/${b.number}`, `#${b.number}`)), h('td', {}, badge(b.state)), h('td', {}, badge(b.publishedState)), h('td', { className: 'date' }, shortDate(b.createdAt)))),
        'No published builds of this app that your token may read.',
      ),
    );
    return h('div', { className: 'stack' }, h('p', {}, link(`/catalog?repo=${encodeURIComponent(app.repo)}`, `← Apps in ${app.repo}`)), header, description, install, releases, screenshots, refs, builds);
  },
};
