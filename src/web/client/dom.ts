/// <reference lib="dom" />
/** Tiny DOM helpers: every value goes in through textContent or an attribute, never as HTML. */

type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
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
    h('thead', {}, h('tr', {}, ...head.map((x) => h('th', {}, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}

export async function api<T>(path: string, params: Record<string, string | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const r = await fetch(`/api/${path}${q.size ? `?${q.toString()}` : ''}`);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

export const fmtTime = (ms: number): string =>
  ms > 0 ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '';

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
