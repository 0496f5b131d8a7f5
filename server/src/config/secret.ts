// The HMAC secret for API tokens (flat-manager's `secret`, base64). When the config has none,
// fmd generates one on first start and keeps it in the data directory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FmdConfig } from './index.ts';
import { ConfigError } from './index.ts';

/** Reads `<data-dir>/<name>`, creating it with 32 random bytes (base64) on first use. */
function persistedSecret(config: FmdConfig, name: string): string {
  const file = path.join(config.dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

/** The key that encrypts signing keys at rest (config `master-key`, else generated). */
export function resolveMasterKey(config: FmdConfig): string {
  return config.masterKey ?? persistedSecret(config, 'master-key');
}

export function resolveSecret(config: FmdConfig): string {
  if (config.secret) {
    if (Buffer.from(config.secret, 'base64').length < 16) {
      throw new ConfigError(['secret: must be base64 of at least 16 bytes (as in flat-manager\'s config)']);
    }
    return config.secret;
  }
  return persistedSecret(config, 'secret');
}
