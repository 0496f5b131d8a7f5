// What the build, job and home pages share: list rows, relay paging through the URL, filters
// kept in the query string, and the rules of which build actions a state allows.
import type { BuildFieldsFragment, BuildState, JobFieldsFragment, PublishedState } from '@fmd/sdk';
import type { PageContext } from './page.ts';
import { labelCells, badge, formatDuration, h, link, shortDate, type Child } from '../ui.ts';

export type Build = BuildFieldsFragment;
export type Job = JobFieldsFragment;

export const pageSize = 25;

// --- paging ----------------------------------------------------------------------------------

/** The connection arguments a list URL asks for: `?after=` next pages, `?before=` previous ones. */
export function pageArgs(query: URLSearchParams, size = pageSize): { first?: number; after?: string; last?: number; before?: string } {
  const before = query.get('before');
  const after = query.get('after');
  if (before) return { last: size, before };
  if (after) return { first: size, after };
  return { first: size };
}

/** `path?query` with `changes` applied (null or '' removes a key). */
export function withQuery(path: string, query: URLSearchParams, changes: Record<string, string | null | undefined>): string {
  const q = new URLSearchParams(query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

type PageInfo = { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };

/**
 * Previous / next links of a list page. Relay leaves `hasPreviousPage` (paging forward) and
 * `hasNextPage` (paging back) false when it does not know, so the way the user came is always open.
 */
export function pager(path: string, query: URLSearchParams, info: PageInfo, label: string): HTMLElement | null {
  const paging = query.has('after') || query.has('before');
  const hasPrev = query.has('before') ? info.hasPreviousPage : query.has('after');
  const hasNext = query.has('after') || !query.has('before') ? info.hasNextPage : true;
  if (!hasPrev && !hasNext && !paging) return null;
  const nav = h('nav', { className: 'pager', ariaLabel: `${label} pages` });
  if (paging) nav.append(link(withQuery(path, query, { after: null, before: null }), 'Newest'));
  if (hasPrev && info.startCursor) nav.append(link(withQuery(path, query, { after: null, before: info.startCursor }), '← Previous'));
  if (hasNext && info.endCursor) nav.append(link(withQuery(path, query, { before: null, after: info.endCursor }), 'Next →'));
  return nav;
}

// --- build rules -----------------------------------------------------------------------------

/** The server's names of the build mutations a button runs (Build.actions lists those the token may run now). */
export type BuildAction = BuildFieldsFragment['actions'][number];

/** Repos a build may be promoted into: children of its repo or of a repo it was promoted into. */
export function promoteTargets(b: Pick<Build, 'repo' | 'promotions'>, repos: readonly { name: string; parent: { name: string } | null }[]): string[] {
  const sources = new Set([b.repo.name, ...b.promotions.filter((p) => p.state === 'PROMOTED' && p.targetRepo).map((p) => p.targetRepo!.name)]);
  const done = new Set(b.promotions.filter((p) => p.state === 'PROMOTED' || p.state === 'PROMOTING').map((p) => p.targetRepo?.name));
  return repos.filter((r) => r.parent && sources.has(r.parent.name) && !done.has(r.name)).map((r) => r.name);
}

export const buildStates: BuildState[] = ['WAITING', 'CLONING', 'BUILDING', 'UPLOADING', 'COMMITTING', 'VALIDATING', 'READY', 'FAILED', 'CANCELLED', 'SUPERSEDED', 'PURGING', 'PURGED'];
export const publishedStates: PublishedState[] = ['UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED'];
export const jobKinds = ['git-build', 'commit', 'publish', 'check', 'promote', 'update-repo', 'republish', 'prune', 'delete-repo', 'noop', 'retention-sweep', 'repo-fsck', 'bundle'];
export const jobStatuses = ['NEW', 'STARTED', 'ENDED', 'BROKEN'] as const;

/** Does a build (from a live event) belong in a list filtered by `query`? */
export function buildMatches(b: Build, query: URLSearchParams): boolean {
  const repo = query.get('repo');
  const state = query.get('state');
  const appId = query.get('appId');
  const published = query.get('published');
  const to = query.get('to');
  // a list that ends before today gets no new builds
  const endsBefore = to && /^\d{4}-\d{2}-\d{2}$/.test(to) ? Date.parse(`${to}T00:00:00Z`) + 86_400_000 <= Date.parse(b.createdAt) : false;
  return (!repo || b.repo.name === repo) && (!state || b.state === state) && (!appId || b.appId === appId) && (!published || b.publishedState === published) && !endsBefore;
}

export function jobMatches(j: Job, query: URLSearchParams): boolean {
  const kind = query.get('kind');
  const status = query.get('status');
  const repo = query.get('repo');
  return (!kind || j.kind === kind) && (!status || j.status === status) && (!repo || j.repo === repo);
}

// --- rows ------------------------------------------------------------------------------------

export function buildStateBadges(b: Pick<Build, 'state' | 'publishedState'>): HTMLElement {
  return h('span', { className: 'badges' }, badge(b.state), b.publishedState !== 'UNPUBLISHED' && badge(b.publishedState === 'FAILED' ? 'PUBLISH_FAILED' : b.publishedState));
}

/** `https://example.org/group/app.git` → `group/app` */
export function shortGitUrl(url: string): string {
  return url.replace(/^[a-z+]+:\/\/(?:[^/@]*@)?[^/]+\//, '').replace(/\.git$/, '') || url;
}

export function shortCommit(c: string | null | undefined): HTMLElement | string {
  return c ? h('code', { title: c }, c.slice(0, 10)) : '—';
}

export const buildHeaders = ['Build', 'State', 'App ID', 'Repo', 'Source', 'Created'];

export const buildHeadersCompact = ['Build', 'State', 'App ID', 'Repo', 'Created'];

/** A build row without its source (the home page's narrower table). */
export function buildRowCompact(b: Build): HTMLTableRowElement {
  const row = buildRow(b);
  row.children[4]?.remove();
  return row;
}

export function buildRow(b: Build): HTMLTableRowElement {
  const source: Child = b.source
    ? h('span', { title: `${b.source.url} ${b.source.ref}` }, shortGitUrl(b.source.url), ' ', h('span', { className: 'muted' }, `@ ${b.source.ref}`))
    : h('span', { className: 'muted' }, 'upload');
  const progress = b.source?.job?.status === 'STARTED' && b.source.job.progressMessage ? h('div', { className: 'muted' }, b.source.job.progressMessage) : null;
  const row = h(
    'tr',
    { dataset: { build: String(b.number) } },
    h('td', { className: 'num' }, link(`/builds/${b.number}`, `#${b.number}`)),
    h('td', {}, buildStateBadges(b), progress, b.stateReason && ['FAILED', 'CANCELLED', 'SUPERSEDED'].includes(b.state) ? h('div', { className: 'muted reason', title: b.stateReason }, b.stateReason) : null),
    h('td', {}, b.appId ? h('a', { href: `/builds?appId=${encodeURIComponent(b.appId)}`, className: 'quiet-link', title: `Builds of ${b.appId}` }, b.appId) : h('span', { className: 'muted' }, '—')),
    h('td', {}, b.repo.name),
    h('td', {}, source),
    h('td', { className: 'date' }, shortDate(b.createdAt)),
  );
  return row;
}

export const jobHeaders = ['Job', 'Kind', 'Status', 'Repo', 'Progress', 'Created', 'Took'];

export function jobDuration(j: Pick<Job, 'startedAt' | 'finishedAt'>, now = Date.now()): string {
  if (!j.startedAt) return '—';
  const end = j.finishedAt ? Date.parse(j.finishedAt) : now;
  return formatDuration((end - Date.parse(j.startedAt)) / 1000);
}

export function jobProgress(j: Job): Child {
  if (j.status === 'BROKEN' && j.error) return h('span', { className: 'error-text' }, j.error);
  if (j.status === 'NEW') return h('span', { className: 'muted' }, j.startAfter && Date.parse(j.startAfter) > Date.now() ? `starts ${shortDate(j.startAfter)}` : j.dependsOn ? `waits for job #${j.dependsOn.number}` : 'queued');
  if (j.status === 'ENDED') return j.progressMessage ?? '';
  const pct = j.progress !== null && j.progress !== undefined ? h('progress', { max: 1, value: Math.min(1, Math.max(0, j.progress > 1 ? j.progress / 100 : j.progress)) }) : null;
  return h('span', { className: 'job-progress' }, pct, j.progressMessage ?? (j.status === 'STARTED' ? 'running' : ''));
}

export function jobRow(j: Job): HTMLTableRowElement {
  return h(
    'tr',
    { dataset: { job: String(j.number) } },
    h('td', { className: 'num' }, link(`/jobs/${j.number}`, `#${j.number}`)),
    h('td', { className: 'kind' }, j.kind, j.buildNumber ? h('div', { className: 'muted' }, link(`/builds/${j.buildNumber}`, `build #${j.buildNumber}`)) : null),
    h('td', {}, badge(j.status), j.cancelRequested && j.status !== 'ENDED' && j.status !== 'BROKEN' ? h('div', { className: 'muted' }, 'cancelling…') : null),
    h('td', {}, j.repo ?? '—'),
    h('td', {}, jobProgress(j)),
    h('td', { className: 'date' }, shortDate(j.createdAt)),
    h('td', { className: 'num' }, jobDuration(j)),
  );
}

/**
 * A table body whose rows update in place from live events: rows are keyed by number, new ones
 * go on top (newest first) when they belong on this page, and the page keeps its size.
 */
export class LiveRows<T extends { number: number }> {
  readonly tbody: HTMLTableSectionElement;
  private readonly render: (item: T) => HTMLTableRowElement;
  private readonly rows = new Map<number, HTMLTableRowElement>();
  private readonly max: number;

  constructor(items: readonly T[], render: (item: T) => HTMLTableRowElement, max: number) {
    this.render = render;
    this.max = max;
    this.tbody = h('tbody');
    for (const it of items) {
      const r = render(it);
      this.rows.set(it.number, r);
      this.tbody.append(r);
    }
  }

  /** the highest number shown (0 when none) */
  get newest(): number {
    return Math.max(0, ...this.rows.keys());
  }

  has(n: number): boolean {
    return this.rows.has(n);
  }

  get size(): number {
    return this.rows.size;
  }

  /** Replaces the row of `item`; adds it in number order when `insert` (dropping the lowest row past the page size). Returns true when a row was added and kept. */
  update(item: T, insert: boolean): boolean {
    const old = this.rows.get(item.number);
    if (old) {
      const r = this.render(item);
      r.classList.add('changed');
      old.replaceWith(r);
      this.rows.set(item.number, r);
      return false;
    }
    if (!insert) return false;
    const r = this.render(item);
    r.classList.add('changed');
    // newest first: before the first row with a lower number
    const after = [...this.rows.entries()].filter(([n]) => n < item.number).sort((a, b) => b[0] - a[0])[0];
    if (after) after[1].before(r);
    else this.tbody.append(r);
    this.rows.set(item.number, r);
    while (this.rows.size > this.max) {
      const last = [...this.rows.keys()].sort((a, b) => a - b)[0]!;
      this.rows.get(last)!.remove();
      this.rows.delete(last);
    }
    return this.rows.has(item.number);
  }

  remove(n: number): void {
    this.rows.get(n)?.remove();
    this.rows.delete(n);
  }
}

/** A table around a LiveRows body, with the empty state shown while it has no rows. */
export function liveTable<T extends { number: number }>(headers: string[], rows: LiveRows<T>, empty: string, caption?: string): { element: HTMLElement; refresh(): void } {
  const tbl = h('table', {}, caption ? h('caption', { className: 'visually-hidden' }, caption) : null, h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col' }, t)))), rows.tbody);
  const wrap = h('div', { className: 'table-wrap' }, tbl);
  const emptyEl = h('p', { className: 'empty' }, empty);
  const element = h('div', { className: 'live-table' });
  const refresh = () => {
    labelCells(rows.tbody, headers);
    element.replaceChildren(rows.size ? wrap : emptyEl);
  };
  refresh();
  return { element, refresh };
}

/** Runs `fn` at most once per `ms`, the last call winning (refetches after bursts of events). */
export function debounce(fn: () => void, ms: number, signal: AbortSignal): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!signal.aborted) fn();
    }, ms);
  };
}

/** Field names of an InvalidInputError as the inputs name them (`app-id` → `appId`, `manifest` → `manifestPath`). */

/**
 * A paged list kept live: each event's item updates its row (one that left the filter stays,
 * updated, until the page is read again); an item newer than any shown is added on the first
 * page and counted. After a reconnect, whose missed events are lost, the page is read again.
 */
export function followLiveList<T extends { number: number }, E>(
  ctx: Pick<PageContext, 'follow' | 'onReconnect' | 'failed' | 'signal'>,
  o: {
    events: AsyncIterable<E>;
    item(event: E): T;
    matches(item: T): boolean;
    rows: LiveRows<T>;
    table: { refresh(): void };
    firstPage: boolean;
    total: number;
    /** shows the count */
    count(total: number): void;
    /** the current page again */
    reread(): Promise<{ items: T[]; totalCount: number }>;
  },
): void {
  let total = o.total;
  o.count(total);
  ctx.follow(o.events, (e) => {
    const x = o.item(e);
    if (!o.matches(x)) {
      if (o.rows.has(x.number)) {
        o.rows.update(x, false);
        o.table.refresh();
      }
      return;
    }
    const newest = o.rows.newest;
    // a new item (higher than any shown) adds to the count; an old one that changed does not
    if (o.rows.update(x, o.firstPage) && x.number > newest) o.count(++total);
    o.table.refresh();
  });
  ctx.onReconnect(
    debounce(
      async () => {
        try {
          const r = await o.reread();
          for (const x of [...r.items].reverse()) o.rows.update(x, o.firstPage);
          o.count((total = r.totalCount));
          o.table.refresh();
        } catch (err) {
          if (!ctx.signal.aborted) ctx.failed(err);
        }
      },
      200,
      ctx.signal,
    ),
  );
}

