// Signing keys on the command line: people know a key by its name or fingerprint, the API by
// its ID. A reference is any of: name, fingerprint (spaces allowed), long key id, or ID.
import type { FmdClient, SigningKeyFieldsFragment } from '@fmd/sdk';
import { exitCodes } from './base-command.ts';

type Failer = { error(message: string, options: { exit: number; code?: string; suggestions?: string[] }): never };

export async function resolveKey(client: FmdClient, ref: string, cmd: Failer): Promise<SigningKeyFieldsFragment> {
  const hex = ref.replace(/\s+/g, '').toUpperCase();
  const matches: SigningKeyFieldsFragment[] = [];
  let after: string | undefined;
  for (;;) {
    const { keys } = await client.keys({ first: 50, ...(after && { after }) });
    for (const { node: k } of keys.edges) {
      if (k.id === ref || k.name === ref || k.fingerprint.toUpperCase() === hex || k.keyId.toUpperCase() === hex) matches.push(k);
    }
    if (!keys.pageInfo.hasNextPage || !keys.pageInfo.endCursor) break;
    after = keys.pageInfo.endCursor;
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    cmd.error(`no signing key "${ref}"`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc key list` shows the keys by name, key id and fingerprint.'] });
  }
  cmd.error(`"${ref}" names ${matches.length} keys`, { exit: exitCodes.usage, suggestions: [`Use a fingerprint: ${matches.map((k) => k.fingerprint).join(', ')}.`] });
}
