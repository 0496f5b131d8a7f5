// User accounts in a real browser against fmd: signing in with a user name and password, the
// lockout after repeated failures as the page shows it, signing out everywhere (which ends the
// session of another browser), and an admin inviting someone who signs up through the link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { useBrowser, waitForText } from './browser.ts';

const b = useBrowser();

async function createUser(name: string, password: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await b.server.gql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on Error { message } } }', { input: { name, password, ...extra } });
  assert.equal(r.body.data?.createUser?.__typename, 'CreateUserPayload', JSON.stringify(r.body));
}

async function passwordSignIn(page: Page, name: string, password: string): Promise<void> {
  if (!page.url().startsWith(b.url)) await page.goto(`${b.url}/`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const signedIn = (page: Page) => page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();

test('a user signs in with a password, sees who is signed in and the session on the profile, and signs out', { timeout: 120_000 }, async () => {
  await createUser('alice', 'alice-password-1', { displayName: 'Alice A.' });
  const page = await b.newPage();
  await passwordSignIn(page, 'alice', 'alice-password-1');
  await signedIn(page);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await waitForText(nav, /Signed in as alice/);
  // The session's tokens are kept in this tab (sessionStorage), with the refresh token.
  const stored = JSON.parse((await page.evaluate(() => sessionStorage.getItem('fmd.connection'))) ?? '{}') as Record<string, string>;
  assert.ok(stored.token && stored.refreshToken, 'access and refresh token stored');

  await nav.getByRole('link', { name: 'alice' }).click();
  await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor();
  await waitForText(page.getByRole('region', { name: 'Sessions' }), /\(this session\)/);
  assert.equal(await page.getByLabel('Display name').inputValue(), 'Alice A.');
  await b.screenshot(page, 'profile');

  const signedOut = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('"operationName":"SignOut"'));
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.getByLabel('User name').waitFor();
  assert.equal((await signedOut).status(), 200);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fmd.connection')), null);
  // The session ended on the server too: its refresh token no longer renews it.
  const r = await b.server.gql('mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { __typename ... on SignInError { reason } } }', { input: { refreshToken: stored.refreshToken } }, null);
  assert.equal(r.body.data?.refreshSession?.__typename, 'SignInError', JSON.stringify(r.body));
});

test('repeated wrong passwords lock the account; the page says until when, even for the right password', { timeout: 120_000 }, async () => {
  await createUser('mallory', 'mallory-password-1');
  const page = await b.newPage();
  await page.goto(`${b.url}/`);
  for (let i = 1; i <= 5; i++) {
    await passwordSignIn(page, 'mallory', `wrong-password-${i}`);
    // The form comes back with the name kept for the retry and the password emptied.
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('input[name=password]')?.value === '');
    await page.getByRole('alert').filter({ hasText: /Wrong user name or password|locked/ }).waitFor();
    assert.equal(await page.getByLabel('User name').inputValue(), 'mallory', 'the name stays for the retry');
  }
  await passwordSignIn(page, 'mallory', 'mallory-password-1');
  const alert = page.getByRole('alert').filter({ hasText: /locked/ });
  const text = await waitForText(alert, /locked until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  assert.match(text, /Too many failed sign-ins/);
  assert.equal(await page.getByRole('button', { name: 'Sign out', exact: true }).count(), 0, 'not signed in');
  await b.screenshot(page, 'sign-in-locked');
});

test('sign out everywhere ends the session of another browser', { timeout: 120_000 }, async () => {
  await createUser('bob', 'bob-password-01');
  const first = await b.newPage();
  const second = await b.newPage();
  b.allowConsoleError(first, /401|Unauthorized|Failed to load resource/);
  await passwordSignIn(first, 'bob', 'bob-password-01');
  await signedIn(first);
  await passwordSignIn(second, 'bob', 'bob-password-01');
  await signedIn(second);

  const ended = second.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('SignOutEverywhere'));
  await second.getByRole('button', { name: 'Sign out everywhere' }).click();
  assert.equal((await ended).status(), 200);
  await second.getByLabel('User name').waitFor();

  // The first browser's next request is refused (or its live updates end, whichever comes
  // first): it is back at sign-in.
  const repos = first.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Repos', exact: true });
  if (await repos.isVisible()) await repos.click({ timeout: 5000 }).catch(() => undefined);
  await first.getByLabel('User name').waitFor();
  await waitForText(first.getByRole('alert'), /rejected the token|session has ended/);
  assert.equal(await first.evaluate(() => sessionStorage.getItem('fmd.connection')), null);
});

test('an admin creates a user, grants a role and invites someone, who signs up through the link', { timeout: 180_000 }, async () => {
  const repo = await b.server.gql('mutation { createRepo(input: { name: "stable" }) { __typename } }');
  assert.equal(repo.body.data?.createRepo?.__typename, 'RepoPayload', JSON.stringify(repo.body));
  const admin = await b.newPage();
  await b.signIn(admin, b.server.adminToken);
  await admin.goto(`${b.url}/users`);
  await admin.getByRole('heading', { name: 'Users', level: 1 }).waitFor();

  const create = admin.getByRole('form', { name: 'Create user' });
  await create.getByLabel('User name').fill('carol');
  await create.getByLabel('Display name').fill('Carol C.');
  await create.getByLabel('Password', { exact: true }).fill('carol-password-1');
  await create.getByLabel('Password again').fill('carol-password-2');
  await create.getByRole('button', { name: 'Create user' }).click();
  await waitForText(create.getByRole('alert'), /the two passwords differ/);
  await create.getByLabel('Password again').fill('carol-password-1');
  await create.getByRole('button', { name: 'Create user' }).click();
  await admin.getByRole('heading', { name: 'User carol', level: 1 }).waitFor();

  const grant = admin.getByRole('form', { name: 'Grant role' });
  await grant.getByLabel('Role').selectOption('UPLOADER');
  await grant.getByLabel(/^Repo/).fill('stable');
  await grant.getByLabel('App-id prefix').fill('org.example');
  await grant.getByRole('button', { name: 'Grant role' }).click();
  await admin.getByRole('button', { name: 'Revoke uploader on stable for org.example*' }).waitFor();
  await b.screenshot(admin, 'user');

  await admin.getByRole('link', { name: 'All users' }).click();
  const invite = admin.getByRole('form', { name: 'Create invite' });
  await invite.getByLabel('Email').fill('dave@example.org');
  await invite.getByRole('button', { name: 'Create invite' }).click();
  const link = await admin.getByRole('textbox', { name: 'Invite link' }).inputValue();
  assert.match(link, /invite/);
  await waitForText(admin.getByRole('region', { name: 'Invites' }), /dave@example\.org/);
  await b.screenshot(admin, 'users');

  const guest = await b.newPage();
  await guest.goto(link);
  await guest.getByRole('heading', { name: 'You are invited to fmd' }).waitFor();
  await guest.getByLabel('User name').fill('dave');
  await guest.getByLabel('Password', { exact: true }).fill('dave-password-1');
  await guest.getByLabel('Password again').fill('dave-password-1');
  await guest.getByRole('button', { name: 'Accept invite' }).click();
  await signedIn(guest);
  await waitForText(guest.getByRole('navigation', { name: 'Main' }), /Signed in as dave/);
});
