// The build visibility rule has two renderings, a Prisma filter (lists, `build`, `node`) and an
// in-memory predicate (subscription fan-out): on a matrix of claims × builds they must agree.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVisibility, buildVisible, visibleBuildsWhere } from '../src/domain/builds/access.ts';
import { jobVisibility, jobVisible, visibleJobsWhere } from '../src/domain/jobs/access.ts';
import { ForbiddenError } from '../src/domain/errors.ts';
import type { Claims } from '../src/domain/tokens/claims.ts';
import type { Viewer } from '../src/domain/tokens/service.ts';
import { startTestServer, type TestServer } from './kit/server.ts';

let s: TestServer;
let builds: Array<{ id: number; repoName: string; appId: string | null }>;
let jobIds: number[];

const repoNames = ['r1', 'r2', 'R1'];
// Prefix edges: exact id, child, sibling with a common start, LIKE wildcards in ids and prefixes,
// ids and prefixes that differ only in case (app ids compare exactly).
const appIds = [null, 'org.a', 'org.a.B', 'org.a.B.C', 'org.ab', 'org.b.App', 'org.b.AppX', 'com.x', 'org.a_b.C', 'orgxa.C', 'org%a.C', 'org.A.b', 'ORG.a.B'];

before(async () => {
  s = await startTestServer({ 'job-workers': 0 });
  const empty = { subsets: {}, deltaSettings: {}, hooks: {}, authRequiredTokenTypes: [] };
  builds = [];
  for (const name of repoNames) {
    const repo = await s.services.prisma.repo.create({ data: { name, ...empty } });
    for (const appId of appIds) {
      const b = await s.services.prisma.build.create({ data: { repoId: repo.id, appId, extraIds: [] } });
      builds.push({ id: b.id, repoName: name, appId });
    }
  }
  // A job of every build, and repo jobs of no build.
  jobIds = [];
  for (const b of builds) jobIds.push((await s.services.prisma.job.create({ data: { kind: 'commit', contents: {}, buildId: b.id } })).id);
  for (const repo of repoNames) jobIds.push((await s.services.prisma.job.create({ data: { kind: 'update-repo', contents: {}, repo } })).id);
});
after(() => s?.stop());

function claimsMatrix(oneBuild: number, scopes = [['build'], ['download'], ['upload', 'publish'], ['admin'], ['jobs']]): Claims[] {
  const out: Claims[] = [];
  const subs = ['', 'build', 'build/', `build/${oneBuild}`, 'build/999999', 'repo', 'build/x'];
  const repos = [[''], ['r1'], ['r1', 'r2'], ['R1'], []];
  const prefixes = [[''], ['org.a'], ['org.a.B'], ['org'], ['org_a'], ['org%a'], ['ORG.A'], []];
  const apps = [[], ['org.b.App'], ['org.a.B'], ['org.B.app']];
  for (const sub of subs)
    for (const scope of scopes)
      for (const r of repos)
        for (const p of prefixes)
          for (const a of apps) out.push({ sub, scope, repos: r, prefixes: p, apps: a, exp: 0, name: 't' });
  return out;
}

test('visibleBuildsWhere and buildVisible agree on every claims × build pair', async () => {
  const oneBuild = builds.find((b) => b.repoName === 'r1' && b.appId === 'org.a.B')!.id;
  const ids = builds.map((b) => b.id);
  let compared = 0;
  let someVisible = 0;
  for (const claims of claimsMatrix(oneBuild)) {
    const viewer: Viewer = { claims, ownerId: null };
    let v;
    try {
      v = buildVisibility(viewer);
    } catch (err) {
      assert.ok(err instanceof ForbiddenError);
      assert.throws(() => visibleBuildsWhere(viewer), ForbiddenError);
      continue;
    }
    const rows = await s.services.prisma.build.findMany({ where: { AND: [{ id: { in: ids } }, visibleBuildsWhere(viewer)] }, select: { id: true } });
    const inDb = new Set(rows.map((r) => r.id));
    const inMemory = new Set(builds.filter((b) => buildVisible(v, b)).map((b) => b.id));
    assert.deepEqual([...inMemory].sort((x, y) => x - y), [...inDb].sort((x, y) => x - y), JSON.stringify(claims));
    compared++;
    if (inMemory.size > 0 && inMemory.size < builds.length) someVisible++;
  }
  // The matrix reaches the interesting cases: many tokens see some builds but not all.
  assert.ok(compared > 1000, `compared ${compared}`);
  assert.ok(someVisible > 500, `partial ${someVisible}`);
});

test('visibleJobsWhere and jobVisible agree on every claims × job pair', async () => {
  const oneBuild = builds.find((b) => b.repoName === 'r2' && b.appId === null)!.id;
  const jobs = await s.services.prisma.job.findMany({ where: { id: { in: jobIds } }, include: { build: { include: { repo: true } } } });
  let compared = 0;
  let partial = 0;
  for (const claims of claimsMatrix(oneBuild, [['build'], ['jobs'], ['admin'], ['download']])) {
    const viewer: Viewer = { claims, ownerId: null };
    let v;
    try {
      v = jobVisibility(viewer);
    } catch (err) {
      assert.ok(err instanceof ForbiddenError);
      assert.throws(() => visibleJobsWhere(viewer), ForbiddenError);
      continue;
    }
    const rows = await s.services.prisma.job.findMany({ where: { AND: [{ id: { in: jobIds } }, visibleJobsWhere(viewer)] }, select: { id: true } });
    const inDb = rows.map((r) => r.id).sort((x, y) => x - y);
    const inMemory = jobs.filter((j) => jobVisible(v, j)).map((j) => j.id).sort((x, y) => x - y);
    assert.deepEqual(inMemory, inDb, JSON.stringify(claims));
    compared++;
    if (inMemory.length > 0 && inMemory.length < jobs.length) partial++;
  }
  assert.ok(compared > 500, `compared ${compared}`);
  assert.ok(partial > 250, `partial ${partial}`);
});
