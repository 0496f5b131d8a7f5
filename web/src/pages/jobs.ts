// Jobs: the filterable, paged, live list (/jobs) and a job's page (/jobs/:number) with its
// result, a cancel button while it is not over, and its live log.
import { isErrorResult, type JobQuery, type JobStatus } from '@fmd/sdk';
import { liveLog } from '../live-log.ts';
import { badge, confirmInline, errorLine, h, link, shortDate, type Child } from '../ui.ts';
import type { Page } from './page.ts';
import { debounce, followLiveList, jobDuration, jobHeaders, jobKinds, jobMatches, jobProgress, jobRow, jobStatuses, LiveRows, liveTable, pageArgs, pager, pageSize, withQuery, type Job } from './builds-shared.ts';
import { fill } from '../forms.ts';

function select(name: string, options: readonly string[], value: string | null, any: string, label = (o: string) => o): HTMLSelectElement {
  return h('select', { name }, h('option', { value: '' }, any), ...options.map((o) => h('option', { value: o, selected: o === value }, label(o))));
}

// --- /jobs ---------------------------------------------------------------------------------------

export const jobsPage: Page = {
  title: 'Jobs',
  async render(ctx) {
    const q = ctx.query;
    const listArgs = { ...pageArgs(q), kind: q.get('kind') || undefined, status: jobStatuses.find((x) => x === q.get('status')), repo: q.get('repo') || undefined };
    const [result, repos] = await Promise.all([
      ctx.client.jobs(listArgs, { signal: ctx.signal }),
      ctx.client.repos({ first: 100 }, { signal: ctx.signal }).then(
        (r) => r.repos.edges.map((e) => e.node.name),
        () => [] as string[],
      ),
    ]);
    const conn = result.jobs;

    const kindSel = select('kind', jobKinds, q.get('kind'), 'any kind');
    const statusSel = select('status', jobStatuses, q.get('status'), 'any status', (s) => s.toLowerCase());
    const repoSel: HTMLSelectElement | HTMLInputElement = repos.length ? select('repo', repos, q.get('repo'), 'all repos') : h('input', { name: 'repo', value: q.get('repo') ?? '' });
    const filters = h(
      'form',
      { className: 'filters', ariaLabel: 'Filter jobs', role: 'search' },
      h('label', {}, 'Kind', kindSel),
      h('label', {}, 'Status', statusSel),
      h('label', {}, 'Repo', repoSel),
      h('div', { className: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '/jobs', className: 'button-link secondary' }, 'Clear')),
    );
    const apply = () => ctx.navigate(withQuery('/jobs', new URLSearchParams(), { kind: kindSel.value, status: statusSel.value, repo: repoSel.value.trim() }));
    filters.onsubmit = (e) => {
      e.preventDefault();
      apply();
    };
    kindSel.onchange = apply;
    statusSel.onchange = apply;
    if (repoSel instanceof HTMLSelectElement) repoSel.onchange = apply;

    const firstPage = !q.has('after') && !q.has('before');
    const rows = new LiveRows<Job>(
      conn.edges.map((e) => e.node),
      jobRow,
      pageSize,
    );
    const filtered = ['kind', 'status', 'repo'].some((k) => q.get(k));
    const tbl = liveTable(jobHeaders, rows, filtered ? 'No job matches these filters.' : firstPage ? 'No jobs yet: builds, publishes and repo updates run as jobs.' : 'No jobs on this page.', 'Jobs');
    const count = h('span', { className: 'muted' });
    followLiveList(ctx, {
      events: ctx.client.jobsUpdated(),
      item: (e) => e.jobsUpdated,
      matches: (j) => jobMatches(j, q),
      rows,
      table: tbl,
      firstPage,
      total: conn.totalCount,
      count: (n) => (count.textContent = `${n} job${n === 1 ? '' : 's'}`),
      reread: async () => {
        const r = await ctx.client.jobs(listArgs, { signal: ctx.signal });
        return { items: r.jobs.edges.map((e) => e.node), totalCount: r.jobs.totalCount };
      },
    });

    return h('div', { className: 'stack' }, h('section', { className: 'card', ariaLabel: 'Filters' }, filters), h('section', { className: 'card' }, h('h2', {}, 'Jobs ', count), tbl.element, pager('/jobs', q, conn.pageInfo, 'Job list')));
  },
};

// --- /jobs/:number -------------------------------------------------------------------------------

type FullJob = NonNullable<JobQuery['job']>;

function jsonBlock(v: unknown): Child {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return null;
  return h('pre', { className: 'small-pre' }, typeof v === 'string' ? v : JSON.stringify(v, null, 2));
}

const over = (s: JobStatus) => s === 'ENDED' || s === 'BROKEN';

export const jobPage: Page = {
  title: (ctx) => `Job #${ctx.params.number}`,
  async render(ctx) {
    const number = Number(ctx.params.number);
    if (!Number.isInteger(number) || number < 1) return errorLine(`“${ctx.params.number}” is not a job number.`);
    const r = await ctx.client.job({ number }, { signal: ctx.signal });
    if (!r.job) return h('p', { className: 'empty' }, `There is no job #${number}, or your token may not read it. `, link('/jobs', 'All jobs'), '.');
    let job: Job = r.job;
    const contents = (r.job as FullJob).contents;

    const summary = h('div', { className: 'job-summary' });
    const extra = h('div', { className: 'job-extra' });
    const result = h('div', { className: 'action-result', role: 'status', ariaLive: 'polite' });
    const cancel = h('button', { type: 'button', className: 'danger' }, 'Cancel');
    cancel.title = 'cancels a queued job, or asks a running one to stop at its next checkpoint';
    const build = r.job.buildNumber ?? undefined;

    const render = () => {
      const j = job;
      cancel.hidden = over(j.status);
      cancel.disabled = j.cancelRequested;
      fill(
        summary,
        h('h2', {}, `Job #${j.number}`, badge(j.status), j.cancelRequested && !over(j.status) ? h('span', { className: 'muted' }, 'cancel requested') : null),
        j.error ? h('p', { className: 'error' }, j.error) : null,
        h(
          'dl',
          {},
          ...(
            [
              ['Kind', j.kind],
              ['Status', j.status.toLowerCase()],
              ['Repo', j.repo ? link(`/repos/${encodeURIComponent(j.repo)}`, j.repo) : null],
              ['Build', build ? link(`/builds/${build}`, `#${build}`) : null],
              ['Progress', j.status === 'STARTED' || j.status === 'NEW' ? jobProgress(j) : null],
              ['Waits for', j.dependsOn ? h('span', {}, link(`/jobs/${j.dependsOn.number}`, `#${j.dependsOn.number} ${j.dependsOn.kind}`), ' ', badge(j.dependsOn.status)) : null],
              ['Created', shortDate(j.createdAt)],
              ['Start after', j.startAfter && !j.startedAt ? shortDate(j.startAfter) : null],
              ['Started', shortDate(j.startedAt)],
              ['Finished', j.finishedAt ? shortDate(j.finishedAt) : null],
              ['Took', j.startedAt ? jobDuration(j) : null],
              ['Attempts', `${j.attempts} of ${j.maxAttempts}`],
              ['Log size', `${j.logSize.toLocaleString()} bytes`],
            ] as [string, Child][]
          )
            .filter(([, v]) => v !== null && v !== undefined)
            .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
      );
      const resultOpen = extra.querySelector<HTMLDetailsElement>('details.job-result')?.open;
      fill(
        extra,
        j.results !== null && j.results !== undefined ? h('details', { className: 'job-result', open: resultOpen ?? over(j.status) }, h('summary', {}, 'Result'), jsonBlock(j.results) ?? h('p', { className: 'empty' }, 'empty')) : null,
        jsonBlock(contents) ? h('details', {}, h('summary', {}, 'Contents'), jsonBlock(contents)) : null,
      );
    };

    cancel.onclick = () =>
      confirmInline(cancel, { question: `Cancel job #${number}? A running job stops at its next checkpoint.`, yes: 'Yes, cancel it', no: 'Keep it', onYes: () => void cancelJob() });
    const cancelJob = async () => {
      cancel.disabled = true;
      result.replaceChildren(h('p', {}, 'Cancelling…'));
      try {
        const res = (await ctx.client.cancelJob({ input: { number } })).cancelJob;
        if (isErrorResult(res)) {
          result.replaceChildren(h('p', { className: 'error', role: 'alert' }, `Cancel refused: ${res.message}`));
          cancel.disabled = false;
          return;
        }
        if (res.__typename === 'CancelJobPayload') job = res.job;
        render();
        result.replaceChildren(h('p', { className: 'ok' }, over(job.status) ? 'Job cancelled.' : 'Cancel requested: the job stops at its next checkpoint.'));
      } catch (err) {
        const m = ctx.failed(err);
        if (m) result.replaceChildren(errorLine(`Cancel failed: ${m}`));
        cancel.disabled = false;
      }
    };

    const refetch = debounce(async () => {
      try {
        const again = await ctx.client.job({ number }, { signal: ctx.signal });
        if (again.job) {
          job = again.job;
          render();
        }
      } catch (err) {
        if (!ctx.signal.aborted) {
          const m = ctx.failed(err);
          if (m) result.replaceChildren(errorLine(`Could not refresh the job: ${m}`));
        }
      }
    }, 300, ctx.signal);

    // jobUpdated ends once the job is over; the last state is read again then
    if (!over(job.status)) {
      ctx.follow(ctx.client.jobUpdated({ number }), ({ jobUpdated }) => {
        job = jobUpdated;
        render();
        if (over(job.status) && job.cancelRequested && result.textContent?.startsWith('Cancel requested')) result.replaceChildren(h('p', { className: 'ok' }, 'Job cancelled.'));
      });
      ctx.onReconnect(refetch);
    }
    const log = liveLog(ctx, number, { onEnd: () => (over(job.status) ? undefined : refetch()) });
    render();
    // the button stays in place while the summary above it re-renders, so it keeps the focus
    const controls = h('div', { className: 'job-controls' }, h('div', { className: 'actions' }, cancel), result);
    return h('div', { className: 'stack job-page' }, h('p', { className: 'crumbs' }, link('/jobs', '← Jobs')), h('section', { className: 'card', ariaLabel: 'Job' }, summary, controls, extra), h('section', { className: 'card', ariaLabel: 'Log' }, h('h2', {}, 'Log'), log.element));
  },
};
