// Git sources: a git repository whose pushes build into a repo, as Flathub builds on GitHub
// webhooks. A source is registered with a token that may build there; the forge is given the
// webhook URL (POST /api/v1/hooks/git/<id>) and a secret, shown once. A push event signed with
// that secret builds the pushed commit with the registering token's rights, and replaces the
// source's builds that are still waiting, cloning or building (they end SUPERSEDED). When the
// registering token is revoked or expires the source is disabled: its pushes build nothing.
import { grantsAllow } from '../../users/roles.ts';
import type { Scope } from '../../tokens/claims.ts';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../../config/index.ts';
import type { GitSource, PrismaClient } from '../../../generated/prisma/client.ts';
import { validateGitRef, validateGitUrl } from '../../../ostree/git.ts';
import { AuthenticationError, ForbiddenError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { openPrivateKey, sealPrivateKey } from '../../keys/pgp.ts';
import type { RepoService } from '../../repos/service.ts';
import { isValidAppId } from '../../repos/validate.ts';
import { hasScope, type Claims } from '../../tokens/claims.ts';
import type { TokenService, Viewer } from '../../tokens/service.ts';
import { gitBuildingStates } from '../lifecycle.ts';
import { requireGitSourceManagement, requireGitSourceRegistration, visibleGitSourcesWhere } from './access.ts';
import { identifyEvent, missingSignatureHeader, parsePush, verifySignature } from './webhooks.ts';

/** Push event bodies are capped at this (GitHub's own payloads are capped at 25 MB; a push of a few commits is a few KB). */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

export const webhookPath = (id: number) => `/api/v1/hooks/git/${id}`;

/** What a source's builds act with: the registering token's claims, and when that token expires (seconds). */
export type StoredSourceClaims = Pick<Claims, 'sub' | 'scope' | 'prefixes' | 'apps' | 'repos' | 'exp'> & { jti: string };

/** The part of GitBuildService a push needs. */
export type GitBuildStarter = {
  create(
    viewer: Viewer,
    input: {
      repo: string;
      url: string;
      ref: string;
      manifestPath: string | null;
      appId: string | null;
      arch: string | null;
      autoPublish: boolean | null;
      credential: number | null;
      gitSourceId: number;
      claims: Omit<StoredSourceClaims, 'exp'>;
    },
  ): Promise<{ id: number }>;
  supersede(buildId: number, byBuildId: number): Promise<boolean>;
};

export type RegisterGitSourceInput = {
  repo: string;
  url: string;
  branch: string;
  manifestPath?: string | null;
  appId?: string | null;
  arch?: string | null;
  autoPublish?: boolean | null;
  credential?: number | null;
  /** the webhook secret to use; omitted: fmd generates one */
  secret?: string | null;
};

/** The answer to a webhook request: its status and JSON body (and the build it started). */
export type HookAnswer = { status: number; message: string; build?: number; superseded?: number[] };

/** A built build's states until it is READY: a redelivered push of its commit builds nothing new. */
const underWay = ['UPLOADING', 'COMMITTING', 'VALIDATING'] as const;
const ARCH_RE = /^[A-Za-z0-9_]{1,32}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const sealContext = (id: number) => `git-source:${id}`;

export class GitSourceService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly repos: RepoService;
  private readonly tokens: TokenService;
  private readonly masterKey: () => string;
  private readonly log: Logger;
  /** set by services.ts once the git build service exists */
  builds: GitBuildStarter | null = null;
  private readonly stopRevocations: () => void;
  private readonly expiryTimer: NodeJS.Timeout;
  /** one token check at a time; a revocation heard meanwhile asks for another */
  private checking: Promise<number> | null = null;
  private checkAgain = false;

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; repos: RepoService; tokens: TokenService; masterKey: () => string; log: Logger; expiryCheckMs?: number }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.repos = deps.repos;
    this.tokens = deps.tokens;
    this.masterKey = deps.masterKey;
    this.log = deps.log;
    // A revocation made anywhere reaches every process; any of them may disable the sources.
    this.stopRevocations = this.tokens.onRevocation(() => void this.checkTokens().catch((err) => this.log.warn({ err }, 'checking the tokens of git sources failed')));
    // Expiry has no event: look now and then (a push checks its source's token itself).
    this.expiryTimer = setInterval(() => void this.checkTokens().catch((err) => this.log.warn({ err }, 'checking the tokens of git sources failed')), deps.expiryCheckMs ?? 60_000);
    this.expiryTimer.unref();
  }

  /** The webhook URL forges are given: absolute when base-url is configured, else the path. */
  webhookUrl(id: number): string {
    return `${this.config.baseUrl?.replace(/\/+$/, '') ?? ''}${webhookPath(id)}`;
  }

  // --- registration ---------------------------------------------------------------------------

  async register(viewer: Viewer, input: RegisterGitSourceInput): Promise<{ source: GitSource; secret: string }> {
    if (typeof input.repo !== 'string' || !input.repo) throw new InvalidInputError('"repo" is required', 'repo');
    const appId = input.appId ?? null;
    if (appId !== null && !isValidAppId(appId)) throw new InvalidInputError(`Invalid app id ${appId.slice(0, 255)}`, 'appId');
    requireGitSourceRegistration(viewer, { repo: input.repo, appId });
    const repo = await this.repos.getVisible(viewer, input.repo);
    if (typeof input.url !== 'string' || !input.url) throw new InvalidInputError('"url" is required', 'url');
    if (input.url.length > 1024) throw new InvalidInputError('url is at most 1024 characters', 'url');
    validateGitUrl(input.url, this.config.gitUrlSchemes);
    if (typeof input.branch !== 'string' || !input.branch) throw new InvalidInputError('"branch" is required', 'branch');
    if (input.branch.length > 255 || input.branch.startsWith('refs/')) throw new InvalidInputError('branch is a branch name (main, release/1.0), not a full ref', 'branch');
    validateGitRef(input.branch);
    const manifestPath = input.manifestPath ?? null;
    if (manifestPath !== null) validateManifestPath(manifestPath);
    const arch = input.arch ?? null;
    if (arch !== null && !ARCH_RE.test(arch)) throw new InvalidInputError(`Invalid arch ${arch.slice(0, 40)}`, 'arch');
    const autoPublish = input.autoPublish ?? false;
    if (autoPublish && ((!hasScope(viewer.claims, 'publish') && !hasScope(viewer.claims, 'admin')) || !grantsAllow(viewer.grants ?? null, 'publish', { repo: repo.name, appId: input.appId ?? null }))) {
      throw new InvalidInputError('autoPublish needs a token with the "publish" scope', 'autoPublish');
    }
    const credential = input.credential ?? null;
    if (credential !== null) {
      const found = await this.prisma.gitCredential.findFirst({ where: { id: credential, repoId: repo.id }, select: { id: true } });
      if (!found) throw new InvalidInputError(`git credential ${credential} is not one of repo ${repo.name}'s`, 'credential');
    }
    const secret = webhookSecret(input.secret);
    const c = viewer.claims;
    // A user's token acts with the scopes its roles give it on this repo, not those of its other roles.
    const grants = viewer.grants ?? null;
    const scope = grants === null ? [...c.scope] : c.scope.filter((sc) => grantsAllow(grants, sc as Scope, { repo: repo.name, appId: input.appId ?? null }));
    const claims: StoredSourceClaims = { jti: c.jti!, sub: c.sub, scope, prefixes: [...c.prefixes], apps: [...c.apps], repos: grants === null ? [...c.repos] : [repo.name], exp: c.exp };
    // The sealed secret is bound to the row's id, known once the row exists.
    const source = await this.prisma.$transaction(async (tx) => {
      const row = await tx.gitSource.create({
        data: {
          repoId: repo.id,
          url: input.url,
          branch: input.branch,
          manifestPath,
          appId,
          arch,
          autoPublish,
          credentialId: credential,
          webhookSecretEncrypted: '',
          tokenJti: claims.jti,
          claims,
        },
      });
      return tx.gitSource.update({ where: { id: row.id }, data: { webhookSecretEncrypted: sealPrivateKey(secret, this.masterKey(), sealContext(row.id)) } });
    });
    return { source, secret };
  }

  /** A source the viewer may see; others, and unknown ids, are not found. */
  async get(viewer: Viewer, id: number): Promise<GitSource & { repo: { name: string } }> {
    const row = await this.prisma.gitSource.findFirst({ where: { AND: [{ id }, visibleGitSourcesWhere(viewer)] }, include: { repo: { select: { name: true } } } });
    if (!row) throw new NotFoundError('git source', String(id));
    return row;
  }

  /** Deletes a source: its pushes are 404 from now on. Its builds stay (their source link is cleared). */
  async delete(viewer: Viewer, id: number): Promise<GitSource> {
    const row = await this.get(viewer, id);
    requireGitSourceManagement(viewer, { repo: row.repo.name, appId: row.appId });
    await this.prisma.gitSource.deleteMany({ where: { id } });
    return row;
  }

  /** A new webhook secret (given or generated), returned once; pushes signed with the old one are refused from now on. */
  async rotateSecret(viewer: Viewer, id: number, given?: string | null): Promise<{ source: GitSource; secret: string }> {
    const row = await this.get(viewer, id);
    requireGitSourceManagement(viewer, { repo: row.repo.name, appId: row.appId });
    const secret = webhookSecret(given);
    const source = await this.prisma.gitSource.update({ where: { id }, data: { webhookSecretEncrypted: sealPrivateKey(secret, this.masterKey(), sealContext(id)) } });
    return { source, secret };
  }

  /** Why the source's pushes build nothing, or null while it is enabled. */
  disabledReason(source: Pick<GitSource, 'disabledReason' | 'claims'>, now = Date.now()): string | null {
    if (source.disabledReason) return source.disabledReason;
    const exp = (source.claims as Partial<StoredSourceClaims>).exp;
    if (typeof exp !== 'number' || exp * 1000 <= now) return expiredReason(exp);
    return null;
  }

  // --- the token behind a source ----------------------------------------------------------------

  /** Why the registering token no longer works, or null while it does. */
  private async tokenProblem(source: Pick<GitSource, 'claims'>): Promise<string | null> {
    const c = source.claims as StoredSourceClaims;
    if (typeof c.exp !== 'number' || c.exp * 1000 <= Date.now()) return expiredReason(c.exp);
    try {
      await this.tokens.assertActive({ claims: { ...c, name: null, token_type: null }, ownerId: null });
      return null;
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      return err.reason === 'revoked' ? 'the token that registered it was revoked' : expiredReason(c.exp);
    }
  }

  /**
   * Disables the enabled sources whose registering token was revoked or expired; answers how
   * many. Called on every revocation (in every process), now and then for expiries, and usable
   * at any time.
   */
  checkTokens(): Promise<number> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      let disabled = 0;
      do {
        this.checkAgain = false;
        const rows = await this.prisma.gitSource.findMany({ where: { disabledReason: null }, select: { id: true, tokenJti: true, claims: true } });
        const byToken = new Map<string, typeof rows>();
        for (const r of rows) byToken.set(r.tokenJti, [...(byToken.get(r.tokenJti) ?? []), r]);
        for (const [jti, list] of byToken) {
          const why = await this.tokenProblem(list[0]!);
          if (!why) continue;
          const res = await this.prisma.gitSource.updateMany({ where: { tokenJti: jti, disabledReason: null }, data: { disabledReason: why } });
          disabled += res.count;
          if (res.count) this.log.info({ sources: list.map((r) => r.id) }, `git sources disabled: ${why}`);
        }
      } while (this.checkAgain);
      return disabled;
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  // --- push events ----------------------------------------------------------------------------

  /** The source a webhook request is for, looked up before its body is read. */
  async forHook(id: number): Promise<GitSource & { repo: { name: string } }> {
    const row = await this.prisma.gitSource.findUnique({ where: { id }, include: { repo: { select: { name: true, status: true } } } });
    if (!row || row.repo.status !== 'ACTIVE') throw new NotFoundError('git source', String(id));
    return row;
  }

  /**
   * A webhook request: authentic (its signature or token made with the source's secret) or 401
   * with nothing done; then a ping is answered, a push to the source's branch builds the pushed
   * commit and supersedes the source's unfinished builds, and anything else is ignored (202).
   */
  async push(source: GitSource & { repo: { name: string } }, headers: IncomingHttpHeaders, body: Buffer): Promise<HookAnswer> {
    const event = identifyEvent(headers);
    const secret = openPrivateKey(source.webhookSecretEncrypted, this.masterKey(), sealContext(source.id));
    if (!event || !verifySignature(event, headers, body, secret)) {
      const missing = event && missingSignatureHeader(event, headers);
      throw new AuthenticationError(
        'bad-signature',
        !event
          ? 'not a signed GitHub, Gitea or GitLab webhook request (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)'
          : missing
            ? `the ${event.forge} webhook request has no ${missing} header: give the webhook git source ${source.id}'s secret`
            : `the ${event.forge} webhook signature does not match git source ${source.id}'s secret`,
      );
    }
    const why = source.disabledReason ?? (await this.tokenProblem(source));
    if (why && !source.disabledReason) await this.prisma.gitSource.updateMany({ where: { id: source.id, disabledReason: null }, data: { disabledReason: why } });
    if (why) throw new ForbiddenError(`git source ${source.id} is disabled: ${why}; register it again with a valid token`);
    if (event.kind === 'ping') return { status: 200, message: `pong: git source ${source.id} builds pushes to ${source.branch}` };
    if (event.kind !== 'push') return { status: 202, message: `ignored: ${event.name} events build nothing` };
    const push = parsePush(body, headers['content-type']);
    if (push.deleted) return { status: 202, message: `ignored: ${push.ref} was deleted` };
    if (push.branch !== source.branch) return { status: 202, message: `ignored: a push to ${push.ref}; git source ${source.id} builds ${source.branch}` };
    if (!this.builds) throw new Error('the git source service has no git build service');
    // Forges deliver again when an answer was slow or lost: the same commit is built once while a build of it is under way.
    const same = await this.prisma.buildSource.findFirst({
      where: { gitSourceId: source.id, gitRef: push.after, build: { state: { in: [...gitBuildingStates, ...underWay] } } },
      select: { buildId: true },
      orderBy: { buildId: 'desc' },
    });
    if (same) return { status: 200, message: `${push.after} of ${source.branch} is already being built as build ${same.buildId}`, build: same.buildId, superseded: [] };
    const c = source.claims as StoredSourceClaims;
    const claims = { jti: c.jti, sub: c.sub, scope: c.scope, prefixes: c.prefixes, apps: c.apps, repos: c.repos };
    // The user who registered it: its roles now (lowered or gone since, the push builds nothing).
    const rights = await this.tokens.rightsOfToken(c.jti);
    if (rights?.disabled) throw new ForbiddenError('the user who registered this git source is disabled');
    const actor: Viewer = { claims: { ...c, name: null, token_type: null }, ownerId: null, grants: rights?.grants ?? null };
    const build = await this.builds.create(actor, {
      repo: source.repo.name,
      url: source.url,
      ref: push.after,
      manifestPath: source.manifestPath,
      appId: source.appId,
      arch: source.arch,
      // A source that does not ask to publish leaves it to the repo's policy.
      autoPublish: source.autoPublish || null,
      credential: source.credentialId,
      gitSourceId: source.id,
      claims,
    });
    await this.prisma.gitSource.updateMany({ where: { id: source.id }, data: { lastPushAt: new Date() } });
    const superseded = await this.supersedeOlder(source.id, build.id);
    this.log.info({ gitSource: source.id, forge: event.forge, commit: push.after, build: build.id, superseded }, 'a push to a git source started a build');
    return { status: 200, message: `building ${push.after} of ${source.branch} as build ${build.id}`, build: build.id, superseded };
  }

  /**
   * The newest build of a source wins: older unfinished ones are superseded by it. Two pushes
   * handled at once both look after creating their build, so the later look sees both builds
   * and the older one ends superseded whichever request finishes first.
   */
  private async supersedeOlder(sourceId: number, buildId: number): Promise<number[]> {
    const unfinished = await this.prisma.buildSource.findMany({
      where: { gitSourceId: sourceId, build: { state: { in: [...gitBuildingStates] } } },
      select: { buildId: true },
      orderBy: { buildId: 'asc' },
    });
    const ids = unfinished.map((u) => u.buildId);
    const newest = Math.max(buildId, ...ids);
    const superseded: number[] = [];
    for (const id of ids) {
      if (id === newest) continue;
      if (await this.builds!.supersede(id, newest)) superseded.push(id);
    }
    return superseded;
  }

  close(): void {
    this.stopRevocations();
    clearInterval(this.expiryTimer);
  }
}

const expiredReason = (exp: unknown) =>
  typeof exp === 'number' ? `the token that registered it expired at ${new Date(exp * 1000).toISOString()}` : 'the token that registered it expired';

/** A given secret (16 to 255 characters, no control characters) or a generated one. */
function webhookSecret(given: string | null | undefined): string {
  if (given === null || given === undefined) return randomBytes(32).toString('base64url');
  if (given.length < 16 || given.length > 255 || CONTROL.test(given)) {
    throw new InvalidInputError('a webhook secret is 16 to 255 characters, without control characters', 'secret');
  }
  return given;
}

/** The rules core's git builds apply to a manifest path, checked here already at registration. */
function validateManifestPath(p: string): void {
  const bad = (why: string) => new InvalidInputError(`Invalid manifest path ${p.slice(0, 80)}: ${why}`, 'manifestPath');
  if (p.length === 0 || p.length > 1024) throw bad('empty or too long');
  if (p.startsWith('/') || p.startsWith('-')) throw bad('must be relative to the checkout');
  if (p.split(/[\\/]/).some((s) => s === '..')) throw bad('must stay inside the checkout');
  if (CONTROL.test(p)) throw bad('control characters');
  if (!/\.(ya?ml|json)$/.test(p)) throw bad('must be a .yml, .yaml or .json file');
}
