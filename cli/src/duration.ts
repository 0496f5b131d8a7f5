// Token lifetimes on the command line: `30d`, `12h`, `90m`, `1w`, `1y`, `3600s` or plain seconds.
const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** Seconds in `text`, or undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([smhdwy]?)\s*$/i.exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * (unitSeconds[(m[2] || 's').toLowerCase()] ?? 1);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** 7200 -> "2h", 90 -> "90s", 0 -> "0s": the largest unit that divides it exactly. */
export function formatDuration(seconds: number): string {
  for (const unit of ['y', 'w', 'd', 'h', 'm'] as const) {
    const size = unitSeconds[unit]!;
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Like parseDuration, but 0 (at once) is a valid delay. */
export function parseDelay(text: string): number | undefined {
  return /^\s*0+\s*[smhdwy]?\s*$/i.test(text) ? 0 : parseDuration(text);
}
