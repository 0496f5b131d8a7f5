// The audit log (/audit, admin tokens only): every GraphQL mutation and REST write, who made it
// (token name and id, subject), what it acted on, how it ended, its request id and client
// address. Filters live in the URL; paging like the job list.
import type { AuditEntryFieldsFragment, AuditLogQueryVariables } from '@fmd/sdk';
import { h, shortDate, table } from '../ui.ts';
import { readable, type Page } from './page.ts';
import { pageArgs, pager, withQuery } from './builds-shared.ts';

/** The URL's filter keys, their labels and hints. */
const textFilters = [
  ['action', 'Action', 'createRepo, POST /api/v1/build/:id/commit'],
  ['token', 'Token id', 'a jti'],
  ['target', 'Target contains', 'repo=stable, build=12'],
  ['result', 'Result', 'ok, not-found, FORBIDDEN, 403'],
] as const;
const timeFilters = [
  ['since', 'Since'],
  ['until', 'Until'],
] as const;

/** A `datetime-local` value from the URL as an ISO time, or undefined (a malformed one filters nothing). */
function isoOf(local: string | null): string | undefined {
  if (!local) return undefined;
  const t = Date.parse(local);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** The query's filters as auditLog arguments. */
export function auditArgs(q: URLSearchParams): AuditLogQueryVariables {
  const text = (k: string) => q.get(k)?.trim() || undefined;
  return {
    ...pageArgs(q),
    action: text('action'),
    tokenId: text('token'),
    target: text('target'),
    result: text('result'),
    since: isoOf(q.get('since')),
    until: isoOf(q.get('until')),
  };
}

const headers = ['Time', 'Token', 'Action', 'Target', 'Result', 'Client', 'Request'];

function resultBadge(result: string): HTMLSpanElement {
  const ok = result === 'ok' || /^[23]\d\d$/.test(result);
  return h('span', { className: `badge ${ok ? 'succeeded' : 'failed'}`, title: ok ? 'succeeded' : 'refused or failed' }, result);
}

function row(e: AuditEntryFieldsFragment): HTMLTableRowElement {
  const who = e.tokenName ?? e.tokenId ?? '(no valid token)';
  return h(
    'tr',
    {},
    h('td', {}, shortDate(e.createdAt)),
    h('td', { title: [e.tokenId && `token ${e.tokenId}`, e.subject && `subject ${e.subject}`].filter(Boolean).join(', ') }, who),
    h('td', {}, h('code', {}, e.action), e.transport === 'rest' ? null : h('span', { className: 'muted' }, ' (GraphQL)')),
    h('td', {}, e.target ?? '–'),
    h('td', {}, resultBadge(e.result)),
    h('td', {}, e.clientIp ?? '–'),
    h('td', {}, h('code', { className: 'small' }, e.requestId ?? '–')),
  );
}

export const auditPage: Page = {
  title: 'Audit log',
  async render(ctx) {
    if (!readable(ctx.viewer).audit) return h('p', { className: 'empty' }, 'The audit log is for tokens with the admin scope.');
    const q = ctx.query;
    const conn = (await ctx.client.auditLog(auditArgs(q), { signal: ctx.signal })).auditLog;

    const inputs = new Map<string, HTMLInputElement>();
    for (const [key, , hint] of textFilters) inputs.set(key, h('input', { name: key, value: q.get(key) ?? '', placeholder: hint }));
    for (const [key] of timeFilters) inputs.set(key, h('input', { name: key, type: 'datetime-local', value: q.get(key) ?? '' }));
    const filters = h(
      'form',
      { className: 'filters', ariaLabel: 'Filter the audit log', role: 'search' },
      ...textFilters.map(([key, label]) => h('label', {}, label, inputs.get(key)!)),
      ...timeFilters.map(([key, label]) => h('label', {}, label, inputs.get(key)!)),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '/audit', className: 'button-link secondary' }, 'Clear')),
    );
    filters.onsubmit = (e) => {
      e.preventDefault();
      ctx.navigate(withQuery('/audit', new URLSearchParams(), Object.fromEntries([...inputs].map(([k, input]) => [k, input.value.trim()]))));
    };

    const filtered = [...textFilters, ...timeFilters].some(([k]) => q.get(k));
    const firstPage = !q.has('after') && !q.has('before');
    const entries = conn.edges.map((e) => e.node);
    const tbl = table(headers, entries.map(row), filtered ? 'No entry matches these filters.' : firstPage ? 'Nothing recorded yet: mutations and REST writes appear here.' : 'No entries on this page.');
    const n = conn.totalCount;
    return h(
      'div',
      { className: 'stack' },
      h('section', { className: 'card', ariaLabel: 'Filters' }, filters),
      h('section', { className: 'card' }, h('h2', {}, 'Entries ', h('span', { className: 'muted' }, `${n} entr${n === 1 ? 'y' : 'ies'}`)), tbl, pager('/audit', q, conn.pageInfo, 'Audit log')),
    );
  },
};
