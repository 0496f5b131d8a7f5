// Accounts: your profile (name, email, password, sessions, tokens), and for admins the Users page
// (search, create, invites) and a user's page (edit, disable, unlock, password, roles, sessions).
import { allNodes, type InviteFieldsFragment, type RoleGrantFieldsFragment, type SessionFieldsFragment, type UserFieldsFragment, type UserQuery } from '@fmd/sdk';
import type { Page, PageContext } from './page.ts';
import { badge, confirmInline, copyButton, errorLine, h, link, shortDate, table } from '../ui.ts';
import { checkbox, checked, field, FieldError, fill, onSubmit, optional, section, select, value } from '../forms.ts';
import { GrantError, grantLabel, passwordProblem, readGrant, roleLabel, roles, userNameInputPattern, userState } from './users-logic.ts';

type FullUser = NonNullable<UserQuery['user']>;

const ok = (text: string) => h('p', { className: 'ok', role: 'status' }, text);

/** Runs a one-button action: errors go to `notice`; `then` after success. */
function action(ctx: PageContext, notice: HTMLElement, label: string, run: () => Promise<{ __typename: string; message?: string }>, then: () => void | Promise<void>, o: { danger?: boolean; ariaLabel?: string } = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', className: `${o.danger ? 'danger' : 'secondary'} small`, ariaLabel: o.ariaLabel ?? label }, label);
  b.onclick = async () => {
    b.disabled = true;
    try {
      const r = await run();
      if ('errorType' in r) fill(notice, errorLine(r.message ?? r.__typename));
      else await then();
    } catch (err) {
      const message = ctx.failed(err);
      if (message) fill(notice, errorLine(message));
    } finally {
      b.disabled = false;
    }
  };
  return b;
}

function sessionsTable(ctx: PageContext, notice: HTMLElement, sessions: readonly SessionFieldsFragment[], reload: () => Promise<void>): HTMLElement {
  return table(
    ['Started', 'Last used', 'Ends', 'Browser or client', ''],
    sessions.map((s) =>
      h(
        'tr',
        { className: s.current ? 'this-session' : '' },
        h('td', { className: 'date' }, shortDate(s.createdAt)),
        h('td', { className: 'date' }, shortDate(s.lastUsedAt)),
        h('td', { className: 'date' }, shortDate(s.expiresAt)),
        h('td', {}, s.userAgent ?? '—', s.current && h('span', { className: 'session-mark' }, ' (this session)')),
        h(
          'td',
          {},
          action(
            ctx,
            notice,
            'Revoke',
            async () => (await ctx.client.revokeSession({ input: { session: s.id } })).revokeSession,
            async () => {
              if (s.current) return ctx.signOut('You ended this session.');
              fill(notice, ok('Session ended.'));
              await reload();
            },
            { ariaLabel: `Revoke session started ${shortDate(s.createdAt)}` },
          ),
        ),
      ),
    ),
    'No open sessions.',
  );
}

function passwordFields(prefix = ''): HTMLElement[] {
  return [
    // (no hint inside the label: the inputs' names stay "Password" and "Password again")
    field(`${prefix}Password`, h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minLength: 10, placeholder: 'at least 10 characters' })),
    field(`${prefix}Password again`, h('input', { name: 'newPasswordAgain', type: 'password', autocomplete: 'new-password', required: true })),
  ];
}

function readNewPassword(form: HTMLFormElement): string {
  const pw = value(form, 'newPassword');
  const problem = passwordProblem(pw, value(form, 'newPasswordAgain'));
  if (problem) throw new FieldError(problem.includes('differ') ? 'newPasswordAgain' : 'newPassword', problem);
  return pw;
}

// --- profile ---------------------------------------------------------------------------------

export const profilePage: Page = {
  title: 'Profile',
  async render(ctx) {
    const me = ctx.viewer.user;
    if (!me) return h('p', {}, 'This session’s token belongs to no user, so there is no profile. Sign in with your user name and password to see yours.');
    const notice = h('div', { className: 'notices' });
    const sessions = h('section', { className: 'card', ariaLabel: 'Sessions' });
    const tokens = h('section', { className: 'card', ariaLabel: 'My tokens' });
    let user: FullUser | null = null;

    const reload = async (): Promise<void> => {
      user = (await ctx.client.user({ name: me.name }, { signal: ctx.signal })).user;
      if (!user) return;
      fill(sessions, h('h2', {}, 'My sessions'), sessionsTable(ctx, notice, user.sessions, reload));
      fill(
        tokens,
        h('h2', {}, 'My tokens'),
        table(
          ['Name', 'Scopes', 'Expires', 'State'],
          user.tokens.edges.map(({ node: t }) => h('tr', {}, h('td', {}, t.name), h('td', {}, t.scopes.join(', ') || '—'), h('td', { className: 'date' }, t.expiresAt ? shortDate(t.expiresAt) : 'never'), h('td', {}, badge(t.revokedAt ? 'revoked' : 'active')))),
          'No tokens.',
        ),
        h('p', {}, link('/tokens', 'Create and revoke tokens'), '.'),
      );
    };
    await reload();
    const u = user as FullUser | null;
    if (!u) return errorLine('Your user was not found.');

    const profile = h(
      'form',
      { ariaLabel: 'Profile' },
      h('p', {}, 'User name ', h('strong', {}, u.name), u.isAdmin ? ' (admin)' : ''),
      field('Display name', h('input', { name: 'displayName', defaultValue: u.displayName ?? '', autocomplete: 'name' })),
      field('Email', h('input', { name: 'email', type: 'email', defaultValue: u.email ?? '', autocomplete: 'email' })),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Save profile')),
    );
    onSubmit(profile, {
      failed: ctx.failed,
      run: async () => (await ctx.client.updateProfile({ input: { displayName: value(profile, 'displayName').trim(), email: value(profile, 'email').trim() } })).updateProfile,
      done: () => fill(notice, ok('Profile saved.')),
    });

    const password = h(
      'form',
      { ariaLabel: 'Change password' },
      field('Current password', h('input', { name: 'currentPassword', type: 'password', autocomplete: 'current-password', required: true })),
      ...passwordFields('New '),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Change password')),
      h('p', { className: 'muted' }, 'Your other sessions end; this one stays signed in.'),
    );
    onSubmit(password, {
      failed: ctx.failed,
      run: async () => {
        const newPassword = readNewPassword(password);
        return (await ctx.client.changePassword({ input: { currentPassword: value(password, 'currentPassword'), newPassword } })).changePassword;
      },
      done: async (r) => {
        password.reset();
        fill(notice, ok(`Password changed; ${r.endedSessions} other session${r.endedSessions === 1 ? '' : 's'} ended.`));
        await reload();
      },
    });

    return h('div', { className: 'stack' }, notice, section('Profile', profile), section('Password', password), sessions, tokens);
  },
};

// --- users (admin) ---------------------------------------------------------------------------

export const usersPage: Page = {
  title: 'Users',
  async render(ctx) {
    const notice = h('div', { className: 'notices' });
    const list = h('section', { className: 'card', ariaLabel: 'User list' });
    const invites = h('section', { className: 'card', ariaLabel: 'Invites' });
    const created = h('div', {});
    const search = h('input', { name: 'search', type: 'search', placeholder: 'name, display name or email', value: ctx.query.get('search') ?? '' });
    const searchForm = h('form', { className: 'inline-form', role: 'search', ariaLabel: 'Search users' }, field('Search', search), h('button', { type: 'submit', className: 'secondary' }, 'Search'));
    searchForm.onsubmit = (e) => {
      e.preventDefault();
      void refresh();
    };

    const refresh = async (): Promise<void> => {
      try {
        const users: Array<UserFieldsFragment & { roles: RoleGrantFieldsFragment[] }> = [];
        const s = search.value.trim();
        for await (const u of allNodes((after) => ctx.client.users({ first: 100, after, ...(s && { search: s }) }, { signal: ctx.signal }).then((x) => x.users))) users.push(u);
        fill(
          list,
          h('h2', {}, 'Users ', h('span', { className: 'muted' }, String(users.length))),
          searchForm,
          table(
            ['Name', 'Display name', 'Email', 'Roles', 'Last sign-in', 'State'],
            users.map((u) => {
              const st = userState(u);
              return h(
                'tr',
                {},
                h('td', {}, link(`/users/${encodeURIComponent(u.name)}`, u.name)),
                h('td', {}, u.displayName ?? '—'),
                h('td', {}, u.email ?? '—'),
                h('td', {}, [u.isAdmin ? 'admin' : '', ...u.roles.map(grantLabel)].filter(Boolean).join('; ') || '—'),
                h('td', { className: 'date' }, shortDate(u.lastSignInAt)),
                h('td', {}, badge(st.state), st.state === 'locked' ? h('div', { className: 'muted' }, st.text) : null),
              );
            }),
            s ? 'No user matches.' : 'No users yet. Create one below.',
          ),
        );
      } catch (err) {
        const message = ctx.failed(err);
        if (message) fill(list, h('h2', {}, 'Users'), errorLine(message));
      }
    };

    const refreshInvites = async (): Promise<void> => {
      try {
        const all = (await ctx.client.invites({}, { signal: ctx.signal })).invites;
        fill(invites, h('h2', {}, 'Invites'), invitesTable(ctx, notice, all, refreshInvites), inviteForm(ctx, created, refreshInvites));
      } catch (err) {
        const message = ctx.failed(err);
        if (message) fill(invites, h('h2', {}, 'Invites'), errorLine(message));
      }
    };

    await Promise.all([refresh(), refreshInvites()]);
    return h('div', { className: 'stack' }, notice, list, createUserForm(ctx), created, invites);
  },
};

function grantFields(): HTMLElement[] {
  return [
    field('Role', select('role', [['', '(none)'], ...roles.map((r) => [r, roleLabel(r)] as const)])),
    field('Repo', h('input', { name: 'repo', autocomplete: 'off', placeholder: 'every repo' }), 'empty: every repo'),
    field('App-id prefix', h('input', { name: 'prefix', autocomplete: 'off', placeholder: 'every app' }), 'e.g. org.example; empty: every app'),
  ];
}

function readGrantFrom(form: HTMLFormElement, required: boolean) {
  if (!required && !value(form, 'role')) return undefined;
  try {
    return readGrant({ role: value(form, 'role'), repo: value(form, 'repo'), prefix: value(form, 'prefix') });
  } catch (e) {
    if (e instanceof GrantError) throw new FieldError(e.field, e.message);
    throw e;
  }
}

function createUserForm(ctx: PageContext): HTMLElement {
  const form = h(
    'form',
    { ariaLabel: 'Create user' },
    h(
      'div',
      { className: 'form-grid' },
      field('User name', h('input', { name: 'name', required: true, autocomplete: 'off', pattern: userNameInputPattern }), 'lower-case letters, digits, ".", "_" and "-"'),
      field('Display name', h('input', { name: 'displayName', autocomplete: 'off' })),
      field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'off' })),
      ...passwordFields(),
      ...grantFields(),
    ),
    checkbox('Admin', h('input', { name: 'isAdmin' }), 'administers everything: users, keys, repos'),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Create user')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const password = readNewPassword(form);
      const grant = readGrantFrom(form, false);
      return (
        await ctx.client.createUser({
          input: { name: value(form, 'name').trim(), displayName: optional(value(form, 'displayName')) ?? null, email: optional(value(form, 'email')) ?? null, password, isAdmin: checked(form, 'isAdmin'), roles: grant ? [grant] : [] },
        })
      ).createUser;
    },
    done: (r) => ctx.navigate(`/users/${encodeURIComponent(r.user.name)}`),
  });
  return section('Create a user', form);
}

function invitesTable(ctx: PageContext, notice: HTMLElement, invites: readonly InviteFieldsFragment[], reload: () => Promise<void>): HTMLElement {
  const now = Date.now();
  return table(
    ['For', 'Gives', 'Created', 'State', ''],
    invites.map((i) =>
      h(
        'tr',
        {},
        h('td', {}, i.email ?? '—'),
        h('td', {}, [i.isAdmin ? 'admin' : '', ...i.roles.map(grantLabel)].filter(Boolean).join('; ') || 'no roles'),
        h('td', { className: 'date' }, shortDate(i.createdAt)),
        h('td', {}, i.usedAt ? `used ${shortDate(i.usedAt)}` : Date.parse(i.expiresAt) < now ? 'expired' : `open until ${shortDate(i.expiresAt)}`),
        h('td', {}, i.usedAt ? null : action(ctx, notice, 'Withdraw', async () => (await ctx.client.deleteInvite({ input: { invite: i.id } })).deleteInvite, reload, { ariaLabel: `Withdraw invite ${i.email ?? i.id}` })),
      ),
    ),
    'No invites.',
  );
}

function inviteForm(ctx: PageContext, created: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const form = h(
    'form',
    { ariaLabel: 'Create invite' },
    h('h3', {}, 'Invite someone'),
    h(
      'div',
      { className: 'form-grid' },
      field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'off' }), 'whom it is for (fmd sends no mail)'),
      field('Valid for (hours)', h('input', { name: 'expiresInHours', type: 'number', min: '1', defaultValue: '72' })),
      ...grantFields(),
    ),
    checkbox('Admin', h('input', { name: 'isAdmin' })),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Create invite')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const grant = readGrantFrom(form, false);
      const hours = Number(value(form, 'expiresInHours') || '72');
      if (!Number.isInteger(hours) || hours < 1) throw new FieldError('expiresInHours', 'a whole number of hours, at least 1');
      return (await ctx.client.createInvite({ input: { email: optional(value(form, 'email')) ?? null, isAdmin: checked(form, 'isAdmin'), roles: grant ? [grant] : [], expiresInHours: hours } })).createInvite;
    },
    done: async (r) => {
      form.reset();
      const url = new URL(r.invite.url ?? `/invite/${encodeURIComponent(r.invite.code ?? '')}`, location.origin).href;
      const input = h('input', { name: 'inviteUrl', readOnly: true, value: url, spellcheck: false });
      input.onfocus = () => input.select();
      const copy = copyButton(() => url, 'Copy link');
      copy.ariaLabel = 'Copy invite link';
      fill(
        created,
        h('section', { className: 'card new-token', ariaLabel: 'New invite' }, h('h2', {}, 'New invite'), h('p', { className: 'warning', role: 'alert' }, 'Copy the link now: it will not be shown again.'), field('Invite link', input), h('div', { className: 'actions' }, copy)),
      );
      await reload();
    },
  });
  return form;
}

// --- one user (admin) ------------------------------------------------------------------------

export const userPage: Page = {
  title: ({ params }) => `User ${params.name}`,
  async render(ctx) {
    const name = ctx.params.name!;
    const notice = h('div', { className: 'notices' });
    const body = h('div', { className: 'stack' });

    const reload = async (): Promise<void> => {
      const u = (await ctx.client.user({ name }, { signal: ctx.signal })).user;
      if (!u) {
        fill(body, h('p', {}, `There is no user “${name}”. `, link('/users', 'All users'), '.'));
        return;
      }
      const st = userState(u);
      const editForm = h(
        'form',
        { ariaLabel: 'Edit user' },
        h('p', {}, badge(st.state), ' ', st.state === 'locked' ? st.text : '', ` · last sign-in ${shortDate(u.lastSignInAt)} · ${u.hasPassword ? 'has a password' : 'no password'}`),
        field('Display name', h('input', { name: 'displayName', defaultValue: u.displayName ?? '' })),
        field('Email', h('input', { name: 'email', type: 'email', defaultValue: u.email ?? '' })),
        checkbox('Admin', h('input', { name: 'isAdmin', defaultChecked: u.isAdmin })),
        checkbox('Disabled', h('input', { name: 'disabled', defaultChecked: u.disabled }), 'cannot sign in; its sessions and tokens stop working'),
        h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Save')),
      );
      onSubmit(editForm, {
        failed: ctx.failed,
        run: async () =>
          (await ctx.client.updateUser({ input: { user: u.id, displayName: value(editForm, 'displayName').trim(), email: value(editForm, 'email').trim(), isAdmin: checked(editForm, 'isAdmin'), disabled: checked(editForm, 'disabled') } })).updateUser,
        done: async () => {
          fill(notice, ok('Saved.'));
          await reload();
        },
      });

      const pwForm = h('form', { ariaLabel: 'Set password' }, ...passwordFields('New '), h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Set password')), h('p', { className: 'muted' }, 'The user’s sessions end.'));
      onSubmit(pwForm, {
        failed: ctx.failed,
        run: async () => (await ctx.client.setUserPassword({ input: { user: u.id, password: readNewPassword(pwForm) } })).setUserPassword,
        done: async (r) => {
          fill(notice, ok(`Password set; ${r.endedSessions} session${r.endedSessions === 1 ? '' : 's'} ended.`));
          await reload();
        },
      });

      const grantForm = h('form', { ariaLabel: 'Grant role' }, h('div', { className: 'form-grid' }, ...grantFields()), h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Grant role')));
      onSubmit(grantForm, {
        failed: ctx.failed,
        run: async () => (await ctx.client.grantRole({ input: { user: u.id, ...readGrantFrom(grantForm, true)! } })).grantRole,
        done: async (r) => {
          fill(notice, ok(`Granted ${grantLabel(r.grant)}.`));
          await reload();
        },
      });

      const unlock = st.state === 'locked' && action(ctx, notice, 'Unlock', async () => (await ctx.client.unlockUser({ input: { user: u.id } })).unlockUser, async () => {
        fill(notice, ok('Unlocked.'));
        await reload();
      });
      const del = h('button', { type: 'button', className: 'danger' }, 'Delete user');
      del.onclick = () =>
        confirmInline(del, {
          question: `Delete ${u.name}? Its sessions and tokens stop working.`,
          yes: 'Delete',
          no: 'Keep',
          onYes: () =>
            void ctx.client.deleteUser({ input: { user: u.id } }).then(
              (r) => (r.deleteUser.__typename === 'DeleteUserPayload' ? ctx.navigate('/users') : fill(notice, errorLine((r.deleteUser as { message: string }).message))),
              (err: unknown) => {
                const m = ctx.failed(err);
                if (m) fill(notice, errorLine(m));
              },
            ),
        });

      fill(
        body,
        section(u.displayName ? `${u.name} (${u.displayName})` : u.name, editForm, h('div', { className: 'actions' }, unlock, del)),
        section(
          'Roles',
          u.isAdmin ? h('p', {}, 'An admin: may do everything, whatever the roles below.') : null,
          table(
            ['Role', 'Repo', 'App-id prefix', 'Granted', ''],
            u.roles.map((g) =>
              h(
                'tr',
                {},
                h('td', {}, roleLabel(g.role)),
                h('td', {}, g.repo ?? 'every repo'),
                h('td', {}, g.prefix || 'every app'),
                h('td', { className: 'date' }, shortDate(g.createdAt)),
                h('td', {}, action(ctx, notice, 'Revoke', async () => (await ctx.client.revokeRole({ input: { grant: g.id } })).revokeRole, reload, { ariaLabel: `Revoke ${grantLabel(g)}` })),
              ),
            ),
            'No roles.',
          ),
          grantForm,
        ),
        section('Password', pwForm),
        section('Sessions', sessionsTable(ctx, notice, u.sessions, reload)),
      );
    };
    await reload();
    return h('div', { className: 'stack' }, notice, body, h('p', {}, link('/users', 'All users')));
  },
};
