// Where fmdc finds its server and its token: flags, the environment, and the profiles that
// `fmdc login` stores in the user's config dir (oclif's configDir: ~/.config/fmdc, or
// $XDG_CONFIG_HOME/fmdc, or $FMDC_CONFIG_DIR). The environment is read here and nowhere else.
//
//   server URL: --url, FMDC_URL, the profile, http://localhost:8080
//   token:      --token, --token-file, REPO_TOKEN (flat-manager-client's), FMDC_TOKEN, the profile
//   profile:    --profile, FMDC_PROFILE, "default"
//
// A profile's token is only ever sent to its own server: a URL on another origin (from --url,
// FMDC_URL or a flat-manager-client verb's URL argument) does not get it.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const defaultServerUrl = 'http://localhost:8080';
export const defaultProfileName = 'default';

/**
 * A stored login: an API token, or (after `fmdc login --user`) a password sign-in's session:
 * `token` is then its short-lived access token, renewed with `refreshToken` as needed (and
 * written back here).
 */
export type Profile = { url: string; token: string; refreshToken?: string; accessTokenExpiresAt?: string; refreshTokenExpiresAt?: string; user?: string };
type ProfilesFile = { profiles: Record<string, Profile> };

/** The variables fmdc reads, read once. */
export type Environment = { url?: string; token?: string; repoToken?: string; profile?: string };

export function environment(env: NodeJS.ProcessEnv = process.env): Environment {
  const value = (name: string) => (env[name] ? env[name] : undefined);
  return { url: value('FMDC_URL'), token: value('FMDC_TOKEN'), repoToken: value('REPO_TOKEN'), profile: value('FMDC_PROFILE') };
}

/** Bad input in the configuration (a token file, a URL, a profile name); the CLI reports it as a usage error. */
export class ConfigError extends Error {
  readonly suggestions: string[];
  constructor(message: string, suggestions: string[] = []) {
    super(message);
    this.name = 'ConfigError';
    this.suggestions = suggestions;
  }
}

/** A server URL as fmdc stores and compares it: http(s), no trailing slash, no query. */
export function normalizeServerUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`"${raw}" is not a URL.`, ['Give the server as http://host:port or https://host.']);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`"${raw}" is not an http(s) URL.`, ['Give the server as http://host:port or https://host.']);
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

const sameOrigin = (a: string, b: string) => {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
};

const profileNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkProfileName(name: string): string {
  if (!profileNamePattern.test(name)) throw new ConfigError(`"${name}" is not a profile name.`, ['Use letters, digits, ".", "_" and "-" (at most 64).']);
  return name;
}

/** The profiles file in a config dir: read leniently (missing = none), written atomically with mode 0600. */
export class ProfileStore {
  readonly configDir: string;
  readonly file: string;
  constructor(configDir: string) {
    this.configDir = configDir;
    this.file = path.join(configDir, 'profiles.json');
  }

  async all(): Promise<Record<string, Profile>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    let parsed: Partial<ProfilesFile>;
    try {
      parsed = JSON.parse(text) as Partial<ProfilesFile>;
    } catch {
      throw new ConfigError(`${this.file} is not valid JSON.`, ['Fix it, or delete it and log in again with `fmdc login`.']);
    }
    const profiles: Record<string, Profile> = {};
    for (const [name, p] of Object.entries(parsed.profiles ?? {})) {
      if (!p || typeof p.url !== 'string' || typeof p.token !== 'string') continue;
      const profile: Profile = { url: p.url, token: p.token };
      for (const k of ['refreshToken', 'accessTokenExpiresAt', 'refreshTokenExpiresAt', 'user'] as const) if (typeof p[k] === 'string') profile[k] = p[k];
      profiles[name] = profile;
    }
    return profiles;
  }

  async get(name: string): Promise<Profile | undefined> {
    return (await this.all())[name];
  }

  async set(name: string, profile: Profile): Promise<void> {
    const profiles = await this.all();
    profiles[checkProfileName(name)] = profile;
    await this.write(profiles);
  }

  /** Answers whether there was such a profile. */
  async delete(name: string): Promise<boolean> {
    const profiles = await this.all();
    if (!(name in profiles)) return false;
    delete profiles[name];
    await this.write(profiles);
    return true;
  }

  private async write(profiles: Record<string, Profile>): Promise<void> {
    await mkdir(this.configDir, { recursive: true, mode: 0o700 });
    // The token must never be readable by others, not even for the moment between write and chmod.
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ profiles } satisfies ProfilesFile, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }
}

/** flat-manager-client's --token-file: the first line, trimmed. */
export async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot read the token file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, ['Check the path given to --token-file.']);
  }
  const token = (text.split(/\r?\n/)[0] ?? '').trim();
  if (!token) throw new ConfigError(`the token file ${file} is empty (fmdc reads its first line).`, ['Put the token on the first line of the file.']);
  return token;
}

export type Given = { url?: string | undefined; token?: string | undefined; tokenFile?: string | undefined; profile?: string | undefined };

export type TokenSource = '--token' | '--token-file' | 'REPO_TOKEN' | 'FMDC_TOKEN' | 'profile';

/** Resolves the server URL, the profile and the token by the precedence above. */
export class Settings {
  readonly store: ProfileStore;
  readonly given: Given;
  readonly profileName: string;
  readonly env: Environment;
  private profile: Profile | undefined;
  private loaded = false;

  constructor(store: ProfileStore, given: Given, env: Environment = environment()) {
    this.store = store;
    this.given = given;
    this.env = env;
    this.profileName = checkProfileName(given.profile ?? env.profile ?? defaultProfileName);
  }

  /** The selected profile, if stored. */
  async selectedProfile(): Promise<Profile | undefined> {
    if (!this.loaded) {
      this.profile = await this.store.get(this.profileName);
      this.loaded = true;
    }
    return this.profile;
  }

  async serverUrl(): Promise<{ url: string; from: string }> {
    if (this.given.url) return { url: normalizeServerUrl(this.given.url), from: '--url' };
    if (this.env.url) return { url: normalizeServerUrl(this.env.url), from: 'FMDC_URL' };
    const p = await this.selectedProfile();
    if (p) return { url: p.url, from: `profile "${this.profileName}"` };
    return { url: defaultServerUrl, from: 'the default' };
  }

  /** The token for requests to `url`, or undefined when there is none; `session` when it is the profile's password sign-in. */
  async token(url: string): Promise<{ token: string; from: TokenSource; session?: Profile } | undefined> {
    if (this.given.token) return { token: this.given.token, from: '--token' };
    if (this.given.tokenFile) return { token: await readTokenFile(this.given.tokenFile), from: '--token-file' };
    if (this.env.repoToken) return { token: this.env.repoToken, from: 'REPO_TOKEN' };
    if (this.env.token) return { token: this.env.token, from: 'FMDC_TOKEN' };
    const p = await this.selectedProfile();
    if (p && sameOrigin(p.url, url)) return { token: p.token, from: 'profile', ...(p.refreshToken && { session: p }) };
    return undefined;
  }
}
