// Which actions a viewer may take on a build now: the state machine allows them (lifecycle.ts)
// and the token covers them (access.ts), checked as the mutations check them first. Clients show
// their buttons from this instead of repeating the rules; the mutations still decide.
import { requireGrant } from '../users/roles.ts';
import type { BuildState, PublishedState } from '../../generated/prisma/client.ts';
import { ForbiddenError } from '../errors.ts';
import type { Scope } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';
import { requireBuildAccess, requireClaims } from './access.ts';
import { allows } from './lifecycle.ts';

export const buildActionNames = ['COMMIT', 'PUBLISH', 'PURGE', 'CANCEL', 'REBUILD', 'PROMOTE'] as const;
export type BuildAction = (typeof buildActionNames)[number];

export type ActionableBuild = {
  id: number;
  state: BuildState;
  publishedState: PublishedState;
  appId: string | null;
  repoName: string;
  /** the git source, for git builds; `commit` once it was cloned */
  source: { commit: string | null } | null;
};

function covers(viewer: Viewer, b: ActionableBuild, scope: Scope): boolean {
  try {
    requireClaims(viewer, `build/${b.id}`, scope);
    requireBuildAccess(viewer, { repoName: b.repoName, appId: b.appId });
    requireGrant(viewer, scope, { repo: b.repoName, appId: b.appId });
    return true;
  } catch (err) {
    if (err instanceof ForbiddenError) return false;
    throw err;
  }
}

/**
 * COMMIT, PUBLISH, PURGE: the step is allowed from the build's states. CANCEL: a git build still
 * waiting, cloning or building. REBUILD: a git build whose source commit is known. PROMOTE: a
 * published build (which repo it may go into is the promoteBuild's target check).
 */
export function buildActions(viewer: Viewer | null, b: ActionableBuild): BuildAction[] {
  if (!viewer) return [];
  const out: BuildAction[] = [];
  const build = covers(viewer, b, 'build');
  const publish = covers(viewer, b, 'publish');
  if (build && allows(b, 'commit')) out.push('COMMIT');
  if (publish && allows(b, 'publish')) out.push('PUBLISH');
  if (build && allows(b, 'purge')) out.push('PURGE');
  if (build && b.source && allows(b, 'cancel')) out.push('CANCEL');
  if (build && b.source?.commit) out.push('REBUILD');
  if (publish && b.publishedState === 'PUBLISHED') out.push('PROMOTE');
  return out;
}
