/// <reference lib="dom" />
/**
 * Tiny DOM helpers: every value goes in through textContent or an attribute, never as HTML, and with its
 * control and bidi characters shown escaped (\x1b, \u202e), so a log tail or a reason can neither colour nor
 * reorder what the page shows.
 */

type Child = Node | string | number | null | undefined | false;

/** C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The text with every control or bidi character escaped visibly. */
export function visible(s: string): string {
  return s.replace(HIDDEN, (ch) => {
    const c = ch.charCodeAt(0);
    return c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
  });
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, visible(v));
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(visible(String(c))));
  }
  return el;
}

/** A link handled by the client router. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href, 'data-nav': '' }, ...children);
}

export function table(head: string[], rows: Child[][], attrs: Record<string, string> = {}): HTMLTableElement {
  return h(
    'table',
    attrs,
    h('thead', {}, h('tr', {}, ...head.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}

/** An API answer that was not 2xx: its status and the server's one-line error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, params: Record<string, string | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const r = await fetch(`/api/${path}${q.size ? `?${q.toString()}` : ''}`);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new ApiError(r.status, body.error ?? `HTTP ${r.status}`);
  return body;
}

// One time zone per page: UTC unless the operator chose local (kept in localStorage, not a secret) --------

const ZONE_KEY = 'runctrl-zone';
export type Zone = 'utc' | 'local';

export function zone(): Zone {
  try {
    return localStorage.getItem(ZONE_KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

export function setZone(z: Zone): void {
  try {
    localStorage.setItem(ZONE_KEY, z);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

/** The label of the page's zone: `UTC`, or the browser's zone with its offset. */
export function zoneLabel(z: Zone = zone()): string {
  if (z === 'utc') return 'UTC';
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const off = -new Date().getTimezoneOffset();
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  return `${name} (UTC${off < 0 ? '-' : '+'}${hh}:${mm})`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS` in the page's zone ('' for no time). */
export function fmtTime(ms: number, z: Zone = zone()): string {
  if (!(ms > 0)) return '';
  const d = new Date(ms);
  if (z === 'utc') return d.toISOString().replace('T', ' ').slice(0, 19);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A table header for times, with the zone. */
export const timeHead = (label = 'time'): string => `${label} (${zone() === 'utc' ? 'UTC' : 'local'})`;

export function fmtDuration(sec: number): string {
  if (sec < 60) return `${Math.round(sec)} s`;
  const [big, unit, small, sunit] =
    sec < 3600
      ? [Math.floor(sec / 60), 'min', Math.round(sec % 60), 's']
      : [Math.floor(sec / 3600), 'h', Math.round((sec % 3600) / 60), 'min'];
  return small > 0 ? `${big} ${unit} ${small} ${sunit}` : `${big} ${unit}`;
}

/** Shortens a value for a table cell; the whole value stays in the title. */
export function clip(s: string, n = 200): HTMLSpanElement {
  return h(
    'span',
    { title: s.length > n ? s.slice(0, 4000) : undefined },
    s.length > n ? `${s.slice(0, n)}…` : s,
  );
}
