// Signing keys: list, read, generate, import, delete. The private half has no field here:
// it never leaves the server.
import { decodeGlobalID } from '@pothos/plugin-relay';
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import { ErrorInterface } from './errors.ts';
import { InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { InvalidKeyError, KeyInUseError } from '../domain/keys/service.ts';
import { visibleKeysWhere } from '../domain/keys/access.ts';
import type { SigningKey as SigningKeyRow } from '../generated/prisma/client.ts';

const admin = { scope: 'admin' } as const;

export const SigningKeyRef = builder.prismaNode('SigningKey', {
  id: { field: 'id' },
  description: 'An OpenPGP key repos sign commits and summaries with.',
  fields: (t) => ({
    name: t.exposeString('name'),
    fingerprint: t.exposeString('fingerprint', { description: '40 hex digits, as gpg prints it' }),
    keyId: t.exposeString('keyId', { description: 'long key id (16 hex digits)' }),
    userIds: t.stringList({ resolve: (k) => (Array.isArray(k.userIds) ? k.userIds.map(String) : []) }),
    algorithm: t.exposeString('algorithm'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    publicKeyArmored: t.string({ description: 'the public key, ASCII-armored', resolve: (k) => k.publicKeyArmored }),
    publicKeyBase64: t.string({
      description: 'the binary public key in base64: the `GPGKey=` value of .flatpakrepo and .flatpakref files',
      resolve: async (k, _a, ctx) => (await ctx.services.keys.publicKey(k)).base64,
    }),
    repos: t.relatedConnection('repos', {
      cursor: 'id',
      description: 'repos that sign with this key and that you may read',
      query: (_args, ctx) => ({ where: ctx.services.repos.visibleWhere(ctx.viewer!), orderBy: { name: 'asc' } }),
    }),
  }),
});

/** Reads a SigningKey global id (or a plain number) as the row id. */
export function keyIdFromInput(id: string | number, field: string): number {
  if (typeof id === 'number' || /^\d+$/.test(id)) return Number(id);
  try {
    const g = decodeGlobalID(id);
    if (g.typename === 'SigningKey' && /^\d+$/.test(g.id)) return Number(g.id);
  } catch {
    // fall through
  }
  throw new InvalidInputError(`${JSON.stringify(id)} is not a signing key id`, field);
}

builder.queryField('keys', (t) =>
  t.prismaConnection({
    type: 'SigningKey',
    cursor: 'id',
    description: 'Signing keys, newest first.',
    authScopes: { authenticated: true },
    totalCount: (_root, _args, ctx, info) => countFor(info, () => ctx.services.prisma.signingKey.count({ where: visibleKeysWhere(ctx.viewer!) })),
    resolve: (query, _root, _args, ctx, info) => {
      const where = visibleKeysWhere(ctx.viewer!);
      startCount(info, () => ctx.services.prisma.signingKey.count({ where }));
      return ctx.services.prisma.signingKey.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

builder.queryField('key', (t) =>
  t.prismaField({
    type: 'SigningKey',
    nullable: true,
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.services.prisma.signingKey.findFirst({ ...query, where: { AND: [{ id: keyIdFromInput(String(args.id), 'id') }, visibleKeysWhere(ctx.viewer!)] } }),
  }),
);

builder.objectType(KeyInUseError, {
  name: 'KeyInUseError',
  description: 'Repos still sign with the key.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof KeyInUseError,
  fields: (t) => ({ repos: t.exposeStringList('repos') }),
});

const KeyProblem = builder.enumType('KeyProblem', {
  values: ['garbage', 'public_only', 'unsupported_algorithm', 'expired', 'revoked', 'passphrase_required', 'wrong_passphrase', 'no_signing_key'] as const,
});

builder.objectType(InvalidKeyError, {
  name: 'InvalidKeyError',
  description: 'The key cannot be used to sign for flatpak clients; `reason` says why.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof InvalidKeyError,
  fields: (t) => ({
    reason: t.field({ type: KeyProblem, resolve: (e) => e.reason.replace(/-/g, '_') as typeof KeyProblem.$inferType }),
  }),
});

const KeyPayload = builder.objectRef<{ key: SigningKeyRow }>('KeyPayload').implement({
  fields: (t) => ({ key: t.field({ type: SigningKeyRef, resolve: (p) => p.key }) }),
});

const GenerateKeyInput = builder.inputType('GenerateKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: "fmd's name for the key" }),
    userName: t.string({ description: 'OpenPGP user id name (defaults to name)' }),
    email: t.string(),
    comment: t.string(),
    expiresInSeconds: t.int({ description: 'omit or 0 for a key that never expires' }),
  }),
});

builder.mutationField('generateKey', (t) =>
  t.field({
    type: KeyPayload,
    description: 'Generates a v4 Ed25519 signing key (accepted by gpg 2.2, ostree and flatpak).',
    authScopes: admin,
    errors: { types: [InvalidInputError] },
    args: { input: t.arg({ type: GenerateKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ key: await ctx.services.keys.generate(input) }),
  }),
);

const ImportKeyInput = builder.inputType('ImportKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    armoredPrivateKey: t.string({ required: true, description: 'an ASCII-armored OpenPGP private key' }),
    passphrase: t.string({ description: 'when the key is protected; it is stored re-sealed with the server master key' }),
  }),
});

builder.mutationField('importKey', (t) =>
  t.field({
    type: KeyPayload,
    description: 'Imports a private signing key. Public-only, expired, revoked and unsupported keys are refused.',
    authScopes: admin,
    errors: { types: [InvalidKeyError, InvalidInputError] },
    args: { input: t.arg({ type: ImportKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ key: await ctx.services.keys.import(input) }),
  }),
);

const DeleteKeyInput = builder.inputType('DeleteKeyInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const DeleteKeyPayload = builder.objectRef<{ id: string; fingerprint: string }>('DeleteKeyPayload').implement({
  fields: (t) => ({
    deletedKeyId: t.exposeID('id'),
    fingerprint: t.exposeString('fingerprint'),
  }),
});

builder.mutationField('deleteKey', (t) =>
  t.field({
    type: DeleteKeyPayload,
    description: 'Deletes a key; refused while a repo signs with it.',
    authScopes: admin,
    errors: { types: [KeyInUseError, NotFoundError, InvalidInputError] },
    args: { input: t.arg({ type: DeleteKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const row = await ctx.services.keys.delete(keyIdFromInput(String(input.id), 'id'));
      return { id: String(input.id), fingerprint: row.fingerprint };
    },
  }),
);
