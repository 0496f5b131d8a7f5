// `fmd migrate`: applies the pending migrations (`fmd serve` does too, at start), lists them
// (--status, read only), or marks a failed one resolved, as `prisma migrate resolve` does.
import { loadConfig } from '../config/index.ts';
import { migrate, migrationStatus, resolveMigration } from '../db/migrate.ts';
import { parseOptions, quietLog, UsageError } from './cli.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { status: { type: 'boolean' }, 'rolled-back': { type: 'string' }, applied: { type: 'string' } }, true);
  const resolve = positionals[0] === 'resolve';
  if (positionals.length > (resolve ? 1 : 0)) throw new UsageError(`unexpected argument ${JSON.stringify(positionals.at(-1))}`);
  if (resolve && !values['rolled-back'] === !values.applied) throw new UsageError('resolve takes one of --rolled-back NAME or --applied NAME');
  if (!resolve && (values['rolled-back'] || values.applied)) throw new UsageError('--rolled-back and --applied go with `fmd migrate resolve`');
  if (resolve && values.status) throw new UsageError('--status does not go with resolve');
  const config = loadConfig();
  const { openDatabase } = await import('../db/index.ts');
  const db = await openDatabase(config, quietLog, { owner: false, migrate: false });
  try {
    if (resolve) {
      const name = (values['rolled-back'] ?? values.applied)!;
      await resolveMigration(db.pool, name, values['rolled-back'] ? 'rolled-back' : 'applied');
      console.log(`marked ${name} as ${values['rolled-back'] ? 'rolled back' : 'applied'}`);
      return 0;
    }
    if (values.status) {
      const states = await migrationStatus(db.pool);
      const width = Math.max(0, ...states.map((s) => s.name.length));
      for (const s of states) {
        const when = s.at ? `  ${s.at.toISOString()}` : '';
        console.log(`${s.state.padEnd(8)}  ${s.name.padEnd(width)}${when}${s.logs ? `  ${s.logs.split('\n')[0]}` : ''}`.trimEnd());
      }
      const count = (state: string) => states.filter((s) => s.state === state).length;
      const summary = [`${count('applied') + count('modified')} applied`, `${count('pending')} pending`];
      if (count('failed')) summary.push(`${count('failed')} failed (see \`fmd migrate --help\`: resolve)`);
      if (count('modified')) summary.push(`${count('modified')} modified since applied`);
      if (count('unknown')) summary.push(`${count('unknown')} applied but not in this checkout`);
      console.log(summary.join(', '));
      return count('failed') ? 1 : 0;
    }
    const log = { info: (m: string) => console.log(m), warn: (m: string) => console.error(`warning: ${m}`) };
    const { applied } = await migrate(db.pool, log);
    console.log(applied.length ? `applied ${applied.length} migration${applied.length === 1 ? '' : 's'}` : 'the database is up to date');
    return 0;
  } finally {
    await db.close();
  }
}
