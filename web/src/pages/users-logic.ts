// The pure parts of signing in with a password, the profile, the Users page and invites: what a
// refused sign-in says, a user's state, role grants read from a form, password checks, and the
// invite code in a link.
import { Role, type RoleGrantInput, type SignInProblem } from '@fmd/sdk';

/** What the sign-in form says for a refused sign-in (LOCKED with its time, in UTC). */
export function signInProblemMessage(e: { reason: SignInProblem | string; message: string; lockedUntil?: string | null }, now = Date.now()): string {
  switch (e.reason) {
    case 'LOCKED': {
      if (!e.lockedUntil) return 'Too many failed sign-ins: this account is locked for a while. Try again later, or ask an admin to unlock it.';
      const mins = Math.max(1, Math.ceil((Date.parse(e.lockedUntil) - now) / 60_000));
      return `Too many failed sign-ins: this account is locked until ${e.lockedUntil.slice(0, 16).replace('T', ' ')} UTC (about ${mins} min). Try again then, or ask an admin to unlock it.`;
    }
    case 'BAD_CREDENTIALS':
      return 'Wrong user name or password.';
    case 'DISABLED':
      return 'This account is disabled. Ask an admin.';
    case 'BAD_INVITE':
      return 'This invite link is not valid: it was used, has expired, or was withdrawn. Ask an admin for a new one.';
    case 'BAD_REFRESH_TOKEN':
      return 'Your session has ended. Sign in again.';
    default:
      return e.message;
  }
}

/** `active`, `disabled`, or `locked until …` */
export function userState(u: { disabled: boolean; lockedUntil?: string | null }, now = Date.now()): { state: 'active' | 'disabled' | 'locked'; text: string } {
  if (u.disabled) return { state: 'disabled', text: 'disabled' };
  if (u.lockedUntil && Date.parse(u.lockedUntil) > now) return { state: 'locked', text: `locked until ${u.lockedUntil.slice(0, 16).replace('T', ' ')} UTC` };
  return { state: 'active', text: 'active' };
}

export const roles = Object.values(Role) as Role[];

/** `REPO_ADMIN` -> `repo admin` */
export function roleLabel(role: Role | string): string {
  return role.toLowerCase().replace(/_/g, ' ');
}

/** `uploader on stable for org.example*`, `viewer on every repo` */
export function grantLabel(g: { role: Role | string; repo?: string | null; prefix: string }): string {
  return `${roleLabel(g.role)} on ${g.repo ? g.repo : 'every repo'}${g.prefix ? ` for ${g.prefix}*` : ''}`;
}

const repoName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const appIdPrefix = /^[A-Za-z0-9_.-]*$/;

/** A role grant from the form's role, repo ("" = every repo) and prefix ("" = every app); throws with the field at fault. */
export function readGrant(form: { role: string; repo: string; prefix: string }): RoleGrantInput {
  const role = form.role.trim().toUpperCase().replace(/[\s-]+/g, '_');
  if (!(roles as string[]).includes(role)) throw new GrantError('role', `pick a role: ${roles.map(roleLabel).join(', ')}`);
  const repo = form.repo.trim();
  if (repo && !repoName.test(repo)) throw new GrantError('repo', `"${repo}" is not a repo name`);
  const prefix = form.prefix.trim();
  if (!appIdPrefix.test(prefix)) throw new GrantError('prefix', `"${prefix}" is not an app-id prefix such as org.example`);
  return { role: role as Role, repo: repo || null, prefix };
}

export class GrantError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** Why a new password cannot be used (10 to 1024 characters, typed the same twice), or null. */
export function passwordProblem(password: string, again: string): string | null {
  if (password.length < 10) return 'at least 10 characters';
  if (password.length > 1024) return 'at most 1024 characters';
  if (password !== again) return 'the two passwords differ';
  return null;
}

/** User names as the server takes them. */
export const userNamePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** The same for an input's `pattern` attribute (whole value, `v` flag: "-" escaped in a class). */
export const userNameInputPattern = '[a-z0-9][a-z0-9._\\-]{0,62}';

/** The invite code in a link: `/invite/<code>` (the dashboard's own) or `#/invite/<code>` (`/web/#/invite/<code>`, as fmd's invite URLs may read). */
export function inviteCode(url: URL): string | undefined {
  const m = /^\/invite\/([^/]+)\/?$/.exec(url.pathname) ?? /^#\/invite\/([^/?]+)/.exec(url.hash);
  return m ? decodeURIComponent(m[1]!) : undefined;
}
