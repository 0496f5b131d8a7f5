// What every page of the dashboard gets from the shell (main.ts), and what it gives back.
import type { FmdClient, ViewerQuery } from '@fmd/sdk';
import type { Params } from '../router.ts';

export type Viewer = ViewerQuery['viewer'];

/**
 * What a token may read, by its scopes as the server decides (builds: build, upload, download
 * or admin; jobs: jobs, build or admin; starting git builds: build or admin; the audit log
 * and webhooks: admin), so pages leave out what would only be refused.
 */
export function readable(viewer: Pick<Viewer, 'scopes'>): { builds: boolean; jobs: boolean; startBuilds: boolean; audit: boolean; webhooks: boolean } {
  const has = (...scopes: string[]) => scopes.some((x) => viewer.scopes.includes(x));
  return { builds: has('build', 'upload', 'download', 'admin'), jobs: has('jobs', 'build', 'admin'), startBuilds: has('build', 'admin'), audit: has('admin'), webhooks: has('admin') };
}

export type PageContext = {
  client: FmdClient;
  /** GETs a file of the server (a .flatpak bundle) with the session's token */
  download(url: string, signal?: AbortSignal): Promise<Response>;
  viewer: Viewer;
  /** the `:name` segments of the route */
  params: Params;
  query: URLSearchParams;
  /** aborted when the user leaves the page: pass it to requests, stop timers on it */
  signal: AbortSignal;
  /** goes to another dashboard URL (pushes history; `replace` replaces the entry) */
  navigate(href: string, replace?: boolean): void;
  /**
   * Follows an SDK subscription while the page is shown: `onEvent` per event; ended and
   * unsubscribed when the page is left. A rejected token signs the user out; other failures go
   * to `onError` (default: an error line at the top of the page).
   */
  follow<T>(events: AsyncIterable<T>, onEvent: (value: T) => void, onError?: (err: unknown) => void): void;
  /**
   * Called after the WebSocket came back from a loss: subscriptions are running again (with
   * their first variables), but events sent while it was down are lost, so lists re-read.
   */
  onReconnect(fn: () => void): void;
  /** Handles a failed request: a rejected token signs out; anything else returns the message to show. */
  failed(err: unknown): string;
  /** Ends the session (token removed from this tab) and shows sign-in with `message`. */
  signOut(message?: string): void;
};

export type Page = {
  /** the document title and the page heading */
  title: string | ((ctx: Pick<PageContext, 'params'>) => string);
  render(ctx: PageContext): Promise<Node> | Node;
};
