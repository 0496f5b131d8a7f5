// Durations as people type them, for the CLI and the dashboard alike: `90d`, `12h`, `30m`,
// `45min`, `1w`, `1y`, `3600s`, plain seconds (`3600`), or several parts (`1d 12h`).
const unitSeconds: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };
const part = /^(\d+)\s*(min|[smhdwy])?\s*/i;

function seconds(text: string): number | undefined {
  let rest = text.trim();
  if (!rest) return undefined;
  let total = 0;
  while (rest) {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * unitSeconds[(m[2] ?? 's').toLowerCase()]!;
    rest = rest.slice(m[0].length);
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Seconds in `text`, or undefined when it is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const s = seconds(text);
  return s !== undefined && s > 0 ? s : undefined;
}

/** Like parseDuration, but 0 (at once) is a valid delay. */
export function parseDelay(text: string): number | undefined {
  return seconds(text);
}

/** 7200 -> "2h", 90 -> "90s", 0 -> "0s": the largest unit that divides it exactly (what parseDuration reads back). */
export function formatDuration(secs: number): string {
  for (const unit of ['y', 'w', 'd', 'h', 'm'] as const) {
    const size = unitSeconds[unit]!;
    if (secs > 0 && secs % size === 0) return `${secs / size}${unit}`;
  }
  return `${secs}s`;
}
