// OpenPGP key material for repo signing — pure functions, no database.
//
// Keys must be ones GnuPG 2.2 (what ostree and the flatpak client verify with
// through gpgme) accepts: v4 keys with RSA, DSA, ECDSA or legacy EdDSA. New
// keys are v4 EdDSA on curve25519Legacy; openpgp.js's newer `curve25519`
// (v6-style Ed25519) is rejected by gpg 2.2, so such imports are refused too.
//
// Private keys are stored at rest encrypted with a server master secret
// (AES-256-GCM, per-record salt, HKDF-SHA256), in a versioned text format.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';

export type PgpKeyErrorCode =
  | 'garbage'
  | 'public-only'
  | 'unsupported-algorithm'
  | 'expired'
  | 'revoked'
  | 'passphrase-required'
  | 'wrong-passphrase'
  | 'no-signing-key';

export class PgpKeyError extends Error {
  override readonly name = 'PgpKeyError';
  readonly code: PgpKeyErrorCode;
  constructor(code: PgpKeyErrorCode, message: string, cause?: unknown) {
    super(message, { cause });
    this.code = code;
  }
}

/** A decrypted private key ready to sign, with the facts the UI and `.flatpakrepo` need. */
export interface SigningKey {
  privateKey: openpgp.PrivateKey;
  /** 40 uppercase hex digits, as gpg prints it. */
  fingerprint: string;
  /** 16 uppercase hex digits (long key id). */
  keyId: string;
  userIds: string[];
  algorithm: string;
  createdAt: Date;
  /** null = never expires. */
  expiresAt: Date | null;
}

export interface GenerateOptions {
  name: string;
  email?: string;
  comment?: string;
  /** Seconds from now; omitted or 0 = never expires. */
  expiresInSeconds?: number;
  /** Creation date (tests); defaults to now. */
  date?: Date;
}

export interface GeneratedKey extends SigningKey {
  /** Unencrypted armored private key: seal it (sealPrivateKey) before storing. */
  armoredPrivateKey: string;
  armoredPublicKey: string;
  revocationCertificate: string;
}

// Algorithms gpg 2.2 verifies. eddsaLegacy is v4 Ed25519.
const SUPPORTED_ALGORITHMS = new Set(['rsaEncryptSign', 'rsaSign', 'dsa', 'ecdsa', 'eddsaLegacy']);

export async function generateSigningKey(o: GenerateOptions): Promise<GeneratedKey> {
  const userID: openpgp.UserID = { name: o.name };
  if (o.email) userID.email = o.email;
  if (o.comment) userID.comment = o.comment;
  const { privateKey, publicKey, revocationCertificate } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [userID],
    keyExpirationTime: o.expiresInSeconds ?? 0,
    date: o.date,
    format: 'object',
  });
  const facts = await describe(privateKey);
  return {
    ...facts,
    armoredPrivateKey: privateKey.armor(),
    armoredPublicKey: publicKey.armor(),
    revocationCertificate,
  };
}

/**
 * Reads an armored (or binary) private key, decrypting it with `passphrase`
 * when it is protected, and checks it can sign today. Every failure is a
 * PgpKeyError whose code says what the operator has to fix.
 */
export async function importPrivateKey(input: string | Uint8Array, passphrase?: string): Promise<SigningKey> {
  let key: openpgp.Key;
  try {
    key =
      typeof input === 'string'
        ? await openpgp.readKey({ armoredKey: input })
        : await openpgp.readKey({ binaryKey: input });
  } catch (err) {
    throw new PgpKeyError('garbage', 'not an OpenPGP key', err);
  }
  if (!key.isPrivate()) throw new PgpKeyError('public-only', 'this is a public key; a private key is needed to sign');
  let priv = key as openpgp.PrivateKey;
  checkAlgorithms(priv);

  if (!priv.isDecrypted()) {
    if (passphrase === undefined || passphrase === '') {
      throw new PgpKeyError('passphrase-required', 'the private key is protected by a passphrase');
    }
    try {
      priv = await openpgp.decryptKey({ privateKey: priv, passphrase });
    } catch (err) {
      throw new PgpKeyError('wrong-passphrase', 'the passphrase does not decrypt this key', err);
    }
  }
  return describe(priv);
}

function checkAlgorithms(key: openpgp.PrivateKey): void {
  if (key.keyPacket.version !== 4) {
    throw new PgpKeyError('unsupported-algorithm', `v${key.keyPacket.version} keys are not supported by gpg 2.2; use a v4 key`);
  }
  const primary = key.getAlgorithmInfo().algorithm;
  if (!SUPPORTED_ALGORITHMS.has(primary)) {
    throw new PgpKeyError('unsupported-algorithm', `key algorithm ${primary} cannot be verified by flatpak clients (gpg 2.2)`);
  }
  const info = key.getAlgorithmInfo();
  if (info.algorithm === 'rsaEncryptSign' || info.algorithm === 'rsaSign') {
    if ((info.bits ?? 0) < 2048) throw new PgpKeyError('unsupported-algorithm', `RSA keys need at least 2048 bits`);
  }
}

/** Facts about a usable key; throws revoked/expired/no-signing-key otherwise. */
async function describe(key: openpgp.PrivateKey): Promise<SigningKey> {
  if (await key.isRevoked()) throw new PgpKeyError('revoked', 'the key has been revoked');
  const exp = await key.getExpirationTime();
  const expiresAt = exp instanceof Date ? exp : null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) {
    throw new PgpKeyError('expired', `the key expired on ${expiresAt.toISOString()}`);
  }
  let signing: openpgp.PrivateKey | openpgp.Subkey;
  try {
    signing = await key.getSigningKey();
  } catch (err) {
    throw new PgpKeyError('no-signing-key', 'the key has no valid signing (sub)key', err);
  }
  const sa = signing.getAlgorithmInfo().algorithm;
  if (!SUPPORTED_ALGORITHMS.has(sa)) {
    throw new PgpKeyError('unsupported-algorithm', `signing subkey algorithm ${sa} is not supported by gpg 2.2`);
  }
  return {
    privateKey: key,
    fingerprint: key.getFingerprint().toUpperCase(),
    keyId: key.getKeyID().toHex().toUpperCase(),
    userIds: key.getUserIDs(),
    algorithm: key.getAlgorithmInfo().algorithm,
    createdAt: key.getCreationTime(),
    expiresAt,
  };
}

export interface ExportedPublicKey {
  armored: string;
  binary: Uint8Array;
  /** Base64 of the binary key: the `GPGKey=` value of `.flatpakrepo`/`.flatpakref` files. */
  base64: string;
}

export function exportPublicKey(key: openpgp.Key): ExportedPublicKey {
  const pub = key.toPublic();
  const binary = pub.write();
  return { armored: pub.armor(), binary, base64: Buffer.from(binary).toString('base64') };
}

export function fingerprintOf(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}

export function keyIdOf(key: openpgp.Key): string {
  return key.getKeyID().toHex().toUpperCase();
}

// --- encryption at rest -----------------------------------------------------
//
// Format `fmd-pgp-v1:<base64 salt(16) | iv(12) | tag(16) | ciphertext>`.
// HKDF (not scrypt) because the master secret is a random server secret, not a
// human password, and keys are opened on every publish. The salt gives each
// record its own AES key; the associated data binds a record to its context
// (e.g. the key's fingerprint) so ciphertexts cannot be swapped between rows.

const SEAL_PREFIX = 'fmd-pgp-v1:';
const HKDF_INFO = 'fmd/pgp-private-key/v1';

export class SealError extends Error {
  override readonly name = 'SealError';
}

function deriveKey(masterSecret: string, salt: Buffer): Buffer {
  if (masterSecret.length < 16) throw new SealError('the master secret must be at least 16 characters');
  return Buffer.from(hkdfSync('sha256', Buffer.from(masterSecret, 'utf8'), salt, HKDF_INFO, 32));
}

export function sealPrivateKey(armored: string, masterSecret: string, context = ''): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(masterSecret, salt), iv);
  cipher.setAAD(Buffer.from(SEAL_PREFIX + context, 'utf8'));
  const ct = Buffer.concat([cipher.update(armored, 'utf8'), cipher.final()]);
  return SEAL_PREFIX + Buffer.concat([salt, iv, cipher.getAuthTag(), ct]).toString('base64');
}

export function openPrivateKey(sealed: string, masterSecret: string, context = ''): string {
  if (!sealed.startsWith(SEAL_PREFIX)) throw new SealError('unknown sealed key format');
  const raw = Buffer.from(sealed.slice(SEAL_PREFIX.length), 'base64');
  if (raw.length < 16 + 12 + 16) throw new SealError('sealed key is truncated');
  const salt = raw.subarray(0, 16);
  const iv = raw.subarray(16, 28);
  const tag = raw.subarray(28, 44);
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(masterSecret, salt), iv);
  decipher.setAAD(Buffer.from(SEAL_PREFIX + context, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(raw.subarray(44)), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new SealError('cannot decrypt the stored key: wrong master secret or damaged record');
  }
}
