// Git sources for git-build tests: a local git repository (cloned over file://) holding a
// flatpak-builder manifest for an app on the offline test runtime (flatpak-fixtures.ts), and the
// server config that lets fmd clone it and install that runtime (a builder remote on the
// runtime's repo). Commits are made in an isolated HOME with a fixed identity.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { runTool } from '../../src/ostree/exec.ts';
import { pollFor, type TestServer } from './server.ts';
import { defaultArch, tempDir, testAppManifest } from './flatpak-fixtures.ts';

export type GitAppOptions = {
  appId?: string;
  /** what the app's command prints */
  message?: string;
  /** the manifest's branch (absent: the build's or the repo's default) */
  branch?: string;
  /** shell commands run by the module's build before the install (e.g. `sleep 60`, `exit 1`) */
  buildCommands?: string[];
  /** the manifest's file name at the root (default `<appId>.json`); `.yml`/`.yaml` writes YAML */
  manifestName?: string;
  /** more modules, after the app's (each { name, commands }) */
  extraModules?: Array<{ name: string; commands: string[] }>;
};

export type GitApp = {
  /** the repository's working tree */
  dir: string;
  /** what fmd clones */
  url: string;
  /** HEAD after the last commit */
  commit: string;
  manifestPath: string;
  appId: string;
  message: string;
};

/** Overrides for startTestServer: file:// git URLs, and the test runtime's repo as a builder remote. */
export function gitBuildConfig(runtimeRepo: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'git-url-schemes': ['https', 'ssh', 'file'],
    'builder-remotes': [{ name: 'test-runtime', url: `file://${runtimeRepo}` }],
    ...extra,
  };
}

/** A flatpak-builder manifest for an app printing `message`, built from files in the checkout. */
export function appManifest(o: Required<Pick<GitAppOptions, 'appId'>> & GitAppOptions): Record<string, unknown> {
  return testAppManifest(
    o.appId,
    [
      {
        name: 'hello',
        buildsystem: 'simple',
        // Busybox has no `install` applet.
        'build-commands': [...(o.buildCommands ?? []), 'mkdir -p /app/bin', 'cp hello.sh /app/bin/hello', 'chmod 755 /app/bin/hello'],
        sources: [{ type: 'file', path: 'hello.sh' }],
      },
      ...(o.extraModules ?? []).map((m) => ({ name: m.name, buildsystem: 'simple', 'build-commands': m.commands })),
    ],
    o.branch ? { branch: o.branch } : {},
  );
}

async function git(dir: string, args: string[]): Promise<string> {
  const home = path.join(dir, '..', `${path.basename(dir)}-home`);
  await mkdir(home, { recursive: true });
  const env = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', GIT_CONFIG_NOSYSTEM: '1' };
  const r = await runTool('git', ['-c', 'user.name=fmd test', '-c', 'user.email=test@fmd.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, env });
  return r.stdout.trim();
}

/** Writes `files` (path -> contents) into the repository and commits them; answers the new commit. */
export async function commitFiles(dir: string, files: Record<string, string>, message = 'update'): Promise<string> {
  for (const [rel, contents] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), contents, { mode: rel.endsWith('.sh') ? 0o755 : 0o644 });
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
  return git(dir, ['rev-parse', 'HEAD']);
}

/** The files of an app: its manifest at the root and the script the manifest installs. */
export function appFiles(o: GitAppOptions = {}): { files: Record<string, string>; manifestPath: string; appId: string; message: string } {
  const appId = o.appId ?? 'org.test.GitHello';
  const message = o.message ?? `Hello from ${appId} built from git`;
  if (/["\\$`]/.test(message)) throw new Error('keep the test message free of shell metacharacters');
  const manifestPath = o.manifestName ?? `${appId}.json`;
  const manifest = appManifest({ ...o, appId });
  const text = /\.ya?ml$/.test(manifestPath) ? YAML.stringify(manifest) : `${JSON.stringify(manifest, null, 2)}\n`;
  return { files: { [manifestPath]: text, 'hello.sh': `#!/bin/sh\necho "${message}"\n` }, manifestPath, appId, message };
}

/** A new git repository (branch main) with an app's manifest and files, committed. */
export async function makeGitApp(o: GitAppOptions & { dir?: string } = {}): Promise<GitApp> {
  const dir = o.dir ?? path.join(await tempDir('fmd-git-app-'), 'repo');
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '-q']);
  const { files, manifestPath, appId, message } = appFiles(o);
  const commit = await commitFiles(dir, files, `${appId}: first version`);
  return { dir, url: `file://${dir}`, commit, manifestPath, appId, message };
}

/** The ref flatpak-builder exports for an app built on this machine. */
export async function appRef(appId: string, branch: string): Promise<string> {
  return `app/${appId}/${await defaultArch()}/${branch}`;
}

/** GraphQL helpers for git builds; each answers the build with `fields`. */
export function gitBuildQueries(fields: string) {
  async function createGitBuild(srv: TestServer, input: Record<string, unknown>, token = srv.adminToken): Promise<any> {
    const r = await srv.gql(
      `mutation($input: CreateBuildInput!) { createBuild(input: $input) { __typename ... on Error { message } ... on BuildPayload { build { ${fields} } } } }`,
      { input },
      token,
    );
    assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
    return r.body.data.createBuild;
  }
  async function buildNow(srv: TestServer, n: number): Promise<any> {
    const r = await srv.gql(`query($n: Int!) { build(number: $n) { ${fields} } }`, { n });
    assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
    return r.body.data.build;
  }
  async function waitForBuild(srv: TestServer, n: number, done: (b: any) => boolean, timeoutMs = 240_000): Promise<any> {
    return pollFor(async () => {
      const b = await buildNow(srv, n);
      return done(b) ? b : null;
    }, timeoutMs, 200);
  }
  return { createGitBuild, buildNow, waitForBuild };
}
