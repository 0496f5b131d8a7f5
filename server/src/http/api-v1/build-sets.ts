// fmd's REST extension for build sets (beside POST /api/v1/build/git): several git builds created
// together and built in dependency order. The body's builds use the field names of
// POST /api/v1/build/git, plus `key` and `depends-on` (keys of the set; `depends-on-builds` for
// builds outside it). BuildSetService holds the rules.
import type { Router } from 'express';
import type { Services } from '../../services.ts';
import { InvalidInputError } from '../../domain/errors.ts';
import type { BuildSetMemberInput } from '../../domain/builds/git/build-sets.ts';
import { viewerOf } from '../auth.ts';
import { readJson } from '../body.ts';
import { buildJson } from './json.ts';
import { gitBuildFields, jsonFields } from './git-fields.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One build of the body: the fields of POST /api/v1/build/git plus its key and dependencies. */
function member(b: unknown, i: number): BuildSetMemberInput {
  if (!isObject(b)) throw new InvalidInputError(`builds[${i}] must be a JSON object`, 'builds');
  const at = `builds[${i}].`;
  const f = jsonFields(b, at);
  const { appId, ...git } = gitBuildFields(b, at);
  return {
    key: f.str('key') ?? '',
    appId: appId ?? null,
    dependsOn: f.strs('depends-on', 'keys'),
    git: { ...git, dependsOn: f.ints('depends-on-builds', 'build ids') },
  };
}

export function buildSetRoutes(router: Router, services: Services): void {
  router.post('/build-set', async (req, res) => {
    const viewer = await viewerOf(services, req);
    const b = await readJson(req, res);
    if (!isObject(b)) throw new InvalidInputError('the request body must be a JSON object');
    if (typeof b.repo !== 'string' || !b.repo) throw new InvalidInputError('"repo" is required', 'repo');
    if (b.name !== undefined && b.name !== null && typeof b.name !== 'string') throw new InvalidInputError('name must be a string', 'name');
    if (!Array.isArray(b.builds)) throw new InvalidInputError('"builds" must be an array', 'builds');
    if (b.builds.length > 50) throw new InvalidInputError('a build set has at most 50 builds', 'builds');
    const set = await services.buildSets.create(viewer, { repo: b.repo, name: (b.name as string | null | undefined) ?? null, builds: b.builds.map(member) });
    const builds = [];
    for (const m of set.builds) builds.push({ key: m.key, build: buildJson(await services.builds.details(await services.builds.get(m.id))) });
    res.json({ id: set.id, repo: b.repo, name: set.name, builds });
  });
}
