// Webhooks (/webhooks, admin tokens only): the webhooks this token may manage, creating one (its
// secret shown once), enabling and disabling, a test delivery, deleting (asked inline), and the
// delivery log of the webhook the URL names (`?hook=<number>`), newest attempt first.
import type { WebhookDeliveriesQuery, WebhookFieldsFragment } from '@fmd/sdk';
import { badge, confirmInline, copyButton, errorLine, h, shortDate, table, type Child } from '../ui.ts';
import { checkbox, checkedValues, field, FieldError, fill, onSubmit, optional, section, value } from '../forms.ts';
import { readable, type Page, type PageContext } from './page.ts';
import { withQuery } from './builds-shared.ts';

type Webhook = WebhookFieldsFragment;
type Delivery = WebhookDeliveriesQuery['webhookDeliveries']['edges'][number]['node'];

/** The events a webhook may subscribe to, with what each means. */
const events = [
  ['build.state', 'every step of a build (state and published state)'],
  ['build.published', 'a build was published'],
  ['build.failed', 'a build, its checks or its publish failed'],
  ['repo.updated', "a repo's update-repo job ended (summary, deltas, appstream)"],
  ['repo.fsck_failed', 'a repo check found damage'],
] as const;

export const webhooksPage: Page = {
  title: 'Webhooks',
  async render(ctx) {
    if (!readable(ctx.viewer).webhooks) return h('p', { className: 'empty' }, 'Webhooks are for tokens with the admin scope.');
    const notice = h('div', { className: 'notices' });
    const created = h('div', {});
    const list = h('section', { className: 'card', ariaLabel: 'Webhooks' });
    const log = h('section', { className: 'card', ariaLabel: 'Deliveries' });
    const selected = Number(ctx.query.get('hook')) || null;
    const say = (node: Child, error = false) => fill(notice, error ? errorLine(String(node)) : h('p', { className: 'ok', role: 'status' }, node));

    const act = async (button: HTMLButtonElement, call: () => Promise<{ __typename: string; message?: string }>, ok: string): Promise<void> => {
      button.disabled = true;
      try {
        const r = await call();
        if ('errorType' in r) say(r.message ?? 'refused', true);
        else say(ok);
        await refresh();
      } catch (err) {
        const message = ctx.failed(err);
        if (message) say(message, true);
        button.disabled = false;
      }
    };

    const row = (w: Webhook): HTMLTableRowElement => {
      const toggle = h('button', { type: 'button', className: 'secondary small', ariaLabel: `${w.enabled ? 'Disable' : 'Enable'} webhook ${w.number}` }, w.enabled ? 'Disable' : 'Enable');
      toggle.onclick = () =>
        void act(toggle, async () => (await ctx.client.updateWebhook({ input: { id: w.id, enabled: !w.enabled } })).updateWebhook, `Webhook ${w.number} ${w.enabled ? 'disabled' : 'enabled'}.`);
      const test = h('button', { type: 'button', className: 'secondary small', ariaLabel: `Test webhook ${w.number}` }, 'Test');
      test.onclick = () =>
        void act(test, async () => (await ctx.client.testWebhook({ input: { id: w.id } })).testWebhook, `Ping queued for webhook ${w.number}: see its deliveries.`).then(() => {
          if (selected !== w.number) ctx.navigate(withQuery('/webhooks', new URLSearchParams(), { hook: String(w.number) }));
        });
      const del = h('button', { type: 'button', className: 'danger small', ariaLabel: `Delete webhook ${w.number}` }, 'Delete');
      del.onclick = () =>
        confirmInline(del, {
          question: `Delete webhook ${w.number} and its delivery log?`,
          yes: 'Yes, delete',
          no: 'Keep it',
          onYes: () => void act(del, async () => (await ctx.client.deleteWebhook({ input: { id: w.id } })).deleteWebhook, `Deleted webhook ${w.number}.`),
        });
      return h(
        'tr',
        { className: selected === w.number ? 'selected' : '' },
        h('td', {}, h('a', { href: withQuery('/webhooks', new URLSearchParams(), { hook: String(w.number) }) }, `#${w.number}`)),
        h('td', {}, w.repo ?? h('em', {}, 'every repo')),
        h('td', {}, h('code', {}, w.url), w.description && h('div', { className: 'muted' }, w.description)),
        h('td', {}, w.events.join(', ')),
        h('td', {}, badge(w.enabled ? 'enabled' : 'disabled')),
        h('td', {}, h('div', { className: 'actions' }, test, toggle, del)),
      );
    };

    const deliveryRow = (d: Delivery): HTMLTableRowElement =>
      h(
        'tr',
        {},
        h('td', {}, shortDate(d.createdAt)),
        h('td', {}, d.event),
        h('td', {}, h('code', { className: 'small', title: d.deliveryId }, d.deliveryId.slice(0, 8))),
        h('td', {}, String(d.attempt)),
        h('td', {}, badge(d.state)),
        h('td', {}, d.statusCode === null || d.statusCode === undefined ? '–' : String(d.statusCode)),
        h('td', {}, d.durationMs === null || d.durationMs === undefined ? '–' : `${d.durationMs} ms`),
        h('td', {}, d.error ?? '–', d.nextRetryAt && h('div', { className: 'muted' }, `next attempt ${shortDate(d.nextRetryAt)}`)),
      );

    const refresh = async (): Promise<void> => {
      try {
        const conn = (await ctx.client.webhooks({ first: 100 }, { signal: ctx.signal })).webhooks;
        const hooks = conn.edges.map((e) => e.node);
        fill(
          list,
          h('h2', {}, 'Webhooks ', h('span', { className: 'muted' }, String(conn.totalCount))),
          table(['Number', 'Repo', 'URL', 'Events', 'State', ''], hooks.map(row), 'No webhooks yet. Create one below.'),
        );
        const hook = hooks.find((w) => w.number === selected);
        if (!selected) fill(log, h('h2', {}, 'Deliveries'), h('p', { className: 'empty' }, 'Pick a webhook to see its deliveries.'));
        else if (!hook) fill(log, h('h2', {}, 'Deliveries'), h('p', { className: 'empty' }, `There is no webhook #${selected} you may see.`));
        else {
          const d = (await ctx.client.webhookDeliveries({ webhook: hook.id, first: 50 }, { signal: ctx.signal })).webhookDeliveries;
          const again = h('button', { type: 'button', className: 'secondary small' }, 'Refresh');
          again.onclick = () => void refresh();
          fill(
            log,
            h('div', { className: 'list-head' }, h('h2', {}, `Deliveries of #${hook.number} `, h('span', { className: 'muted' }, String(d.totalCount))), again),
            table(['Time', 'Event', 'Delivery', 'Attempt', 'State', 'Status', 'Took', 'Error'], d.edges.map((e) => deliveryRow(e.node)), 'Nothing sent yet: use Test to send a ping.'),
          );
        }
      } catch (err) {
        const message = ctx.failed(err);
        if (message) fill(list, h('h2', {}, 'Webhooks'), errorLine(message));
      }
    };

    await refresh();
    return h('div', { className: 'stack' }, notice, created, list, log, createForm(ctx, created, refresh));
  },
};

function createForm(ctx: PageContext, created: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const form = h(
    'form',
    { ariaLabel: 'Create webhook' },
    field('URL', h('input', { name: 'url', required: true, autocomplete: 'off', placeholder: 'https://ci.example.org/fmd-events' }), 'http or https; fmd POSTs JSON there and does not follow redirects'),
    field('Repo', h('input', { name: 'repo', autocomplete: 'off', placeholder: '(every repo)' }), 'empty: every repo (needs an admin token for every repo)'),
    h('fieldset', { className: 'scopes' }, h('legend', {}, 'Events'), h('div', { className: 'checks' }, ...events.map(([e, hint]) => checkbox(e, h('input', { name: 'events', value: e }), hint)))),
    field('Description', h('input', { name: 'description', autocomplete: 'off' })),
    h('details', {}, h('summary', {}, 'More'), field('Secret', h('input', { name: 'secret', autocomplete: 'off' }), '16 to 256 characters; empty: generated')),
    h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Create webhook')),
  );
  onSubmit(form, {
    failed: ctx.failed,
    run: async () => {
      const chosen = checkedValues(form, 'events');
      if (!chosen.length) throw new FieldError('events', 'pick at least one event');
      const input = { url: value(form, 'url').trim(), events: chosen, repo: optional(value(form, 'repo')), description: optional(value(form, 'description')), secret: optional(value(form, 'secret')) };
      return (await ctx.client.createWebhook({ input })).createWebhook;
    },
    done: async (r) => {
      form.reset();
      showSecret(created, r.webhook, r.secret);
      await refresh();
    },
  });
  return section('Create a webhook', form);
}

/** The new webhook's secret, once: with a copy button and a warning that it is not shown again. */
function showSecret(where: HTMLElement, w: Webhook, secret: string): void {
  const input = h('input', { name: 'newSecret', readOnly: true, value: secret, spellcheck: false, autocomplete: 'off' });
  input.onfocus = () => input.select();
  const done = h('button', { type: 'button', className: 'secondary' }, 'Done');
  const card = h(
    'section',
    { className: 'card new-token', ariaLabel: 'New webhook secret' },
    h('h2', {}, `Webhook #${w.number} created`),
    h('p', { className: 'warning', role: 'alert' }, 'Copy its secret now: it will not be shown again.'),
    field('Secret', input),
    h('div', { className: 'actions' }, copyButton(() => secret, 'Copy secret'), done),
    h('p', { className: 'muted' }, 'Each delivery carries X-Fmd-Signature-256: sha256=<HMAC-SHA256 of the body with this secret, in hex>.'),
  );
  done.onclick = () => where.replaceChildren();
  where.replaceChildren(card);
  input.focus();
}
