// npm run migrate                       apply pending migrations (fmd also does this at start)
// npm run migrate -- resolve --rolled-back NAME | --applied NAME
//                                       mark a failed migration, like `prisma migrate resolve`
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../logger.ts';
import { openDatabase } from '../db/index.ts';
import { migrate, resolveMigration } from '../db/migrate.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'rolled-back': { type: 'string' }, applied: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help || (positionals[0] === 'resolve' && !values['rolled-back'] === !values.applied)) {
  console.log('usage: npm run migrate [-- resolve --rolled-back NAME | --applied NAME]');
  process.exit(values.help ? 0 : 2);
}
const log = createLogger({ logLevel: 'info' });
const db = await openDatabase(loadConfig(), log, { owner: false, migrate: false });
try {
  if (positionals[0] === 'resolve') {
    const name = (values['rolled-back'] ?? values.applied)!;
    await resolveMigration(db.pool, name, values['rolled-back'] ? 'rolled-back' : 'applied');
    console.log(`marked ${name} as ${values['rolled-back'] ? 'rolled back' : 'applied'}`);
  } else {
    const { applied } = await migrate(db.pool, log);
    console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
  }
} catch (err) {
  console.error(`fmd: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.close();
}
