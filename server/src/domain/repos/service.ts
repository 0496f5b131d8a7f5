// Repositories: the database row and the archive-z2 OSTree repo on disk under
// <data-dir>/repos/<name>. The rules live here: validation, create/update/delete (deletion
// of files by a job, after the row is marked), signing keys and their rotation, the signed
// summary update, the .flatpakrepo file, and who may download a private ref.
import { grantsAllow, type Grant } from '../users/roles.ts';
import { isFmdAdmin } from '../users/access.ts';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../config/index.ts';
import { Prisma, type Job, type PrismaClient, type Repo } from '../../generated/prisma/client.ts';
import { AuthenticationError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { Listeners } from '../listeners.ts';
import { topics } from '../events.ts';
import type { JobQueue, JobRun } from '../jobs/queue.ts';
import type { KeyService } from '../keys/service.ts';
import { TokenService, type Viewer } from '../tokens/service.ts';
import { appAllowed, hasScope, repoMatchesClaimed, type Claims } from '../tokens/claims.ts';
import { secretKey, verifyToken } from '../tokens/jwt.ts';
import { buildUpdateRepo, type BuildUpdateRepoOptions } from '../../ostree/flatpak.ts';
import * as ostree from '../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../ostree/ostree.ts';
import { runTool } from '../../ostree/exec.ts';
import { readGpgSignatures, updateSummarySigned, writeCommitSignatures, commitObjectPath } from '../../ostree/signatures.ts';
import { deltaTargetCommit, readCommit, readRefInfos, readRefs, type RefInfo } from './commits.ts';
import { parseDeltaSettings, parseRepoSettings, parseTokenTypes, validateRepoName, type RepoSettings } from './validate.ts';

export type CreateRepoInput = RepoSettings & {
  name: string;
  keyId?: number | null;
  /** name of the repo builds are promoted from */
  parent?: string | null;
};

export type UpdateRepoInput = RepoSettings & { parent?: string | null };

export type RepoUpdatedEvent = { name: string; indexSha: string | null; updatedAt: string };

export type UpdateSummaryOptions = {
  /** one line of tool output or progress, for job logs */
  log?: (line: string) => void;
  signal?: AbortSignal;
};

export type UpdateSummaryResult = {
  indexSha: string | null;
  /** commits that got new signatures */
  signedCommits: string[];
  /** static deltas deleted because they embedded an older signature set */
  droppedDeltas: string[];
};

/** A download needs a token: how the HTTP layer must answer. */
export type DownloadAccess = { private: boolean };

/** Default overlap of a key rotation: both keys sign for this long. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 30 * 24 * 3600;

const SERVE_CACHE_MS = 2000;

export class RepoService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly keys: KeyService;
  private readonly events: EventBus;
  private readonly tokens: TokenService;
  private readonly log: Logger;
  private readonly jobs: JobQueue;
  /** a repo was marked for deletion (promotions into or out of it end) */
  readonly deleting = new Listeners<[repo: Repo]>();
  /** per-repo chain: summary updates of one repo never overlap in this process */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly served = new Map<string, { at: number; repo: Repo | null }>();
  readonly reposDir: string;

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; keys: KeyService; events: EventBus; tokens: TokenService; log: Logger; jobs: JobQueue }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.keys = deps.keys;
    this.events = deps.events;
    this.tokens = deps.tokens;
    this.log = deps.log;
    this.jobs = deps.jobs;
    this.reposDir = path.join(deps.config.dataDir, 'repos');
  }

  repoPath(name: string): string {
    return path.join(this.reposDir, validateRepoName(name));
  }

  /** Repos a viewer may read: all with an empty `repos` entry or `admin`, else the named ones. */
  visibleWhere(viewer: Viewer): Prisma.RepoWhereInput {
    const base: Prisma.RepoWhereInput = { status: 'ACTIVE' };
    // As in flat-manager: [""] matches every repo, [] none.
    if (isFmdAdmin(viewer) || viewer.claims.repos.includes('')) return base;
    return { ...base, name: { in: viewer.claims.repos } };
  }

  async get(name: string): Promise<Repo> {
    const repo = await this.prisma.repo.findUnique({ where: { name } });
    // Names are case-sensitive (binary collation); the comparison also holds on a database migrated before that.
    if (!repo || repo.status !== 'ACTIVE' || repo.name !== name) throw new NotFoundError('repo', name);
    return repo;
  }

  async getVisible(viewer: Viewer, name: string): Promise<Repo> {
    const repo = await this.get(name);
    if (!isFmdAdmin(viewer) && !repoMatchesClaimed(name, viewer.claims.repos)) {
      throw new NotFoundError('repo', name);
    }
    return repo;
  }

  // --- create / update / delete ------------------------------------------------------------

  async create(input: CreateRepoInput): Promise<Repo> {
    const name = validateRepoName(input.name);
    const { name: _n, keyId, parent, ...rest } = input;
    const s = parseRepoSettings(rest);
    if (keyId != null) await this.keys.get(keyId).catch(() => Promise.reject(new InvalidInputError(`key ${keyId} does not exist`, 'keyId')));
    const parentId = parent ? (await this.parentFor(null, parent)).id : null;
    if (s.autoPromote && parentId === null) throw autoPromoteNeedsParent();
    const dir = this.repoPath(name);
    const existing = await this.prisma.repo.findUnique({ where: { name } });
    if (existing) {
      throw new InvalidInputError(existing.status === 'DELETING' ? `repo ${name} is being deleted; try again shortly` : `a repo named ${name} already exists`, 'name');
    }
    if (existsSync(dir)) throw new InvalidInputError(`the directory of repo ${name} still exists on disk (${dir}); remove it first`, 'name');

    let repo: Repo;
    try {
      repo = await this.prisma.repo.create({
        data: {
          name,
          ...this.settingsData(s),
          subsets: s.subsets ?? {},
          deltaSettings: parseDeltaSettings(s.deltaSettings),
          hooks: s.hooks ?? { checks: [] },
          authRequiredTokenTypes: s.authRequiredTokenTypes ?? [],
          keyId: keyId ?? null,
          parentId,
          ...(s.autoPromote ? { autoPromote: s.autoPromote } : {}),
        },
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new InvalidInputError(`a repo named ${name} already exists`, 'name');
      throw err;
    }
    try {
      await mkdir(this.reposDir, { recursive: true });
      await ostree.init(dir, { mode: 'archive-z2', collectionId: s.collectionId ?? undefined });
      // Shared with the summary staging repo through a symlink, so it must exist before the first summary.
      await mkdir(path.join(dir, 'delta-indexes'), { recursive: true });
      await this.updateSummary(name);
    } catch (err) {
      await this.prisma.repo.delete({ where: { id: repo.id } }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return this.get(name);
  }

  /**
   * Changes settings. Those that live in the summary (title, comment, ...) reach it through the
   * repo's update-repo job, which runs one at a time per repo in whichever process works on it.
   */
  async update(name: string, input: UpdateRepoInput): Promise<{ repo: Repo; job: Job | null }> {
    const repo = await this.get(name);
    const { parent, ...rest } = input;
    const s = parseRepoSettings(rest);
    if (s.collectionId !== undefined && s.collectionId !== repo.collectionId) {
      // Commits are bound to the collection id: changing it would make every published commit invalid.
      throw new InvalidInputError('the collection id of a repo cannot change after it is created', 'collectionId');
    }
    const data: Prisma.RepoUncheckedUpdateInput = { ...this.settingsData(s) };
    if (s.subsets !== undefined) data.subsets = s.subsets;
    if (s.deltaSettings !== undefined) data.deltaSettings = s.deltaSettings;
    if (s.hooks !== undefined) data.hooks = s.hooks;
    if (s.authRequiredTokenTypes !== undefined) data.authRequiredTokenTypes = s.authRequiredTokenTypes;
    if (parent !== undefined) data.parentId = parent === null ? null : (await this.parentFor(repo, parent)).id;
    if (s.autoPromote !== undefined) data.autoPromote = s.autoPromote === null ? Prisma.DbNull : s.autoPromote;
    // Checked when either changes: a repo whose parent was deleted keeps an inert rule until then.
    if (parent !== undefined || s.autoPromote !== undefined) {
      const autoPromotes = s.autoPromote !== undefined ? s.autoPromote !== null : repo.autoPromote !== null;
      if (autoPromotes && (data.parentId !== undefined ? data.parentId : repo.parentId) === null) throw autoPromoteNeedsParent();
    }
    await this.prisma.repo.update({ where: { id: repo.id }, data });
    this.served.delete(name);
    // Title, comment, ... live in the summary: regenerate it so clients see them.
    const summaryFields = ['title', 'comment', 'description', 'homepage', 'icon', 'defaultBranch', 'redirectUrl', 'deployCollectionId'] as const;
    const job = summaryFields.some((f) => s[f] !== undefined && s[f] !== repo[f]) ? await this.scheduleUpdate(name, undefined, 0) : null;
    return { repo: await this.get(name), job };
  }

  /**
   * flat-manager's schedule_update_job: a queued (not yet started) update-repo job of the repo is
   * shared; otherwise a new one starts after `delaySecs` (default `delay-update-secs`). `run`, the
   * job asking for it, gets a line in its log.
   */
  async scheduleUpdate(name: string, run?: Pick<JobRun, 'log'>, delaySecs = this.config.delayUpdateSecs): Promise<Job> {
    const startAfter = new Date(Date.now() + delaySecs * 1000);
    // Shared when it starts no later than wanted (a settings change does not wait out a publish's delay).
    const queued = await this.prisma.job.findFirst({
      where: { kind: 'update-repo', repo: name, status: 'NEW', cancelRequested: false, OR: [{ startAfter: null }, { startAfter: { lte: startAfter } }] },
      orderBy: { id: 'desc' },
    });
    if (queued) {
      await run?.log(`Queued repository update job ${queued.id} (shared)`);
      return queued;
    }
    const job = await this.jobs.enqueue('update-repo', { repo: name }, { repo: name, startAfter });
    await run?.log(`Queued repository update job ${job.id}${delaySecs ? ` in ${delaySecs} secs` : ''}`);
    return job;
  }

  private settingsData(s: RepoSettings) {
    const keys = [
      'title', 'comment', 'description', 'homepage', 'icon', 'collectionId', 'deployCollectionId', 'suggestedRemoteName',
      'defaultBranch', 'redirectUrl', 'baseUrl', 'runtimeRepoUrl', 'defaultTokenType', 'autoPublish',
    ] as const;
    const data: Record<string, unknown> = {};
    for (const k of keys) if (s[k] !== undefined) data[k] = s[k];
    return data as Partial<Pick<Repo, (typeof keys)[number]>>;
  }

  private async parentFor(self: Repo | null, parentName: string): Promise<Repo> {
    const parent = await this.prisma.repo.findUnique({ where: { name: parentName } });
    if (!parent || parent.status !== 'ACTIVE') throw new InvalidInputError(`parent repo ${parentName} does not exist`, 'parent');
    // Walk up from the parent: a repo may not end up its own ancestor.
    for (let p: Repo | null = parent, depth = 0; p && depth < 64; depth++) {
      if (self && p.id === self.id) throw new InvalidInputError('a repo cannot be its own ancestor', 'parent');
      p = p.parentId ? await this.prisma.repo.findUnique({ where: { id: p.parentId } }) : null;
    }
    return parent;
  }

  /**
   * Marks the repo DELETING (it disappears from the API and from HTTP at once) and queues the
   * job that removes its files and then its row. The name stays taken until the job is done.
   */
  async delete(name: string): Promise<{ repo: Repo; job: Job }> {
    const repo = await this.get(name);
    const marked = await this.prisma.repo.update({ where: { id: repo.id }, data: { status: 'DELETING' } });
    this.served.delete(name);
    try {
      const job = await this.jobs.enqueue('delete-repo', { name }, { repo: name });
      await this.deleting.emit(marked);
      return { repo: marked, job };
    } catch (err) {
      await this.prisma.repo.update({ where: { id: repo.id }, data: { status: 'ACTIVE' } });
      throw err;
    }
  }

  // --- refs ----------------------------------------------------------------------------------

  async refs(name: string): Promise<RefInfo[]> {
    await this.get(name);
    return readRefInfos(this.repoPath(name));
  }

  // --- keys and signing ----------------------------------------------------------------------

  /** The keys that sign now: the repo's key and, during a rotation overlap, the previous one. */
  async signingKeys(repo: Repo, now = new Date()): Promise<openpgp.PrivateKey[]> {
    const ids: number[] = [];
    if (repo.keyId !== null) ids.push(repo.keyId);
    if (repo.previousKeyId !== null && repo.previousKeyUntil && repo.previousKeyUntil > now && repo.previousKeyId !== repo.keyId) {
      ids.push(repo.previousKeyId);
    }
    return Promise.all(ids.map((id) => this.keys.privateKey(id)));
  }

  /**
   * Gives the repo a new signing key. With an overlap, the old key keeps signing (commits and
   * summaries carry both signatures) until `previousKeyUntil`, so clients that only know the
   * old key keep verifying while the new one reaches them. The update-repo job it queues re-signs
   * heads and the summary.
   */
  async setKey(name: string, keyId: number | null, overlapSeconds = DEFAULT_ROTATION_OVERLAP_SECONDS, now = new Date()): Promise<{ repo: Repo; job: Job | null }> {
    const repo = await this.get(name);
    if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0) throw new InvalidInputError('overlapSeconds must be >= 0', 'overlapSeconds');
    if (keyId !== null) await this.keys.get(keyId).catch(() => Promise.reject(new InvalidInputError(`key ${keyId} does not exist`, 'keyId')));
    if (keyId === repo.keyId) return { repo, job: null };
    const rotating = keyId !== null && repo.keyId !== null && overlapSeconds > 0;
    await this.prisma.repo.update({
      where: { id: repo.id },
      data: {
        keyId,
        previousKeyId: rotating ? repo.keyId : null,
        previousKeyUntil: rotating ? new Date(now.getTime() + overlapSeconds * 1000) : null,
      },
    });
    this.served.delete(name);
    const job = await this.scheduleUpdate(name, undefined, 0);
    return { repo: await this.get(name), job };
  }

  /** Which of `keys` have no signature yet in a commit's .commitmeta. */
  private async missingSigners(repoPath: string, commit: string, keys: openpgp.PrivateKey[]): Promise<boolean> {
    const meta = commitObjectPath(repoPath, commit, 'commitmeta');
    if (!existsSync(meta)) return keys.length > 0;
    const present = new Set<string>();
    for (const sig of readGpgSignatures(await readFile(meta))) {
      try {
        const s = await openpgp.readSignature({ binarySignature: sig });
        for (const id of s.getSigningKeyIDs()) present.add(id.toHex());
      } catch {
        // not ours to judge
      }
    }
    return keys.some((k) => ![k.getKeyID(), ...k.getSubkeys().map((s) => s.getKeyID())].some((id) => present.has(id.toHex())));
  }

  /**
   * "Update summary": metadata and appstream, signatures on every head, static deltas and
   * pruning per the repo's settings, then a summary generated in staging and installed with
   * its signatures first (ostree/signatures.ts), so no client ever sees it unsigned.
   */
  async updateSummary(name: string, o: UpdateSummaryOptions = {}): Promise<UpdateSummaryResult> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.updateSummaryNow(name, o));
    this.chains.set(name, next);
    try {
      return await next;
    } finally {
      if (this.chains.get(name) === next) this.chains.delete(name);
    }
  }

  private async updateSummaryNow(name: string, o: UpdateSummaryOptions): Promise<UpdateSummaryResult> {
    const repo = await this.get(name);
    const dir = this.repoPath(name);
    const keys = await this.signingKeys(repo);
    const deltas = parseDeltaSettings(repo.deltaSettings);
    const run: ToolRunOptions = { signal: o.signal, onLine: o.log ? (l) => o.log!(l) : undefined };

    // 1. Metadata (lands in the repo config, which the summary staging copies) and appstream
    //    (which makes commits of its own), without touching the live summary.
    await buildUpdateRepo(dir, { ...metadataOptions(repo), noUpdateSummary: true }, run);

    // 2. Sign every head that lacks a signature by one of the current keys.
    const signedCommits: string[] = [];
    if (keys.length) {
      const heads = [...new Set((await readRefs(dir)).map((r) => r.commit))];
      for (const commit of heads) {
        if (await this.missingSigners(dir, commit, keys)) {
          await writeCommitSignatures(dir, commit, keys);
          signedCommits.push(commit);
        }
      }
    }

    // 3. A static delta embeds the .commitmeta it was made with: drop those of re-signed commits
    //    so they are made again with the new signatures (a rotation's new-key-only clients need that).
    const droppedDeltas = signedCommits.length ? await dropDeltasTo(dir, new Set(signedCommits), run) : [];

    // 4. Deltas and pruning, still before the summary.
    if (deltas.generate || deltas.prune) {
      await buildUpdateRepo(
        dir,
        {
          noUpdateSummary: true,
          noUpdateAppstream: true,
          generateStaticDeltas: deltas.generate,
          staticDeltaJobs: deltas.jobs,
          staticDeltaIgnoreRefs: deltas.ignoreRefs,
          prune: deltas.prune,
          pruneDepth: deltas.prune ? deltas.pruneDepth : undefined,
        },
        run,
      );
    }

    // 5. The summary, staged and installed signatures-first.
    const { indexSha } = await updateSummarySigned(dir, keys, { run });
    const updatedAt = new Date();
    await this.prisma.repo.update({ where: { id: repo.id }, data: { summaryUpdatedAt: updatedAt } });
    const event: RepoUpdatedEvent = { name, indexSha, updatedAt: updatedAt.toISOString() };
    await this.events.publish(topics.repoUpdated(name), event);
    o.log?.(`summary updated: index ${indexSha ?? '(none)'}, ${signedCommits.length} commit(s) signed, ${droppedDeltas.length} delta(s) remade`);
    return { indexSha, signedCommits, droppedDeltas };
  }

  // --- serving -------------------------------------------------------------------------------

  /** The repo behind `/repo/<name>/...`, cached briefly: serving must not cost a query per object. */
  async servedRepo(name: string): Promise<Repo | null> {
    const hit = this.served.get(name);
    if (hit && Date.now() - hit.at < SERVE_CACHE_MS) return hit.repo;
    const repo = await this.prisma.repo.findUnique({ where: { name } });
    const active = repo && repo.status === 'ACTIVE' && repo.name === name ? repo : null;
    if (this.served.size > 1000) this.served.clear();
    this.served.set(name, { at: Date.now(), repo: active });
    return active;
  }

  /** The `.flatpakrepo` file of a repo; `defaultUrl` is the repo's URL on this server. */
  async flatpakrepo(repo: Repo, defaultUrl: string): Promise<string> {
    const lines: Array<[string, string | null | undefined]> = [
      ['Title', repo.title ?? repo.name],
      ['Url', repo.baseUrl ?? defaultUrl],
      ['Homepage', repo.homepage],
      ['Comment', repo.comment],
      ['Description', repo.description],
      ['Icon', repo.icon],
      ['DefaultBranch', repo.defaultBranch],
      ['SuggestRemoteName', repo.suggestedRemoteName],
      ['DeployCollectionID', repo.deployCollectionId ? repo.collectionId : null],
      ['RuntimeRepo', repo.runtimeRepoUrl],
      ['GPGKey', repo.keyId !== null ? (await this.keys.publicKey(await this.keys.get(repo.keyId))).base64 : null],
    ];
    let out = '[Flatpak Repo]\n';
    for (const [k, v] of lines) if (v) out += `${k}=${keyFileEscape(v)}\n`;
    return out;
  }

  /** The URL of a repo on this server when `base-url` is configured, else null. */
  configuredRepoUrl(name: string): string | null {
    return this.config.baseUrl ? `${this.config.baseUrl}/repo/${name}/` : null;
  }

  /**
   * flat-manager's private refs: a commit object, its .commitmeta, or a static delta leading to a
   * commit whose `xa.token-type` is in the repo's auth-required list needs a token with the
   * `download` scope whose prefixes (or apps) cover the commit's ref. Other objects are
   * content-addressed and only reachable through such a commit.
   */
  async authorizeDownload(repo: Repo, relPath: string, tokenOf: () => string): Promise<DownloadAccess> {
    const types = parseTokenTypes(repo.authRequiredTokenTypes);
    if (types.length === 0) return { private: false };
    const m = /^objects\/([0-9a-f]{2})\/([0-9a-f]{62})\.(commit|commitmeta)$/.exec(relPath);
    const commit = m ? m[1]! + m[2]! : deltaTargetCommit(relPath);
    if (!commit) return { private: false };
    const info = await readCommit(this.repoPath(repo.name), commit);
    if (!info || !types.includes(info.tokenType)) return { private: false };

    const { claims, grants } = await this.downloadViewer(tokenOf());
    if (!hasScope(claims, 'download')) throw new ForbiddenError('downloading this ref needs a token with the "download" scope', 'download');
    if (!repoMatchesClaimed(repo.name, claims.repos)) throw new ForbiddenError(`the token does not cover repo ${repo.name}`);
    const ids = info.refBindings.map((r) => r.split('/')[1] ?? r);
    if (ids.length === 0 || !ids.every((id) => appAllowed(claims, id) && grantsAllow(grants, 'download', { repo: repo.name, appId: id }))) {
      throw new ForbiddenError(`the token does not cover ${info.refBindings.join(', ') || 'this commit'}`);
    }
    return { private: true };
  }

  private async downloadViewer(token: string): Promise<{ claims: Claims; grants: readonly Grant[] | null }> {
    // flat-manager's repo-secret signs download tokens when it is set; otherwise they are API tokens.
    if (this.config.repoSecret) return { claims: await verifyToken(token, secretKey(this.config.repoSecret)), grants: null };
    const viewer = await this.tokens.authenticate(token);
    return { claims: viewer.claims, grants: viewer.grants ?? null };
  }
}

const autoPromoteNeedsParent = () => new InvalidInputError('autoPromote promotes from the parent repo: set parent too (or clear autoPromote)', 'autoPromote');

function metadataOptions(repo: Repo): BuildUpdateRepoOptions {
  const o: BuildUpdateRepoOptions = {};
  if (repo.title) o.title = repo.title;
  if (repo.comment) o.comment = repo.comment;
  if (repo.description) o.description = repo.description;
  if (repo.homepage) o.homepage = repo.homepage;
  if (repo.icon) o.icon = repo.icon;
  if (repo.defaultBranch) o.defaultBranch = repo.defaultBranch;
  if (repo.redirectUrl) o.redirectUrl = repo.redirectUrl;
  if (repo.collectionId) {
    o.collectionId = repo.collectionId;
    o.deployCollectionId = repo.deployCollectionId;
  }
  return o;
}

/** GKeyFile value escaping: a value can never start a new line or key. */
function keyFileEscape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t').replace(/^ /, '\\s');
}

/** Deletes the static deltas whose target is one of `commits`; returns their names. */
async function dropDeltasTo(repoPath: string, commits: Set<string>, run: ToolRunOptions): Promise<string[]> {
  if (!existsSync(path.join(repoPath, 'deltas'))) return [];
  const { stdout } = await runTool('ostree', ['static-delta', 'list', `--repo=${repoPath}`], run);
  const dropped: string[] = [];
  for (const name of stdout.split('\n').map((l) => l.trim())) {
    if (!/^([0-9a-f]{64}-)?[0-9a-f]{64}$/.test(name)) continue;
    if (!commits.has(name.slice(-64))) continue;
    await runTool('ostree', ['static-delta', 'delete', `--repo=${repoPath}`, name], run);
    dropped.push(name);
  }
  return dropped;
}

export type { RefInfo };
