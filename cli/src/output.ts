// Human output of fmdc: aligned tables and key/value blocks. `--json` output never goes
// through here (oclif prints what `run()` returns).

export type Column<T> = {
  header: string;
  /** the cell's text; null/undefined print as "-" */
  get: (row: T) => string | number | boolean | null | undefined;
  /** right-align (numbers, sizes) */
  right?: boolean;
};

function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v);
}

/** Lines of an aligned table with a header row; `empty` when there are no rows. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** `key: value` lines with the keys aligned; null/undefined values are left out. */
export function details(entries: Record<string, string | number | boolean | null | undefined | readonly string[]>): string {
  const shown = Object.entries(entries).filter(([, v]) => v !== null && v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${Array.isArray(v) ? (v.length ? v.join(', ') : '-') : cell(v as string)}`).join('\n');
}

/** 1536 -> "1.5 KiB" */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** An ISO timestamp as `2026-12-02 22:55` (UTC), or "-". */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
