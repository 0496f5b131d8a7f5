// `fmd token mint`: a token signed with the server's secret and recorded in the database, for
// when no token is at hand to create one with (createToken checks the caller's rights; this is
// the operator's way in, as flat-manager's gentoken is).
import { parseDuration } from '@fmd/sdk';
import { loadConfig } from '../config/index.ts';
import { resolveSecret } from '../config/secret.ts';
import { InvalidInputError } from '../domain/errors.ts';
import { allScopes } from '../domain/tokens/claims.ts';
import { parseOptions, quietLog, UsageError } from './cli.ts';

const list = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      admin: { type: 'boolean' },
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      repo: { type: 'string', multiple: true },
      prefix: { type: 'string', multiple: true },
      sub: { type: 'string' },
      duration: { type: 'string', default: '1y' },
      // `npm run token -- --admin --days N`, as before fmd had this command
      days: { type: 'string' },
    },
    true,
  );
  if (positionals[0] !== 'mint') throw new UsageError(positionals.length ? `unknown token command ${JSON.stringify(positionals[0])}` : 'which token command? (mint)');
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const duration = values.days !== undefined ? (Number(values.days) > 0 ? Math.round(Number(values.days) * 86400) : undefined) : parseDuration(values.duration);
  if (!duration) throw new UsageError(`bad duration ${JSON.stringify(values.days ?? values.duration)}: like 90d, 12h, 1y or seconds`);
  const scopes = list(values.scope).filter(Boolean);
  if (values.admin) {
    if (scopes.length || values.repo || values.prefix || values.sub) throw new UsageError('--admin mints a token with every right: no --scope, --repo, --prefix or --sub');
  } else {
    if (!values.name?.trim()) throw new UsageError('--name is required (or --admin)');
    if (!scopes.length) throw new UsageError('--scope is required (or --admin)');
    const unknown = scopes.filter((s) => !(allScopes as readonly string[]).includes(s));
    if (unknown.length) throw new UsageError(`unknown scope ${unknown.join(', ')}; known: ${allScopes.join(' ')}`);
  }

  const config = loadConfig();
  const secret = resolveSecret(config);
  // Loaded once the arguments are good: usage errors need none of this.
  const [{ openDatabase }, { secretKey }, { TokenService }, { UserService }] = await Promise.all([
    import('../db/index.ts'),
    import('../domain/tokens/jwt.ts'),
    import('../domain/tokens/service.ts'),
    import('../domain/users/service.ts'),
  ]);
  const db = await openDatabase(config, quietLog, { owner: false });
  const tokens = new TokenService(db.prisma, secretKey(secret));
  try {
    if (values.admin) {
      console.log(await new UserService(db.prisma, tokens).mintAdminToken(values.name ?? 'admin token (fmd token mint)', duration));
      return 0;
    }
    // Owned by the admin user, as a token an admin created would be.
    const admin = await db.prisma.user.findFirst({ where: { isAdmin: true }, orderBy: { id: 'asc' } });
    const { token } = await tokens.mint(
      { name: values.name!.trim(), scope: scopes, repos: values.repo ? list(values.repo) : [''], prefixes: values.prefix ? list(values.prefix) : [''], sub: values.sub ?? '', duration },
      { ownerId: admin?.id ?? null },
    );
    console.log(token);
    return 0;
  } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(err.message);
    throw err;
  } finally {
    await tokens.close();
    await db.close();
  }
}
