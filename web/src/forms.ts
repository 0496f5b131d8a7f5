// Small form helpers the repo, key and token pages share: labelled fields, list and duration
// parsing, and submitting a form whose mutation answers a payload or a typed error.
import { isErrorResult } from '@fmd/sdk';
import { h, showFormErrors, type Child } from './ui.ts';

/** A visible label around its input, with an optional hint under it (tied with aria-describedby). */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: Child): HTMLLabelElement {
  let hintEl: HTMLElement | null = null;
  if (hint) {
    const id = `hint-${input.name || label.replace(/\W+/g, '-')}-${++hintCount}`;
    hintEl = h('span', { className: 'muted hint', id }, hint);
    input.setAttribute('aria-describedby', id);
  }
  return h('label', {}, h('span', {}, label), input, hintEl);
}
let hintCount = 0;

/** A checkbox with its label after it. */
export function checkbox(label: string, input: HTMLInputElement, hint?: Child): HTMLLabelElement {
  input.type = 'checkbox';
  return h('label', { className: 'inline' }, input, label, hint ? h('span', { className: 'muted' }, ` — `, hint) : null);
}

/** `a, b c\nd` -> `['a', 'b', 'c', 'd']`: commas, spaces and new lines separate, empty items dropped. */
export function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The inverse of splitList, for pre-filling an input. */
export function joinList(items: readonly string[] | null | undefined): string {
  return (items ?? []).join(', ');
}

const units: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/**
 * A duration as people type it: `90d`, `2h`, `30m`, `1w`, `1y`, `1d 12h`, or plain seconds
 * (`3600`). Returns undefined for an empty text and NaN for one that does not parse.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (!t) return undefined;
  if (/^\d+$/.test(t)) return Number(t);
  let total = 0;
  let rest = t;
  const part = /^(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w|y)\s*/;
  while (rest) {
    const m = part.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** Seconds as the shortest text parseDuration reads back: `2d`, `36h`, `90m`, `45s`, `0`. */
export function formatDurationInput(seconds: number | null | undefined): string {
  if (!seconds) return seconds === 0 ? '0' : '';
  for (const [u, n] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds % n === 0) return `${seconds / n}${u}`;
  return `${seconds}s`;
}

/** The trimmed value, or undefined when empty (create: leave the server default). */
export function optional(value: string): string | undefined {
  const v = value.trim();
  return v ? v : undefined;
}

/** Reads a JSON textarea: undefined when empty, throws a field-tagged error when it does not parse. */
export function parseJsonField(name: string, text: string): unknown {
  const t = text.trim();
  if (!t) return undefined;
  try {
    return JSON.parse(t);
  } catch (err) {
    throw new FieldError(name, `${name}: not valid JSON (${(err as Error).message})`);
  }
}

/** An input error found before sending: shown next to the input `field`. */
export class FieldError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * Submits a form: `run` builds the input and calls the mutation; a typed error result is shown
 * next to its field, a thrown FieldError likewise, any other failure at the top of the form
 * (`failed` turns it into a message; an empty message means the session ended). The submit
 * button is disabled meanwhile. `done` gets the payload.
 */
export function onSubmit<R extends { __typename: string }>(
  form: HTMLFormElement,
  opts: { failed(err: unknown): string; run(): Promise<R>; done(result: Exclude<R, { errorType: string }>): void | Promise<void> },
): void {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = [...form.querySelectorAll<HTMLButtonElement>('button[type=submit]')];
    for (const b of buttons) b.disabled = true;
    showFormErrors(form, null);
    try {
      const result = await opts.run();
      if (isErrorResult(result)) {
        showFormErrors(form, result as unknown as { message: string; field?: string | null });
      } else {
        await opts.done(result as Exclude<R, { errorType: string }>);
      }
    } catch (err) {
      if (err instanceof FieldError) showFormErrors(form, { message: err.message, field: err.field });
      else {
        const message = opts.failed(err);
        if (message) showFormErrors(form, message);
      }
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}

/** A named value of a form's input (`''` when absent). */
export function value(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  return el && 'value' in el ? String((el as unknown as HTMLInputElement).value) : '';
}

/** Whether a form's checkbox is checked. */
export function checked(form: HTMLFormElement, name: string): boolean {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement ? el.checked : false;
}

/** The values of the checked checkboxes that share `name`. */
export function checkedValues(form: HTMLFormElement, name: string): string[] {
  return [...form.querySelectorAll<HTMLInputElement>(`input[type=checkbox][name="${name}"]`)].filter((c) => c.checked).map((c) => c.value);
}

/** A `<select>` with options `[value, label]`. */
export function select(name: string, options: readonly (readonly [string, string])[], selected = ''): HTMLSelectElement {
  return h('select', { name }, ...options.map(([v, l]) => h('option', { value: v, selected: v === selected }, l)));
}

/** A card section with a heading. */
export function section(title: Child, ...children: Child[]): HTMLElement {
  return h('section', { className: 'card' }, h('h2', {}, title), ...children);
}

/** Date-time inputs give local time; the API wants an ISO instant. */
export function secondsUntil(localDateTime: string, now = Date.now()): number {
  return Math.round((new Date(localDateTime).getTime() - now) / 1000);
}

/** Replaces an element's children, skipping the empty ones (`null`, `false`) as h() does. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)));
}
