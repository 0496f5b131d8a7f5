// Who may read signing keys: their public halves are what clients are given anyway.
import type { Prisma } from '../../generated/prisma/client.ts';
import type { Viewer } from '../tokens/service.ts';

/** Every authenticated caller may read every key's public half; the private half has no reader. */
export function visibleKeysWhere(_viewer: Viewer): Prisma.SigningKeyWhereInput {
  return {};
}
