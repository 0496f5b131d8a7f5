// The fmd dashboard's shell: sign-in, navigation, the connection indicator, and the page the
// URL names (pages/*). Plain DOM, no framework; everything goes through the SDK.
import { createFmdClient, FmdRequestError, type ConnectionChange, type FmdClient } from '@fmd/sdk';
import { forgetConnection, loadConnection, saveConnection, type Connection } from './settings.ts';
import { describeError, errorLine, h, isAuthFailure } from './ui.ts';
import { match, startRouter } from './router.ts';
import { routes, notFound } from './routes.ts';
import { readable, type Page, type PageContext, type Viewer } from './pages/page.ts';
import { invitePage } from './pages/invite.ts';
import { inviteCode, signInProblemMessage } from './pages/users-logic.ts';

const app = document.querySelector<HTMLElement>('#app')!;
const nav = document.querySelector<HTMLElement>('#nav')!;
const indicator = document.querySelector<HTMLElement>('#connection')!;
/** The session lives in this tab only (sessionStorage): closing the tab or signing out ends it. */
const storage = sessionStorage;

type Session = { client: FmdClient; viewer: Viewer; connection: Connection; reconnectListeners: Set<() => void>; checkTimer: ReturnType<typeof setInterval> };

/** How often the shell asks whether the token still works, for pages that make no request for a while. */
const tokenCheckMs = 60_000;
/** A password session checks more often: each check renews its access token when less than a minute is left. */
const sessionCheckMs = 30_000;
let session: Session | undefined;
let leavePage: AbortController | undefined;
let router: ReturnType<typeof startRouter>;

/** Origins this page's Content-Security-Policy refused to connect to (fmd's `web-connect-origins` lists those it allows). */
const blockedByPolicy = new Set<string>();
document.addEventListener('securitypolicyviolation', (e) => {
  try {
    blockedByPolicy.add(new URL(e.blockedURI).origin);
  } catch {
    // an inline or eval refusal: not a connection
  }
});

/**
 * Why a request got no response: the browser hides a CORS refusal behind the same network error
 * as an unreachable server. A no-cors request still completes when the server answers, so it
 * tells the two apart. A server this page's Content-Security-Policy does not allow is refused
 * before any request goes out.
 */
async function describeUnreachable(url: string, err: unknown): Promise<string> {
  if (!(err instanceof FmdRequestError) || err.status !== 0) return describeError(err);
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    return `"${url}" is not a URL.`;
  }
  // (The violation event is dispatched a moment after the fetch fails.)
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (blockedByPolicy.has(origin)) {
    return `This page may not connect to ${origin} (its Content-Security-Policy): open the dashboard that fmd serves at ${origin}/, or add ${origin} to web-connect-origins of the fmd serving this page.`;
  }
  const answered = await fetch(new URL('/healthz', origin), { mode: 'no-cors', cache: 'no-store' }).then(
    () => true,
    () => false,
  );
  if (!answered) return `Cannot reach ${origin}. Is the URL right and the server running?`;
  if (origin === location.origin) return describeError(err);
  return `${origin} answered, but the browser blocked its response (CORS): open the dashboard that fmd serves at ${origin}/, or add ${location.origin} to fmd's cors-origins.`;
}

// --- connection indicator --------------------------------------------------------------------

type LiveState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'offline';
let liveState: LiveState = 'idle';
function setLive(state: LiveState, detail = ''): void {
  liveState = navigator.onLine ? state : 'offline';
  const text = { idle: 'online', connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', offline: 'offline' }[liveState];
  indicator.className = `connection ${liveState}`;
  indicator.textContent = text;
  indicator.title = detail || (liveState === 'idle' ? 'The server answers; this page needs no live connection' : `Live updates: ${text}`);
}
addEventListener('offline', () => setLive('offline', 'The browser is offline'));
addEventListener('online', () => setLive(liveState === 'offline' ? 'reconnecting' : liveState));

let wasLost = false;
function onConnectionChange(change: ConnectionChange): void {
  if (change.state === 'connecting') setLive(change.retry ? 'reconnecting' : 'connecting');
  else if (change.state === 'connected') {
    setLive('live');
    if (wasLost) for (const fn of session?.reconnectListeners ?? []) fn();
    wasLost = false;
  } else if (change.code === 4403) {
    signOut('The server rejected the token (revoked or expired). Sign in again.');
  } else if (change.code === 1000) {
    setLive('idle');
  } else {
    wasLost = true;
    setLive('reconnecting', `Connection lost (${change.code}${change.reason ? `: ${change.reason}` : ''}); retrying`);
  }
}

// --- sign-in ---------------------------------------------------------------------------------

/**
 * The sign-in form: a user name and password, or an API token (whichever is filled in; the token
 * wins). After a failed attempt it keeps what was tried (`tried`), so a retry goes to the same
 * server; the password is never kept.
 */
function showSignIn(message?: string, tried?: Partial<Connection> & { username?: string }): void {
  nav.hidden = true;
  const url = h('input', { name: 'url', type: 'url', required: true, value: tried?.url ?? location.origin });
  const username = h('input', { name: 'username', type: 'text', autocomplete: 'username', value: tried?.username ?? '' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password' });
  const token = h('input', { name: 'token', type: 'password', placeholder: 'eyJ…', autocomplete: 'off', value: tried?.refreshToken ? '' : (tried?.token ?? '') });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { className: 'card signin', ariaLabel: 'Sign in' },
    h('h2', {}, 'Sign in'),
    message && errorLine(message),
    h('label', {}, 'User name', username),
    h('label', {}, 'Password', password),
    h('p', { className: 'muted or' }, 'or'),
    h('label', {}, 'API token', token),
    h('details', { open: Boolean(tried?.url && tried.url !== location.origin) }, h('summary', {}, 'Another server'), h('label', {}, 'Server URL', url)),
    submit,
    h('p', { className: 'muted' }, 'Sign in with your user name and password, or with an API token: fmd prints an admin token at its first start; `fmdc token create` makes narrower ones. The session is kept in this tab only and forgotten when you sign out or close it.'),
  );
  form.onsubmit = async (e) => {
    e.preventDefault();
    const server = url.value.trim();
    if (!token.value.trim() && !(username.value.trim() && password.value)) {
      showSignIn('Enter your user name and password, or an API token.', { url: server, username: username.value.trim() });
      return;
    }
    submit.disabled = true;
    if (token.value.trim()) await signIn({ url: server, token: token.value.trim() });
    else await passwordSignIn(server, username.value.trim(), password.value);
    submit.disabled = false;
  };
  document.title = 'Sign in · fmd';
  app.replaceChildren(form);
  (tried?.username !== undefined ? password : tried?.token && !tried.refreshToken ? token : username).focus();
}

/** Signs in with a password: the session's tokens go to this tab's storage, renewed as they near expiry. */
async function passwordSignIn(url: string, username: string, password: string): Promise<void> {
  const client = createFmdClient({ url });
  try {
    const r = (await client.signIn({ input: { username, password } })).signIn;
    if (r.__typename !== 'SignInPayload') {
      const problem = r.__typename === 'SignInError' ? signInProblemMessage({ reason: r.signInProblem, message: r.message, lockedUntil: r.lockedUntil }) : r.message;
      showSignIn(problem, { url, username });
      return;
    }
    await signIn({ url, token: r.accessToken, refreshToken: r.refreshToken, accessTokenExpiresAt: r.accessTokenExpiresAt });
  } catch (err) {
    showSignIn(await describeUnreachable(url, err), { url, username });
  } finally {
    await client.close();
  }
}

/** A client for a connection: a password sign-in's session renews itself (and is stored again each time). */
function clientFor(connection: Connection): FmdClient {
  const common = { url: connection.url, reconnectAttempts: Infinity, onConnectionChange };
  if (!connection.refreshToken) return createFmdClient({ ...common, token: connection.token });
  const client: FmdClient = createFmdClient({
    ...common,
    session: {
      accessToken: connection.token,
      refreshToken: connection.refreshToken,
      accessTokenExpiresAt: connection.accessTokenExpiresAt,
      onTokens: (t) => {
        const renewed = { url: connection.url, token: t.accessToken, refreshToken: t.refreshToken, accessTokenExpiresAt: t.accessTokenExpiresAt };
        if (session?.client === client) session.connection = renewed;
        saveConnection(storage, renewed);
      },
    },
  });
  return client;
}

async function signIn(connection: Connection): Promise<void> {
  const client = clientFor(connection);
  let viewer: Viewer;
  try {
    viewer = (await client.viewer()).viewer;
  } catch (err) {
    await client.close();
    forgetConnection(storage);
    showSignIn(isAuthFailure(err) && connection.refreshToken ? 'Your session has ended. Sign in again.' : await describeUnreachable(connection.url, err), connection);
    return;
  }
  saveConnection(storage, connection);
  // A revoked or expired token ends the session at the next request or live event; a page that
  // makes neither (a form left open) learns it from this check, which also renews a password
  // session's access token before it expires.
  const checkTimer = setInterval(
    () => {
      client.viewer().catch((err: unknown) => {
        if (isAuthFailure(err) && session?.client === client) signOut('The server rejected the token (revoked or expired). Sign in again.');
      });
    },
    connection.refreshToken ? sessionCheckMs : tokenCheckMs,
  );
  session = { client, viewer, connection, reconnectListeners: new Set(), checkTimer };
  showNav(viewer);
  renderPage(new URL(location.href));
}

/**
 * Ends the session in this tab. `end`: also on the server, this session (`one`, a password
 * sign-in's) or every session of the user (`everywhere`).
 */
function signOut(message?: string, end?: 'one' | 'everywhere'): void {
  const s = session;
  session = undefined;
  if (s) clearInterval(s.checkTimer);
  leavePage?.abort();
  forgetConnection(storage);
  setLive('idle');
  if (s && end) {
    const ending = end === 'everywhere' ? s.client.signOutEverywhere().then((r) => r.signOutEverywhere) : s.client.signOut({ input: { refreshToken: s.connection.refreshToken ?? null } }).then((r) => r.signOut);
    void ending
      .then((r) => {
        if ('errorType' in r && !session) showSignIn(`Signed out here, but the server answered: ${r.message}`);
      })
      .catch((err: unknown) => {
        if (!isAuthFailure(err) && !session) showSignIn(`Signed out here, but the server could not end the session: ${describeError(err)}`);
      })
      .finally(() => void s.client.close());
  } else void s?.client.close();
  showSignIn(message);
}

function showNav(viewer: Viewer): void {
  const passwordSession = Boolean(session?.connection.refreshToken);
  const signOutButton = h('button', { type: 'button', className: 'secondary small' }, 'Sign out');
  signOutButton.onclick = () => signOut(undefined, passwordSession ? 'one' : undefined);
  const everywhereButton = viewer.user && h('button', { type: 'button', className: 'secondary small', title: `End every session of ${viewer.user.name}, in every browser` }, 'Sign out everywhere');
  if (everywhereButton) everywhereButton.onclick = () => signOut(undefined, 'everywhere');
  const can = readable(viewer);
  const links = (
    [
      ['/', 'Dashboard', true],
      ['/builds', 'Builds', can.builds],
      ['/jobs', 'Jobs', can.jobs],
      ['/repos', 'Repos', true],
      ['/catalog', 'Catalog', true],
      ['/keys', 'Keys', true],
      ['/tokens', 'Tokens', true],
      ['/audit', 'Audit', can.audit],
      ['/webhooks', 'Webhooks', can.webhooks],
      ['/users', 'Users', Boolean(viewer.user?.isAdmin)],
    ] as const
  ).filter(([, , shown]) => shown);
  nav.replaceChildren(
    h('ul', {}, ...links.map(([href, label]) => h('li', {}, h('a', { href }, label))), h('li', {}, h('a', { href: '/playground' }, 'Playground'))),
    h(
      'span',
      { className: 'who', title: `token ${viewer.tokenId ?? '(no id)'}${viewer.user ? ` of ${viewer.user.name}` : ''}` },
      'Signed in as ',
      viewer.user ? h('a', { href: '/profile' }, viewer.user.name) : (viewer.name ?? viewer.subject),
    ),
    signOutButton,
    ...(everywhereButton ? [everywhereButton] : []),
  );
  nav.hidden = false;
}

function markCurrentNav(url: URL): void {
  for (const a of nav.querySelectorAll('a')) {
    const p = new URL(a.href).pathname;
    const current = p === '/' ? url.pathname === '/' : url.pathname === p || url.pathname.startsWith(`${p}/`);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// --- pages -----------------------------------------------------------------------------------

function renderPage(url: URL): void {
  if (!session) return;
  const s = session;
  leavePage?.abort();
  const leave = (leavePage = new AbortController());
  s.reconnectListeners.clear();
  const m = match<Page>(routes, url) ?? { page: notFound, params: {}, query: url.searchParams };
  const title = typeof m.page.title === 'function' ? m.page.title(m) : m.page.title;
  document.title = `${title} · fmd`;
  markCurrentNav(url);

  const heading = h('h1', { tabIndex: -1 }, title);
  const errors = h('div', { className: 'page-errors' });
  const body = h('div', { className: 'page-body', ariaBusy: 'true' }, h('p', { className: 'muted' }, 'Loading…'));
  app.replaceChildren(heading, errors, body);
  // keyboard and screen-reader users land on the new page's heading
  if (document.activeElement && document.activeElement !== document.body) heading.focus();

  const failed = (err: unknown): string => {
    if (isAuthFailure(err)) {
      signOut('The server rejected the token (revoked or expired). Sign in again.');
      return '';
    }
    return describeError(err);
  };
  const ctx: PageContext = {
    client: s.client,
    download: (url, signal) => fetch(new URL(url, new URL(s.connection.url, location.href)), { headers: { authorization: `Bearer ${s.connection.token}` }, signal }),
    viewer: s.viewer,
    params: m.params,
    query: m.query,
    signal: leave.signal,
    navigate: (href, replace) => router.navigate(href, replace),
    follow(events, onEvent, onError) {
      const it = events[Symbol.asyncIterator]();
      leave.signal.addEventListener('abort', () => void it.return?.(), { once: true });
      void (async () => {
        try {
          for (let r = await it.next(); !r.done && !leave.signal.aborted; r = await it.next()) onEvent(r.value);
        } catch (err) {
          if (leave.signal.aborted) return;
          const message = failed(err);
          if (!message) return;
          if (onError) onError(err);
          else errors.append(errorLine(`Live updates stopped: ${message}`));
        }
      })();
    },
    onReconnect: (fn) => s.reconnectListeners.add(fn),
    failed,
    signOut,
  };
  void (async () => {
    try {
      const content = await m.page.render(ctx);
      if (leave.signal.aborted) return;
      body.replaceChildren(content);
    } catch (err) {
      if (leave.signal.aborted) return;
      const message = failed(err);
      if (message) body.replaceChildren(errorLine(message));
    } finally {
      body.removeAttribute('aria-busy');
    }
  })();
}

router = startRouter((url) => {
  if (session) renderPage(url);
});
setLive('idle');
// An invite link (`/invite/<code>`, or `#/invite/<code>` as fmd's invite URLs may say) shows
// its form without signing in; accepting it signs the new user in.
const invited = inviteCode(new URL(location.href));
const saved = loadConnection(storage);
if (invited) {
  nav.hidden = true;
  document.title = 'Accept an invite · fmd';
  app.replaceChildren(
    invitePage(invited, location.origin, async (tokens) => {
      history.replaceState(null, '', '/');
      await signIn({ url: location.origin, ...tokens });
    }),
  );
} else if (saved) void signIn(saved);
else showSignIn();
