// `fmd stats import-nginx-log FILE...`: counts the downloads in nginx access logs written in the
// `fmd_stats` format (deploy/nginx/fmd.conf, docs/deployment.md). Each file is read from where
// the previous import of it (by device and inode) stopped, so running it from cron or a
// logrotate hook counts every line once, across rotations.
import path from 'node:path';
import { loadConfig } from '../config/index.ts';
import { parseOptions, quietLog, UsageError } from './cli.ts';

export async function run(args: string[]): Promise<number> {
  const { positionals } = parseOptions(args, {}, true);
  const [sub, ...files] = positionals;
  if (sub !== 'import-nginx-log') throw new UsageError(sub === undefined ? 'which stats command? (import-nginx-log)' : `unknown stats command ${JSON.stringify(sub)}`);
  if (!files.length) throw new UsageError('which access log? (one or more files)');
  const config = loadConfig();
  const [{ openDatabase }, { DownloadStatsService }, { validateRepoName }] = await Promise.all([
    import('../db/index.ts'),
    import('../domain/stats/downloads.ts'),
    import('../domain/repos/validate.ts'),
  ]);
  const db = await openDatabase(config, quietLog, { owner: false });
  const stats = new DownloadStatsService({ prisma: db.prisma, repoPath: (name) => path.join(config.dataDir, 'repos', validateRepoName(name)), flushMs: 3_600_000 });
  let failed = 0;
  try {
    for (const file of files) {
      try {
        const r = await stats.importNginxLog(file);
        console.log(`${file}: ${r.lines} new line(s) from byte ${r.fromOffset} to ${r.toOffset}, ${r.counted} download(s), ${r.skipped} other`);
      } catch (err) {
        failed++;
        console.error(`error: ${file}: ${(err as Error).message}`);
      }
    }
  } finally {
    await stats.close();
    await db.close();
  }
  return failed ? 1 : 0;
}
