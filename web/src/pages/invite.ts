// An invite link's page (`/invite/<code>`), shown without signing in: the invited person picks a
// user name and password; accepting signs them in.
import { createFmdClient } from '@fmd/sdk';
import { h, showFormErrors, describeError } from '../ui.ts';
import { field, optional, value } from '../forms.ts';
import { passwordProblem, signInProblemMessage, userNameInputPattern } from './users-logic.ts';

export type SessionTokens = { token: string; refreshToken: string; accessTokenExpiresAt: string };

export function invitePage(code: string, url: string, onSignedIn: (tokens: SessionTokens) => Promise<void>): HTMLElement {
  const submit = h('button', { type: 'submit' }, 'Accept invite');
  const form = h(
    'form',
    { className: 'card signin', ariaLabel: 'Accept invite' },
    h('h2', {}, 'You are invited to fmd'),
    h('p', {}, 'Choose your user name and password. The roles the invite gives come with the account.'),
    field('User name', h('input', { name: 'name', required: true, autocomplete: 'username', pattern: userNameInputPattern }), 'lower-case letters, digits, ".", "_" and "-"'),
    field('Display name', h('input', { name: 'displayName', autocomplete: 'name' }), 'optional'),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email' }), 'optional'),
    field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password', minLength: 10, placeholder: 'at least 10 characters' })),
    field('Password again', h('input', { name: 'passwordAgain', type: 'password', required: true, autocomplete: 'new-password' })),
    submit,
  );
  form.onsubmit = async (e) => {
    e.preventDefault();
    showFormErrors(form, null);
    const password = value(form, 'password');
    const problem = passwordProblem(password, value(form, 'passwordAgain'));
    if (problem) return showFormErrors(form, { message: problem, field: problem.includes('differ') ? 'passwordAgain' : 'password' });
    submit.disabled = true;
    const client = createFmdClient({ url });
    try {
      const r = (
        await client.acceptInvite({
          input: { code, name: value(form, 'name').trim(), password, displayName: optional(value(form, 'displayName')) ?? null, email: optional(value(form, 'email')) ?? null },
        })
      ).acceptInvite;
      if (r.__typename === 'SignInPayload') {
        await onSignedIn({ token: r.accessToken, refreshToken: r.refreshToken, accessTokenExpiresAt: r.accessTokenExpiresAt });
        return;
      }
      if (r.__typename === 'SignInError') showFormErrors(form, signInProblemMessage({ reason: r.signInProblem, message: r.message, lockedUntil: r.lockedUntil }));
      else showFormErrors(form, r as { message: string; field?: string | null });
    } catch (err) {
      showFormErrors(form, describeError(err));
    } finally {
      submit.disabled = false;
      await client.close();
    }
  };
  return form;
}
