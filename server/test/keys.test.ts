// Signing keys through GraphQL: generate, import, export, list, delete; the private half never leaves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { jobEnded, startTestServer, type TestServer } from './kit/server.ts';
import { openPrivateKey } from '../src/domain/keys/pgp.ts';
import { resolveMasterKey } from '../src/config/secret.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

const KEY_FIELDS = 'id name fingerprint keyId userIds algorithm expiresAt publicKeyArmored publicKeyBase64';

async function generate(input: Record<string, unknown>, token?: string) {
  const r = await s.gql(
    `mutation($input: GenerateKeyInput!) { generateKey(input: $input) {
       __typename ... on KeyPayload { key { ${KEY_FIELDS} } } ... on Error { message errorType } } }`,
    { input },
    token,
  );
  return r;
}

async function importKey(input: Record<string, unknown>) {
  const r = await s.gql(
    `mutation($input: ImportKeyInput!) { importKey(input: $input) {
       __typename ... on KeyPayload { key { ${KEY_FIELDS} } } ... on InvalidKeyError { reason message } ... on Error { message errorType } } }`,
    { input },
  );
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.importKey;
}

test('generateKey makes a v4 EdDSA key; its public key exports armored and as .flatpakrepo base64', async () => {
  const r = await generate({ name: 'stable 2026', email: 'repo@example.org', comment: 'fmd' });
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  const key = r.body.data.generateKey.key;
  assert.equal(key.algorithm, 'eddsaLegacy');
  assert.match(key.fingerprint, /^[0-9A-F]{40}$/);
  assert.deepEqual(key.userIds, ['stable 2026 (fmd) <repo@example.org>']);
  const pub = await openpgp.readKey({ armoredKey: key.publicKeyArmored });
  assert.equal(pub.isPrivate(), false);
  assert.equal(pub.getFingerprint().toUpperCase(), key.fingerprint);
  const fromBase64 = await openpgp.readKey({ binaryKey: Buffer.from(key.publicKeyBase64, 'base64') });
  assert.equal(fromBase64.getFingerprint().toUpperCase(), key.fingerprint);
  assert.equal(fromBase64.isPrivate(), false);

  // Same name twice is an input error; bad names are refused.
  const again = await generate({ name: 'stable 2026' });
  assert.equal(again.body.data.generateKey.__typename, 'InvalidInputError');
  const bad = await generate({ name: '../etc' });
  assert.equal(bad.body.data.generateKey.__typename, 'InvalidInputError');
});

test('the private key is sealed at rest and has no GraphQL field', async () => {
  const key = (await generate({ name: 'sealed' })).body.data.generateKey.key;
  const row = await s.services.prisma.signingKey.findUniqueOrThrow({ where: { fingerprint: key.fingerprint } });
  assert.doesNotMatch(row.privateKeyEncrypted, /PGP PRIVATE KEY/);
  const armored = openPrivateKey(row.privateKeyEncrypted, resolveMasterKey(s.config), row.fingerprint);
  assert.match(armored, /BEGIN PGP PRIVATE KEY BLOCK/);
  const q = await s.gql(`{ keys { edges { node { privateKeyEncrypted } } } }`);
  assert.ok(q.body.errors?.length, 'no such field');
  // Nothing the API returns about keys carries private material.
  const all = await s.gql(`{ keys(first: 50) { edges { node { ${KEY_FIELDS} } } } }`);
  assert.doesNotMatch(JSON.stringify(all.body), /PRIVATE KEY/);
});

test('importKey takes a passphrase-protected key and explains refusals', async () => {
  const { privateKey: armored } = await openpgp.generateKey({
    type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'imported', email: 'i@example.org' }], passphrase: 'correct horse', format: 'armored',
  });
  assert.equal((await importKey({ name: 'imp-nopass', armoredPrivateKey: armored })).reason, 'passphrase_required');
  assert.equal((await importKey({ name: 'imp-wrong', armoredPrivateKey: armored, passphrase: 'nope' })).reason, 'wrong_passphrase');
  const ok = await importKey({ name: 'imported', armoredPrivateKey: armored, passphrase: 'correct horse' });
  assert.equal(ok.__typename, 'KeyPayload');
  assert.deepEqual(ok.key.userIds, ['imported <i@example.org>']);
  // Stored decrypted inside the seal: signing needs no passphrase.
  const id = (await s.services.prisma.signingKey.findUniqueOrThrow({ where: { name: 'imported' } })).id;
  assert.ok((await s.services.keys.privateKey(id)).isDecrypted());
  // The same key twice is refused.
  assert.equal((await importKey({ name: 'imported-again', armoredPrivateKey: armored, passphrase: 'correct horse' })).__typename, 'InvalidInputError');

  const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'p' }], format: 'armored' });
  assert.equal((await importKey({ name: 'pub', armoredPrivateKey: publicKey })).reason, 'public_only');
  assert.equal((await importKey({ name: 'junk', armoredPrivateKey: 'hello' })).reason, 'garbage');
  const expired = await openpgp.generateKey({
    type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'old' }], keyExpirationTime: 60, date: new Date(Date.now() - 3600_000), format: 'armored',
  });
  assert.equal((await importKey({ name: 'expired', armoredPrivateKey: expired.privateKey })).reason, 'expired');
  const v6 = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'new' }], format: 'armored' });
  assert.equal((await importKey({ name: 'v6', armoredPrivateKey: v6.privateKey })).reason, 'unsupported_algorithm');
});

test('keys list as a connection; key(id) reads one; only admins may change keys', async () => {
  const list = await s.gql(`{ keys(first: 2) { totalCount pageInfo { hasNextPage } edges { node { id name } } } }`);
  assert.ok(list.body.data.keys.totalCount >= 3);
  assert.equal(list.body.data.keys.edges.length, 2);
  assert.equal(list.body.data.keys.pageInfo.hasNextPage, true);
  const id = list.body.data.keys.edges[0].node.id;
  const one = await s.gql(`query($id: ID!) { key(id: $id) { name } }`, { id });
  assert.equal(one.body.data.key.name, list.body.data.keys.edges[0].node.name);

  const { token } = await s.services.tokens.mint({ name: 'reader', scope: ['build'], duration: 600 });
  const read = await s.gql(`{ keys { totalCount } }`, {}, token);
  assert.equal(read.body.errors, undefined);
  const denied = await generate({ name: 'nope' }, token);
  assert.equal(denied.body.errors[0].extensions.code, 'FORBIDDEN');
  const anon = await s.gql(`{ keys { totalCount } }`, {}, null);
  assert.equal(anon.body.errors[0].extensions.code, 'UNAUTHENTICATED');
});

test('deleteKey is refused while a repo signs with the key, then works', async () => {
  const key = (await generate({ name: 'in use' })).body.data.generateKey.key;
  const created = await s.gql(
    `mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on RepoPayload { repo { name key { name } } } ... on Error { message } } }`,
    { input: { name: 'uses-key', collectionId: 'org.example.UsesKey', keyId: key.id } },
  );
  assert.equal(created.body.data.createRepo.repo.key.name, 'in use');
  const del = `mutation($id: ID!) { deleteKey(input: { id: $id }) { __typename
    ... on DeleteKeyPayload { fingerprint } ... on KeyInUseError { repos message } ... on Error { message } } }`;
  const refused = await s.gql(del, { id: key.id });
  assert.equal(refused.body.data.deleteKey.__typename, 'KeyInUseError');
  assert.deepEqual(refused.body.data.deleteKey.repos, ['uses-key']);

  // Rotating away with an overlap keeps it in use as the previous key.
  const other = (await generate({ name: 'successor' })).body.data.generateKey.key;
  const query = `mutation($input: SetRepoKeyInput!) { setRepoKey(input: $input) { __typename ... on RepoPayload { repo { key { name } previousKey { name } } job { number } } ... on Error { message } } }`;
  const rotate = async (input: Record<string, unknown>) => {
    const r = await s.gql(query, { input });
    await jobEnded(s, r.body.data.setRepoKey.job.number);
    return r;
  };
  const r1 = await rotate({ repo: 'uses-key', keyId: other.id, overlapSeconds: 3600 });
  assert.equal(r1.body.data.setRepoKey.repo.previousKey.name, 'in use');
  assert.equal((await s.gql(del, { id: key.id })).body.data.deleteKey.__typename, 'KeyInUseError');
  const r2 = await rotate({ repo: 'uses-key', keyId: key.id, overlapSeconds: 0 });
  assert.equal(r2.body.data.setRepoKey.repo.previousKey, null);
  await rotate({ repo: 'uses-key', keyId: other.id, overlapSeconds: 0 });
  const ok = await s.gql(del, { id: key.id });
  assert.equal(ok.body.data.deleteKey.fingerprint, key.fingerprint);
  assert.equal((await s.gql(del, { id: key.id })).body.data.deleteKey.__typename, 'NotFoundError');
});
