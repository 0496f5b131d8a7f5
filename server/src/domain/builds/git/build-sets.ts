// Build sets: several git builds created together (a BaseApp or an extension and the app that
// uses it), each naming the others it depends on by key. The whole set is checked before anything
// is created (keys, cycles, each build's own rules through GitBuildService.create); its builds
// are created in dependency order, and none starts before the set is sealed, so a set that fails
// half-way is removed instead of leaving some of its builds running.
import { requireGrant } from '../../users/roles.ts';
import type { Logger } from 'pino';
import type { BuildSet, BuildState, Prisma, PrismaClient } from '../../../generated/prisma/client.ts';
import { InvalidInputError } from '../../errors.ts';
import type { RepoService } from '../../repos/service.ts';
import type { Viewer } from '../../tokens/service.ts';
import { requireClaims, requireRepo, visibleBuildsWhere } from '../access.ts';
import type { BuildService, BuildWithRepo } from '../service.ts';
import { orderBuildSet, type BuildScheduler } from './scheduler.ts';
import type { GitBuildInput } from './service.ts';

/**
 * One build of a set: its git source (GitBuildInput without what the set decides; its dependsOn
 * names builds outside the set) and the builds of the set it depends on, by key.
 */
export type BuildSetMemberInput = {
  key: string;
  git: Omit<GitBuildInput, 'repo' | 'buildSetId' | 'gitSourceId' | 'rebuildOf' | 'claims' | 'appId'>;
  appId?: string | null;
  dependsOn?: readonly string[] | null;
};

export type CreateBuildSetInput = { repo: string; name?: string | null; builds: readonly BuildSetMemberInput[] };

export type BuildSetWithBuilds = BuildSet & { builds: Array<{ id: number; key: string }> };

const KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const maxBuildsPerSet = 50;

export type BuildSetDeps = {
  prisma: PrismaClient;
  repos: RepoService;
  builds: BuildService;
  scheduler: BuildScheduler;
  /** GitBuildService.create */
  createBuild: (viewer: Viewer, input: GitBuildInput) => Promise<BuildWithRepo>;
  log: Logger;
};

export class BuildSetService {
  private readonly d: BuildSetDeps;

  constructor(deps: BuildSetDeps) {
    this.d = deps;
  }

  async create(viewer: Viewer, input: CreateBuildSetInput): Promise<BuildSetWithBuilds> {
    const { prisma } = this.d;
    requireClaims(viewer, 'build', 'build');
    if (typeof input.repo !== 'string' || !input.repo) throw new InvalidInputError('"repo" is required', 'repo');
    requireRepo(viewer, input.repo);
    requireGrant(viewer, 'build', { repo: input.repo });
    const name = input.name ?? null;
    if (name !== null && (name.length > 255 || !name.trim())) throw new InvalidInputError('a build set name is 1 to 255 characters', 'name');
    if (!Array.isArray(input.builds) || input.builds.length === 0) throw new InvalidInputError('a build set needs at least one build', 'builds');
    if (input.builds.length > maxBuildsPerSet) throw new InvalidInputError(`a build set has at most ${maxBuildsPerSet} builds`, 'builds');
    for (const b of input.builds) {
      if (typeof b.key !== 'string' || !KEY_RE.test(b.key)) {
        throw new InvalidInputError(`build set: invalid key ${JSON.stringify(String(b.key).slice(0, 80))} (1-64 of A-Z a-z 0-9 _ . -)`, 'builds');
      }
    }
    const ordered = orderBuildSet(input.builds.map((b) => ({ ...b, dependsOn: [...new Set<string>(b.dependsOn ?? [])] })));
    const repo = await this.d.repos.get(input.repo);
    const set = await prisma.buildSet.create({ data: { repoId: repo.id, name, creatorTokenId: viewer.claims.jti ?? null } });
    const ids = new Map<string, number>();
    try {
      for (const m of ordered) {
        try {
          const build = await this.d.createBuild(viewer, {
            ...m.git,
            repo: input.repo,
            appId: m.appId ?? null,
            dependsOn: [...(m.git.dependsOn ?? []), ...m.dependsOn.map((k: string) => ids.get(k)!)],
            buildSetId: set.id,
          });
          ids.set(m.key, build.id);
        } catch (err) {
          // Which build of the set was refused, in the error's own words.
          if (err instanceof InvalidInputError) throw new InvalidInputError(`build set, build ${m.key}: ${err.message}`, err.field);
          throw err;
        }
      }
    } catch (err) {
      // None of them started (the set was not sealed): their rows and build dirs go.
      try {
        await prisma.build.deleteMany({ where: { id: { in: [...ids.values()] }, buildSetId: set.id } });
        for (const id of ids.values()) await this.d.builds.removeBuildDir(id);
        await prisma.buildSet.delete({ where: { id: set.id } });
      } catch (e) {
        this.d.log.error({ err: e, set: set.id }, 'could not remove a half-created build set');
      }
      throw err;
    }
    const sealed = await prisma.buildSet.update({ where: { id: set.id }, data: { sealedAt: new Date() } });
    for (const id of ids.values()) await this.d.scheduler.admit(id);
    return { ...sealed, builds: ordered.map((m) => ({ key: m.key, id: ids.get(m.key)! })) };
  }

  /** A set is visible to whoever may read one of its builds (each build then by its own rule). */
  visibleWhere(viewer: Viewer): Prisma.BuildSetWhereInput {
    return { builds: { some: visibleBuildsWhere(viewer) } };
  }

  /** How many of the set's builds the viewer may read are in each state. */
  async stateCounts(viewer: Viewer, setId: number): Promise<Array<{ state: BuildState; count: number }>> {
    const rows = await this.d.prisma.build.groupBy({ by: ['state'], where: { AND: [{ buildSetId: setId }, visibleBuildsWhere(viewer)] }, _count: { _all: true } });
    return rows.map((r) => ({ state: r.state, count: r._count._all })).sort((a, b) => a.state.localeCompare(b.state));
  }
}
