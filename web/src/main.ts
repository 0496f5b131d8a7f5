// The fmd dashboard: connect with a server URL and token, then see the viewer, the tokens and
// live token changes. Plain DOM, no framework; everything goes through the SDK.
import { createFmdClient, FmdRequestError, isErrorResult, type ApiTokenFieldsFragment, type FmdClient, type ViewerQuery } from '@fmd/sdk';
import { forgetConnection, loadConnection, saveConnection, type Connection } from './settings.ts';

type Child = Node | string | null | undefined | false;

/** Creates an element; `props` go to properties (`className`, `onclick`, ...). */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  for (const c of children) if (c) el.append(c);
  return el;
}

function describeError(err: unknown): string {
  if (err instanceof FmdRequestError) {
    if (err.status === 0) return `${err.message}. Is the URL right and the server running?`;
    if (err.code === 'UNAUTHENTICATED') return `The server rejected the token: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Why a request got no response: the browser hides a CORS refusal behind the same network error
 * as an unreachable server. A no-cors request still completes when the server answers, so it
 * tells the two apart.
 */
async function describeUnreachable(url: string, err: unknown): Promise<string> {
  if (!(err instanceof FmdRequestError) || err.status !== 0) return describeError(err);
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    return `"${url}" is not a URL.`;
  }
  const answered = await fetch(new URL('/healthz', origin), { mode: 'no-cors', cache: 'no-store' }).then(
    () => true,
    () => false,
  );
  if (!answered) return `Cannot reach ${origin}. Is the URL right and the server running?`;
  if (origin === location.origin) return describeError(err);
  return `${origin} answered, but the browser blocked its response (CORS): open the dashboard that fmd serves at ${origin}/, or add ${location.origin} to fmd's cors-origins.`;
}

/** `2026-12-23 13:17 UTC` from an ISO date-time. */
function shortDate(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

const app = document.querySelector<HTMLElement>('#app')!;
let session: { client: FmdClient; stop(): void } | undefined;

function showConnect(message?: string): void {
  session?.stop();
  session = undefined;
  const saved = loadConnection(localStorage);
  const url = h('input', { name: 'url', type: 'url', required: true, value: saved?.url ?? location.origin, placeholder: 'http://localhost:8080' });
  const token = h('input', { name: 'token', type: 'password', required: true, value: saved?.token ?? '', placeholder: 'eyJ…', autocomplete: 'off' });
  const form = h(
    'form',
    { className: 'card connect' },
    h('h2', {}, 'Connect'),
    message && h('p', { className: 'error' }, message),
    h('label', {}, 'Server URL', url),
    h('label', {}, 'API token', token),
    h('button', { type: 'submit' }, 'Connect'),
    h('p', { className: 'muted' }, 'The server prints an admin token at its first start. The URL and token are kept in this browser’s localStorage.'),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    const connection = { url: url.value.trim(), token: token.value.trim() };
    saveConnection(localStorage, connection);
    void connect(connection);
  };
  app.replaceChildren(form);
}

async function connect(connection: Connection): Promise<void> {
  const client = createFmdClient(connection);
  let viewer: ViewerQuery['viewer'];
  try {
    viewer = (await client.viewer()).viewer;
  } catch (err) {
    await client.close();
    showConnect(await describeUnreachable(connection.url, err));
    return;
  }

  const tokensBody = h('tbody');
  const status = h('p', { className: 'muted' });
  const showRevoked = h('input', { type: 'checkbox' });
  const changes = h('ol', { className: 'changes' });
  const liveState = h('span', { className: 'muted' }, 'connecting…');

  const refreshTokens = async () => {
    try {
      const { tokens } = await client.tokens({ first: 100, includeRevoked: showRevoked.checked });
      tokensBody.replaceChildren(...tokens.edges.map((e) => tokenRow(e.node)));
      status.textContent = `${tokens.totalCount} token${tokens.totalCount === 1 ? '' : 's'}${tokens.pageInfo.hasNextPage ? ' (showing the newest 100)' : ''}`;
      status.className = 'muted';
    } catch (err) {
      status.textContent = describeError(err);
      status.className = 'error';
    }
  };

  const tokenRow = (t: ApiTokenFieldsFragment) => {
    const revoke = h('button', { className: 'small', disabled: Boolean(t.revokedAt), textContent: 'Revoke' });
    revoke.onclick = async () => {
      if (!confirm(`Revoke "${t.name}"? Tokens created from it stop working too.`)) return;
      try {
        const { revokeTokens: r } = await client.revokeTokens({ input: { tokenIds: [t.tokenId] } });
        if (isErrorResult(r)) throw new Error(r.message);
        await refreshTokens();
      } catch (err) {
        status.textContent = describeError(err);
        status.className = 'error';
      }
    };
    return h(
      'tr',
      { className: t.revokedAt ? 'revoked' : '' },
      h('td', { title: t.tokenId }, t.name),
      h('td', {}, t.scopes.join(', ')),
      h('td', { className: 'date' }, t.revokedAt ? `revoked ${shortDate(t.revokedAt)}` : t.expiresAt ? shortDate(t.expiresAt) : 'never'),
      h('td', {}, revoke),
    );
  };

  // Live changes: each event is listed and refreshes the table.
  const events = client.tokensChanged();
  const iterator = events[Symbol.asyncIterator]();
  let stopped = false;
  void (async () => {
    try {
      liveState.textContent = 'live';
      for (let r = await iterator.next(); !r.done && !stopped; r = await iterator.next()) {
        const { kind, tokenIds } = r.value.tokensChanged;
        changes.prepend(h('li', {}, h('time', {}, new Date().toLocaleTimeString()), ` ${kind.toLowerCase()} `, h('code', {}, tokenIds.join(', '))));
        while (changes.children.length > 50) changes.lastElementChild?.remove();
        void refreshTokens();
      }
    } catch (err) {
      if (!stopped) liveState.textContent = `disconnected: ${describeError(err)}`;
    }
  })();

  session = {
    client,
    stop() {
      stopped = true;
      void iterator.return?.();
      void client.close();
    },
  };

  const disconnect = h('button', { className: 'secondary', textContent: 'Forget token' });
  disconnect.onclick = () => {
    forgetConnection(localStorage);
    showConnect();
  };
  const refresh = h('button', { className: 'secondary small', textContent: 'Refresh' });
  refresh.onclick = () => void refreshTokens();
  showRevoked.onchange = () => void refreshTokens();

  const any = (list: string[]) => (list.length === 0 || list.includes('') ? 'any' : list.join(', '));
  app.replaceChildren(
    h(
      'section',
      { className: 'card' },
      h('h2', {}, 'You'),
      h(
        'dl',
        {},
        h('dt', {}, 'User'),
        h('dd', {}, viewer.user ? `${viewer.user.name}${viewer.user.isAdmin ? ' (admin)' : ''}` : '—'),
        h('dt', {}, 'Token'),
        h('dd', {}, viewer.name ?? '—', ' ', h('code', {}, viewer.tokenId ?? 'no jti')),
        h('dt', {}, 'Scopes'),
        h('dd', {}, viewer.scopes.join(', ') || 'none'),
        h('dt', {}, 'Limits'),
        h('dd', {}, `prefixes ${any(viewer.prefixes)}; apps ${any(viewer.apps)}; repos ${any(viewer.repos)}`),
        h('dt', {}, 'Expires'),
        h('dd', {}, shortDate(viewer.expiresAt)),
      ),
      h('p', {}, h('span', { className: 'muted' }, client.endpoint, ' '), disconnect),
    ),
    h(
      'section',
      { className: 'card' },
      h('h2', {}, 'Tokens ', refresh),
      h('label', { className: 'inline' }, showRevoked, ' show revoked'),
      status,
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Scopes'), h('th', {}, 'Expires'), h('th', {}))), tokensBody),
    ),
    h('section', { className: 'card' }, h('h2', {}, 'Token changes ', liveState), changes),
  );
  await refreshTokens();
}

const saved = loadConnection(localStorage);
if (saved) void connect(saved);
else showConnect();
