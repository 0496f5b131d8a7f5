// Runs the real fmdc (bin/run.js) as a child process against a real server: every command of
// the repo, key and token topics, their --json, their help, and what bad input does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';
import * as openpgp from 'openpgp';
import { startTestServer, type TestServer } from '../test/server.ts';
import { fmdc as runFmdc, fmdcOnTerminal, type Run } from '../test/fmdc.ts';

const cliRoot = fileURLToPath(new URL('..', import.meta.url));

function fmdc(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> {
  return runFmdc(args, { env, ...(input !== undefined && { input }) });
}

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** The JSON error body of a failed `--json` run, after checking its exit code. */
function jsonError(run: Run, code: number): { message: string; code: string } {
  assert.equal(run.code, code, `exit ${code} expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { error: { message: string; code: string } }).error;
}

type Page<N> = { totalCount: number; nodes: N[]; hasNextPage: boolean; endCursor: string | null };

describe('fmdc against a real server', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startTestServer();
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
  });

  test('--help lists the commands', async () => {
    const r = await fmdc(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /whoami/);
    assert.match(r.stdout, /token/);
  });

  test('whoami prints the viewer, short and as JSON', async () => {
    const r = await fmdc(['whoami'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(admin\)/);
    assert.match(r.stdout, /scopes: .*admin/);
    const viewer = json<{ scopes: string[]; user: { isAdmin: boolean } }>(await fmdc(['whoami', '--json'], env));
    assert.ok(viewer.scopes.includes('admin'));
    assert.equal(viewer.user.isAdmin, true);
  });

  test('--url and --token flags work without the environment', async () => {
    const r = await fmdc(['whoami', '--url', server.url, '--token', server.adminToken]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('token create, list and revoke', async () => {
    const created = await fmdc(['token', 'create', 'cli-test', '--scope', 'build,upload', '--prefix', 'org.example', '--duration', '2h'], env);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.equal(token.split('.').length, 3, 'stdout holds just the JWT');
    assert.match(created.stderr, /created token \S+ "cli-test" \(build, upload\)/);
    assert.match(created.stderr, /parent: \S+ "bootstrap admin token" \(revoking it revokes this one too\)/);

    // The new token works and is limited to what was asked.
    const own = json<{ tokenId: string; scopes: string[]; prefixes: string[] }>(await fmdc(['whoami', '--json'], { ...env, FMDC_TOKEN: token }));
    assert.deepEqual(own.scopes, ['build', 'upload']);
    assert.deepEqual(own.prefixes, ['org.example']);

    const list = await fmdc(['token', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +NAME +SCOPES +OWNER +PARENT +LAST USED +STATE$/m);
    assert.match(list.stdout, new RegExp(`^${own.tokenId} +cli-test +build,upload +admin +bootstrap admin token +.* expires `, 'm'));

    const listed = json<Page<{ tokenId: string; name: string; parentTokenId: string | null }>>(await fmdc(['token', 'list', '--json'], env));
    const row = listed.nodes.find((t) => t.tokenId === own.tokenId);
    assert.equal(row?.name, 'cli-test', 'the name given, not the parent\'s name before it');
    assert.ok(row?.parentTokenId, 'the parent is shown apart');

    const revoked = await fmdc(['token', 'revoke', own.tokenId], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked 1 of 1 known token/);
    assert.doesNotMatch(revoked.stdout, /in advance/);

    const active = json<Page<{ tokenId: string }>>(await fmdc(['token', 'list', '--json'], env));
    assert.ok(!active.nodes.some((t) => t.tokenId === own.tokenId));
    const all = await fmdc(['token', 'list', '--revoked'], env);
    assert.match(all.stdout, new RegExp(`^${own.tokenId} +cli-test .* revoked `, 'm'));

    // The revoked token no longer works.
    const refused = await fmdc(['whoami'], { ...env, FMDC_TOKEN: token });
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /rejected the token/);
  });

  test('token create --json returns the token and its row', async () => {
    const out = json<{ token: string; apiToken: { name: string; scopes: string[] } }>(await fmdc(['token', 'create', 'json-test', '--scope', 'download', '--json'], env));
    assert.equal(out.apiToken.name, 'json-test');
    assert.deepEqual(out.apiToken.scopes, ['download']);
    assert.ok(out.token.length > 20);
  });

  test('a bad token fails with exit 4 and says what to do', async () => {
    const r = await fmdc(['whoami'], { ...env, FMDC_TOKEN: 'not-a-jwt' });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /the server rejected the token/);
    assert.match(r.stderr, /--token or --token-file, or set FMDC_TOKEN/);
    assert.equal(r.stdout, '');

    const j = await fmdc(['whoami', '--json'], { ...env, FMDC_TOKEN: 'not-a-jwt' });
    assert.equal(j.code, 4);
    const body = JSON.parse(j.stdout) as { error: { message: string; code: string } };
    assert.match(body.error.message, /rejected the token/);
    assert.equal(body.error.code, 'invalid-token');
  });

  test('no token at all fails with exit 4 and a hint', async () => {
    const r = await fmdc(['token', 'list'], { FMDC_URL: server.url });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /no API token given/);
    assert.match(r.stderr, /FMDC_TOKEN/);
  });

  test('an unreachable server fails with exit 3 and names the URL', async () => {
    const r = await fmdc(['whoami'], { FMDC_URL: 'http://127.0.0.1:1', FMDC_TOKEN: server.adminToken });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:1\/graphql/);
    assert.match(r.stderr, /--url, FMDC_URL or the profile/);
  });

  test('a typed error result fails with its message and error type', async () => {
    const limited = json<{ token: string }>(await fmdc(['token', 'create', 'limited', '--scope', 'build', '--json'], env));
    const r = await fmdc(['token', 'create', 'escalate', '--scope', 'admin', '--duration', '1h'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /Code: token-insufficient/);
    assert.match(r.stderr, /at most its own scopes/);
    assert.equal(r.stdout, '');

    const j = await fmdc(['token', 'create', 'escalate', '--scope', 'admin', '--duration', '1h', '--json'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(j.code, 4);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'token-insufficient');
  });

  test('a token without the needed scope is refused with exit 4 and a hint', async () => {
    const limited = json<{ token: string }>(await fmdc(['token', 'create', 'no-list', '--scope', 'download', '--json'], env));
    const r = await fmdc(['token', 'list'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /forbidden|needs a token with the "tokenmanagement" or "admin" scope/);
    assert.match(r.stderr, /fmdc whoami/);
  });

  test('a bad duration is a usage error', async () => {
    const r = await fmdc(['token', 'create', 'x', '--scope', 'build', '--duration', 'forever'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a duration/);
  });

  test('token revoke: a typo is not found for others; an admin pre-revokes it, reported apart', async () => {
    const manager = json<{ token: string; apiToken: { tokenId: string } }>(await fmdc(['token', 'create', 'manager', '--scope', 'tokenmanagement,build', '--json'], env));
    const typo = await fmdc(['token', 'revoke', 'no-such-jti'], { ...env, FMDC_TOKEN: manager.token });
    assert.equal(typo.code, 1, typo.stderr);
    assert.match(typo.stderr, /not.found|no-such-jti/i);

    const admin = await fmdc(['token', 'revoke', 'minted-elsewhere-jti'], env);
    assert.equal(admin.code, 0, admin.stderr);
    assert.match(admin.stdout, /revoked 0 of 0 known tokens/);
    assert.match(admin.stdout, /not known to fmd, recorded as revoked in advance: minted-elsewhere-jti/);
    assert.match(admin.stderr, /typo/);
    const j = json<{ revokedCount: number; preRevokedTokenIds: string[] }>(await fmdc(['token', 'revoke', 'another-unknown-jti', '--json'], env));
    assert.deepEqual([j.revokedCount, j.preRevokedTokenIds], [0, ['another-unknown-jti']]);
  });

  test('key generate, list, export (armored, .flatpakrepo base64, to a file) and delete', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fmdc-keys-'));
    try {
      const gen = await fmdc(['key', 'generate', 'cli key', '--email', 'cli@example.org', '--expires', '1y'], env);
      assert.equal(gen.code, 0, gen.stderr);
      assert.match(gen.stdout, /generated key cli key/);
      const fingerprint = /fingerprint: +([0-9A-F]{40})/.exec(gen.stdout)?.[1];
      assert.ok(fingerprint, gen.stdout);

      const listed = json<Page<{ name: string; fingerprint: string; keyId: string; publicKeyBase64: string }>>(await fmdc(['key', 'list', '--json'], env));
      const key = listed.nodes.find((k) => k.name === 'cli key');
      assert.equal(key?.fingerprint, fingerprint);
      const table = await fmdc(['key', 'list'], env);
      assert.match(table.stdout, /^NAME +KEY ID +ALGORITHM +USER ID +CREATED +EXPIRES$/m);
      assert.match(table.stdout, new RegExp(`^cli key +${key!.keyId} `, 'm'));

      // By name, by key id, by fingerprint with gpg's spaces.
      const armored = await fmdc(['key', 'export', 'cli key'], env);
      assert.equal(armored.code, 0, armored.stderr);
      const pub = await openpgp.readKey({ armoredKey: armored.stdout });
      assert.equal(pub.getFingerprint().toUpperCase(), fingerprint);
      assert.equal(pub.isPrivate(), false);
      const base64 = await fmdc(['key', 'export', key!.keyId, '--flatpakrepo'], env);
      assert.equal(base64.stdout.trim(), key!.publicKeyBase64);
      const spaced = fingerprint!.match(/.{4}/g)!.join(' ');
      const file = path.join(dir, 'pub.asc');
      const toFile = await fmdc(['key', 'export', spaced, '--file', file], env);
      assert.equal(toFile.code, 0, toFile.stderr);
      assert.equal(toFile.stdout, '');
      assert.equal(await readFile(file, 'utf8'), armored.stdout);
      const exportJson = json<{ key: { fingerprint: string }; format: string }>(await fmdc(['key', 'export', 'cli key', '--json'], env));
      assert.deepEqual([exportJson.key.fingerprint, exportJson.format], [fingerprint, 'armored']);

      const unknown = await fmdc(['key', 'export', 'no such key'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no signing key "no such key"/);

      const deleted = json<{ fingerprint: string }>(await fmdc(['key', 'delete', fingerprint!, '--json'], env));
      assert.equal(deleted.fingerprint, fingerprint);
      assert.equal((await fmdc(['key', 'export', fingerprint!], env)).code, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('key import from a file and from stdin, with the passphrase from the environment or a file; bad keys and passphrases', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fmdc-import-'));
    try {
      const { privateKey, publicKey } = await openpgp.generateKey({
        type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'imported', email: 'i@example.org' }], passphrase: 'correct horse', format: 'armored',
      });
      const keyFile = path.join(dir, 'private.asc');
      await writeFile(keyFile, privateKey);

      const none = await fmdc(['key', 'import', 'imp', keyFile], env);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /passphrase-file FILE or FMDC_KEY_PASSPHRASE/);
      const wrong = jsonError(await fmdc(['key', 'import', 'imp', keyFile, '--json'], { ...env, FMDC_KEY_PASSPHRASE: 'nope' }), 1);
      assert.equal(wrong.code, 'wrong_passphrase');
      assert.doesNotMatch(wrong.message, /nope/, 'the passphrase is never echoed');

      const ok = json<{ key: { name: string; userIds: string[] } }>(await fmdc(['key', 'import', 'imp', keyFile, '--json'], { ...env, FMDC_KEY_PASSPHRASE: 'correct horse' }));
      assert.equal(ok.key.name, 'imp');
      assert.deepEqual(ok.key.userIds, ['imported <i@example.org>']);

      // The same key once more is refused; deleted first, it comes in again from stdin.
      assert.match((await fmdc(['key', 'import', 'imp-again', keyFile], { ...env, FMDC_KEY_PASSPHRASE: 'correct horse' })).stderr, /already stored as imp/);
      assert.equal((await fmdc(['key', 'delete', 'imp'], env)).code, 0);
      const passFile = path.join(dir, 'pass');
      await writeFile(passFile, 'correct horse\n');
      const piped = await fmdc(['key', 'import', 'imp-stdin', '--passphrase-file', passFile], env, privateKey);
      assert.equal(piped.code, 0, piped.stderr);
      assert.match(piped.stdout, /imported key imp-stdin/);
      assert.doesNotMatch(piped.stdout + piped.stderr, /correct horse/);

      // What is not a private key is refused before anything is sent.
      const pubFile = path.join(dir, 'public.asc');
      await writeFile(pubFile, publicKey);
      const pub = await fmdc(['key', 'import', 'pub', pubFile], env);
      assert.equal(pub.code, 2);
      assert.match(pub.stderr, /a public key only/);
      const garbage = await fmdc(['key', 'import', 'junk', '-'], env, 'hello');
      assert.equal(garbage.code, 2);
      assert.match(garbage.stderr, /not an ASCII-armored OpenPGP private key/);
      const missing = await fmdc(['key', 'import', 'gone', path.join(dir, 'nope.asc')], env);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /cannot read .*nope\.asc/);
      // An armored block the server cannot use: its reason comes back.
      const broken = privateKey.replace(/^([A-Za-z0-9+/]{20})[A-Za-z0-9+/]{10}/m, '$1AAAAAAAAAA');
      const bad = await fmdc(['key', 'import', 'broken', '-', '--json'], env, broken);
      assert.equal(bad.code, 1, bad.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('repo create with every kind of setting, list, show, update, clear, prune, republish and delete', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fmdc-repo-'));
    try {
      assert.equal((await fmdc(['key', 'generate', 'repo key'], env)).code, 0);
      const hooks = path.join(dir, 'hooks.json');
      await writeFile(hooks, JSON.stringify({ checks: [{ name: 'lint', command: ['true'], reviewable: false }] }));
      const created = await fmdc([
        'repo', 'create', 'cli-stable',
        '--collection-id', 'org.example.CliStable', '--key', 'repo key', '--title', 'CLI stable', '--comment', 'apps', '--description', 'the stable apps',
        '--homepage', 'https://example.org', '--icon', 'https://example.org/icon.png', '--no-deploy-collection-id', '--suggested-remote-name', 'cli',
        '--default-branch', 'stable', '--runtime-repo-url', 'https://dl.flathub.org/repo/flathub.flatpakrepo', '--subset', 'free=org.example.free,org.example.libre',
        '--delta-settings', '{"generate":false,"prune":true}', '--hooks', `@${hooks}`, '--default-token-type', '1', '--auth-required-token-type', '2', '--auto-publish',
      ], env);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /created repo cli-stable/);
      assert.match(created.stdout, /key: +repo key \([0-9A-F]{40}\)/);

      assert.equal((await fmdc(['repo', 'create', 'cli-beta', '--parent', 'cli-stable', '--auto-promote', '--auto-promote-delay', '2h', '--auto-promote-prefix', 'org.example', '--json'], env)).code, 0);

      type Repo = {
        name: string; title: string | null; collectionId: string | null; deployCollectionId: boolean; subsets: unknown; deltaSettings: unknown; hooks: unknown;
        defaultTokenType: number; authRequiredTokenTypes: number[]; autoPublish: boolean; key: { name: string } | null; parent: { name: string } | null;
        autoPromote: { delaySecs: number; appIdPrefixes: string[] } | null; homepage: string | null; icon: string | null; defaultBranch: string | null;
      };
      const shown = json<Repo>(await fmdc(['repo', 'show', 'cli-stable', '--json'], env));
      assert.equal(shown.title, 'CLI stable');
      assert.equal(shown.collectionId, 'org.example.CliStable');
      assert.equal(shown.deployCollectionId, false);
      assert.deepEqual(shown.subsets, { free: ['org.example.free', 'org.example.libre'] });
      assert.deepEqual(shown.hooks, { checks: [{ name: 'lint', command: ['true'], reviewable: false }] });
      assert.equal((shown.deltaSettings as { prune: boolean }).prune, true);
      assert.deepEqual([shown.defaultTokenType, shown.authRequiredTokenTypes, shown.autoPublish], [1, [2], true]);
      assert.equal(shown.key?.name, 'repo key');
      const beta = json<Repo>(await fmdc(['repo', 'show', 'cli-beta', '--json'], env));
      assert.equal(beta.parent?.name, 'cli-stable');
      assert.deepEqual(beta.autoPromote, { delaySecs: 7200, appIdPrefixes: ['org.example'] });
      assert.match((await fmdc(['repo', 'show', 'cli-beta'], env)).stdout, /^auto promote: +after 2h, only org\.example$/m);

      const human = await fmdc(['repo', 'show', 'cli-stable', '--refs'], env);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^collection id: +org\.example\.CliStable$/m);
      assert.match(human.stdout, /^subsets: +\{"free"/m);
      assert.match(human.stdout, /no refs/);

      const list = await fmdc(['repo', 'list'], env);
      assert.match(list.stdout, /^NAME +TITLE +COLLECTION ID +KEY +PARENT +SUMMARY UPDATED$/m);
      assert.match(list.stdout, /^cli-beta +- +- +- +cli-stable /m);
      assert.match(list.stdout, /^cli-stable +CLI stable +org\.example\.CliStable +repo key /m);

      // Paging: one at a time, the cursor printed, and --all.
      const first = await fmdc(['repo', 'list', '--first', '1'], env);
      const cursor = /--after (\S+)/.exec(first.stdout)?.[1];
      assert.ok(cursor, first.stdout);
      const second = json<Page<{ name: string }>>(await fmdc(['repo', 'list', '--first', '1', '--after', cursor!, '--json'], env));
      assert.equal(second.nodes.length, 1);
      assert.doesNotMatch(first.stdout, new RegExp(`^${second.nodes[0]!.name} `, 'm'), 'the second page goes on after the first');
      const all = json<Page<{ name: string }>>(await fmdc(['repo', 'list', '--first', '1', '--all', '--json'], env));
      assert.equal(all.nodes.length, all.totalCount);
      assert.ok(all.nodes.some((r) => r.name === 'cli-beta') && all.nodes.some((r) => r.name === 'cli-stable'));
      assert.equal(all.hasNextPage, false);

      const updated = json<{ repo: Repo }>(await fmdc(['repo', 'update', 'cli-stable', '--title', 'Renamed', '--clear', 'homepage', '--clear', 'icon', '--deploy-collection-id', '--json'], env));
      assert.deepEqual([updated.repo.title, updated.repo.homepage, updated.repo.icon, updated.repo.deployCollectionId], ['Renamed', null, null, true]);
      assert.equal(updated.repo.defaultBranch, 'stable', 'what was not given is kept');
      const unpromoted = json<{ repo: Repo }>(await fmdc(['repo', 'update', 'cli-beta', '--no-auto-promote', '--json'], env));
      assert.equal(unpromoted.repo.autoPromote, null);

      // Moving to another key, then unsigned.
      assert.equal((await fmdc(['key', 'generate', 'repo key 2'], env)).code, 0);
      const rekeyed = await fmdc(['repo', 'update', 'cli-stable', '--key', 'repo key 2', '--key-overlap', '0'], env);
      assert.equal(rekeyed.code, 0, rekeyed.stderr);
      assert.match(rekeyed.stdout, /signed with repo key 2/);
      assert.match(rekeyed.stdout, /job \d+/);
      const inUse = await fmdc(['key', 'delete', 'repo key 2'], env);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /fmdc repo update cli-stable --key OTHER-KEY/);
      assert.equal(json<{ repo: Repo }>(await fmdc(['repo', 'update', 'cli-stable', '--key', 'none', '--key-overlap', '0', '--json'], env)).repo.key, null);

      const pruned = json<{ job: { number: number } }>(await fmdc(['repo', 'prune', 'cli-stable', '--json'], env));
      assert.ok(pruned.job.number > 0);
      const republished = await fmdc(['repo', 'republish', 'cli-stable', 'org.example.Old', '--end-of-life', 'gone', '--end-of-life-rebase', 'org.example.New'], env);
      assert.equal(republished.code, 0, republished.stderr);
      assert.match(republished.stdout, /republish of org\.example\.Old in cli-stable queued as job \d+/);
      assert.equal(jsonError(await fmdc(['repo', 'republish', 'cli-unknown', 'org.example.Old', '--json'], env), 1).code, 'not-found');

      // Deleting asks; without a terminal, --yes must be given.
      const unasked = await fmdc(['repo', 'delete', 'cli-beta'], env);
      assert.equal(unasked.code, 2);
      assert.match(unasked.stderr, /without --yes/);
      assert.equal((await fmdc(['repo', 'show', 'cli-beta'], env)).code, 0, 'still there');
      const deleted = json<{ name: string; job: { number: number } }>(await fmdc(['repo', 'delete', 'cli-beta', '--yes', '--json'], env));
      assert.equal(deleted.name, 'cli-beta');
      const gone = await fmdc(['repo', 'show', 'cli-beta'], env);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /no repo "cli-beta"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('repo commands: bad input names the flag, unknown repos are not found, and a reader token is refused', async () => {
    const badJson = await fmdc(['repo', 'create', 'cli-bad', '--delta-settings', '{nope'], env);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /--delta-settings: not JSON/);
    const badSubset = await fmdc(['repo', 'create', 'cli-bad', '--subset', 'nothing'], env);
    assert.equal(badSubset.code, 2);
    assert.match(badSubset.stderr, /--subset: nothing is not NAME=PREFIX/);
    const badName = jsonError(await fmdc(['repo', 'create', 'bad name!', '--json'], env), 1);
    assert.equal(badName.code, 'invalid-input');
    const noParent = await fmdc(['repo', 'create', 'cli-orphan', '--parent', 'no-such-parent'], env);
    assert.equal(noParent.code, 1);
    assert.match(noParent.stderr, /--parent/);
    const nothing = await fmdc(['repo', 'update', 'cli-whatever'], env);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to change/);
    const both = await fmdc(['repo', 'update', 'cli-whatever', '--title', 'x', '--clear', 'title'], env);
    assert.equal(both.code, 2);

    for (const args of [['repo', 'show', 'cli-unknown'], ['repo', 'update', 'cli-unknown', '--title', 'x'], ['repo', 'delete', 'cli-unknown', '--yes'], ['repo', 'prune', 'cli-unknown']]) {
      const r = await fmdc([...args, '--json'], env);
      const error = jsonError(r, 1);
      assert.match(error.message, /cli-unknown|not found/i, args.join(' '));
    }

    const reader = json<{ token: string }>(await fmdc(['token', 'create', 'reader', '--scope', 'download', '--json'], env));
    for (const args of [['repo', 'create', 'cli-nope'], ['key', 'generate', 'nope'], ['repo', 'delete', 'cli-nope', '--yes']]) {
      const r = await fmdc(args, { ...env, FMDC_TOKEN: reader.token });
      assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('repo delete asks for the name; a wrong answer deletes nothing', async () => {
    assert.equal((await fmdc(['repo', 'create', 'tty-repo'], env)).code, 0);
    const no = await fmdcOnTerminal(['repo', 'delete', 'tty-repo'], { env }, [{ prompt: /Type "tty-repo" to confirm: /, answer: 'tty' }]);
    assert.equal(no.code, 2, no.stdout);
    assert.match(no.stdout, /not confirmed; nothing deleted/);
    assert.equal((await fmdc(['repo', 'show', 'tty-repo'], env)).code, 0, 'still there');
    const yes = await fmdcOnTerminal(['repo', 'delete', 'tty-repo'], { env }, [{ prompt: /Type "tty-repo" to confirm: /, answer: 'tty-repo' }]);
    assert.equal(yes.code, 0, yes.stdout);
    assert.match(yes.stdout, /repo tty-repo is gone from clients; job \d+ removes its files/);
  });

  test('key import asks for the passphrase without echoing it, again when it is wrong', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fmdc-tty-'));
    try {
      const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'tty' }], passphrase: 'sesame street', format: 'armored' });
      const keyFile = path.join(dir, 'private.asc');
      await writeFile(keyFile, privateKey);
      const r = await fmdcOnTerminal(['key', 'import', 'tty key', keyFile], { env }, [
        { prompt: /Passphrase for .*: /, answer: 'open barley' },
        { prompt: /wrong passphrase\.[\s\S]*Passphrase for .*: /, answer: 'sesame street' },
      ]);
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /imported key tty key/);
      assert.doesNotMatch(r.stdout, /sesame|barley/, 'the passphrase is not echoed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fmdc help and --json for every command', () => {
  test('every command oclif knows shows its help with examples and exits 0', async () => {
    const config = await Config.load(cliRoot);
    const ids = config.commands.filter((c) => !c.hidden).map((c) => c.id);
    assert.ok(ids.length >= 20, `only ${ids.join(', ')}`);
    for (const id of ['repo:list', 'repo:show', 'repo:create', 'repo:update', 'repo:delete', 'repo:prune', 'repo:republish', 'key:generate', 'key:import', 'key:export', 'key:list', 'key:delete', 'token:create', 'token:list', 'token:revoke']) {
      assert.ok(ids.includes(id), `${id} is a command`);
    }
    const failures: string[] = [];
    // A few at a time: each is a Node process.
    const queue = [...ids];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const r = await fmdc([...id.split(':'), '--help']);
          if (r.code !== 0) failures.push(`${id}: exit ${r.code} ${r.stderr}`);
          else if (!/^EXAMPLES$/m.test(r.stdout)) failures.push(`${id}: no examples`);
          else if (!/^USAGE$/m.test(r.stdout) || !r.stdout.includes(`$ fmdc ${id.replaceAll(':', ' ')}`)) failures.push(`${id}: no usage line`);
        }
      }),
    );
    assert.deepEqual(failures, []);
  });

  test("every fmdc command declares --json (oclif's enableJsonFlag)", async () => {
    const config = await Config.load(cliRoot);
    const own = config.commands.filter((c) => c.pluginName === '@fmd/cli');
    assert.ok(own.length >= 20);
    const without = [];
    for (const c of own) {
      const cmd = await c.load();
      if (!cmd.enableJsonFlag) without.push(c.id);
    }
    assert.deepEqual(without, []);
  });
});

// @oclif/plugin-autocomplete is a dependency in package.json; until `npm install` has put it in
// node_modules, oclif leaves the command out and this test says so.
const autocompleteInstalled = (() => {
  try {
    import.meta.resolve('@oclif/plugin-autocomplete');
    return true;
  } catch {
    return false;
  }
})();

describe('fmdc autocomplete', () => {
  test('bash completes topics, commands and their flags', { skip: !autocompleteInstalled && '@oclif/plugin-autocomplete is not installed' }, async () => {
    const cache = await mkdtemp(path.join(tmpdir(), 'fmdc-complete-'));
    try {
      const env = { XDG_CACHE_HOME: cache, HOME: cache };
      const help = await fmdc(['autocomplete', 'bash'], env);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /fmdc autocomplete script bash/);
      const script = path.join(cache, 'fmdc', 'autocomplete', 'functions', 'bash', 'fmdc.bash');
      const complete = (line: string) =>
        new Promise<string>((resolve, reject) => {
          const words = line.split(' ');
          const program = [
            `source '${script}'`,
            `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE='${line}'; COMP_POINT=${line.length}`,
            '_fmdc_autocomplete',
            'echo "${COMPREPLY[*]}"',
          ].join('\n');
          const child = spawn('bash', ['-c', program], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
          child.on('error', reject);
          child.on('close', () => resolve(out.trim()));
        });
      assert.equal(await complete('fmdc repo cr'), 'create');
      assert.match(await complete('fmdc ke'), /\bkey\b/);
      assert.deepEqual((await complete('fmdc key ')).split(/\s+/).sort(), ['delete', 'export', 'generate', 'import', 'list']);
      assert.equal(await complete('fmdc repo create --collection'), '--collection-id');
      assert.equal(await complete('fmdc key export --flat'), '--flatpakrepo');
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });
});
