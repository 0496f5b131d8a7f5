// Typed wrappers over `gpg` for reading keys out of a GnuPG home directory (flat-manager keeps
// its signing keys in one). Read-only: fmd signs with openpgp.js, never with gpg.
import { runTool, ToolError } from './exec.ts';

const base = (homedir: string) => ['--homedir', homedir, '--batch', '--no-tty', '--no-permission-warning'];

/** Fingerprints of the secret keys `id` names in the home dir (a key id, fingerprint or user id); empty when none. */
export async function secretKeyFingerprints(homedir: string, id: string): Promise<string[]> {
  try {
    const { stdout } = await runTool('gpg', [...base(homedir), '--with-colons', '--list-secret-keys', '--', id], { timeoutMs: 60_000 });
    const fprs: string[] = [];
    let primary = false;
    // A `sec` line opens a key; the `fpr` line right after it is the primary key's fingerprint.
    for (const line of stdout.split('\n')) {
      const f = line.split(':');
      if (f[0] === 'sec') primary = true;
      else if (f[0] === 'ssb') primary = false;
      else if (f[0] === 'fpr' && primary) {
        fprs.push(f[9]!.toUpperCase());
        primary = false;
      }
    }
    return fprs;
  } catch (err) {
    // gpg exits 2 when nothing matches.
    if (err instanceof ToolError && err.reason === 'exit') return [];
    throw err;
  }
}

export class GpgExportError extends Error {
  override readonly name = 'GpgExportError';
  /** the key is protected and no (or a wrong) passphrase was given */
  readonly passphrase: boolean;
  constructor(message: string, passphrase: boolean) {
    super(message);
    this.passphrase = passphrase;
  }
}

/**
 * The armored secret key. A protected key needs its passphrase (given to gpg on stdin, never on
 * the command line); the export stays protected by it.
 */
export async function exportSecretKey(homedir: string, fingerprint: string, passphrase?: string): Promise<string> {
  const pin = passphrase !== undefined ? ['--pinentry-mode', 'loopback', '--passphrase-fd', '0'] : ['--pinentry-mode', 'error'];
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await runTool('gpg', [...base(homedir), ...pin, '--armor', '--export-secret-keys', '--', fingerprint], {
      timeoutMs: 60_000,
      input: passphrase !== undefined ? `${passphrase}\n` : undefined,
    }));
  } catch (err) {
    if (!(err instanceof ToolError) || err.reason !== 'exit') throw err;
    stdout = err.stdout;
    stderr = err.stderr;
  }
  // gpg skips a key it cannot unlock with a warning (and sometimes exit 0): no key block is the sign.
  if (!stdout.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
    const pinentry = /pinentry|passphrase|Bad passphrase|Operation cancelled/i.test(stderr);
    const last = stderr.trim().split('\n').at(-1) ?? '';
    throw new GpgExportError(pinentry ? 'it is protected by a passphrase' : `gpg exported nothing${last ? `: ${last}` : ''}`, pinentry);
  }
  return stdout;
}
