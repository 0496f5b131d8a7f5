// Who may read user rows.
import type { Prisma } from '../../generated/prisma/client.ts';
import { hasScope } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/** Admins read every user; others only the owner of their own token (none for tokens minted elsewhere). */
export function visibleUsersWhere(viewer: Viewer): Prisma.UserWhereInput {
  if (hasScope(viewer.claims, 'admin')) return {};
  return { id: { in: viewer.ownerId === null ? [] : [viewer.ownerId] } };
}
