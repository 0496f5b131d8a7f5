// The home page: build figures and charts (buildStats), recent builds, running jobs and what
// each repo published, kept current by buildsUpdated and jobsUpdated.
import type { BuildStatsQuery } from '@fmd/sdk';
import { errorLine, formatDuration, h, link, table, type Child } from '../ui.ts';
import { readable, type Page } from './page.ts';
import { buildHeadersCompact, buildRowCompact, debounce, jobHeaders, jobRow, LiveRows, liveTable, type Build, type Job } from './builds-shared.ts';
import { fill } from '../forms.ts';
import { chartData, durationFormat, hasData, percent } from './dashboard-data.ts';

const recentSize = 10;
const dayChoices = [7, 30, 90];

type Stats = BuildStatsQuery['buildStats'];

function tile(label: string, value: string, hint?: Child, href?: string): HTMLElement {
  return h('div', { className: 'tile' }, h('div', { className: 'tile-value' }, value), h('div', { className: 'tile-label' }, href ? link(href, label) : label), hint ? h('div', { className: 'muted' }, hint) : null);
}

export const dashboardPage: Page = {
  title: 'Dashboard',
  async render(ctx) {
    const days = dayChoices.includes(Number(ctx.query.get('days'))) ? Number(ctx.query.get('days')) : 30;
    const statsRepo = ctx.query.get('repo') || undefined;

    const tiles = h('div', { className: 'tiles', role: 'group', ariaLabel: 'Build figures' }, h('p', { className: 'muted' }, 'Loading the figures…'));
    const charts = h('div', { className: 'charts' });
    const reposCard = h('section', { className: 'card', ariaLabel: 'Repos' });
    const statsError = h('div', {});
    let destroyCharts: (() => void)[] = [];
    ctx.signal.addEventListener('abort', () => destroyCharts.forEach((d) => d()), { once: true });

    // --- build figures and charts ----------------------------------------------------------------
    const showStats = async (s: Stats) => {
      fill(
        tiles,
        tile(`Builds, last ${days} days`, String(s.total), `${s.running} running`, statsRepo ? `/builds?repo=${encodeURIComponent(statsRepo)}` : '/builds'),
        tile('Success rate', percent(s.successRate), h('span', {}, `${s.succeeded} succeeded, `, s.failed ? link(`/builds?state=FAILED${statsRepo ? `&repo=${encodeURIComponent(statsRepo)}` : ''}`, `${s.failed} failed`) : '0 failed')),
        tile('Median duration', formatDuration(s.medianDurationSeconds), 'creation to commit'),
        tile('Cancelled', String(s.cancelled), s.purged ? `${s.purged} purged` : undefined),
      );
      if (s.truncated) tiles.append(h('p', { className: 'muted' }, `Busy window: the figures cover the newest builds since ${s.since.slice(0, 10)}.`));
      fill(
        reposCard,
        h('h2', {}, 'Repos', h('span', { className: 'muted' }, `builds in the last ${days} days`)),
        table(
          ['Repo', 'Builds', 'Published'],
          s.repos.map((r) =>
            h(
              'tr',
              {},
              h('td', {}, link(`/repos/${encodeURIComponent(r.repo)}`, r.repo)),
              h('td', { className: 'num' }, link(`/builds?repo=${encodeURIComponent(r.repo)}`, String(r.builds))),
              h('td', { className: 'num' }, link(`/builds?repo=${encodeURIComponent(r.repo)}&published=PUBLISHED`, String(r.published))),
            ),
          ),
          `No builds in the last ${days} days.`,
        ),
      );
      destroyCharts.forEach((d) => d());
      destroyCharts = [];
      if (!hasData(s.days)) {
        fill(charts, h('p', { className: 'empty' }, `No finished builds in the last ${days} days: the charts start with the first one.`));
        return;
      }
      const d = chartData(s.days);
      const rateBox = h('figure', { className: 'chart' }, h('figcaption', {}, 'Success rate per day'));
      const durBox = h('figure', { className: 'chart' }, h('figcaption', {}, 'Build duration per day'));
      const rateTable = h(
        'details',
        { className: 'chart-table' },
        h('summary', {}, 'As a table'),
        table(
          ['Day', 'Succeeded', 'Failed', 'Cancelled', 'Success rate', 'Median', 'Longest'],
          s.days.map((x, i) =>
            h('tr', {}, h('td', { className: 'date' }, x.day), h('td', { className: 'num' }, x.succeeded), h('td', { className: 'num' }, x.failed), h('td', { className: 'num' }, x.cancelled), h('td', { className: 'num' }, d.rate[i] === null ? '—' : `${d.rate[i]} %`), h('td', { className: 'num' }, formatDuration(x.medianDurationSeconds)), h('td', { className: 'num' }, formatDuration(x.maxDurationSeconds))),
          ),
          '',
        ),
      );
      fill(charts, h('div', { className: 'chart-grid' }, rateBox, durBox), rateTable);
      try {
        const { lineChart } = await import('../charts.ts');
        if (ctx.signal.aborted) return;
        destroyCharts.push(
          lineChart(rateBox, { label: `Success rate per day over the last ${days} days`, x: d.x, series: [{ label: 'Success rate', values: d.rate, color: '--ok' }], format: (v) => `${Math.round(v)} %`, range: [0, 100] }).destroy,
          lineChart(durBox, {
            label: `Median and longest build duration per day over the last ${days} days`,
            x: d.x,
            series: [
              { label: 'Median', values: d.median, color: '--accent' },
              { label: 'Longest', values: d.max, color: '--warn', dash: [6, 4] },
            ],
            format: durationFormat(Math.max(0, ...d.max.map((v) => v ?? 0))),
          }).destroy,
        );
      } catch (err) {
        charts.append(errorLine(`The charts could not be drawn: ${err instanceof Error ? err.message : String(err)}`));
      }
    };

    const loadStats = async () => {
      try {
        const r = await ctx.client.buildStats({ days, repo: statsRepo }, { signal: ctx.signal });
        if (ctx.signal.aborted) return;
        statsError.replaceChildren();
        await showStats(r.buildStats);
      } catch (err) {
        if (ctx.signal.aborted) return;
        const m = ctx.failed(err);
        if (m) statsError.replaceChildren(errorLine(`Build figures: ${m}`));
      }
    };

    // --- recent builds and running jobs ------------------------------------------------------------
    // a token sees the sections it may read (a jobs token no builds, a download token no jobs)
    const can = readable(ctx.viewer);
    const noBuilds = { builds: { edges: [] as { node: Build }[] } };
    const noJobs = { jobs: { edges: [] as { node: Job }[], totalCount: 0 } };
    const [builds, running, queued] = await Promise.all([
      can.builds ? ctx.client.builds({ first: recentSize }, { signal: ctx.signal }) : noBuilds,
      can.jobs ? ctx.client.jobs({ first: 50, status: 'STARTED' }, { signal: ctx.signal }) : noJobs,
      can.jobs ? ctx.client.jobs({ first: 50, status: 'NEW' }, { signal: ctx.signal }) : noJobs,
    ]);
    const recent = new LiveRows<Build>(
      builds.builds.edges.map((e) => e.node),
      buildRowCompact,
      recentSize,
    );
    const recentTable = liveTable(buildHeadersCompact, recent, 'No builds yet. Start one from Builds → New git build, or push one with fmdc.', 'Recent builds');
    const jobs = new LiveRows<Job>(
      running.jobs.edges.map((e) => e.node),
      jobRow,
      100,
    );
    const jobsTable = liveTable(jobHeaders, jobs, 'No job is running.', 'Running jobs');
    const queuedIds = new Set(queued.jobs.edges.map((e) => e.node.number));
    let queuedExtra = Math.max(0, queued.jobs.totalCount - queuedIds.size);
    const queuedLine = h('p', { className: 'muted' });
    const showQueued = () => {
      const n = queuedIds.size + queuedExtra;
      queuedLine.replaceChildren(n ? h('span', {}, `${n} job${n === 1 ? '' : 's'} queued · `, link('/jobs?status=NEW', 'see them')) : 'No job waiting.');
    };
    showQueued();

    const refreshStats = debounce(() => void loadStats(), 3000, ctx.signal);
    if (can.builds) {
      ctx.follow(ctx.client.buildsUpdated({}), ({ buildsUpdated: b }) => {
        recent.update(b, true);
        recentTable.refresh();
        refreshStats();
      });
    }
    if (can.jobs) ctx.follow(ctx.client.jobsUpdated(), ({ jobsUpdated: j }) => {
      if (j.status === 'STARTED') {
        queuedIds.delete(j.number);
        jobs.update(j, true);
      } else if (j.status === 'NEW') {
        if (!queuedIds.has(j.number)) queuedIds.add(j.number);
      } else {
        queuedIds.delete(j.number);
        // show the end briefly, then drop it from the running list
        if (jobs.has(j.number)) {
          jobs.update(j, false);
          setTimeout(() => {
            jobs.remove(j.number);
            jobsTable.refresh();
          }, 5000);
        }
      }
      showQueued();
      jobsTable.refresh();
    });

    const refetch = debounce(async () => {
      try {
        const [b, r, q] = await Promise.all([
          can.builds ? ctx.client.builds({ first: recentSize }, { signal: ctx.signal }) : noBuilds,
          can.jobs ? ctx.client.jobs({ first: 50, status: 'STARTED' }, { signal: ctx.signal }) : noJobs,
          can.jobs ? ctx.client.jobs({ first: 50, status: 'NEW' }, { signal: ctx.signal }) : noJobs,
        ]);
        for (const e of [...b.builds.edges].reverse()) recent.update(e.node, true);
        const now = new Set(r.jobs.edges.map((e) => e.node.number));
        for (const e of r.jobs.edges) jobs.update(e.node, true);
        for (const tr of jobs.tbody.querySelectorAll<HTMLTableRowElement>('tr[data-job]')) if (!now.has(Number(tr.dataset.job))) jobs.remove(Number(tr.dataset.job));
        queuedIds.clear();
        for (const e of q.jobs.edges) queuedIds.add(e.node.number);
        queuedExtra = Math.max(0, q.jobs.totalCount - queuedIds.size);
        showQueued();
        recentTable.refresh();
        jobsTable.refresh();
      } catch (err) {
        if (!ctx.signal.aborted) {
          const m = ctx.failed(err);
          if (m) statsError.replaceChildren(errorLine(m));
        }
      }
      if (can.builds) void loadStats();
    }, 200, ctx.signal);
    ctx.onReconnect(refetch);

    // --- the window of the figures -----------------------------------------------------------------
    const daysSel = h('select', { name: 'days' }, ...dayChoices.map((n) => h('option', { value: String(n), selected: n === days }, `${n} days`)));
    daysSel.onchange = () => go();
    const repoInput = h('input', { name: 'repo', value: statsRepo ?? '', placeholder: 'all repos', size: 12 });
    const go = () => {
      const q = new URLSearchParams();
      if (daysSel.value !== '30') q.set('days', daysSel.value);
      if (repoInput.value.trim()) q.set('repo', repoInput.value.trim());
      ctx.navigate(q.size ? `/?${q}` : '/');
    };
    const windowForm = h('form', { className: 'inline-form', ariaLabel: 'Figures window' }, h('label', { className: 'inline' }, 'Window', daysSel), h('label', { className: 'inline' }, 'Repo', repoInput), h('button', { type: 'submit', className: 'secondary small' }, 'Show'));
    windowForm.onsubmit = (e) => {
      e.preventDefault();
      go();
    };

    // drawn once the page is in the document (charts take their width and colours from it)
    if (can.builds) setTimeout(() => void loadStats(), 0);
    return h(
      'div',
      { className: 'stack dashboard' },
      can.builds && h('section', { className: 'card', ariaLabel: 'Build figures' }, h('div', { className: 'card-head' }, h('h2', {}, 'Builds', statsRepo ? h('span', { className: 'muted' }, `in ${statsRepo}`) : null), windowForm), statsError, tiles, charts),
      can.builds && h('div', { className: 'two-cols' }, h('section', { className: 'card', ariaLabel: 'Recent builds' }, h('h2', {}, 'Recent builds', link('/builds', 'all builds')), recentTable.element), reposCard),
      can.jobs && h('section', { className: 'card', ariaLabel: 'Running jobs' }, h('h2', {}, 'Running jobs', link('/jobs', 'all jobs')), !can.builds && statsError, jobsTable.element, queuedLine),
      !can.builds &&
        !can.jobs &&
        h('p', { className: 'empty' }, `This token (scopes: ${ctx.viewer.scopes.join(', ') || 'none'}) reads neither builds nor jobs. `, link('/repos', 'Repos'), ', ', link('/keys', 'keys'), ' and ', link('/tokens', 'tokens'), ' are open to it.'),
    );
  },
};

