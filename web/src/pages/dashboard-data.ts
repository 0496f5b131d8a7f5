// The home page's figures from buildStats, as pure functions (charted by charts.ts, tested in
// dashboard-data.test.ts).

export type StatsDay = {
  day: string;
  succeeded: number;
  failed: number;
  cancelled: number;
  medianDurationSeconds: number | null;
  maxDurationSeconds: number | null;
};

/** `2026-12-03` → its UTC midnight in unix seconds (uPlot's time axis). */
export function dayToUnix(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  return Date.UTC(y!, m! - 1, d!) / 1000;
}

/** Per day: succeeded / (succeeded + failed) in percent; null on a day where none ended either way. */
export function successRates(days: readonly StatsDay[]): (number | null)[] {
  return days.map((d) => {
    const ended = d.succeeded + d.failed;
    return ended ? Math.round((d.succeeded / ended) * 1000) / 10 : null;
  });
}

/** The chart data: x (unix seconds), success rate %, median and max duration (seconds), builds that ended. */
export function chartData(days: readonly StatsDay[]): { x: number[]; rate: (number | null)[]; median: (number | null)[]; max: (number | null)[]; ended: number[] } {
  return {
    x: days.map((d) => dayToUnix(d.day)),
    rate: successRates(days),
    median: days.map((d) => d.medianDurationSeconds),
    max: days.map((d) => d.maxDurationSeconds),
    ended: days.map((d) => d.succeeded + d.failed + d.cancelled),
  };
}

/** `87 %`, or `—` when nothing finished. */
export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return '—';
  const p = rate * 100;
  return `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

/** True when the days hold anything to chart. */
export function hasData(days: readonly StatsDay[]): boolean {
  return days.some((d) => d.succeeded + d.failed + d.cancelled > 0 || d.medianDurationSeconds !== null);
}

/**
 * A formatter for a duration axis whose largest value is `max` seconds: seconds (with a decimal
 * under 10 s) up to 2 minutes, then minutes, then hours, so that neighbouring ticks differ.
 */
export function durationFormat(max: number): (seconds: number) => string {
  const trim = (n: number) => String(Math.round(n * 10) / 10);
  if (max < 10) return (v) => `${trim(v)} s`;
  if (max < 120) return (v) => `${Math.round(v)} s`;
  if (max < 2 * 3600) return (v) => `${trim(v / 60)} min`;
  return (v) => `${trim(v / 3600)} h`;
}

export type PhaseDay = { queueWaitSeconds: number | null; buildSeconds: number | null; commitSeconds: number | null; publishSeconds: number | null };

/** Per day, the median seconds of each phase of a build (null on days without one). */
export function phaseSeries(days: readonly PhaseDay[]): { queue: (number | null)[]; build: (number | null)[]; commit: (number | null)[]; publish: (number | null)[] } {
  return {
    queue: days.map((d) => d.queueWaitSeconds),
    build: days.map((d) => d.buildSeconds),
    commit: days.map((d) => d.commitSeconds),
    publish: days.map((d) => d.publishSeconds),
  };
}

export type DownloadRef = { repo: string; ref: string; appId: string; installs: number; updates: number };
export type AppDownloads = { appId: string; installs: number; updates: number; refs: DownloadRef[] };

/** downloadStats' refs summed per app id, the most downloaded first. */
export function downloadsByApp(refs: readonly DownloadRef[]): AppDownloads[] {
  const apps = new Map<string, AppDownloads>();
  for (const r of refs) {
    const a = apps.get(r.appId) ?? { appId: r.appId, installs: 0, updates: 0, refs: [] };
    a.installs += r.installs;
    a.updates += r.updates;
    a.refs.push(r);
    apps.set(r.appId, a);
  }
  return [...apps.values()].sort((a, b) => b.installs + b.updates - (a.installs + a.updates) || a.appId.localeCompare(b.appId));
}

/** `app/org.example.App/x86_64/stable` → `x86_64/stable` (the ref's arch and branch). */
export function archBranch(ref: string): string {
  return ref.split('/').slice(2).join('/') || ref;
}
