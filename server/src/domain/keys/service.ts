// Signing keys: generate, import, export the public half, delete, and open the private half
// for signing. Private keys are sealed with the server master key (pgp.ts) and only ever
// leave this service as openpgp.js objects handed to the signer — never as text.
import * as openpgp from 'openpgp';
import type { PrismaClient, SigningKey as SigningKeyRow } from '../../generated/prisma/client.ts';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.ts';
import {
  exportPublicKey,
  generateSigningKey,
  importPrivateKey,
  openPrivateKey,
  PgpKeyError,
  sealPrivateKey,
  type ExportedPublicKey,
  type PgpKeyErrorCode,
  type SigningKey,
} from './pgp.ts';

/** The key cannot be deleted: repos sign with it (or still do, during a rotation overlap). */
export class KeyInUseError extends DomainError {
  readonly repos: string[];
  constructor(keyName: string, repos: string[]) {
    super('conflict', `key ${keyName} is used by repo${repos.length > 1 ? 's' : ''} ${repos.join(', ')}; give them another key first`);
    this.repos = repos;
  }
}

/** An imported key was refused; `reason` says what the operator has to fix. */
export class InvalidKeyError extends DomainError {
  readonly reason: PgpKeyErrorCode;
  constructor(reason: PgpKeyErrorCode, message: string) {
    super('invalid-input', message);
    this.reason = reason;
  }
}

export type GenerateKeyInput = {
  /** fmd's name for the key (unique) */
  name: string;
  /** OpenPGP user id name; defaults to `name` */
  userName?: string | null;
  email?: string | null;
  comment?: string | null;
  /** 0 or absent = never expires */
  expiresInSeconds?: number | null;
};

export type ImportKeyInput = {
  name: string;
  armoredPrivateKey: string;
  passphrase?: string | null;
};

const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,190}$/;

export class KeyService {
  private readonly prisma: PrismaClient;
  private readonly masterKey: () => string;
  /** Decrypted keys by row id. Rows never change their key material, so the cache never goes stale. */
  private readonly opened = new Map<number, Promise<openpgp.PrivateKey>>();
  private readonly publics = new Map<number, ExportedPublicKey>();

  constructor(prisma: PrismaClient, masterKey: () => string) {
    this.prisma = prisma;
    this.masterKey = masterKey;
  }

  async generate(input: GenerateKeyInput): Promise<SigningKeyRow> {
    const name = validateKeyName(input.name);
    if (input.expiresInSeconds != null && (!Number.isInteger(input.expiresInSeconds) || input.expiresInSeconds < 0)) {
      throw new InvalidInputError('expiresInSeconds must be a non-negative number of seconds', 'expiresInSeconds');
    }
    if (input.email && !/^[^\s<>@]+@[^\s<>@]+$/.test(input.email)) throw new InvalidInputError('not an e-mail address', 'email');
    const userName = (input.userName ?? name).trim();
    if (!userName || /[<>\n\r]/.test(userName)) throw new InvalidInputError('the user id name must be one line without < or >', 'userName');
    // The user id (name, comment, e-mail) goes into both armored keys, each stored in a TEXT column.
    for (const [field, v] of [['userName', userName], ['email', input.email], ['comment', input.comment]] as const) {
      if (v != null && v.length > 255) throw new InvalidInputError(`${field} is at most 255 characters`, field);
    }
    if (input.comment && /[()\n\r]/.test(input.comment)) throw new InvalidInputError('the comment must be one line without ( or )', 'comment');
    const key = await generateSigningKey({
      name: userName,
      email: input.email ?? undefined,
      comment: input.comment ?? undefined,
      expiresInSeconds: input.expiresInSeconds ?? 0,
    });
    return this.store(name, key, key.armoredPrivateKey, key.armoredPublicKey);
  }

  async import(input: ImportKeyInput): Promise<SigningKeyRow> {
    const name = validateKeyName(input.name);
    let key: SigningKey;
    try {
      key = await importPrivateKey(input.armoredPrivateKey.trim(), input.passphrase ?? undefined);
    } catch (err) {
      if (err instanceof PgpKeyError) throw new InvalidKeyError(err.code, err.message);
      throw err;
    }
    // Stored decrypted inside the seal: signing must not need the operator's passphrase.
    return this.store(name, key, key.privateKey.armor(), key.privateKey.toPublic().armor());
  }

  private async store(name: string, key: SigningKey, armoredPrivate: string, armoredPublic: string): Promise<SigningKeyRow> {
    const clash = await this.prisma.signingKey.findFirst({ where: { OR: [{ name }, { fingerprint: key.fingerprint }] } });
    if (clash?.name === name) throw new InvalidInputError(`a key named ${name} already exists`, 'name');
    if (clash) throw new InvalidInputError(`this key is already stored as ${clash.name}`, 'armoredPrivateKey');
    // TEXT columns hold 64 KiB: a key with that many user ids or subkeys is no repo signing key.
    if (Buffer.byteLength(armoredPublic) > 60_000 || Buffer.byteLength(armoredPrivate) > 40_000) throw new InvalidInputError('the key is too large to store (its user ids or subkeys)', 'armoredPrivateKey');
    return this.prisma.signingKey.create({
      data: {
        name,
        fingerprint: key.fingerprint,
        keyId: key.keyId,
        userIds: key.userIds,
        algorithm: key.algorithm,
        publicKeyArmored: armoredPublic,
        // The fingerprint binds the ciphertext to its row: sealed keys cannot be swapped between rows.
        privateKeyEncrypted: sealPrivateKey(armoredPrivate, this.masterKey(), key.fingerprint),
        expiresAt: key.expiresAt,
        createdAt: key.createdAt,
      },
    });
  }

  async get(id: number): Promise<SigningKeyRow> {
    const row = await this.prisma.signingKey.findUnique({ where: { id } });
    if (!row) throw new NotFoundError('key', String(id));
    return row;
  }

  /** Refused while a repo signs with the key, including as the previous key of a rotation. */
  async delete(id: number): Promise<SigningKeyRow> {
    const row = await this.get(id);
    const users = await this.prisma.repo.findMany({
      where: { OR: [{ keyId: id }, { previousKeyId: id }] },
      select: { name: true },
      orderBy: { name: 'asc' },
    });
    if (users.length) throw new KeyInUseError(row.name, users.map((r) => r.name));
    try {
      await this.prisma.signingKey.delete({ where: { id } });
    } catch (err) {
      // A repo took the key between the check and the delete (the foreign key restricts it).
      if ((err as { code?: string }).code === 'P2003') throw new KeyInUseError(row.name, ['(another repo)']);
      throw err;
    }
    this.opened.delete(id);
    this.publics.delete(id);
    return row;
  }

  /** The public key as armored text, binary, and base64 (the `GPGKey=` of .flatpakrepo files). */
  async publicKey(row: Pick<SigningKeyRow, 'id' | 'publicKeyArmored'>): Promise<ExportedPublicKey> {
    let pub = this.publics.get(row.id);
    if (!pub) {
      pub = exportPublicKey(await openpgp.readKey({ armoredKey: row.publicKeyArmored }));
      this.publics.set(row.id, pub);
    }
    return pub;
  }

  /** The decrypted private key, for the signer only. */
  async privateKey(id: number): Promise<openpgp.PrivateKey> {
    let p = this.opened.get(id);
    if (!p) {
      p = (async () => {
        const row = await this.get(id);
        const armored = openPrivateKey(row.privateKeyEncrypted, this.masterKey(), row.fingerprint);
        return openpgp.readPrivateKey({ armoredKey: armored });
      })();
      this.opened.set(id, p);
      p.catch(() => this.opened.delete(id));
    }
    return p;
  }
}

function validateKeyName(raw: string): string {
  const name = raw.trim();
  if (!KEY_NAME_RE.test(name)) {
    throw new InvalidInputError('key names are 1-191 characters: letters, digits, space and . _ @ + -, starting with a letter or digit', 'name');
  }
  return name;
}
