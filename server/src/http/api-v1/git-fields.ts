// The body fields of a git build on fmd's REST extensions (POST /api/v1/build/git and each
// build of POST /api/v1/build-set), in flat-manager's spelling: dashes or underscores.
// Types are checked here; the rules (URL schemes, refs, app ids) are GitBuildService's.
import { InvalidInputError } from '../../domain/errors.ts';
import type { GitBuildInput } from '../../domain/builds/git/service.ts';

export type GitBuildFields = Omit<GitBuildInput, 'repo' | 'url' | 'dependsOn' | 'buildSetId' | 'gitSourceId' | 'rebuildOf' | 'claims'> & { url: string };

/** A typed reader of one JSON object's fields; `at` prefixes the field in errors (`builds[2].`). */
export function jsonFields(b: Record<string, unknown>, at = '') {
  const field = (name: string) => b[name] ?? b[name.replaceAll('-', '_')];
  const typed = <T>(name: string, type: string, ok: (v: unknown) => boolean): T | null => {
    const v = field(name);
    if (v === undefined || v === null) return null;
    if (!ok(v)) throw new InvalidInputError(`${at}${name} must be ${type}`, name);
    return v as T;
  };
  const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  return {
    str: (name: string) => typed<string>(name, 'a string', (v) => typeof v === 'string'),
    bool: (name: string) => typed<boolean>(name, 'a boolean', (v) => typeof v === 'boolean'),
    int: (name: string) => typed<number>(name, 'an integer', isInt),
    ints: (name: string, what: string) => typed<number[]>(name, `an array of ${what}`, (v) => Array.isArray(v) && v.every(isInt)),
    strs: (name: string, what: string) => typed<string[]>(name, `an array of ${what}`, (v) => Array.isArray(v) && v.every((x) => typeof x === 'string')),
  };
}

/** The git source and build options of a body; `url` is required. */
export function gitBuildFields(b: Record<string, unknown>, at = ''): GitBuildFields {
  const f = jsonFields(b, at);
  const url = f.str('url');
  if (!url) throw new InvalidInputError(`${at}url is required`, 'url');
  return {
    url,
    ref: f.str('ref'),
    manifestPath: f.str('manifest'),
    appId: f.str('app-id'),
    arch: f.str('arch'),
    branch: f.str('branch'),
    autoCommit: f.bool('auto-commit'),
    autoPublish: f.bool('auto-publish'),
    credential: f.int('credential'),
    publicDownload: f.bool('public-download'),
  };
}
