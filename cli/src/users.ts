// What the `fmdc user` commands share: users named on the command line (the API takes ids),
// role grants written as `ROLE[:REPO[:PREFIX]]`, and how grants and sessions print.
import { Role, type FmdClient, type RoleGrantFieldsFragment, type RoleGrantInput } from '@fmd/sdk';
import { Errors } from '@oclif/core';
import { ConfigError } from './config.ts';

/** `uploader`, `publisher:stable`, `viewer:*:org.example` -> a grant (repo null = every repo, prefix "" = every app). */
export function parseGrant(spec: string): RoleGrantInput {
  const [roleText = '', repo = '', prefix = '', ...rest] = spec.split(':');
  const role = roleText.trim().toUpperCase().replace(/-/g, '_');
  if (!(Object.values(Role) as string[]).includes(role) || rest.length) {
    throw new ConfigError(`"${spec}" is not a role grant.`, [`Write ROLE[:REPO[:PREFIX]], ROLE one of ${Object.values(Role).map((r) => r.toLowerCase().replace(/_/g, '-')).join(', ')}; REPO "*" or empty for every repo (e.g. uploader:stable:org.example).`]);
  }
  return { role: role as Role, repo: repo && repo !== '*' ? repo : null, prefix };
}

/** A grant as people read it: `uploader on stable for org.example*`. */
export function grantText(g: Pick<RoleGrantFieldsFragment, 'role' | 'repo' | 'prefix'>): string {
  return `${g.role.toLowerCase().replace(/_/g, '-')} on ${g.repo ?? 'every repo'}${g.prefix ? ` for ${g.prefix}*` : ''}`;
}

/** The user of that name, or a not-found failure. */
export async function userNamed(client: FmdClient, name: string) {
  const { user } = await client.user({ name, tokensFirst: 1 });
  if (!user) throw new Errors.CLIError(`there is no user "${name}" (or you may not see it).`, { exit: 1, code: 'not-found', suggestions: ['`fmdc user list` shows the users.'] });
  return user;
}
