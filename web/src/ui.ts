// Small DOM helpers every page uses: element creation, formatting, state badges, errors.
import { FmdRequestError } from '@fmd/sdk';

export type Child = Node | string | number | null | undefined | false;

/** Creates an element; `props` go to properties (`className`, `onclick`, ...), `children` are appended. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const { dataset, ...rest } = props;
  const el = Object.assign(document.createElement(tag), rest);
  if (dataset) Object.assign(el.dataset, dataset);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** A link inside the dashboard: the router handles the click, so history and deep links work. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href }, ...children);
}

/** The message a user should read for a failed request. */
export function describeError(err: unknown): string {
  if (err instanceof FmdRequestError) {
    if (err.status === 0) return `${err.message}. Is the server running?`;
    if (err.code === 'UNAUTHENTICATED') return `The server rejected the token: ${err.message}`;
    if (err.code === 'FORBIDDEN') return `Not allowed: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** True when the server no longer accepts the token (expired, revoked): the page goes back to sign-in. */
export function isAuthFailure(err: unknown): boolean {
  return err instanceof FmdRequestError && err.code === 'UNAUTHENTICATED';
}

/** `2026-12-23 13:17 UTC` from an ISO date-time. */
export function shortDate(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '—';
}

/** `3.2 MB` */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `1 h 2 min`, `3 min 4 s`, `5 s` */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A state badge (`PUBLISHED`, `FAILED`, ...); its colour comes from the style sheet's `.badge.<state>`. */
export function badge(state: string): HTMLSpanElement {
  return h('span', { className: `badge ${state.toLowerCase()}` }, state.toLowerCase().replace(/_/g, ' '));
}

/** An error line with role=alert, so screen readers announce it. */
export function errorLine(err: unknown): HTMLParagraphElement {
  return h('p', { className: 'error', role: 'alert' }, typeof err === 'string' ? err : describeError(err));
}

/**
 * Shows an error next to the input it names (an InvalidInputError's `field`, such as `name`,
 * `input.name` or `autoPromote.appIdPrefixes.0`: its last named segment is matched against the
 * inputs' `name`), or at the top of the form; null clears.
 */
export function showFormErrors(form: HTMLFormElement, error: { message: string; field?: string | null } | string | null): void {
  for (const old of form.querySelectorAll('.field-error, .form-error')) old.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!error) return;
  const e = typeof error === 'string' ? { message: error, field: null } : error;
  const name = e.field?.split('.').filter((s) => !/^\d+$/.test(s)).pop();
  const input = name ? form.querySelector<HTMLElement>(`[name="${CSS.escape(name)}"]`) : null;
  if (input) {
    const id = `err-${name}`;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    (input.closest('label') ?? input).after(h('p', { className: 'field-error error', id, role: 'alert' }, e.message));
    input.focus();
  } else {
    form.prepend(h('p', { className: 'form-error error', role: 'alert' }, e.message));
  }
}

/** Copies text and briefly says so on the button. */
export function copyButton(text: () => string, label = 'Copy'): HTMLButtonElement {
  const b = h('button', { type: 'button', className: 'secondary small', textContent: label });
  b.onclick = async () => {
    try {
      await navigator.clipboard.writeText(text());
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Select and copy';
    }
    setTimeout(() => (b.textContent = label), 1500);
  };
  return b;
}

/** A table with a header row; `empty` is shown in place of the rows when there are none. */
export function table(headers: string[], rows: HTMLTableRowElement[], empty: string): HTMLElement {
  if (!rows.length) return h('p', { className: 'empty' }, empty);
  const body = h('tbody', {}, ...rows);
  labelCells(body, headers);
  return h('div', { className: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col' }, t)))), body));
}

/**
 * Names each cell after its column (`data-label`): at phone width the style sheet shows a row as
 * a stack of labelled cells instead of a table wider than the screen.
 */
export function labelCells(body: HTMLTableSectionElement, headers: readonly string[]): void {
  for (const row of body.rows) {
    [...row.cells].forEach((cell, i) => {
      if (headers[i]) cell.dataset.label = headers[i];
    });
  }
}

/**
 * Asks beside `button` before a step that cannot be undone (no browser dialog: it stays in the
 * page, keyboard first): `yes` runs `onYes`, `no` puts focus back on the button.
 */
export function confirmInline(button: HTMLButtonElement, o: { question: string; yes: string; no: string; onYes(): void }): void {
  const yes = h('button', { type: 'button', className: 'danger' }, o.yes);
  const no = h('button', { type: 'button', className: 'secondary' }, o.no);
  const box = h('div', { className: 'confirm', role: 'group', ariaLabel: o.question }, h('span', {}, o.question), yes, no);
  button.after(box);
  button.disabled = true;
  yes.focus();
  no.onclick = () => {
    box.remove();
    button.disabled = false;
    button.focus();
  };
  yes.onclick = () => {
    box.remove();
    o.onYes();
  };
}
