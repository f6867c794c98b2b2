/**
 * Stored text shown on a terminal: control characters (C0, DEL, C1), bidi controls and invisible format
 * characters made visible as escapes (`\x1b`, `\u202e`, `\n`), so that a reason, an output or a name written by
 * anyone with write access can neither recolour nor reorder nor forge lines of what the operator reads.
 * A backslash is left as is (the escapes are for the eye, not a reversible encoding).
 */

/** C0 and C1 controls, DEL, ALM, LRM/RLM, zero-width characters, line/paragraph separators, bidi embeddings, overrides and isolates, BOM. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every unsafe character replaced by its visible escape. */
export function visible(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}

/** Characters JSON.stringify leaves raw that a terminal would act on (it escapes U+0000–U+001F itself). */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** JSON text (of JSON.stringify) with those characters as \u escapes: the same value, safe to print. */
export function safeJson(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
