// Signing keys: the list (with the repos that sign with each), generate and import forms, and a
// key's page with its public key to copy or download.
import { allNodes, type GenerateKeyInput, type ImportKeyInput, type RepoFieldsFragment, type SigningKeyFieldsFragment } from '@fmd/sdk';
import type { Page, PageContext } from './page.ts';
import { badge, copyButton, errorLine, h, link, shortDate, table, type Child } from '../ui.ts';
import { field, FieldError, fill, onSubmit, optional, parseDuration, value } from '../forms.ts';

type Key = SigningKeyFieldsFragment;
type RepoUse = { name: string; previous: boolean };

const isAdmin = (ctx: PageContext): boolean => ctx.viewer.scopes.includes('admin');
const keyHref = (id: string): string => `/keys/${encodeURIComponent(id)}`;

/** `ABCD 1234 ...`: a fingerprint in groups of four, as gpg prints it. */
export function groupFingerprint(fp: string): string {
  return fp.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function expiryCell(expiresAt: string | null): Child {
  if (!expiresAt) return 'never';
  const expired = new Date(expiresAt).getTime() <= Date.now();
  return h('span', {}, shortDate(expiresAt), expired && ' ', expired && badge('expired'));
}

/** Which repos sign with which key (current key, or previous key during a rotation). */
async function keyUses(ctx: PageContext): Promise<Map<string, RepoUse[]>> {
  const uses = new Map<string, RepoUse[]>();
  const add = (id: string, use: RepoUse): void => void (uses.get(id) ?? uses.set(id, []).get(id)!).push(use);
  for await (const r of allNodes<RepoFieldsFragment>((after) => ctx.client.repos({ first: 100, after }, { signal: ctx.signal }).then((x) => x.repos))) {
    if (r.key) add(r.key.id, { name: r.name, previous: false });
    if (r.previousKey) add(r.previousKey.id, { name: r.name, previous: true });
  }
  return uses;
}

function repoLinks(uses: RepoUse[] | undefined): Child {
  if (!uses?.length) return h('span', { className: 'muted' }, 'no repo');
  return h('span', {}, ...uses.flatMap((u, i) => [i ? ', ' : '', link(`/repos/${encodeURIComponent(u.name)}`, u.name), u.previous ? ' (previous key)' : '']));
}

// --- list, generate, import -----------------------------------------------------------------

export const keysPage: Page = {
  title: 'Keys',
  async render(ctx) {
    const admin = isAdmin(ctx);
    const list = h('section', { className: 'card' });
    const refresh = async (): Promise<void> => {
      try {
        const [keys, uses] = await Promise.all([
          (async () => {
            const out: Key[] = [];
            for await (const k of allNodes((after) => ctx.client.keys({ first: 100, after }, { signal: ctx.signal }).then((x) => x.keys))) out.push(k);
            return out;
          })(),
          keyUses(ctx).catch(() => new Map<string, RepoUse[]>()),
        ]);
        const rows = keys.map((k) =>
          h(
            'tr',
            {},
            h('td', {}, link(keyHref(k.id), k.name), k.userIds.length ? h('div', { className: 'muted' }, k.userIds.join('; ')) : null),
            h('td', {}, h('code', { title: k.fingerprint }, groupFingerprint(k.fingerprint))),
            h('td', {}, k.algorithm),
            h('td', { className: 'date' }, shortDate(k.createdAt)),
            h('td', { className: 'date' }, expiryCell(k.expiresAt)),
            h('td', {}, repoLinks(uses.get(k.id))),
          ),
        );
        fill(
          list,
          h('h2', {}, 'Signing keys', h('span', { className: 'muted' }, String(keys.length))),
          table(['Name', 'Fingerprint', 'Algorithm', 'Created', 'Expires', 'Used by'], rows, admin ? 'No keys yet. Generate one or import one below.' : 'No signing keys.'),
        );
      } catch (err) {
        const message = ctx.failed(err);
        if (message) fill(list, h('h2', {}, 'Signing keys'), errorLine(message));
      }
    };
    ctx.onReconnect(() => void refresh());
    await refresh();
    return h('div', { className: 'stack' }, list, admin && generateForm(ctx), admin && importForm(ctx));
  },
};

function generateForm(ctx: PageContext): HTMLElement {
  const form = h(
    'form',
    { ariaLabel: 'Generate key' },
    field('Name', h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'release key 2027' }), 'fmd’s name for the key'),
    field('User name', h('input', { name: 'userName', autocomplete: 'off' }), 'the OpenPGP user id’s name; defaults to the key’s name'),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'off' })),
    field('Comment', h('input', { name: 'comment', autocomplete: 'off' })),
    field('Expires in', h('input', { name: 'expiresInSeconds', placeholder: 'never', autocomplete: 'off' }), 'e.g. 2y, 365d; empty: never expires'),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Generate key')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const expires = parseDuration(value(form, 'expiresInSeconds'));
      if (Number.isNaN(expires)) throw new FieldError('expiresInSeconds', 'a duration such as 2y, 365d or 12h');
      const input: GenerateKeyInput = { name: value(form, 'name').trim(), userName: optional(value(form, 'userName')), email: optional(value(form, 'email')), comment: optional(value(form, 'comment')), expiresInSeconds: expires };
      return (await ctx.client.generateKey({ input })).generateKey;
    },
    done: (r) => ctx.navigate(keyHref(r.key.id)),
  });
  return h('section', { className: 'card' }, h('h2', {}, 'Generate a key'), form);
}

function importForm(ctx: PageContext): HTMLElement {
  const form = h(
    'form',
    { ariaLabel: 'Import key' },
    field('Name', h('input', { name: 'name', required: true, autocomplete: 'off' }), 'fmd’s name for the key'),
    field('Armored private key', h('textarea', { name: 'armoredPrivateKey', required: true, rows: 8, spellcheck: false, placeholder: '-----BEGIN PGP PRIVATE KEY BLOCK-----' }), h('span', {}, 'from ', h('code', {}, 'gpg --export-secret-keys --armor KEYID'))),
    field('Passphrase', h('input', { name: 'passphrase', type: 'password', autocomplete: 'off' }), 'when the key is protected; fmd stores it re-sealed with its master key'),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Import key')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const input: ImportKeyInput = { name: value(form, 'name').trim(), armoredPrivateKey: value(form, 'armoredPrivateKey'), passphrase: optional(value(form, 'passphrase')) };
      const r = (await ctx.client.importKey({ input })).importKey;
      // A key problem has a reason, not a field: put passphrase problems next to the passphrase, the others next to the key.
      if (r.__typename === 'InvalidKeyError') return { ...r, field: /passphrase/.test(r.reason) ? 'passphrase' : 'armoredPrivateKey' };
      return r;
    },
    done: (r) => ctx.navigate(keyHref(r.key.id)),
  });
  return h('section', { className: 'card' }, h('h2', {}, 'Import a key'), form);
}

// --- key page -------------------------------------------------------------------------------

export const keyPage: Page = {
  title: 'Key',
  async render(ctx) {
    const { key } = await ctx.client.key({ id: ctx.params.id!, reposFirst: 100 }, { signal: ctx.signal });
    if (!key) return h('p', {}, 'There is no such key, or your token may not see it. ', link('/keys', 'All keys'), '.');
    document.title = `Key ${key.name} · fmd`;
    const heading = document.querySelector('main > h1');
    if (heading) heading.textContent = `Key ${key.name}`;

    const uses = await keyUses(ctx).catch(() => undefined);
    const using: RepoUse[] = uses?.get(key.id) ?? key.repos.edges.map((e) => ({ name: e.node.name, previous: false }));

    const file = new Blob([key.publicKeyArmored], { type: 'application/pgp-keys' });
    const url = URL.createObjectURL(file);
    ctx.signal.addEventListener('abort', () => URL.revokeObjectURL(url), { once: true });
    const fileName = `${key.name.replace(/[^\w.-]+/g, '_')}.asc`;

    const details = h(
      'section',
      { className: 'card' },
      h('h2', {}, 'Details'),
      h(
        'dl',
        {},
        h('dt', {}, 'Name'),
        h('dd', {}, key.name),
        h('dt', {}, 'User IDs'),
        h('dd', {}, key.userIds.join('; ') || '—'),
        h('dt', {}, 'Key ID'),
        h('dd', {}, h('code', {}, key.keyId)),
        h('dt', {}, 'Fingerprint'),
        h('dd', {}, h('code', {}, groupFingerprint(key.fingerprint))),
        h('dt', {}, 'Algorithm'),
        h('dd', {}, key.algorithm),
        h('dt', {}, 'Created'),
        h('dd', {}, shortDate(key.createdAt)),
        h('dt', {}, 'Expires'),
        h('dd', {}, expiryCell(key.expiresAt)),
        h('dt', {}, 'Used by'),
        h('dd', {}, repoLinks(using)),
      ),
    );

    const publicKey = h(
      'section',
      { className: 'card' },
      h('h2', {}, 'Public key'),
      h('div', { className: 'actions' }, labelled(copyButton(() => key.publicKeyArmored, 'Copy public key'), 'Copy public key'), h('a', { href: url, download: fileName, className: 'button secondary' }, `Download ${fileName}`)),
      h('pre', { className: 'armored', tabIndex: 0, ariaLabel: 'Armored public key' }, key.publicKeyArmored),
      h('h3', {}, h('code', {}, 'GPGKey='), ' value'),
      h('p', { className: 'muted' }, 'The binary key in base64, for .flatpakrepo and .flatpakref files.'),
      h('div', { className: 'command-line' }, h('code', { className: 'base64' }, key.publicKeyBase64), labelled(copyButton(() => key.publicKeyBase64, 'Copy GPGKey'), 'Copy GPGKey')),
    );

    return h('div', { className: 'stack' }, details, publicKey, isAdmin(ctx) && deleteCard(ctx, key, using));
  },
};

function labelled(b: HTMLButtonElement, label: string): HTMLButtonElement {
  b.ariaLabel = label;
  return b;
}

function deleteCard(ctx: PageContext, key: Key, using: RepoUse[]): HTMLElement {
  const card = h('section', { className: 'card' }, h('h2', {}, 'Delete'));
  if (using.length) {
    card.append(h('p', { className: 'muted' }, 'Repos still sign with this key: rotate them to another key before deleting it.'));
    return card;
  }
  const button = h('button', { type: 'button', className: 'danger' }, 'Delete key');
  const out = h('div', {}, h('p', { className: 'muted' }, 'The private key is destroyed; signatures made with it stay valid for clients that have the public key.'), button);
  button.onclick = async () => {
    if (!confirm(`Delete key ${key.name} (${key.fingerprint})? This cannot be undone.`)) return;
    button.disabled = true;
    for (const e of out.querySelectorAll('.error')) e.remove();
    try {
      const r = (await ctx.client.deleteKey({ input: { id: key.id } })).deleteKey;
      if (r.__typename === 'DeleteKeyPayload') ctx.navigate('/keys');
      else out.append(errorLine(r.__typename === 'KeyInUseError' ? `${r.message} (${r.repos.join(', ')})` : r.message));
    } catch (err) {
      const message = ctx.failed(err);
      if (message) out.append(errorLine(message));
    }
    button.disabled = false;
  };
  card.append(out);
  return card;
}
