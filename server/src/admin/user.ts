// `fmd user create|set-password|unlock|list`: the operator's way to make the first accounts and
// to let a locked-out admin back in, on the server, with no token (as `fmd token mint`).
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/index.ts';
import { resolveSecret } from '../config/secret.ts';
import { DomainError } from '../domain/errors.ts';
import { roles, type RoleName } from '../domain/users/roles.ts';
import { parseOptions, quietLog, UsageError } from './cli.ts';

/** `REPO:PREFIX:ROLE`, `REPO:ROLE` or `ROLE` ("" or "*" for every repo / app id). */
function parseRole(spec: string): { repo: string; prefix: string; role: RoleName } {
  const parts = spec.split(':');
  const role = parts.at(-1)!.toUpperCase().replace('-', '_') as RoleName;
  if (!roles.includes(role) || parts.length > 3) throw new UsageError(`bad --role ${JSON.stringify(spec)}: [REPO:[PREFIX:]]ROLE with ROLE one of ${roles.join(' ')}`);
  const every = (v: string | undefined) => (v === undefined || v === '*' ? '' : v);
  return { repo: every(parts.length > 1 ? parts[0] : undefined), prefix: every(parts.length > 2 ? parts[1] : undefined), role };
}

async function readPassword(file: string | undefined): Promise<string> {
  let text: string;
  if (file) text = await readFile(file, 'utf8');
  else {
    if (process.stdin.isTTY) process.stderr.write('password (ends at the end of the line, not shown back only if your terminal hides it): ');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      if (process.stdin.isTTY && chunk.includes(10)) break;
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  return text.replace(/\r?\n$/, '');
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      admin: { type: 'boolean' },
      'display-name': { type: 'string' },
      email: { type: 'string' },
      role: { type: 'string', multiple: true },
      'password-file': { type: 'string' },
      'no-password': { type: 'boolean' },
    },
    true,
  );
  const [command, name, ...rest] = positionals;
  if (!command) throw new UsageError('which user command? (create, set-password, unlock, list)');
  if (!['create', 'set-password', 'unlock', 'list'].includes(command)) throw new UsageError(`unknown user command ${JSON.stringify(command)}`);
  if (command !== 'list' && !name) throw new UsageError(`fmd user ${command} needs a user name`);
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const grants = (values.role ?? []).map(parseRole);
  const wantsPassword = command === 'set-password' || (command === 'create' && !values['no-password']);
  const password = wantsPassword ? await readPassword(values['password-file']) : null;

  const config = loadConfig();
  const secret = resolveSecret(config);
  const [{ openDatabase }, { secretKey }, { TokenService }, { UserService }] = await Promise.all([
    import('../db/index.ts'),
    import('../domain/tokens/jwt.ts'),
    import('../domain/tokens/service.ts'),
    import('../domain/users/service.ts'),
  ]);
  const db = await openDatabase(config, quietLog, { owner: false });
  const tokens = new TokenService(db.prisma, secretKey(secret));
  const users = new UserService(db.prisma, tokens, { config });
  try {
    if (command === 'list') {
      const all = await db.prisma.user.findMany({ include: { roles: true }, orderBy: { name: 'asc' } });
      for (const u of all) {
        const what = u.isAdmin ? 'admin' : u.roles.map((g) => `${g.repo || '*'}:${g.prefix || '*'}:${g.role}`).join(' ') || '(no roles)';
        console.log(`${u.name}\t${what}${u.disabled ? '\tdisabled' : ''}${u.lockedUntil && u.lockedUntil > new Date() ? `\tlocked until ${u.lockedUntil.toISOString()}` : ''}`);
      }
      return 0;
    }
    if (command === 'create') {
      const user = await users.createByOperator({ name: name!, displayName: values['display-name'], email: values.email, password, isAdmin: values.admin === true, roles: grants });
      console.log(`created user ${user.name}${user.isAdmin ? ' (admin)' : ''}`);
    } else if (command === 'set-password') {
      await users.operatorSetPassword(name!, password!);
      console.log(`password of ${name} set; its sessions ended`);
    } else {
      await users.operatorUnlock(name!);
      console.log(`${name} unlocked`);
    }
    return 0;
  } catch (err) {
    if (err instanceof DomainError && err.errorType !== 'unavailable') throw new UsageError(err.message);
    throw err;
  } finally {
    users.close();
    await tokens.close();
    await db.close();
  }
}
