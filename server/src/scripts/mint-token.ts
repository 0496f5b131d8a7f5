// npm run token -- --admin [--name NAME] [--days N]
// Mints an admin token directly in the database (for when the bootstrap token is lost).
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { resolveSecret } from '../config/secret.ts';
import { createLogger } from '../logger.ts';
import { openDatabase } from '../db/index.ts';
import { createServices } from '../services.ts';

const { values } = parseArgs({
  options: {
    admin: { type: 'boolean', default: false },
    name: { type: 'string', default: 'admin token (npm run token)' },
    days: { type: 'string', default: '365' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.admin) {
  console.log('usage: npm run token -- --admin [--name NAME] [--days N]\n\nMints a token with every scope for the admin user and prints it.\nOther tokens are created with the createToken mutation (or fmdc token create).');
  process.exit(values.help ? 0 : 2);
}
const days = Number(values.days);
if (!Number.isFinite(days) || days <= 0) {
  console.error('--days must be a positive number');
  process.exit(2);
}
const config = loadConfig();
const log = createLogger({ logLevel: 'warn' });
const db = await openDatabase(config, log, { owner: false });
try {
  const services = await createServices(config, db, log, resolveSecret(config));
  console.log(await services.users.mintAdminToken(values.name, Math.round(days * 86400)));
  await services.close();
} finally {
  await db.close();
}
