// The real-browser harness of the dashboard's tests: fmd from the server's test kit (fresh
// database, in this process) serving a fresh production build of web/, and Debian's Chromium
// driven by playwright-core. Every page is guarded: a request to another host, an uncaught page
// error or a console error fails the test, so "nothing is loaded from the internet" and "the page
// does not break" are checked on every step, not only where a test thinks of it.
//
// useBrowser() is called once at the top of a test file: it registers the file's hooks (build,
// server and browser in `before`, the guard's check after each test, clean-up in `after`).
import { after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

// playwright-core downloads nothing by itself; this keeps it so should anything ask it to.
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

export type TestServer = {
  url: string;
  wsUrl: string;
  adminToken: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<{ status: number; body: { data?: T; errors?: any } }>;
  stop(): Promise<void>;
};
export type GitApp = { dir: string; url: string; commit: string; manifestPath: string; appId: string; message: string };

// The server's test kit, loaded by URL so that type-checking web/ does not pull in the server's
// sources, and at import time so that the kit's file-level clean-up hooks belong to the test file.
const kitUrl = (file: string) => new URL(`../../server/test/kit/${file}`, import.meta.url).href;
const serverKit = (await import(kitUrl('server.ts'))) as {
  startTestServer(overrides?: Record<string, unknown>): Promise<TestServer>;
  pollFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs?: number, everyMs?: number): Promise<T>;
};
const gitKit = (await import(kitUrl('git-fixtures.ts'))) as {
  gitBuildConfig(runtimeRepo: string, extra?: Record<string, unknown>): Record<string, unknown>;
  makeGitApp(o?: { appId?: string; message?: string; buildCommands?: string[] }): Promise<GitApp>;
  appRef(appId: string, branch: string): Promise<string>;
};
const flatpakKit = (await import(kitUrl('flatpak-fixtures.ts'))) as {
  buildTestRuntime(repo: string, o?: { workDir?: string }): Promise<unknown>;
  tempDir(prefix?: string): Promise<string>;
};
const builderKit = (await import(kitUrl('builder-user.ts'))) as { ensureBuilderUser(): Promise<void> };

export const { pollFor } = serverKit;
export const { makeGitApp, appRef } = gitKit;

const webDir = fileURLToPath(new URL('..', import.meta.url));
export const screenshotDir = path.join(webDir, 'test-artifacts', 'screenshots');

/**
 * Debian's Chromium: the binary itself, not the /usr/bin/chromium wrapper script, which loads
 * /etc/chromium.d (Google API keys, extensions) into a browser that should talk to no one.
 * FMD_TEST_CHROMIUM names another one.
 */
function chromiumPath(): string {
  const candidates = [process.env.FMD_TEST_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium at ${candidates.join(' or ')}: install Debian's chromium (bash scripts/install.sh --with-test-deps)`);
  return found;
}

export type ColorScheme = 'light' | 'dark';
export const desktop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };
/** The four ways every page is photographed. */
export const variants = [
  { ...desktop, colorScheme: 'light' },
  { ...desktop, colorScheme: 'dark' },
  { ...phone, colorScheme: 'light' },
  { ...phone, colorScheme: 'dark' },
] as const;

/** What went wrong in a page, as the guard saw it. */
type Guard = { problems: string[]; allowedConsole: RegExp[]; colorScheme: ColorScheme };

export type BrowserTest = {
  server: TestServer;
  /** The page URL of fmd (the dashboard is at `${url}/`). */
  url: string;
  /** A new tab in its own browser context (its own sessionStorage), guarded. */
  newPage(o?: { width?: number; height?: number; colorScheme?: ColorScheme }): Promise<Page>;
  /** Signs in through the dashboard's sign-in form, and waits for the navigation to show. */
  signIn(page: Page, token: string): Promise<void>;
  /** Saves the page as it is to screenshots/<name>-<desktop|phone>-<light|dark>.png; fails on the guard's problems first. */
  screenshot(page: Page, name: string): Promise<string>;
  /** The same at desktop and phone width in light and dark; the page is put back as it was. */
  screenshotAll(page: Page, name: string): Promise<void>;
  /** Console errors matching `pattern` are expected from now on in this page (e.g. a 401 after revoking the token in use). */
  allowConsoleError(page: Page, pattern: RegExp): void;
  /** Fails with what the guard saw in any page so far. */
  assertClean(): void;
};

export type BrowserOptions = {
  /** git builds of file:// URLs on the offline test runtime (built once for the file; takes a while) */
  gitBuilds?: boolean;
};

/** Local hosts: fmd listens on 127.0.0.1; nothing else may be asked for. */
const localHosts = new Set(['localhost', '127.0.0.1', '[::1]']);
function isLocal(url: string): boolean {
  try {
    const u = new URL(url);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
    return localHosts.has(u.hostname);
  } catch {
    return false;
  }
}

export function useBrowser(o: BrowserOptions = {}): BrowserTest {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let outDir: string | undefined;
  const contexts = new Set<BrowserContext>();
  const guards = new WeakMap<Page, Guard>();
  const allGuards: Guard[] = [];
  const saved: string[] = [];

  before(async () => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-web-browser-'));
    let runtimeRepo: string | undefined;
    // The build (vite, in this process) and the test runtime (flatpak tools) do not wait for each other.
    await Promise.all([
      build({ root: webDir, logLevel: 'warn', build: { outDir, emptyOutDir: true } }),
      (async () => {
        if (!o.gitBuilds) return;
        await builderKit.ensureBuilderUser();
        const work = await flatpakKit.tempDir('fmd-web-git-');
        runtimeRepo = path.join(work, 'rt-repo');
        await flatpakKit.buildTestRuntime(runtimeRepo, { workDir: path.join(work, 'rt-work') });
      })(),
    ]);
    // 127.0.0.1:9: the server that is not there, which sign-in tests try (web-connect-origins lets the page try it).
    const overrides: Record<string, unknown> = { 'web-dir': outDir, 'job-poll-ms': 200, 'web-connect-origins': ['http://127.0.0.1:9'] };
    server = await serverKit.startTestServer(runtimeRepo ? { ...gitKit.gitBuildConfig(runtimeRepo), ...overrides } : overrides);
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true });
    mkdirSync(screenshotDir, { recursive: true });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    if (saved.length) console.log(`${saved.length} screenshots in ${screenshotDir}`);
  });

  // A failed test leaves a picture of every page it had open (failed-<test>-<n>.png), for runs
  // nobody watched; a problem seen after a test's last check still fails that test.
  afterEach(async (t) => {
    // TestContext.passed (Node 24) is missing from this @types/node.
    if ((t as { passed?: boolean }).passed === false) {
      const name = t.name.replace(/\W+/g, '-').slice(0, 60);
      let n = 0;
      for (const c of contexts) {
        for (const p of c.pages()) {
          const file = path.join(screenshotDir, `failed-${name}-${++n}.png`);
          if (await p.screenshot({ path: file, fullPage: true, timeout: 10_000 }).then(() => true, () => false)) saved.push(file);
        }
      }
      if (n) console.log(`the pages as the test failed: ${screenshotDir}/failed-${name}-*.png`);
    }
    assertClean();
  });

  function assertClean(): void {
    const problems = allGuards.flatMap((g) => g.problems.splice(0));
    if (problems.length) assert.fail(`the browser saw problems:\n${problems.join('\n')}`);
  }

  function guard(page: Page, g: Guard): void {
    guards.set(page, g);
    page.on('pageerror', (err) => g.problems.push(`uncaught error in ${page.url()}: ${err.stack ?? err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      if (g.allowedConsole.some((p) => p.test(text))) return;
      const at = msg.location();
      g.problems.push(`console error in ${page.url()}: ${text}${at.url ? ` (${at.url}:${at.lineNumber})` : ''}`);
    });
    // route() does not see WebSockets; they are checked as they open.
    page.on('websocket', (ws) => {
      if (!isLocal(ws.url())) g.problems.push(`WebSocket to another host: ${ws.url()}`);
    });
  }

  return {
    get server() {
      assert.ok(server, 'the server starts in before()');
      return server;
    },
    get url() {
      assert.ok(server, 'the server starts in before()');
      return server.url;
    },

    async newPage({ width = desktop.width, height = desktop.height, colorScheme = 'light' } = {}) {
      assert.ok(browser, 'the browser starts in before()');
      const context = await browser.newContext({ viewport: { width, height }, colorScheme, reducedMotion: 'reduce' });
      contexts.add(context);
      const g: Guard = { problems: [], allowedConsole: [], colorScheme };
      allGuards.push(g);
      // Every request the pages make passes here: another host's is refused and recorded.
      await context.route('**/*', async (route) => {
        const url = route.request().url();
        if (isLocal(url)) return route.continue();
        g.problems.push(`request to another host: ${route.request().method()} ${url}`);
        return route.abort('blockedbyclient');
      });
      // What the server's Content-Security-Policy refused, as a console error the guard sees
      // (Chromium logs most refusals itself; the event covers all of them).
      await context.addInitScript(() =>
        document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)),
      );
      context.on('page', (p) => {
        if (!guards.has(p)) guard(p, g);
      });
      const page = await context.newPage();
      if (!guards.has(page)) guard(page, g);
      page.setDefaultTimeout(30_000);
      return page;
    },

    async signIn(page, token) {
      if (!page.url().startsWith(server!.url)) await page.goto(`${server!.url}/`);
      await page.getByLabel('API token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
    },

    async screenshot(page, name) {
      assertClean();
      const g = guards.get(page);
      const width = page.viewportSize()?.width ?? desktop.width;
      const file = path.join(screenshotDir, `${name}-${width >= 768 ? 'desktop' : 'phone'}-${g?.colorScheme ?? 'light'}.png`);
      await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
      saved.push(file);
      return file;
    },

    async screenshotAll(page, name) {
      const g = guards.get(page)!;
      const size = page.viewportSize() ?? desktop;
      const scheme = g.colorScheme;
      for (const v of variants) {
        await page.setViewportSize({ width: v.width, height: v.height });
        await page.emulateMedia({ colorScheme: v.colorScheme });
        g.colorScheme = v.colorScheme;
        await this.screenshot(page, name);
      }
      await page.setViewportSize(size);
      await page.emulateMedia({ colorScheme: scheme });
      g.colorScheme = scheme;
    },

    allowConsoleError(page, pattern) {
      guards.get(page)?.allowedConsole.push(pattern);
    },

    assertClean,
  };
}

/** Waits until the element's text matches `pattern`; fails naming the text it had. */
export async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  let last = '';
  try {
    return await pollFor(async () => {
      last = await locator.innerText({ timeout: 1000 }).catch(() => last);
      return pattern.test(last) ? last : null;
    }, timeoutMs, 100);
  } catch {
    assert.fail(`text ${pattern} did not show within ${timeoutMs} ms; it was:\n${last}`);
  }
}
