// Typed wrapper over git (2.39) for git builds: a shallow clone at a branch, tag or exact
// commit, ls-remote, and the checks that keep user-supplied URLs and refs from becoming
// options or exotic transports. The URL and ref reach git only after `--` or as values of
// options, so neither can be read as a flag even if a check were missed.
import { chmod, lchown, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../domain/errors.ts';
import { runTool } from './exec.ts';
import type { CommandWrapper } from './flatpak-builder.ts';
import type { ToolRunOptions } from './ostree.ts';

/** A full SHA-1 commit id, as git builds record it. */
export const GIT_COMMIT_RE = /^[0-9a-f]{40}$/;

/** URL schemes fmd knows how to restrict git to; each is also the name of git's `protocol.<name>.allow`. */
export const GIT_URL_SCHEMES = ['https', 'ssh', 'http', 'git', 'file'] as const;

/** The scheme of a git URL, with scp-like `user@host:path` counted as ssh and bare paths as file. */
export function gitUrlScheme(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (m) {
    const s = m[1]!.toLowerCase();
    return s === 'git+ssh' || s === 'ssh+git' ? 'ssh' : s;
  }
  if (url.startsWith('/') || url.startsWith('.')) return 'file';
  // git treats `host:path` as ssh when there is no slash before the first colon.
  if (/^[^/]*:/.test(url)) return 'ssh';
  return 'file';
}

export function validateGitUrl(url: string, schemes: readonly string[]): void {
  if (url.length === 0) throw new InvalidInputError('the git URL is empty', 'url');
  if (url.length > 2048) throw new InvalidInputError('the git URL is longer than 2048 characters', 'url');
  if (url.startsWith('-')) throw new InvalidInputError('a git URL cannot start with "-"', 'url');
  // `<transport>::<address>` runs a remote helper; `ext::` runs an arbitrary command.
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) {
    throw new InvalidInputError('git remote-helper URLs ("<transport>::...") are not allowed', 'url');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(url)) throw new InvalidInputError('the git URL contains spaces or control characters', 'url');
  const scheme = gitUrlScheme(url);
  if (!schemes.includes(scheme)) {
    throw new InvalidInputError(`git URL scheme "${scheme}" is not allowed (allowed: ${schemes.join(', ') || 'none'})`, 'url');
  }
  if (scheme === 'file') {
    if (!/^file:\/\//i.test(url)) throw new InvalidInputError('a local git repository must be given as a file:// URL', 'url');
    return;
  }
  if (/^[a-z+.-]+:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidInputError('the git URL cannot be parsed', 'url');
    }
    if (!parsed.hostname) throw new InvalidInputError('the git URL has no host', 'url');
    if (parsed.hostname.startsWith('-')) throw new InvalidInputError('a git host cannot start with "-"', 'url');
    // ssh://git@host/... names the login user; over http(s) a user part is how tokens leak into URLs.
    if (parsed.password || (parsed.username && scheme !== 'ssh')) {
      throw new InvalidInputError('credentials inside the git URL are refused: store them as a git credential instead', 'url');
    }
  } else {
    const host = url.slice(0, url.indexOf(':'));
    const hostOnly = host.includes('@') ? host.slice(host.lastIndexOf('@') + 1) : host;
    if (!hostOnly || hostOnly.startsWith('-')) throw new InvalidInputError('the git URL has no valid host', 'url');
  }
}

/** git check-ref-format's rules for a branch or tag name, or a full 40-hex commit id. */
export function validateGitRef(ref: string): void {
  const bad = (why: string) => new InvalidInputError(`"${ref}" is not a valid git branch, tag or commit: ${why}`, 'ref');
  if (GIT_COMMIT_RE.test(ref)) return;
  if (ref.length === 0) throw bad('empty');
  if (ref.length > 255) throw bad('longer than 255 characters');
  if (ref.startsWith('-')) throw bad('starts with "-"');
  if (ref === '@') throw bad('"@" alone');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) throw bad('contains a space, a control character or one of ~ ^ : ? * [ \\');
  if (ref.includes('..')) throw bad('contains ".."');
  if (ref.includes('@{')) throw bad('contains "@{"');
  if (ref.endsWith('.') || ref.endsWith('/') || ref.startsWith('/')) throw bad('starts or ends with "/" or ends with "."');
  for (const part of ref.split('/')) {
    if (part.length === 0) throw bad('contains "//"');
    if (part.startsWith('.')) throw bad('a component starts with "."');
    if (part.endsWith('.lock')) throw bad('a component ends with ".lock"');
  }
}

/**
 * `-c` options that restrict every transport git may use (including for submodules, whose URLs come
 * from the cloned repository) to `schemes`. Without this a submodule could point at `file://` paths
 * on the build machine.
 */
function protocolConfig(schemes: readonly string[] | undefined): string[] {
  if (!schemes) return [];
  const args = ['-c', 'protocol.allow=never'];
  for (const s of schemes) {
    if ((GIT_URL_SCHEMES as readonly string[]).includes(s)) args.push('-c', `protocol.${s}.allow=always`);
  }
  return args;
}

// No repository or user config may add hooks, credential helpers or fsmonitor commands to clones.
const SAFE_CONFIG = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'advice.detachedHead=false'];

/**
 * git never gets fmd's own environment (which may carry FMD_SECRET, FMD_MASTER_KEY or DATABASE_URL):
 * only `tools.env` when given, else PATH and LANG, plus the call's `env`.
 */
function git(args: string[], env: NodeJS.ProcessEnv | undefined, tools: ToolRunOptions, cwd?: string, jail?: CommandWrapper) {
  const base = tools.env ?? { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
  const run = jail ? jail.wrap('git', args) : { cmd: 'git', args };
  return runTool(run.cmd, run.args, { ...tools, env: { ...base, ...env, GIT_TERMINAL_PROMPT: '0' }, cwd, displayName: 'git' });
}

function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

export interface CloneOptions {
  url: string;
  /** Branch, tag, `HEAD` (the remote's default branch) or a 40-hex commit. */
  ref: string;
  dest: string;
  env?: NodeJS.ProcessEnv;
  /** History depth; default 1. */
  depth?: number;
  /** Transports git may use for the clone and its submodules; default: git's own defaults. */
  schemes?: readonly string[];
  /**
   * Run git in this jail (jail.ts). `dest`'s parent must be writable in it, and a credential dir made by
   * gitCredentialEnv (with the jail's owner) visible read-only; the clone is then the jail user's.
   */
  jail?: CommandWrapper;
}

/** Clones `url` at `ref` into `dest` (which must not exist or be empty) with its submodules; returns the checked-out commit. */
export async function cloneAt(o: CloneOptions, tools: ToolRunOptions = {}): Promise<{ commit: string }> {
  const depth = String(o.depth ?? 1);
  const base = [...protocolConfig(o.schemes), ...SAFE_CONFIG];
  // Jailed, git runs where it can see dest's parent (fmd's own working directory is not in the jail).
  const run = (args: string[], cwd?: string) =>
    git(args, o.env, tools, cwd ?? (o.jail ? path.dirname(path.resolve(o.dest)) : undefined), o.jail);
  if (GIT_COMMIT_RE.test(o.ref)) {
    // `clone --branch` takes names only: fetch the one commit into an empty repository.
    await mkdir(o.dest, { recursive: true });
    if (o.jail?.owner) await lchown(o.dest, o.jail.owner.uid, o.jail.owner.gid);
    await run([...base, 'init', '-q', '--', path.resolve(o.dest)]);
    await run([...base, 'remote', 'add', 'origin', '--', o.url], o.dest);
    try {
      await run([...base, 'fetch', '-q', `--depth=${depth}`, 'origin', o.ref], o.dest);
    } catch {
      // Servers that refuse a want for a commit that is not a ref tip: fetch the branches and tags and look for it.
      await run([...base, 'fetch', '-q', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], o.dest);
    }
    await run([...base, 'checkout', '-q', '--detach', o.ref], o.dest).catch((err: unknown) => {
      throw new Error(`commit ${o.ref} is not in ${o.url}`, { cause: err });
    });
    await run([...base, 'submodule', 'update', '-q', '--init', '--recursive', `--depth=${depth}`], o.dest);
  } else {
    const args = [...base, 'clone', '-q', `--depth=${depth}`, '--recurse-submodules', '--shallow-submodules'];
    if (o.ref !== 'HEAD') args.push(`--branch=${shortRef(o.ref)}`);
    args.push('--', o.url, path.resolve(o.dest));
    await run(args);
  }
  const { stdout } = await run(['rev-parse', '--verify', 'HEAD^{commit}'], o.dest);
  const commit = stdout.trim();
  if (!GIT_COMMIT_RE.test(commit)) throw new Error(`git rev-parse printed ${JSON.stringify(commit)}, not a commit id`);
  return { commit };
}

/** The commit a branch, tag or `HEAD` of `url` points at (tags peeled), or null when the remote has no such ref. */
export async function lsRemote(
  url: string,
  ref: string,
  env: NodeJS.ProcessEnv | undefined,
  tools: ToolRunOptions = {},
): Promise<string | null> {
  if (GIT_COMMIT_RE.test(ref)) return ref;
  const name = shortRef(ref);
  const wanted = ref === 'HEAD' ? ['HEAD'] : [`refs/heads/${name}`, `refs/tags/${name}`];
  // A peeled tag is listed as its own `<tag>^{}` line, which only an explicit pattern matches.
  const patterns = ref === 'HEAD' ? wanted : [...wanted, `refs/tags/${name}^{}`];
  const { stdout } = await git([...SAFE_CONFIG, 'ls-remote', '--', url, ...patterns], env, tools);
  const found = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [sha, r] = line.split('\t');
    if (sha && r) found.set(r, sha);
  }
  for (const r of wanted) {
    const sha = found.get(`${r}^{}`) ?? found.get(r);
    if (sha) return sha;
  }
  return null;
}

export interface GitCredential {
  kind: 'SSH_KEY' | 'HTTPS_TOKEN';
  username: string | null;
  secret: string;
}

/** Quotes for the shell that runs GIT_SSH_COMMAND (git runs that one through sh). */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes what git needs to authenticate with `c` into `dir` (created 0700; key and token files 0600)
 * and returns the environment that makes git use it. The secret is only ever in those files: not in
 * argv, not in the environment, so neither `ps` nor a job log can show it.
 */
export async function gitCredentialEnv(
  c: GitCredential,
  dir: string,
  /** The jail user git will run as (see CloneOptions.jail): the files become theirs, still 0600. */
  owner?: { uid: number; gid: number } | null,
): Promise<NodeJS.ProcessEnv> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const env: NodeJS.ProcessEnv = {
    GIT_TERMINAL_PROMPT: '0',
    // An empty value resets the helper list: no configured helper may store the token.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '',
  };
  if (c.kind === 'SSH_KEY') {
    const key = path.join(dir, 'ssh-key');
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(key, c.secret.endsWith('\n') ? c.secret : `${c.secret}\n`, { mode: 0o600 });
    await chmod(key, 0o600);
    await writeFile(knownHosts, '', { mode: 0o600, flag: 'a' });
    const opts = [
      'ssh',
      '-F',
      '/dev/null',
      '-i',
      shQuote(key),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      shQuote(`UserKnownHostsFile=${knownHosts}`),
    ];
    if (c.username) opts.push('-o', shQuote(`User=${c.username}`));
    env.GIT_SSH_COMMAND = opts.join(' ');
    env.GIT_SSH_VARIANT = 'ssh';
  } else {
    const token = path.join(dir, 'token');
    const user = path.join(dir, 'username');
    const askpass = path.join(dir, 'askpass');
    await writeFile(token, `${c.secret}\n`, { mode: 0o600 });
    await chmod(token, 0o600);
    // Forges accept any user name with a token; GitHub documents x-access-token.
    await writeFile(user, `${c.username ?? 'x-access-token'}\n`, { mode: 0o600 });
    await writeFile(
      askpass,
      `#!/bin/sh\ncase "$1" in\n  Username*) exec cat ${shQuote(user)} ;;\n  *) exec cat ${shQuote(token)} ;;\nesac\n`,
      { mode: 0o700 },
    );
    await chmod(askpass, 0o700);
    env.GIT_ASKPASS = askpass;
  }
  if (owner) {
    for (const f of await readdir(dir)) await lchown(path.join(dir, f), owner.uid, owner.gid);
    await lchown(dir, owner.uid, owner.gid);
  }
  return env;
}
