/**
 * Stored text shown on a terminal: control characters (C0, DEL, C1), bidi controls and invisible format
 * characters made visible as escapes (`\u001b`, `\u202e`, `\n`), so that a reason, an output or a name written
 * by anyone with write access can neither recolour nor reorder nor forge lines of what the operator reads.
 * The escapes are those of JSON, so JSON text stays valid and means the same once escaped. A backslash is left
 * as is (the escapes are for the eye, not a reversible encoding).
 */

/**
 * C0 and C1 controls, DEL, ALM, LRM/RLM, zero-width characters, line/paragraph separators, bidi embeddings,
 * overrides and isolates, word joiners and invisible operators, BOM.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** The same but for the line feed (text made of lines). */
const UNSAFE_IN_LINES =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  return NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One value (a table cell, a name, a reason): every unsafe character, line feeds included, escaped. */
export function visible(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}

/** Text of lines (what the CLI prints): every unsafe character but the line feed escaped. */
export function visibleLines(text: string): string {
  UNSAFE_IN_LINES.lastIndex = 0;
  return UNSAFE_IN_LINES.test(text) ? text.replace(UNSAFE_IN_LINES, escapeChar) : text;
}
