// URL routing with the History API: each page has a path pattern (`/builds/:number`); links
// inside the dashboard are followed without a reload, and the back button re-renders.

export type Params = Record<string, string>;
export type Route<T> = { pattern: string; page: T };
export type Match<T> = { page: T; params: Params; query: URLSearchParams };

/** Finds the route of a path; `:name` segments become params. */
export function match<T>(routes: readonly Route<T>[], url: URL): Match<T> | undefined {
  const parts = url.pathname.split('/').filter(Boolean);
  for (const r of routes) {
    const pat = r.pattern.split('/').filter(Boolean);
    if (pat.length !== parts.length) continue;
    const params: Params = {};
    if (pat.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = decodeURIComponent(parts[i]!)), true) : p === parts[i]))) {
      return { page: r.page, params, query: url.searchParams };
    }
  }
  return undefined;
}

/** Calls `render` now and on every navigation (link click, back/forward, navigate()). */
export function startRouter(render: (url: URL) => void): { navigate(href: string, replace?: boolean): void } {
  const go = (href: string, replace = false) => {
    const url = new URL(href, location.href);
    if (url.href !== location.href) history[replace ? 'replaceState' : 'pushState'](null, '', url);
    render(url);
  };
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    // only the dashboard's own pages; /playground, /repo/... and the API are real navigations
    if (url.origin !== location.origin || !isDashboardPath(url.pathname)) return;
    e.preventDefault();
    go(url.href);
  });
  addEventListener('popstate', () => render(new URL(location.href)));
  render(new URL(location.href));
  return { navigate: go };
}

const serverPaths = ['/playground', '/graphql', '/api/', '/repo/', '/healthz', '/metrics', '/assets/'];
export function isDashboardPath(pathname: string): boolean {
  return !serverPaths.some((p) => pathname === p.replace(/\/$/, '') || pathname.startsWith(p.endsWith('/') ? p : `${p}/`));
}
