// `fmd import-flat-manager <config.json>`: flat-manager's repos, keys, token secret and revoked
// tokens into fmd (the rules: domain/import/flat-manager.ts). One line per action; problems are
// `error:` lines and nothing is written; `--dry-run` prints the plan only.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/index.ts';
import { parseOptions, quietLog, UsageError } from './cli.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      'dry-run': { type: 'boolean' },
      'gpg-passphrase-file': { type: 'string' },
      'skip-revoked-tokens': { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `unexpected argument ${JSON.stringify(positionals[1])}` : 'which flat-manager config? (its config.json)');
  let gpgPassphrase: string | undefined;
  if (values['gpg-passphrase-file'] !== undefined) {
    try {
      gpgPassphrase = readFileSync(values['gpg-passphrase-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`cannot read --gpg-passphrase-file: ${(err as Error).message}`);
    }
  }

  const config = loadConfig();
  // Loaded once the arguments are good: usage errors need none of this.
  const [{ openDatabase }, { resolveMasterKey }, { KeyService }, { applyImport, ImportProblems, planImport }] = await Promise.all([
    import('../db/index.ts'),
    import('../config/secret.ts'),
    import('../domain/keys/service.ts'),
    import('../domain/import/flat-manager.ts'),
  ]);
  const secretFile = path.join(config.dataDir, 'secret');
  const currentSecret = config.secret ?? (existsSync(secretFile) ? readFileSync(secretFile, 'utf8').trim() : null);
  const db = await openDatabase(config, quietLog, { owner: false });
  try {
    const keys = new KeyService(db.prisma, () => resolveMasterKey(config));
    let plan;
    try {
      plan = await planImport({ prisma: db.prisma, keys, config, currentSecret }, positionals[0]!, {
        gpgPassphrase,
        skipRevokedTokens: values['skip-revoked-tokens'],
      });
    } catch (err) {
      if (!(err instanceof ImportProblems)) throw err;
      for (const p of err.problems) console.error(`error: ${p}`);
      console.error(`fmd import-flat-manager: ${err.problems.length} problem(s); nothing was imported`);
      return 1;
    }
    for (const w of plan.warnings) console.log(`warning: ${w}`);
    for (const u of plan.unchanged) console.log(`unchanged: ${u}`);
    if (values['dry-run']) {
      for (const s of plan.steps) console.log(`plan: ${s.line}`);
      console.log(`dry run: ${plan.steps.length} change(s) planned, nothing written`);
      return 0;
    }
    await applyImport(plan, (line) => console.log(`done: ${line}`));
    console.log(`imported: ${plan.steps.length} change(s)${plan.warnings.length ? `, ${plan.warnings.length} warning(s) above` : ''}`);
    return 0;
  } finally {
    await db.close();
  }
}
