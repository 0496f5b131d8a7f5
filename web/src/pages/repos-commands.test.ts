import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flatpakrepoUrl, installCommands, parseRef, remoteAddCommand, remoteName, shellQuote, shortCommit } from './repos-commands.ts';

test('the .flatpakrepo URL is the server-given one, else fmd’s own path on the dashboard’s server', () => {
  assert.equal(flatpakrepoUrl({ name: 'stable', flatpakrepoUrl: 'https://dl.example.org/repo/stable.flatpakrepo' }, 'http://x'), 'https://dl.example.org/repo/stable.flatpakrepo');
  assert.equal(flatpakrepoUrl({ name: 'stable', flatpakrepoUrl: null }, 'http://127.0.0.1:8080/'), 'http://127.0.0.1:8080/repo/stable.flatpakrepo');
});

test('remote-add uses the suggested remote name and quotes only what needs it', () => {
  assert.equal(remoteName({ name: 'stable', suggestedRemoteName: 'example' }), 'example');
  assert.equal(remoteName({ name: 'stable', suggestedRemoteName: ' ' }), 'stable');
  assert.equal(remoteAddCommand('stable', 'http://h:8080/repo/stable.flatpakrepo'), 'flatpak remote-add --if-not-exists stable http://h:8080/repo/stable.flatpakrepo');
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote('a b'), "'a b'");
});

test('one install line per app and branch; runtimes and other refs get none', () => {
  const refs = [
    'app/org.example.B/x86_64/stable',
    'app/org.example.A/x86_64/stable',
    'app/org.example.A/aarch64/stable',
    'app/org.example.C/x86_64/stable',
    'app/org.example.C/x86_64/beta',
    'runtime/org.example.Platform/x86_64/1.0',
    'appstream/x86_64',
  ];
  assert.deepEqual(
    installCommands('r', refs, 'stable').map((c) => c.command),
    ['flatpak install r org.example.A', 'flatpak install r org.example.B', 'flatpak install r org.example.C//beta', 'flatpak install r org.example.C'],
  );
  assert.deepEqual(
    installCommands('r', ['app/a.B/x86_64/beta', 'app/a.B/x86_64/stable'], null).map((c) => c.command),
    ['flatpak install r a.B//beta', 'flatpak install r a.B//stable'],
  );
  assert.deepEqual(installCommands('r', []), []);
});

test('refs parse into kind, id, arch and branch', () => {
  assert.deepEqual(parseRef('runtime/org.x.Sdk/x86_64/23.08'), { kind: 'runtime', id: 'org.x.Sdk', arch: 'x86_64', branch: '23.08' });
  assert.equal(parseRef('ostree-metadata'), undefined);
  assert.equal(shortCommit('0123456789abcdef0123'), '0123456789ab');
});
