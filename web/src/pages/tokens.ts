// API tokens: the ones this token may manage (live), revoking them, and minting a narrower one
// whose JWT is shown once.
import { allNodes, FmdRequestError, type ApiTokenFieldsFragment, type CreateTokenInput } from '@fmd/sdk';
import type { Page, PageContext } from './page.ts';
import { badge, copyButton, errorLine, h, shortDate, table, type Child } from '../ui.ts';
import { checkbox, checkedValues, field, FieldError, fill, onSubmit, optional, parseDuration, section, splitList, value } from '../forms.ts';
import { defaultExpiry, describeClaim, grantableScopes, maxDurationSeconds, parseClaimList, sortTokens, tokenState } from './tokens-logic.ts';

type Token = ApiTokenFieldsFragment;

const canList = (ctx: PageContext): boolean => ctx.viewer.scopes.includes('admin') || ctx.viewer.scopes.includes('tokenmanagement');

export const tokensPage: Page = {
  title: 'Tokens',
  async render(ctx) {
    let showRevoked = false;
    let signingOut = false;
    const notice = h('div', { className: 'notices' });
    const created = h('div', {});
    const list = h('section', { className: 'card tokens-list', ariaLabel: 'Tokens' });

    const revoked = h('input', { type: 'checkbox', name: 'includeRevoked' });
    revoked.addEventListener('change', () => {
      showRevoked = revoked.checked;
      void refresh();
    });
    const listHead = (count?: number): HTMLElement =>
      h('div', { className: 'list-head' }, h('h2', {}, 'Managed tokens', count !== undefined && h('span', { className: 'muted' }, String(count))), canList(ctx) && checkbox('Show revoked', revoked));

    const revoke = async (t: Token, button: HTMLButtonElement): Promise<void> => {
      const self = t.tokenId === ctx.viewer.tokenId;
      const question = self
        ? `“${t.name}” is the token this tab is signed in with.\n\nRevoking it signs you out now, and every token created from it stops working too. Revoke it?`
        : `Revoke token “${t.name}”? Tokens created from it stop working too.`;
      if (!confirm(question)) return;
      button.disabled = true;
      if (self) signingOut = true;
      try {
        const r = (await ctx.client.revokeTokens({ input: { tokenIds: [t.tokenId] } })).revokeTokens;
        if (r.__typename !== 'RevokeTokensPayload') {
          signingOut = false;
          fill(notice, errorLine(r.message));
          button.disabled = false;
          return;
        }
        if (self) {
          ctx.signOut('You revoked the token this session used.');
          return;
        }
        fill(notice, h('p', { className: 'ok', role: 'status' }, `Revoked “${t.name}”${r.revokedCount > 1 ? ` and ${r.revokedCount - 1} token${r.revokedCount > 2 ? 's' : ''} created from it` : ''}.`));
        await refresh();
      } catch (err) {
        signingOut = false;
        const message = ctx.failed(err);
        if (message) fill(notice, errorLine(message));
        button.disabled = false;
      }
    };

    const row = (t: Token): HTMLTableRowElement => {
      const self = !!ctx.viewer.tokenId && t.tokenId === ctx.viewer.tokenId;
      const state = tokenState(t);
      let action: Child = null;
      if (state !== 'revoked') {
        const b = h('button', { type: 'button', className: self ? 'danger small' : 'secondary small', ariaLabel: `Revoke ${t.name}${self ? ' (this session)' : ''}` }, 'Revoke');
        b.onclick = () => void revoke(t, b);
        action = b;
      }
      return h(
        'tr',
        { className: self ? 'this-session' : '' },
        h(
          'td',
          {},
          h('strong', {}, t.name),
          self && h('span', { className: 'session-mark' }, ' (this session)'),
          h('div', { className: 'muted' }, h('code', { title: t.tokenId }, t.tokenId.slice(0, 13)), t.subject ? ` · sub ${t.subject}` : ''),
          t.parentTokenId && h('div', { className: 'muted' }, 'from ', t.parent ? t.parent.name : h('code', {}, t.parentTokenId.slice(0, 13))),
          t.owner && h('div', { className: 'muted' }, `owner ${t.owner.name}`),
          t.external && h('div', { className: 'muted' }, 'minted outside fmd'),
        ),
        h('td', {}, t.scopes.length ? t.scopes.join(', ') : '—'),
        h('td', {}, describeClaim(t.prefixes, 'prefixes'), t.apps.length ? h('div', { className: 'muted' }, `apps: ${describeClaim(t.apps, 'apps')}`) : null),
        h('td', {}, describeClaim(t.repos, 'repos')),
        h('td', { className: 'date' }, shortDate(t.createdAt)),
        h('td', { className: 'date' }, t.expiresAt ? shortDate(t.expiresAt) : 'never'),
        h('td', { className: 'date' }, shortDate(t.lastUsedAt)),
        h('td', {}, badge(state), t.revokedAt && h('div', { className: 'muted' }, shortDate(t.revokedAt))),
        h('td', {}, action),
      );
    };

    const refresh = async (): Promise<void> => {
      if (signingOut) return;
      if (!canList(ctx)) {
        fill(list, listHead(), h('p', {}, 'Listing and revoking tokens needs a token with the tokenmanagement or admin scope. This session’s token has: ', ctx.viewer.scopes.join(', ') || 'no scope', '.'));
        return;
      }
      try {
        const tokens: Token[] = [];
        for await (const t of allNodes((after) => ctx.client.tokens({ first: 100, after, includeRevoked: showRevoked }, { signal: ctx.signal }).then((x) => x.tokens))) tokens.push(t);
        if (signingOut) return;
        fill(
          list,
          listHead(tokens.length),
          table(['Name', 'Scopes', 'Prefixes / apps', 'Repos', 'Created', 'Expires', 'Last used', 'State', ''], sortTokens(tokens).map(row), showRevoked ? 'No tokens yet. Create one below.' : 'No active tokens. Create one below.'),
        );
      } catch (err) {
        const message = ctx.failed(err);
        if (!message) return;
        const forbidden = err instanceof FmdRequestError && err.code === 'FORBIDDEN';
        fill(list, listHead(), forbidden ? h('p', {}, 'This token may not list tokens: ', message) : errorLine(message));
      }
    };

    // Many events can come at once (a revoke cascades): re-read once per burst.
    let pending: ReturnType<typeof setTimeout> | undefined;
    const soon = (): void => {
      clearTimeout(pending);
      pending = setTimeout(() => void refresh(), 150);
    };
    ctx.signal.addEventListener('abort', () => clearTimeout(pending), { once: true });

    await refresh();
    if (canList(ctx)) {
      ctx.follow(ctx.client.tokensChanged(), soon, (err) => {
        const message = ctx.failed(err);
        if (message) fill(notice, errorLine(`Live updates stopped: ${message}`));
      });
      ctx.onReconnect(soon);
    }

    return h('div', { className: 'stack' }, notice, created, list, createForm(ctx, created, soon), sessionCard(ctx));
  },
};

function sessionCard(ctx: PageContext): HTMLElement {
  const v = ctx.viewer;
  return section(
    'This session’s token',
    h(
      'dl',
      {},
      h('dt', {}, 'Name'),
      h('dd', {}, v.name ?? '—'),
      h('dt', {}, 'Token ID'),
      h('dd', {}, v.tokenId ? h('code', {}, v.tokenId) : 'none (it cannot be revoked on its own)'),
      h('dt', {}, 'Scopes'),
      h('dd', {}, v.scopes.join(', ') || '—'),
      h('dt', {}, 'Prefixes / apps'),
      h('dd', {}, describeClaim(v.prefixes, 'prefixes'), v.apps.length ? ` · apps: ${v.apps.join(', ')}` : ''),
      h('dt', {}, 'Repos'),
      h('dd', {}, describeClaim(v.repos, 'repos')),
      h('dt', {}, 'Expires'),
      h('dd', {}, shortDate(v.expiresAt)),
    ),
  );
}

function createForm(ctx: PageContext, created: HTMLElement, refresh: () => void): HTMLElement {
  const v = ctx.viewer;
  const scopes = grantableScopes(v.scopes);
  const maxSecs = maxDurationSeconds(v.expiresAt);
  const form = h(
    'form',
    { ariaLabel: 'Create token' },
    field('Name', h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'ci' })),
    h(
      'fieldset',
      { className: 'scopes' },
      h('legend', {}, 'Scopes'),
      scopes.length ? h('div', { className: 'checks' }, ...scopes.map((s) => checkbox(s, h('input', { name: 'scopes', value: s })))) : h('p', { className: 'muted' }, 'This session’s token has no scope to pass on.'),
    ),
    field('Prefixes', h('input', { name: 'prefixes', autocomplete: 'off', placeholder: describeClaim(v.prefixes, 'prefixes') }), 'app-id prefixes, comma-separated (* for all); empty: the same as this session’s token'),
    field('Apps', h('input', { name: 'apps', autocomplete: 'off', placeholder: describeClaim(v.apps, 'apps') }), 'exact app ids besides the prefixes; empty: the same as this session’s token'),
    field('Repos', h('input', { name: 'repos', autocomplete: 'off', placeholder: describeClaim(v.repos, 'repos') }), 'repo names, comma-separated (* for all); empty: the same as this session’s token'),
    field('Expires in', h('input', { name: 'durationSeconds', required: true, defaultValue: defaultExpiry(maxSecs), autocomplete: 'off' }), `e.g. 90d, 12h, 1y; at most until this session’s token expires (${shortDate(v.expiresAt)})`),
    h(
      'details',
      {},
      h('summary', {}, 'More'),
      h(
        'div',
        { className: 'form-grid' },
        field('Subject', h('input', { name: 'subject', autocomplete: 'off', placeholder: v.subject || '(any)' }), 'the sub claim: "build" or "build/<id>" narrows it; empty: the same as this session’s token'),
        field('Token type', h('input', { name: 'tokenType', type: 'number', min: '0', autocomplete: 'off' }), 'for repos whose private refs need a download token of this type'),
      ),
    ),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Create token')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const duration = parseDuration(value(form, 'durationSeconds'));
      if (duration === undefined || Number.isNaN(duration) || duration <= 0) throw new FieldError('durationSeconds', 'a duration such as 90d, 12h or 1y');
      const chosen = checkedValues(form, 'scopes');
      if (!chosen.length) throw new FieldError('scopes', 'pick at least one scope');
      const tokenType = value(form, 'tokenType').trim();
      const input: CreateTokenInput = {
        name: value(form, 'name').trim(),
        scopes: chosen,
        durationSeconds: duration,
        prefixes: parseClaimList(splitList(value(form, 'prefixes'))),
        apps: parseClaimList(splitList(value(form, 'apps'))),
        repos: parseClaimList(splitList(value(form, 'repos'))),
        subject: optional(value(form, 'subject')),
        tokenType: tokenType ? Number(tokenType) : undefined,
      };
      return (await ctx.client.createToken({ input })).createToken;
    },
    done: (r) => {
      form.reset();
      showNewToken(created, r.apiToken, r.token);
      refresh();
    },
  });
  return section('Create a token', form);
}

/** The new JWT, once: with a copy button and a warning that it is not shown again. */
function showNewToken(where: HTMLElement, t: Token, jwt: string): void {
  const input = h('input', { name: 'newToken', readOnly: true, value: jwt, spellcheck: false, autocomplete: 'off' });
  input.onfocus = () => input.select();
  const done = h('button', { type: 'button', className: 'secondary' }, 'Done');
  const copy = copyButton(() => jwt, 'Copy token');
  copy.ariaLabel = 'Copy token';
  const card = h(
    'section',
    { className: 'card new-token', ariaLabel: 'New token' },
    h('h2', {}, `New token “${t.name}”`),
    h('p', { className: 'warning', role: 'alert' }, 'Copy it now: it will not be shown again.'),
    field('Token', input),
    h('div', { className: 'actions' }, copy, done),
    h('p', { className: 'muted' }, `Scopes ${t.scopes.join(', ')}; ${describeClaim(t.prefixes, 'prefixes')}; ${describeClaim(t.repos, 'repos')}; expires ${t.expiresAt ? shortDate(t.expiresAt) : 'never'}.`),
  );
  done.onclick = () => where.replaceChildren();
  where.replaceChildren(card);
  input.focus();
}
