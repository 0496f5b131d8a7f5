// The settings `repo create` and `repo update` share: one flag per field of CreateRepoInput /
// UpdateRepoInput, and the translation of flags to the input (and of a server error's input
// field back to its flag).
import { readFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { parseDelay } from '@fmd/sdk';

const text = (description: string) => Flags.string({ description, helpGroup: 'SETTINGS' });
const json = (description: string) => Flags.string({ description: `${description}; JSON, or @file to read it from a file`, helpGroup: 'SETTINGS' });
const toggle = (description: string) => Flags.boolean({ description, allowNo: true, helpGroup: 'SETTINGS' });

export const repoSettingFlags = {
  title: text('title shown by flatpak clients (the .flatpakrepo Title)'),
  comment: text('one-line summary (.flatpakrepo Comment)'),
  description: text('longer description (.flatpakrepo Description)'),
  homepage: text('homepage URL'),
  icon: text('URL of an icon'),
  'deploy-collection-id': toggle('clients adding the repo take its collection id (default: on)'),
  'suggested-remote-name': text('the remote name flatpak clients suggest'),
  'default-branch': text('the branch clients use when none is given'),
  'redirect-url': text('send clients to this URL instead (moving a repo)'),
  'base-url': text('public URL of the repo (the .flatpakrepo Url); default: this server'),
  'runtime-repo-url': text('.flatpakrepo of the repo runtimes come from'),
  parent: text('name of the repo builds are promoted from'),
  'auto-promote': Flags.boolean({ description: 'promote every build that lands in the parent (--no-auto-promote: only by promoteBuild)', allowNo: true, helpGroup: 'SETTINGS' }),
  'auto-promote-delay': Flags.string({ description: 'with --auto-promote: how long a build stays in the parent first (30m, 2h, 1d or seconds)', helpGroup: 'SETTINGS' }),
  'auto-promote-prefix': Flags.string({ description: 'with --auto-promote: only builds of these app id prefixes (repeatable)', multiple: true, delimiter: ',', helpGroup: 'SETTINGS' }),
  subset: Flags.string({ description: 'a subset as NAME=PREFIX[,PREFIX...] (repeatable; replaces all subsets)', multiple: true, helpGroup: 'SETTINGS' }),
  'delta-settings': json('{ generate: bool, jobs?: int, ignoreRefs: [glob], prune: bool, pruneDepth?: int }'),
  hooks: json('{ checks: [{ name, command: [argv], reviewable }], publish?: [argv], postPublish?: [argv] }'),
  'default-token-type': Flags.integer({ description: 'token type of new builds\' commits', min: 0, helpGroup: 'SETTINGS' }),
  'auth-required-token-type': Flags.integer({ description: 'commits with this token type need a download token (repeatable)', multiple: true, min: 0, helpGroup: 'SETTINGS' }),
  'auto-publish': toggle('publish every git build into this repo once committed'),
};

/** Input field -> flag name, for the fields `repo update --clear` may set to null. */
export const clearable = {
  title: 'title',
  comment: 'comment',
  description: 'description',
  homepage: 'homepage',
  icon: 'icon',
  suggestedRemoteName: 'suggested-remote-name',
  defaultBranch: 'default-branch',
  redirectUrl: 'redirect-url',
  baseUrl: 'base-url',
  runtimeRepoUrl: 'runtime-repo-url',
  parent: 'parent',
  autoPromote: 'auto-promote',
} as const;

type SettingFlags = {
  [K in keyof typeof repoSettingFlags]?: unknown;
};

/** A flag value that could not be read, named by its flag. */
export class FlagValueError extends Error {
  readonly flag: string;
  constructor(flag: string, message: string) {
    super(`--${flag}: ${message}`);
    this.flag = flag;
  }
}

function readJson(flag: string, value: string): unknown {
  let source = value;
  if (value.startsWith('@')) {
    try {
      source = readFileSync(value.slice(1), 'utf8');
    } catch (e) {
      throw new FlagValueError(flag, `cannot read ${value.slice(1)}: ${(e as Error).message}`);
    }
  }
  try {
    return JSON.parse(source);
  } catch (e) {
    throw new FlagValueError(flag, `not JSON: ${(e as Error).message}`);
  }
}

/**
 * The repo input fields the flags set (omitted flags leave fields out, so an update keeps them).
 */
export function repoSettingsInput(flags: SettingFlags): Record<string, unknown> {
  const f = flags as Record<string, unknown>;
  const input: Record<string, unknown> = {};
  const strings = {
    title: 'title',
    comment: 'comment',
    description: 'description',
    homepage: 'homepage',
    icon: 'icon',
    'suggested-remote-name': 'suggestedRemoteName',
    'default-branch': 'defaultBranch',
    'redirect-url': 'redirectUrl',
    'base-url': 'baseUrl',
    'runtime-repo-url': 'runtimeRepoUrl',
    parent: 'parent',
  } as const;
  for (const [flag, field] of Object.entries(strings)) if (f[flag] !== undefined) input[field] = f[flag];
  if (f['deploy-collection-id'] !== undefined) input.deployCollectionId = f['deploy-collection-id'];
  if (f['auto-publish'] !== undefined) input.autoPublish = f['auto-publish'];
  if (f['default-token-type'] !== undefined) input.defaultTokenType = f['default-token-type'];
  if (f['auth-required-token-type'] !== undefined) input.authRequiredTokenTypes = f['auth-required-token-type'];

  const delay = f['auto-promote-delay'] as string | undefined;
  const prefixes = f['auto-promote-prefix'] as string[] | undefined;
  if (f['auto-promote'] === false && (delay !== undefined || prefixes !== undefined)) {
    throw new FlagValueError('auto-promote-delay', 'cannot go with --no-auto-promote');
  }
  if (f['auto-promote'] === false) input.autoPromote = null;
  else if (f['auto-promote'] === true || delay !== undefined || prefixes !== undefined) {
    let delaySecs: number | undefined;
    if (delay !== undefined) {
      delaySecs = parseDelay(delay);
      if (delaySecs === undefined) throw new FlagValueError('auto-promote-delay', `${delay} is not a duration (30m, 2h, 1d or seconds)`);
    }
    input.autoPromote = { ...(delaySecs !== undefined && { delaySecs }), ...(prefixes && { appIdPrefixes: prefixes }) };
  }

  const subsets = f.subset as string[] | undefined;
  if (subsets) {
    const out: Record<string, string[]> = {};
    for (const s of subsets) {
      const m = /^([^=]+)=(.*)$/.exec(s);
      if (!m) throw new FlagValueError('subset', `${s} is not NAME=PREFIX[,PREFIX...]`);
      out[m[1]!.trim()] = m[2]!.split(',').map((p) => p.trim()).filter(Boolean);
    }
    input.subsets = out;
  }
  if (f['delta-settings'] !== undefined) input.deltaSettings = readJson('delta-settings', f['delta-settings'] as string);
  if (f.hooks !== undefined) input.hooks = readJson('hooks', f.hooks as string);
  return input;
}

/** The flag that sets a repo input field (`deltaSettings` -> `--delta-settings`). */
export function flagOfField(field: string): string {
  if (field === 'name') return 'the NAME argument';
  if (field === 'keyId') return '--key';
  if (field === 'subsets') return '--subset';
  if (field === 'authRequiredTokenTypes') return '--auth-required-token-type';
  const root = field.split('.')[0]!;
  return `--${root.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
