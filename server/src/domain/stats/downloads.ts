// Download statistics, counted as Flathub counts them: a client that fetches a commit object
// (objects/xx/<rest>.commit) or a static delta's superblock (deltas/<from-to>/superblock) is
// downloading that commit. It is an update when the delta starts from another commit, or when
// the client (flatpak sends the header on `flatpak update`) names the commit it upgrades from in
// Flatpak-Upgrade-From; otherwise an install. The commit is mapped to its ref through the
// commit's ref binding (ostree.ref-binding, written by flatpak build-export/build-commit-from
// and by fmd's publish), or else the refs the repo points at now, both read from disk
// (repos/commits.ts).
//
// fmd counts what it serves from /repo/ (record, from the request path: no I/O on the serving
// path) and batches the counts in memory; flush() writes them per day × repo × ref × kind. When
// nginx serves /repo/ from disk, `fmd stats import-nginx-log` reads nginx's access log in the
// documented `fmd_stats` format (deploy/nginx/fmd.conf) into the same counts.
import { isFmdAdmin } from '../users/access.ts';
import { grantsAllow } from '../users/roles.ts';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from 'pino';
import { deltaCommits, readCommit, readRefs } from '../repos/commits.ts';
import { appAllowed } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';
import { InvalidInputError } from '../errors.ts';
import { REPO_NAME_RE } from '../repos/validate.ts';
import { buildVisibility } from '../builds/access.ts';

export type DownloadKind = 'INSTALL' | 'UPDATE';
export const maxDownloadStatsDays = 366;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * What a request path inside a repo downloads, or null for anything else:
 * `objects/ab/<62 hex>.commit` → that commit; a static delta's `superblock` → the commit it
 * leads to, and the one it starts from unless it is a delta from scratch.
 */
export function downloadOf(relPath: string): { commit: string; from: string | null } | null {
  const obj = /^objects\/([0-9a-f]{2})\/([0-9a-f]{62})\.commit$/.exec(relPath);
  if (obj) return { commit: obj[1]! + obj[2]!, from: null };
  if (!/^deltas\/[^/]+\/[^/]+\/superblock$/.test(relPath)) return null;
  const d = deltaCommits(relPath);
  return d ? { commit: d.to, from: d.from } : null;
}

/** `app/<id>/<arch>/<branch>` → `<id>`; null for refs that are not flatpak refs. */
export function appIdOfRef(ref: string): string | null {
  const m = /^(?:app|runtime)\/([^/]+)\/[^/]+\/[^/]+$/.exec(ref);
  return m ? m[1]! : null;
}

const dayOf = (d: Date) => d.toISOString().slice(0, 10);

export type DownloadRefStats = { repo: string; ref: string; appId: string; installs: number; updates: number };
export type DownloadDayStats = { day: string; installs: number; updates: number };
export type DownloadStats = {
  since: Date;
  installs: number;
  updates: number;
  days: DownloadDayStats[];
  refs: DownloadRefStats[];
};

/** checksum → ref answers kept in memory at most (then forgotten all at once and asked again) */
const maxRememberedCommits = 100_000;

type Row = { day: string; repoId: number; ref: string; appId: string; kind: DownloadKind; count: number };
type Pending = { day: string; repo: string; commit: string; kind: DownloadKind; count: number };

export type ImportResult = { lines: number; counted: number; skipped: number; fromOffset: number; toOffset: number };

export class DownloadStatsService {
  private readonly prisma: PrismaClient;
  private readonly repoPath: (name: string) => string;
  private readonly log: Logger | undefined;
  private readonly now: () => Date;
  /** "<day> <repo> <commit> <kind>" → pending count */
  private readonly pending = new Map<string, Pending>();
  /** "<repo> <commit>" → its ref (commits never change; null: not a ref's commit) */
  private readonly refOfCommit = new Map<string, string | null>();
  /** resolved counts a flush could not write (the database was away), by "<day> <repo id> <ref> <kind>" */
  private unwritten = new Map<string, Row>();
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(o: { prisma: PrismaClient; repoPath: (name: string) => string; log?: Logger; flushMs?: number; now?: () => Date }) {
    this.prisma = o.prisma;
    this.repoPath = o.repoPath;
    this.log = o.log;
    this.now = o.now ?? (() => new Date());
    this.flushTimer = setInterval(() => void this.flush().catch((err) => this.log?.warn({ err }, 'could not write download counts')), o.flushMs ?? 5000);
    this.flushTimer.unref();
  }

  /**
   * Counts a download if `relPath` (a path inside repo `repo`) is one; in memory only, so the
   * request never waits. `upgradeFrom` is the client's Flatpak-Upgrade-From header.
   */
  record(repo: string, relPath: string, upgradeFrom?: string | null, at?: Date): boolean {
    const d = downloadOf(relPath);
    if (!d) return false;
    const update = d.from !== null || (typeof upgradeFrom === 'string' && HEX64.test(upgradeFrom) && upgradeFrom !== d.commit);
    const kind: DownloadKind = update ? 'UPDATE' : 'INSTALL';
    this.record1({ day: dayOf(at ?? this.now()), repo, commit: d.commit, kind, count: 1 });
    return true;
  }

  private record1(p: Pending): void {
    const key = `${p.day} ${p.repo} ${p.commit} ${p.kind}`;
    const had = this.pending.get(key);
    if (had) had.count += p.count;
    else this.pending.set(key, { ...p });
  }

  /** The ref a commit of the repo belongs to: its ref binding, else a ref pointing at it now. */
  private async refOf(repo: string, commit: string): Promise<string | null> {
    const key = `${repo} ${commit}`;
    if (this.refOfCommit.has(key)) return this.refOfCommit.get(key)!;
    const dir = this.repoPath(repo);
    const info = await readCommit(dir, commit);
    // Commits made by plain ostree have no binding: the ref pointing at the commit now, if any.
    const ref = info?.refBindings.find((r) => appIdOfRef(r)) ?? (await readRefs(dir)).find((r) => r.commit === commit && appIdOfRef(r.ref))?.ref ?? null;
    // Commits never change: remember the answer (one not in the repo may arrive later).
    if (this.refOfCommit.size >= maxRememberedCommits) this.refOfCommit.clear();
    if (info) this.refOfCommit.set(key, ref);
    return ref;
  }

  /** Writes the counts recorded so far, added to what the database holds. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0 && this.unwritten.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    // Rows a failed flush could not write come first; what this one cannot write waits for the next.
    const rows = this.unwritten;
    this.unwritten = new Map();
    const add = (key: string, r: Row) => {
      const row = rows.get(key);
      if (row) row.count += r.count;
      else rows.set(key, r);
    };
    this.flushing = (async () => {
      let resolved = 0;
      try {
        const repos = new Map((await this.prisma.repo.findMany({ where: { name: { in: [...new Set(batch.map((b) => b.repo))] } }, select: { id: true, name: true } })).map((r) => [r.name, r.id]));
        let unknown = 0;
        for (const b of batch) {
          const repoId = repos.get(b.repo);
          const ref = repoId === undefined ? null : await this.refOf(b.repo, b.commit);
          const appId = ref ? appIdOfRef(ref) : null;
          resolved++;
          if (repoId === undefined || !ref || !appId) {
            unknown += b.count;
            continue;
          }
          add(`${b.day} ${repoId} ${ref} ${b.kind}`, { day: b.day, repoId, ref, appId, kind: b.kind, count: b.count });
        }
        for (const [key, r] of rows) {
          await this.prisma.$executeRaw`INSERT INTO download_stats (day, repo_id, ref, app_id, kind, count) VALUES (${r.day}, ${r.repoId}, ${r.ref}, ${r.appId}, ${r.kind}, ${r.count}) ON DUPLICATE KEY UPDATE count = count + VALUES(count)`;
          rows.delete(key);
        }
        if (unknown) this.log?.debug({ unknown }, 'downloads of commits that are no ref of a repo were not counted');
      } catch (err) {
        // The database is away: keep what was not written for the next flush.
        for (const b of batch.slice(resolved)) this.record1(b);
        for (const [key, r] of rows) {
          const row = this.unwritten.get(key);
          if (row) row.count += r.count;
          else this.unwritten.set(key, r);
        }
        throw err;
      }
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush().catch((err) => this.log?.warn({ err }, 'could not write download counts'));
  }

  /**
   * Reads an nginx access log in the `fmd_stats` format (docs/deployment.md) from where the
   * previous import of the same file (same device and inode) stopped, counts its downloads and
   * remembers the new offset. A rotated log keeps its inode, so importing it after rotation
   * reads only the lines not read yet; the new log starts at 0. Only whole lines are read.
   */
  async importNginxLog(file: string): Promise<ImportResult> {
    const st = await stat(file);
    const fileKey = `${st.dev}:${st.ino}`;
    const saved = await this.prisma.logImportOffset.findUnique({ where: { fileKey } });
    // A file truncated in place (copytruncate) starts again.
    const fromOffset = saved && Number(saved.offset) <= st.size ? Number(saved.offset) : 0;
    const result: ImportResult = { lines: 0, counted: 0, skipped: 0, fromOffset, toOffset: fromOffset };
    if (fromOffset < st.size) {
      const fh = await open(file, 'r');
      try {
        const input = fh.createReadStream({ start: fromOffset, end: st.size - 1, autoClose: false });
        let offset = fromOffset;
        let last: string | null = null;
        for await (const line of createInterface({ input, crlfDelay: Infinity })) {
          if (last !== null) {
            offset += Buffer.byteLength(last) + 1;
            this.importLine(last, result);
          }
          last = line;
        }
        // The last line counts only when it ends with a newline (nginx may be writing it).
        const end = Buffer.alloc(1);
        await fh.read(end, 0, 1, st.size - 1);
        if (last !== null && end[0] === 0x0a) {
          offset += Buffer.byteLength(last) + 1;
          this.importLine(last, result);
        }
        result.toOffset = offset;
      } finally {
        await fh.close();
      }
    }
    // A flush already under way does not hold these lines: wait for it, then write them.
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.flush();
    await this.prisma.logImportOffset.upsert({
      where: { fileKey },
      create: { fileKey, path: file.slice(0, 1024), offset: BigInt(result.toOffset) },
      update: { path: file.slice(0, 1024), offset: BigInt(result.toOffset) },
    });
    return result;
  }

  /**
   * One line of the `fmd_stats` format, tab-separated:
   * `$time_iso8601 $status $request_method $uri $http_range $http_flatpak_upgrade_from`.
   */
  private importLine(line: string, result: ImportResult): void {
    result.lines++;
    const f = line.split('\t');
    if (f.length < 6) return void result.skipped++;
    const [time, status, method, uri, range, upgradeFrom] = f as [string, string, string, string, string, string];
    const at = new Date(time);
    const m = /^\/repo\/([^/]+)\/(.+)$/.exec(uri);
    const fromStart = range === '-' || range === '' || /^bytes=0-/.test(range);
    if (Number.isNaN(at.getTime()) || !m || !REPO_NAME_RE.test(m[1]!) || method !== 'GET' || !(status === '200' || status === '206') || !fromStart) {
      return void result.skipped++;
    }
    if (this.record(m[1]!, m[2]!, upgradeFrom === '-' ? null : upgradeFrom, at)) result.counted++;
    else result.skipped++;
  }

  /**
   * Downloads over the last `days` UTC days (today included) in `repo` or every repo the viewer
   * reads, of `appId` or every app: a token sees the refs of its repos whose app id its prefixes
   * or apps allow, as with builds. Null when `repo` is unknown or not the viewer's.
   */
  async forViewer(viewer: Viewer, o: { repo?: string | null; appId?: string | null; days?: number | null }): Promise<DownloadStats | null> {
    const days = o.days ?? 30;
    if (!Number.isInteger(days) || days < 1 || days > maxDownloadStatsDays) throw new InvalidInputError(`days must be a whole number from 1 to ${maxDownloadStatsDays}`, 'days');
    if (o.appId !== undefined && o.appId !== null && (o.appId.length === 0 || o.appId.length > 255)) throw new InvalidInputError('appId must be 1 to 255 characters', 'appId');
    const c = viewer.claims;
    const admin = isFmdAdmin(viewer);
    const readable = (repo: string) => admin || c.repos.includes('') || c.repos.includes(repo);
    if (o.repo !== undefined && o.repo !== null) {
      const r = await this.prisma.repo.findUnique({ where: { name: o.repo }, select: { name: true, status: true } });
      if (!r || r.name !== o.repo || r.status !== 'ACTIVE' || !readable(r.name)) return null;
    }
    const now = this.now();
    const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
    // A token limited to one build (sub build/<id>) reads no repo-wide figures.
    const v = buildVisibility(viewer);
    const subOk = v === null || (v !== 'none' && v.id === undefined);
    const rows = subOk
      ? await this.prisma.downloadStat.findMany({
          where: {
            day: { gte: since },
            repo: { status: 'ACTIVE', ...(o.repo ? { name: o.repo } : {}) },
            ...(o.appId ? { appId: o.appId } : {}),
          },
          select: { day: true, ref: true, appId: true, kind: true, count: true, repo: { select: { name: true } } },
        })
      : [];
    const perDay = new Map<string, DownloadDayStats>();
    for (let i = 0; i < days; i++) {
      const day = dayOf(new Date(since.getTime() + i * 86_400_000));
      perDay.set(day, { day, installs: 0, updates: 0 });
    }
    const perRef = new Map<string, DownloadRefStats>();
    let installs = 0;
    let updates = 0;
    for (const r of rows) {
      if (!readable(r.repo.name) || !(admin || (appAllowed(c, r.appId) && grantsAllow(viewer.grants ?? null, 'download', { repo: r.repo.name, appId: r.appId })))) continue;
      const field = r.kind === 'INSTALL' ? 'installs' : 'updates';
      if (field === 'installs') installs += r.count;
      else updates += r.count;
      const d = perDay.get(dayOf(r.day));
      if (d) d[field] += r.count;
      const key = `${r.repo.name} ${r.ref}`;
      const s = perRef.get(key) ?? { repo: r.repo.name, ref: r.ref, appId: r.appId, installs: 0, updates: 0 };
      s[field] += r.count;
      perRef.set(key, s);
    }
    return {
      since,
      installs,
      updates,
      days: [...perDay.values()],
      refs: [...perRef.values()].sort((a, b) => b.installs + b.updates - (a.installs + a.updates) || a.repo.localeCompare(b.repo) || a.ref.localeCompare(b.ref)),
    };
  }
}
