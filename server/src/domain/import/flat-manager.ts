// Migration from flat-manager: its config.json (repos, their settings and gpg keys, the token
// secret) and, through its PostgreSQL database, the tokens it revoked, into fmd's database.
// Everything is read and checked first (plan); only a plan without problems is applied, so a bad
// config writes nothing. Repos are adopted where they are on disk: <data-dir>/repos/<name>
// becomes a symlink to flat-manager's directory, so every fmd path that opens the repo by
// repoPath() (serving, update-repo, publish, prune) reaches the same files, and no object is
// copied. Re-running is safe: keys are matched by fingerprint, repos by name, revocations by jti.
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FmdConfig } from '../../config/index.ts';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { exportSecretKey, GpgExportError, secretKeyFingerprints } from '../../ostree/gpg.ts';
import { configGet } from '../../ostree/ostree.ts';
import { PsqlError, psqlQuery } from '../../ostree/psql.ts';
import { InvalidInputError } from '../errors.ts';
import { importPrivateKey, PgpKeyError } from '../keys/pgp.ts';
import type { KeyService } from '../keys/service.ts';
import { parseDeltaSettings, parseRepoSettings, REPO_NAME_RE, type RepoSettings } from '../repos/validate.ts';

/** What stops the import; each is one line for the operator. Nothing was written. */
export class ImportProblems extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

export type ImportOptions = {
  /** the key passphrases, tried on every protected key */
  gpgPassphrase?: string;
  /** import without flat-manager's revocations (its database is gone): revoked tokens would work again */
  skipRevokedTokens?: boolean;
};

export type ImportDeps = {
  prisma: PrismaClient;
  keys: KeyService;
  config: FmdConfig;
  /** the token secret fmd uses now (config `secret`, or the one in data-dir/secret), or null when it has none yet */
  currentSecret: string | null;
};

type Step = { line: string; apply: () => Promise<void> };

export type ImportPlan = {
  /** writes, in order */
  steps: Step[];
  /** what is already in fmd as the config says */
  unchanged: string[];
  /** what the config says and fmd does not take (no equivalent), never dropped silently */
  warnings: string[];
};

// flat-manager's keys (src/config.rs, kebab-case); anything else is reported.
const GLOBAL_KEYS = new Set([
  'database-url', 'host', 'port', 'base-url', 'gpg-homedir', 'secret', 'repo-secret', 'repos', 'build-repo-base',
  'build-gpg-key', 'delay-update-secs', 'local-delta-threads', 'storefront-info-endpoint',
]);
const REPO_KEYS = new Set([
  'suggested-repo-name', 'path', 'default-token-type', 'require-auth-for-token-types', 'collection-id', 'deploy-collection-id',
  'gpg-key', 'base-url', 'runtime-repo-url', 'subsets', 'post-publish-script', 'hooks', 'deltas', 'appstream-delta-depth',
]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** Reads and checks the config file and all it names; throws ImportProblems listing every problem. */
export async function planImport(deps: ImportDeps, configFile: string, opts: ImportOptions = {}): Promise<ImportPlan> {
  const problems: string[] = [];
  const plan: ImportPlan = { steps: [], unchanged: [], warnings: [] };
  const fail = (): never => {
    throw new ImportProblems(problems);
  };

  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(`cannot read ${configFile}: ${code === 'ENOENT' ? 'no such file' : ((err as Error).message ?? code)}`);
    return fail();
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (err) {
    problems.push(`${configFile} is not valid JSON: ${(err as Error).message}`);
    return fail();
  }
  if (!isObject(cfg)) {
    problems.push(`${configFile}: a flat-manager config is a JSON object`);
    return fail();
  }
  // flat-manager resolves relative repo paths against the directory it runs in, normally its config's.
  const baseDir = path.dirname(path.resolve(configFile));
  const resolve = (p: string) => path.resolve(baseDir, p);

  for (const k of Object.keys(cfg)) if (!GLOBAL_KEYS.has(k)) plan.warnings.push(`${k}: not a flat-manager setting; ignored`);

  // --- the token secret ---------------------------------------------------------------------
  const secret = str(cfg.secret);
  if (!secret) problems.push('secret: missing (flat-manager\'s base64 token secret)');
  else if (Buffer.from(secret, 'base64').length < 16) problems.push('secret: must be base64 of at least 16 bytes');
  else if (deps.currentSecret === null) {
    const file = path.join(deps.config.dataDir, 'secret');
    plan.steps.push({
      line: `secret: fmd signs and verifies API tokens with flat-manager's secret (written to ${file}); flat-manager's tokens keep working`,
      apply: async () => {
        await mkdir(deps.config.dataDir, { recursive: true });
        await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      },
    });
  } else if (sameSecret(deps.currentSecret, secret)) plan.unchanged.push('secret: fmd already uses flat-manager\'s token secret');
  else {
    problems.push(
      deps.config.secret
        ? 'secret: fmd\'s configured secret is not flat-manager\'s, so flat-manager\'s tokens would not work: set fmd\'s `secret` to flat-manager\'s (and its current one as `previous-secret` with `previous-secret-until` to keep fmd\'s own tokens working for a while)'
        : `secret: fmd already has a secret of its own (${path.join(deps.config.dataDir, 'secret')}), so flat-manager's tokens would not work: set fmd's \`secret\` to flat-manager's (and the one in that file as \`previous-secret\` with \`previous-secret-until\` to keep fmd's own tokens working for a while), or import into a new data dir`,
    );
  }
  const repoSecret = str(cfg['repo-secret']);
  if (repoSecret && secret) {
    const fmdRepoSecret = deps.config.repoSecret ?? deps.config.secret ?? deps.currentSecret ?? secret;
    if (!sameSecret(repoSecret, fmdRepoSecret)) {
      plan.warnings.push('repo-secret: fmd keeps it in its configuration, not its database: set `repo-secret` in fmd\'s config to flat-manager\'s, or download tokens flat-manager signed stop working');
    }
  }

  // --- settings that are fmd configuration, not database rows ------------------------------
  const configured: Array<[string, unknown, unknown]> = [
    ['host', cfg.host, deps.config.host],
    ['port', cfg.port, deps.config.port],
    ['base-url', cfg['base-url'], deps.config.baseUrl],
    ['build-repo-base', cfg['build-repo-base'], deps.config.buildRepoBase],
    ['delay-update-secs', cfg['delay-update-secs'], deps.config.delayUpdateSecs],
  ];
  for (const [k, theirs, ours] of configured) {
    if (theirs === undefined || theirs === '' || String(theirs).replace(/\/+$/, '') === String(ours ?? '').replace(/\/+$/, '')) continue;
    plan.warnings.push(`${k}: fmd reads it from its configuration, not its database; flat-manager has ${JSON.stringify(theirs)}, fmd ${ours === undefined ? 'none' : JSON.stringify(ours)}: set \`${k}\` in fmd's config to keep it`);
  }
  if (cfg['build-gpg-key'] !== undefined) plan.warnings.push('build-gpg-key: fmd does not sign build repos; not imported');
  if (cfg['storefront-info-endpoint'] !== undefined) plan.warnings.push('storefront-info-endpoint: fmd has no storefront integration; not imported');
  const deltaThreads = cfg['local-delta-threads'];
  if (deltaThreads !== undefined && !(Number.isInteger(deltaThreads) && (deltaThreads as number) >= 1)) problems.push('local-delta-threads: must be a positive integer');

  // --- keys ---------------------------------------------------------------------------------
  const repos = cfg.repos;
  if (!isObject(repos) || Object.keys(repos).length === 0) problems.push('repos: missing or empty (flat-manager\'s repos by name)');
  const homedir = str(cfg['gpg-homedir']);
  /** gpg-key (as the config names it) -> fmd key name, once it is stored */
  const keyNames = new Map<string, string>();
  const wantedKeys = isObject(repos)
    ? [...new Set(Object.values(repos).flatMap((r) => (isObject(r) && typeof r['gpg-key'] === 'string' ? [r['gpg-key']] : [])))]
    : [];
  if (wantedKeys.length && !homedir) problems.push('gpg-homedir: missing, but repos name gpg keys');
  const newFingerprints = new Set<string>();
  for (const id of homedir ? wantedKeys : []) {
    const where = `gpg-key ${JSON.stringify(id)}`;
    if (!existsSync(resolve(homedir!))) {
      problems.push(`gpg-homedir ${homedir}: no such directory`);
      break;
    }
    const fprs = await secretKeyFingerprints(resolve(homedir!), id);
    if (fprs.length === 0) {
      problems.push(`${where}: no secret key with this id in ${homedir}`);
      continue;
    }
    if (fprs.length > 1) {
      problems.push(`${where}: names ${fprs.length} secret keys in ${homedir} (${fprs.join(', ')}); use a fingerprint`);
      continue;
    }
    const existing = await deps.prisma.signingKey.findUnique({ where: { fingerprint: fprs[0]! } });
    if (existing) {
      keyNames.set(id, existing.name);
      plan.unchanged.push(`key ${existing.name}: ${where} (${existing.fingerprint}) is already in fmd`);
      continue;
    }
    let armored: string;
    try {
      armored = await exportSecretKey(resolve(homedir!), fprs[0]!, opts.gpgPassphrase);
    } catch (err) {
      if (err instanceof GpgExportError && err.passphrase) {
        problems.push(`${where} (${fprs[0]}): ${opts.gpgPassphrase === undefined ? 'the key is protected by a passphrase: give it with --gpg-passphrase-file' : 'the passphrase does not unlock it'}`);
      } else problems.push(`${where} (${fprs[0]}): cannot export it: ${(err as Error).message}`);
      continue;
    }
    let key;
    try {
      key = await importPrivateKey(armored, opts.gpgPassphrase);
    } catch (err) {
      problems.push(`${where} (${fprs[0]}): ${err instanceof PgpKeyError ? err.message : String(err)}`);
      continue;
    }
    const name = `flat-manager ${key.keyId}`;
    keyNames.set(id, name);
    if (newFingerprints.has(key.fingerprint)) continue;
    newFingerprints.add(key.fingerprint);
    if (await deps.prisma.signingKey.findUnique({ where: { name } })) {
      problems.push(`${where}: fmd already has another key named ${JSON.stringify(name)}`);
      continue;
    }
    plan.steps.push({
      line: `key ${name}: import ${where} (${key.fingerprint}, ${key.userIds.join(', ') || 'no user id'}) from ${homedir}`,
      apply: async () => {
        await deps.keys.import({ name, armoredPrivateKey: armored, passphrase: opts.gpgPassphrase });
      },
    });
  }

  // --- repos --------------------------------------------------------------------------------
  const reposDir = path.join(deps.config.dataDir, 'repos');
  for (const [name, raw] of isObject(repos) ? Object.entries(repos) : []) {
    const where = `repo ${name}`;
    if (!REPO_NAME_RE.test(name)) {
      problems.push(`${where}: fmd repo names are 1-64 characters: letters, digits, _ and -, starting with a letter or digit`);
      continue;
    }
    if (!isObject(raw)) {
      problems.push(`${where}: must be an object`);
      continue;
    }
    for (const k of Object.keys(raw)) if (!REPO_KEYS.has(k)) plan.warnings.push(`${where}: ${k}: not a flat-manager repo setting; ignored`);
    const p = str(raw.path);
    if (!p) {
      problems.push(`${where}: path: missing`);
      continue;
    }
    const dir = resolve(p);
    let real: string;
    try {
      real = await realpath(dir);
    } catch {
      problems.push(`${where}: path ${dir}: no such directory`);
      continue;
    }
    const mode = existsSync(path.join(real, 'config')) ? await configGet(real, 'core.mode').catch(() => null) : null;
    if (mode === null) {
      problems.push(`${where}: path ${dir} is not an OSTree repo`);
      continue;
    }
    if (mode !== 'archive-z2' && mode !== 'archive') {
      problems.push(`${where}: path ${dir} is an OSTree repo in mode ${mode}; fmd serves archive-z2 repos only`);
      continue;
    }

    const mapped = await mapRepo(name, raw, real, cfg, plan.warnings, problems);
    if (!mapped) continue;
    const collectionId = await configGet(real, 'core.collection-id').catch(() => null);
    if ((collectionId ?? null) !== (mapped.collectionId ?? null)) {
      problems.push(`${where}: collection-id ${JSON.stringify(mapped.collectionId ?? null)} differs from the repo's own core.collection-id ${JSON.stringify(collectionId)}`);
      continue;
    }

    const link = path.join(reposDir, name);
    const existing = await deps.prisma.repo.findUnique({ where: { name } });
    const linked = await lstat(link).catch(() => null);
    const linkTarget = linked?.isSymbolicLink() ? await realpath(link).catch(() => null) : null;
    if (existing && existing.name === name) {
      if (linkTarget === real) plan.unchanged.push(`${where}: already adopted from ${real}`);
      else problems.push(`${where}: fmd already has a repo of this name (not the one at ${real})`);
      continue;
    }
    if (linked && linkTarget !== real) {
      problems.push(`${where}: ${link} already exists and is not a link to ${real}; remove it first`);
      continue;
    }
    const gpgKey = str(raw['gpg-key']);
    if (gpgKey && !keyNames.has(gpgKey)) continue; // its key's problem is reported above
    plan.steps.push({
      line: `${where}: adopt ${real} as it is (${link} -> it)${gpgKey ? `, signed with key ${keyNames.get(gpgKey)}` : ', unsigned'}`,
      apply: async () => {
        const keyId = gpgKey ? (await deps.prisma.signingKey.findUniqueOrThrow({ where: { name: keyNames.get(gpgKey)! } })).id : null;
        // fmd's summary staging shares this directory with the live repo: it must exist first.
        await mkdir(path.join(real, 'delta-indexes'), { recursive: true });
        await mkdir(reposDir, { recursive: true });
        if (!linked) await symlink(real, link);
        await deps.prisma.repo.create({
          data: {
            name,
            collectionId: mapped.collectionId ?? null,
            deployCollectionId: mapped.deployCollectionId ?? false,
            suggestedRemoteName: mapped.suggestedRemoteName ?? null,
            baseUrl: mapped.baseUrl ?? null,
            runtimeRepoUrl: mapped.runtimeRepoUrl ?? null,
            defaultTokenType: mapped.defaultTokenType ?? 0,
            authRequiredTokenTypes: mapped.authRequiredTokenTypes ?? [],
            subsets: {},
            deltaSettings: parseDeltaSettings(mapped.deltaSettings),
            hooks: mapped.hooks ?? { checks: [] },
            keyId,
          },
        });
      },
    });
  }

  // --- revoked tokens -----------------------------------------------------------------------
  const dbUrl = str(cfg['database-url']);
  if (opts.skipRevokedTokens) {
    plan.warnings.push('database-url: not read (--skip-revoked-tokens): tokens flat-manager revoked work again in fmd until you revoke them there');
  } else if (!dbUrl) {
    problems.push('database-url: missing: fmd reads the tokens flat-manager revoked from it (or pass --skip-revoked-tokens)');
  } else {
    try {
      const revoked = await revokedTokens(dbUrl);
      const known = await deps.prisma.apiToken.findMany({ where: { jti: { in: revoked.map((r) => r.jti) }, revokedAt: { not: null } }, select: { jti: true } });
      const done = new Set(known.map((k) => k.jti));
      const todo = revoked.filter((r) => !done.has(r.jti));
      if (done.size) plan.unchanged.push(`tokens: ${done.size} revoked in flat-manager are already revoked in fmd`);
      if (todo.length) {
        plan.steps.push({
          line: `tokens: revoke ${todo.length} token id(s) flat-manager revoked`,
          apply: async () => {
            for (const r of todo) {
              await deps.prisma.apiToken.upsert({
                where: { jti: r.jti },
                update: { revokedAt: r.revokedAt },
                create: { jti: r.jti, name: '', scopes: [], prefixes: [], apps: [], repos: [], external: true, revokedAt: r.revokedAt, expiresAt: r.expires },
              });
            }
          },
        });
      } else if (!done.size) plan.unchanged.push('tokens: flat-manager has revoked none');
    } catch (err) {
      problems.push(`database-url: cannot read flat-manager's revoked tokens: ${err instanceof PsqlError ? err.message : String(err)} (or pass --skip-revoked-tokens)`);
    }
  }

  if (problems.length) fail();
  return plan;
}

/** Applies the steps in order; `done` hears each line once it is written. */
export async function applyImport(plan: ImportPlan, done: (line: string) => void): Promise<void> {
  for (const step of plan.steps) {
    await step.apply();
    done(step.line);
  }
}

function sameSecret(a: string, b: string): boolean {
  return Buffer.from(a, 'base64').equals(Buffer.from(b, 'base64'));
}

/** A flat-manager repo's settings as fmd's, checked by fmd's own rules; null after a problem. */
async function mapRepo(name: string, r: Json, real: string, cfg: Json, warnings: string[], problems: string[]): Promise<RepoSettings | null> {
  const where = `repo ${name}`;
  const hooks: NonNullable<RepoSettings['hooks']> = { checks: [] };
  const script = str(r['post-publish-script']);
  // flat-manager runs it as `<script> <repo name> <repo path>`.
  if (script) hooks.postPublish = [script, name, real];
  if (r.hooks !== undefined) {
    const publish = isObject(r.hooks) ? r.hooks.publish : undefined;
    if (publish !== undefined && publish !== null) hooks.publish = publish as string[];
    if (isObject(r.hooks)) for (const k of Object.keys(r.hooks)) if (k !== 'publish') warnings.push(`${where}: hooks.${k}: not a flat-manager hook; ignored`);
  }
  const deltas = Array.isArray(r.deltas) ? r.deltas : [];
  if (deltas.length) {
    warnings.push(`${where}: deltas (${deltas.map((d) => (isObject(d) ? `${JSON.stringify(d.id)} depth ${d.depth}` : JSON.stringify(d))).join('; ')}): fmd has no per-ref delta depth; it makes, for every ref, a delta from its previous commit and one from scratch`);
  }
  if (r['appstream-delta-depth'] !== undefined) warnings.push(`${where}: appstream-delta-depth: no equivalent in fmd (see deltas); not imported`);
  if (isObject(r.subsets) && Object.keys(r.subsets).length) {
    warnings.push(`${where}: subsets ${Object.keys(r.subsets).join(', ')}: flat-manager's subsets (a collection id and base URL each) have no equivalent in fmd (fmd's subsets are app-id prefix lists); not imported`);
  }
  const threads = cfg['local-delta-threads'];
  const input = {
    collectionId: r['collection-id'] ?? null,
    deployCollectionId: r['deploy-collection-id'] ?? false,
    suggestedRemoteName: r['suggested-repo-name'] ?? null,
    baseUrl: r['base-url'] ?? null,
    runtimeRepoUrl: r['runtime-repo-url'] ?? null,
    defaultTokenType: r['default-token-type'] ?? 0,
    authRequiredTokenTypes: r['require-auth-for-token-types'] ?? [],
    hooks,
    deltaSettings: { generate: true, ...(Number.isInteger(threads) ? { jobs: Math.min(threads as number, 64) } : {}) },
  };
  try {
    return parseRepoSettings(input);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    problems.push(`${where}: ${fmName(err.message)}`);
    return null;
  }
}

/** fmd's field names in a message, as flat-manager's config spells them. */
function fmName(message: string): string {
  const names: Record<string, string> = {
    collectionId: 'collection-id',
    deployCollectionId: 'deploy-collection-id',
    suggestedRemoteName: 'suggested-repo-name',
    baseUrl: 'base-url',
    runtimeRepoUrl: 'runtime-repo-url',
    defaultTokenType: 'default-token-type',
    authRequiredTokenTypes: 'require-auth-for-token-types',
    'hooks.postPublish': 'post-publish-script',
    'hooks.publish': 'hooks.publish',
  };
  return message.replace(/^[A-Za-z.]+(?:\.\d+)?/, (f) => names[f] ?? names[f.replace(/\.\d+$/, '')] ?? f);
}

/** flat-manager's revoked token ids (its `tokens` table, since 2023; older versions could not revoke). */
async function revokedTokens(url: string): Promise<Array<{ jti: string; revokedAt: Date; expires: Date | null }>> {
  const [[exists] = []] = await psqlQuery(url, "SELECT to_regclass('tokens') IS NOT NULL");
  if (exists !== 't') return [];
  const rows = await psqlQuery(
    url,
    "SELECT token_id, to_char(revoked_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), coalesce(to_char(expires, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '') FROM tokens WHERE revoked_at IS NOT NULL ORDER BY token_id",
  );
  // flat-manager writes its timestamps in UTC (chrono's Utc::now().naive_utc()).
  return rows.map(([jti, revokedAt, expires]) => ({ jti: jti!, revokedAt: new Date(revokedAt!), expires: expires ? new Date(expires) : null }));
}
