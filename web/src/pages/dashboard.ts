// The home page: build figures and charts (buildStats: outcomes, durations per phase, apps, top
// failure reasons), downloads (downloadStats), recent builds, running jobs and what each repo
// published, kept current by buildsUpdated and jobsUpdated.
import type { BuildStatsQuery, DownloadStatsQuery } from '@fmd/sdk';
import { errorLine, formatDuration, h, link, table, type Child } from '../ui.ts';
import { readable, type Page } from './page.ts';
import { buildHeadersCompact, buildRowCompact, debounce, jobHeaders, jobRow, LiveRows, liveTable, type Build, type Job } from './builds-shared.ts';
import { fill } from '../forms.ts';
import { archBranch, chartData, dayToUnix, downloadsByApp, durationFormat, hasData, percent, phaseSeries } from './dashboard-data.ts';

const recentSize = 10;
const dayChoices = [7, 30, 90];

type Stats = BuildStatsQuery['buildStats'];
type Downloads = NonNullable<DownloadStatsQuery['downloadStats']>;

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
    const appsCard = h('section', { className: 'card', ariaLabel: 'Apps' });
    const failuresCard = h('section', { className: 'card', ariaLabel: 'Top failure reasons' });
    const downloadsBody = h('div', {}, h('p', { className: 'muted' }, 'Loading the downloads…'));
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
        tile('Median build or upload', formatDuration(s.buildSeconds), `queue ${formatDuration(s.queueWaitSeconds)} · commit ${formatDuration(s.commitSeconds)} · publish ${formatDuration(s.publishSeconds)}`),
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
      const buildsOf = (appId: string) => `/builds?appId=${encodeURIComponent(appId)}${statsRepo ? `&repo=${encodeURIComponent(statsRepo)}` : ''}`;
      fill(
        appsCard,
        h('h2', {}, 'Apps', h('span', { className: 'muted' }, `builds in the last ${days} days, median phases`)),
        table(
          ['App', 'Builds', 'Success rate', 'Queue', 'Build', 'Commit', 'Publish'],
          s.apps.map((a) =>
            h(
              'tr',
              {},
              h('td', {}, link(buildsOf(a.appId), a.appId)),
              h('td', { className: 'num' }, a.builds),
              h('td', { className: 'num' }, percent(a.successRate)),
              h('td', { className: 'num' }, formatDuration(a.queueWaitSeconds)),
              h('td', { className: 'num' }, formatDuration(a.buildSeconds)),
              h('td', { className: 'num' }, formatDuration(a.commitSeconds)),
              h('td', { className: 'num' }, formatDuration(a.publishSeconds)),
            ),
          ),
          `No app was built in the last ${days} days.`,
        ),
      );
      fill(
        failuresCard,
        h('h2', {}, 'Top failure reasons', h('span', { className: 'muted' }, `last ${days} days`)),
        table(
          ['Reason', 'Times', 'Last'],
          s.failureReasons.map((f) =>
            h('tr', {}, h('td', {}, h('code', { className: 'reason', title: f.reason }, f.reason)), h('td', { className: 'num' }, f.count), h('td', {}, link(`/builds/${f.lastBuildNumber}`, `#${f.lastBuildNumber}`))),
          ),
          `No build failed in the last ${days} days.`,
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
      const phaseBox = h('figure', { className: 'chart' }, h('figcaption', {}, 'Median phases per day'));
      const ph = phaseSeries(s.days);
      const rateTable = h(
        'details',
        { className: 'chart-table' },
        h('summary', {}, 'As a table'),
        table(
          ['Day', 'Succeeded', 'Failed', 'Cancelled', 'Success rate', 'Median', 'Longest', 'Queue', 'Build', 'Commit', 'Publish'],
          s.days.map((x, i) =>
            h(
              'tr',
              {},
              h('td', { className: 'date' }, x.day),
              h('td', { className: 'num' }, x.succeeded),
              h('td', { className: 'num' }, x.failed),
              h('td', { className: 'num' }, x.cancelled),
              h('td', { className: 'num' }, d.rate[i] === null ? '—' : `${d.rate[i]} %`),
              h('td', { className: 'num' }, formatDuration(x.medianDurationSeconds)),
              h('td', { className: 'num' }, formatDuration(x.maxDurationSeconds)),
              h('td', { className: 'num' }, formatDuration(x.queueWaitSeconds)),
              h('td', { className: 'num' }, formatDuration(x.buildSeconds)),
              h('td', { className: 'num' }, formatDuration(x.commitSeconds)),
              h('td', { className: 'num' }, formatDuration(x.publishSeconds)),
            ),
          ),
          '',
        ),
      );
      fill(charts, h('div', { className: 'chart-grid' }, rateBox, durBox, phaseBox), rateTable);
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
          lineChart(phaseBox, {
            label: `Median queue wait, build, commit and publish time per day over the last ${days} days`,
            x: d.x,
            series: [
              { label: 'Queue', values: ph.queue, color: '--muted', dash: [2, 3] },
              { label: 'Build', values: ph.build, color: '--accent' },
              { label: 'Commit', values: ph.commit, color: '--ok' },
              { label: 'Publish', values: ph.publish, color: '--warn' },
            ],
            format: durationFormat(Math.max(0, ...[...ph.queue, ...ph.build, ...ph.commit, ...ph.publish].map((v) => v ?? 0))),
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

    // --- downloads ---------------------------------------------------------------------------------
    let destroyDownloadChart: (() => void) | undefined;
    ctx.signal.addEventListener('abort', () => destroyDownloadChart?.(), { once: true });
    const showDownloads = async (dl: Downloads | null) => {
      destroyDownloadChart?.();
      destroyDownloadChart = undefined;
      if (!dl) {
        fill(downloadsBody, h('p', { className: 'empty' }, `No repo ${statsRepo} that this token reads.`));
        return;
      }
      const apps = downloadsByApp(dl.refs);
      const chartBox = h('figure', { className: 'chart' }, h('figcaption', {}, 'Installs and updates per day'));
      fill(
        downloadsBody,
        h('div', { className: 'tiles', role: 'group', ariaLabel: 'Download figures' }, tile(`Installs, last ${days} days`, String(dl.installs)), tile('Updates', String(dl.updates)), tile('Apps downloaded', String(apps.length))),
        dl.installs + dl.updates ? chartBox : h('p', { className: 'empty' }, `No downloads in the last ${days} days: flatpak installs and updates from these repos show here.`),
        table(
          ['App', 'Installs', 'Updates', 'Refs'],
          apps.map((a) =>
            h(
              'tr',
              {},
              h('td', {}, a.appId),
              h('td', { className: 'num' }, a.installs),
              h('td', { className: 'num' }, a.updates),
              h('td', {}, ...a.refs.flatMap((r, i) => [i ? h('br', {}) : null, h('span', { title: r.ref }, `${r.repo} ${archBranch(r.ref)}: ${r.installs} + ${r.updates}`)])),
            ),
          ),
          '',
        ),
      );
      if (!(dl.installs + dl.updates)) return;
      try {
        const { lineChart } = await import('../charts.ts');
        if (ctx.signal.aborted) return;
        destroyDownloadChart = lineChart(chartBox, {
          label: `Installs and updates per day over the last ${days} days`,
          x: dl.days.map((x) => dayToUnix(x.day)),
          series: [
            { label: 'Installs', values: dl.days.map((x) => x.installs), color: '--accent' },
            { label: 'Updates', values: dl.days.map((x) => x.updates), color: '--ok' },
          ],
          // counts: whole ticks only
          format: (v) => (Number.isInteger(v) ? String(v) : ''),
        }).destroy;
      } catch (err) {
        downloadsBody.append(errorLine(`The chart could not be drawn: ${err instanceof Error ? err.message : String(err)}`));
      }
    };
    const loadDownloads = async () => {
      try {
        const r = await ctx.client.downloadStats({ days, repo: statsRepo }, { signal: ctx.signal });
        if (ctx.signal.aborted) return;
        await showDownloads(r.downloadStats);
      } catch (err) {
        if (ctx.signal.aborted) return;
        const m = ctx.failed(err);
        if (m) fill(downloadsBody, errorLine(`Downloads: ${m}`));
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
    if (can.builds) setTimeout(() => void Promise.all([loadStats(), loadDownloads()]), 0);
    return h(
      'div',
      { className: 'stack dashboard' },
      can.builds && h('section', { className: 'card', ariaLabel: 'Build figures' }, h('div', { className: 'card-head' }, h('h2', {}, 'Builds', statsRepo ? h('span', { className: 'muted' }, `in ${statsRepo}`) : null), windowForm), statsError, tiles, charts),
      can.builds && h('div', { className: 'two-cols' }, h('section', { className: 'card', ariaLabel: 'Recent builds' }, h('h2', {}, 'Recent builds', link('/builds', 'all builds')), recentTable.element), reposCard),
      can.builds && h('div', { className: 'two-cols' }, appsCard, failuresCard),
      can.builds && h('section', { className: 'card', ariaLabel: 'Downloads' }, h('h2', {}, 'Downloads', h('span', { className: 'muted' }, statsRepo ? `in ${statsRepo}, ` : '', 'flatpak installs and updates')), downloadsBody),
      can.jobs && h('section', { className: 'card', ariaLabel: 'Running jobs' }, h('h2', {}, 'Running jobs', link('/jobs', 'all jobs')), !can.builds && statsError, jobsTable.element, queuedLine),
      !can.builds &&
        !can.jobs &&
        h('p', { className: 'empty' }, `This token (scopes: ${ctx.viewer.scopes.join(', ') || 'none'}) reads neither builds nor jobs. `, link('/repos', 'Repos'), ', ', link('/keys', 'keys'), ' and ', link('/tokens', 'tokens'), ' are open to it.'),
    );
  },
};

