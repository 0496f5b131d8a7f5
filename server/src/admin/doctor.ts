// `fmd doctor`: checks what fmd needs, one line per check ("ok: ..." or "problem: ..."), and exits
// 1 when any check found a problem. A problem is reported once, where it starts: with the
// database away, the checks that need it (signing keys, repos) are skipped, not failed.
import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type FmdConfig } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { migrationStatus } from '../db/migrate.ts';
import { runTool, ToolError } from '../ostree/exec.ts';
import { fsck } from '../ostree/ostree.ts';
import { parseOptions, UsageError } from './cli.ts';
import { describeDatabase, openExisting, reason } from './database.ts';

const day = 86_400_000;
/** A signing key expiring sooner than this is a problem now: rotating takes a key overlap. */
const keyWarningMs = 30 * day;
const units: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  return m ? Math.round(Number(m[1]) * units[m[2]!.toUpperCase()]!) : undefined;
}

function formatSize(bytes: number): string {
  for (const u of ['T', 'G', 'M', 'K'] as const) if (bytes >= units[u]!) return `${(bytes / units[u]!).toFixed(1)} ${u}iB`;
  return `${bytes} B`;
}

class Report {
  problems = 0;
  ok(line: string): void {
    console.log(`ok: ${line}`);
  }
  problem(line: string): void {
    this.problems++;
    console.log(`problem: ${line}`);
  }
  note(line: string): void {
    console.log(`skipped: ${line}`);
  }
}

/** The first line of what a tool said when it failed, for a one-line report. */
function firstLine(err: unknown): string {
  if (err instanceof ToolError) return (err.stderrTail.trim().split('\n').at(-1) || err.message).trim();
  return reason(err);
}

async function checkTools(r: Report): Promise<boolean> {
  let ostreeOk = false;
  for (const tool of ['ostree', 'flatpak', 'flatpak-builder']) {
    try {
      const { stdout } = await runTool(tool, ['--version'], { timeoutMs: 15_000 });
      // ostree prints `Version: '2022.7'` on its second line; the others `<name> 1.14.10`.
      const version = /(\d+(?:\.\d+)+)/.exec(stdout)?.[1] ?? 'unknown version';
      r.ok(`${tool} ${version}`);
      if (tool === 'ostree') ostreeOk = true;
    } catch (err) {
      if (err instanceof ToolError && err.reason === 'spawn') r.problem(`${tool} is not installed (not found on the PATH); fmd needs it (apt-get install ${tool})`);
      else r.problem(`${tool} --version failed: ${firstLine(err)}`);
    }
  }
  return ostreeOk;
}

function checkDisk(r: Report, config: FmdConfig, minFree: number): void {
  if (!existsSync(config.dataDir)) {
    r.problem(`data dir ${config.dataDir} does not exist (fmd serve creates it; check data-dir / FMD_DATA_DIR)`);
    return;
  }
  const fs = statfsSync(config.dataDir);
  const free = Number(fs.bavail) * Number(fs.bsize);
  if (free < minFree) r.problem(`data dir ${config.dataDir} has ${formatSize(free)} free, below ${formatSize(minFree)}`);
  else r.ok(`data dir ${config.dataDir}: ${formatSize(free)} free`);
}

/** The database, when it is reachable and has fmd's tables. */
async function checkDatabase(r: Report, config: FmdConfig): Promise<Database | undefined> {
  const which = describeDatabase(config);
  let db: Database;
  try {
    db = await openExisting(config);
  } catch (err) {
    r.problem(`database ${which} is unreachable: ${reason(err)}`);
    r.note('signing keys and repos: they are listed in the database');
    return undefined;
  }
  try {
    const states = await migrationStatus(db.pool);
    const failed = states.filter((s) => s.state === 'failed');
    const pending = states.filter((s) => s.state === 'pending').length;
    for (const f of failed) r.problem(`database ${which}: migration ${f.name} failed half-way; fmd will not start (see \`fmd migrate --help\`: resolve)`);
    if (!failed.length) r.ok(`database ${which} is reachable${pending ? ` (${pending} migration${pending === 1 ? '' : 's'} pending: fmd serve or fmd migrate applies them)` : ''}`);
    // Keys and repos are read with the current schema: not before it is there.
    if (!failed.length && !pending) return db;
    r.note('signing keys and repos: the database is not migrated yet');
  } catch (err) {
    r.problem(`database ${which}: cannot read its migrations: ${reason(err)}`);
  }
  await db.close();
  return undefined;
}

function masterKeyOf(config: FmdConfig): string | undefined {
  if (config.masterKey) return config.masterKey;
  const file = path.join(config.dataDir, 'master-key');
  // Read, never generated here: a new master key would not open the stored keys anyway.
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

async function checkKeys(r: Report, config: FmdConfig, db: Database): Promise<void> {
  const keys = await db.prisma.signingKey.findMany({
    orderBy: { name: 'asc' },
    select: { name: true, fingerprint: true, expiresAt: true, privateKeyEncrypted: true, repos: { select: { name: true } } },
  });
  if (!keys.length) {
    r.ok('signing keys: none yet');
    return;
  }
  const master = masterKeyOf(config);
  const { openPrivateKey } = await import('../domain/keys/pgp.ts');
  if (!master) r.problem(`signing keys: no master key (master-key / FMD_MASTER_KEY, or ${path.join(config.dataDir, 'master-key')}), so none of the ${keys.length} keys can sign`);
  const now = Date.now();
  for (const k of keys) {
    const label = `signing key "${k.name}" (${k.fingerprint.slice(-16)}${k.repos.length ? `, signs ${k.repos.map((x) => x.name).join(', ')}` : ''})`;
    let fine = true;
    if (k.expiresAt && k.expiresAt.getTime() <= now) {
      r.problem(`${label} expired on ${k.expiresAt.toISOString().slice(0, 10)}`);
      fine = false;
    } else if (k.expiresAt && k.expiresAt.getTime() - now < keyWarningMs) {
      r.problem(`${label} expires on ${k.expiresAt.toISOString().slice(0, 10)}, in ${Math.ceil((k.expiresAt.getTime() - now) / day)} days: rotate it (setRepoKey)`);
      fine = false;
    }
    if (master) {
      try {
        openPrivateKey(k.privateKeyEncrypted, master, k.fingerprint);
      } catch {
        r.problem(`${label} cannot be decrypted with the master key (a different master-key than the one it was stored with?)`);
        fine = false;
      }
    }
    if (fine && master) r.ok(`${label}: ${k.expiresAt ? `valid until ${k.expiresAt.toISOString().slice(0, 10)}` : 'does not expire'}, decrypts with the master key`);
  }
}

async function checkRepos(r: Report, config: FmdConfig, db: Database, opts: { fsck: boolean; ostree: boolean }): Promise<void> {
  const repos = await db.prisma.repo.findMany({ where: { status: 'ACTIVE' }, orderBy: { name: 'asc' }, select: { name: true } });
  if (!repos.length) {
    r.ok('repos: none yet');
    return;
  }
  for (const { name } of repos) {
    const dir = path.join(config.dataDir, 'repos', name);
    if (!existsSync(dir)) {
      r.problem(`repo ${name}: its directory ${dir} does not exist`);
      continue;
    }
    const configFile = path.join(dir, 'config');
    const isRepo = statSync(dir).isDirectory() && existsSync(path.join(dir, 'objects')) && existsSync(configFile) && /^\[core\]/m.test(readFileSync(configFile, 'utf8'));
    if (!isRepo) {
      r.problem(`repo ${name}: ${dir} is not an OSTree repo (no objects/ or config with [core])`);
      continue;
    }
    if (!opts.fsck) {
      r.ok(`repo ${name}: ${dir}`);
    } else if (!opts.ostree) {
      r.note(`repo ${name}: ostree fsck (ostree is missing)`);
    } else {
      const t0 = Date.now();
      try {
        await fsck(dir, { quiet: true }, { timeoutMs: 24 * 3600_000 });
        r.ok(`repo ${name}: ${dir}, ostree fsck found no problems (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (err) {
        r.problem(`repo ${name}: ostree fsck failed: ${firstLine(err)}`);
      }
    }
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { fsck: { type: 'boolean', default: false }, 'min-free': { type: 'string', default: '5G' } });
  const minFree = parseSize(values['min-free']);
  if (minFree === undefined) throw new UsageError(`bad size ${JSON.stringify(values['min-free'])}: like 500M, 5G or a number of bytes`);
  const config = loadConfig();
  const r = new Report();
  const ostree = await checkTools(r);
  checkDisk(r, config, minFree);
  const db = await checkDatabase(r, config);
  if (db) {
    try {
      await checkKeys(r, config, db);
      await checkRepos(r, config, db, { fsck: values.fsck, ostree });
    } finally {
      await db.close();
    }
  }
  console.log(r.problems ? `${r.problems} problem${r.problems === 1 ? '' : 's'} found` : 'no problems found');
  return r.problems ? 1 : 0;
}
