// The retention card of a repo's page (admins): the settings form, the runs queued by the
// schedules, the latest runs, and buttons that start a purge, a dry run or an fsck now.
import { formatDuration, parseDuration, type RepoRetentionQuery, type JobFieldsFragment } from '@fmd/sdk';
import type { PageContext } from './page.ts';
import { errorLine, h, link, shortDate, table } from '../ui.ts';
import { checkbox, checked, field, fill, FieldError, onSubmit, value } from '../forms.ts';

type Retention = NonNullable<NonNullable<RepoRetentionQuery['repo']>['retention']>;

/** What the form's text says: undefined = keep (unchanged), null = off, else the number. */
export function readRetentionForm(values: { purgeAfterDays: string; pruneEvery: string; fsckEvery: string }): { purgeBuildsAfterDays: number | null; pruneIntervalSecs: number | null; fsckIntervalSecs: number | null } {
  const days = values.purgeAfterDays.trim();
  if (days !== '' && !/^\d+$/.test(days)) throw new FieldError('purgeBuildsAfterDays', 'a whole number of days, or empty for never');
  const every = (name: string, text: string): number | null => {
    const t = text.trim();
    if (t === '') return null;
    const secs = parseDuration(t);
    if (secs === undefined) throw new FieldError(name, 'a duration such as 1d, 12h or seconds, or empty for off');
    return secs;
  };
  return { purgeBuildsAfterDays: days === '' ? null : Number(days), pruneIntervalSecs: every('pruneIntervalSecs', values.pruneEvery), fsckIntervalSecs: every('fsckIntervalSecs', values.fsckEvery) };
}

const dryRunOf = (j: JobFieldsFragment): string => {
  const d = (j.results as { dryRun?: unknown } | null)?.dryRun;
  return d === true ? 'yes' : d === false ? 'no' : '—';
};

export function retentionCard(ctx: PageContext, name: string): HTMLElement {
  const card = h('section', { className: 'card', ariaLabel: 'Retention' });
  const status = h('div', { role: 'status' });
  let dirty = false;

  const runButton = (label: string, start: () => Promise<{ __typename: string; job?: { number: number }; message?: string }>): HTMLButtonElement => {
    const b = h('button', { type: 'button' }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const r = await start();
        if (r.job) status.replaceChildren(h('p', { className: 'ok' }, `${label}: `, link(`/jobs/${r.job.number}`, `job ${r.job.number}`), ' started.'));
        else status.replaceChildren(errorLine(r.message ?? r.__typename));
        await draw();
      } catch (err) {
        const message = ctx.failed(err);
        if (message) status.replaceChildren(errorLine(message));
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };

  const form = (r: Retention): HTMLFormElement => {
    const f = h(
      'form',
      { className: 'retention', ariaLabel: 'Retention settings' },
      field('Purge builds never published after (days)', h('input', { name: 'purgeBuildsAfterDays', inputMode: 'numeric', defaultValue: r.purgeBuildsAfterDays == null ? '' : String(r.purgeBuildsAfterDays) }), 'failed, cancelled, superseded and unpublished builds; empty: never'),
      field('Prune every', h('input', { name: 'pruneIntervalSecs', defaultValue: r.pruneIntervalSecs == null ? '' : formatDuration(r.pruneIntervalSecs) }), '1d, 12h…; empty: off'),
      field('Check (ostree fsck) every', h('input', { name: 'fsckIntervalSecs', defaultValue: r.fsckIntervalSecs == null ? '' : formatDuration(r.fsckIntervalSecs) }), '1w, 1d…; empty: off'),
      checkbox('Dry run: scheduled purges and prunes only report', h('input', { type: 'checkbox', name: 'dryRun', checked: r.dryRun })),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Save retention')),
    );
    const touched = (): void => void (dirty = true);
    f.addEventListener('input', touched);
    f.addEventListener('change', touched);
    onSubmit(f, {
      failed: ctx.failed,
      run: async () => {
        const settings = readRetentionForm({ purgeAfterDays: value(f, 'purgeBuildsAfterDays'), pruneEvery: value(f, 'pruneIntervalSecs'), fsckEvery: value(f, 'fsckIntervalSecs') });
        return (await ctx.client.updateRepoRetention({ input: { repo: name, ...settings, dryRun: checked(f, 'dryRun') } })).updateRepoRetention;
      },
      done: async () => {
        dirty = false;
        status.replaceChildren(h('p', { className: 'ok' }, 'Retention saved.'));
        await draw(true);
      },
    });
    return f;
  };

  const draw = async (redrawForm = false): Promise<void> => {
    const { repo } = await ctx.client.repoRetention({ name, runs: 10 }, { signal: ctx.signal });
    const r = repo?.retention;
    if (!r) return fill(card, h('h2', {}, 'Retention'), errorLine('Retention settings are for admin tokens.'));
    const queued = r.scheduled.filter((x) => x.job);
    const runs = r.lastRuns.map((j) =>
      h('tr', {}, h('td', {}, link(`/jobs/${j.number}`, String(j.number))), h('td', {}, j.kind), h('td', {}, j.status), h('td', {}, dryRunOf(j)), h('td', {}, shortDate(j.startAfter ?? j.createdAt)), h('td', {}, shortDate(j.finishedAt)), h('td', {}, j.error ?? '')),
    );
    const existing = card.querySelector('form.retention');
    fill(
      card,
      h('h2', {}, 'Retention'),
      status,
      existing && dirty && !redrawForm ? existing : form(r),
      h('div', { className: 'actions' },
        runButton('Purge old builds now', async () => (await ctx.client.runRetention({ input: { repo: name, dryRun: false } })).runRetention),
        runButton('Dry run', async () => (await ctx.client.runRetention({ input: { repo: name, dryRun: true } })).runRetention),
        runButton('Check (fsck) now', async () => (await ctx.client.fsckRepo({ input: { repo: name } })).fsckRepo),
      ),
      h('h3', {}, 'Scheduled'),
      queued.length ? h('ul', {}, ...queued.map((x) => h('li', {}, `${x.kind}: `, link(`/jobs/${x.job!.number}`, `job ${x.job!.number}`), ` ${x.job!.status === 'NEW' ? `due ${shortDate(x.job!.startAfter)}` : 'running'}`))) : h('p', { className: 'muted' }, 'Nothing scheduled.'),
      h('h3', {}, 'Latest runs'),
      table(['Job', 'Kind', 'Status', 'Dry run', 'Due', 'Finished', 'Error'], runs, 'No retention, prune or fsck runs yet.'),
    );
  };
  fill(card, h('h2', {}, 'Retention'), h('p', { className: 'muted' }, 'Loading…'));
  void draw().catch((err: unknown) => {
    const message = ctx.failed(err);
    if (message) fill(card, h('h2', {}, 'Retention'), errorLine(message));
  });
  return card;
}
