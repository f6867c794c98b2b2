/**
 * Outputs of a job: file paths or names, one per line. An output may hold any character but a line break (it is
 * one line of $RUNCTRL_OUTPUT_FILE), so commas and spaces are kept. Stored as a JSON array (field `output_list`,
 * see src/store/schema.ts); held in memory as one text with one output per line (src/domain/state-table.ts).
 */
import { UserError } from '../errors.js';

const LINE_BREAK = /[\r\n]/;

/** The outputs of a text holding one per line: a trailing `\r` is dropped, blank lines are skipped. */
export function outputLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') out.push(line);
  }
  return out;
}

/** An output given on a command line or by a handler: a user error unless it is one non-blank line. */
export function checkOutput(o: string, where: string): string {
  if (o.trim() === '') throw new UserError(`${where}: an output must not be empty`, { exitCode: 2 });
  if (LINE_BREAK.test(o) || o.includes('\u0000'))
    throw new UserError(
      `${where}: output ${JSON.stringify(o)} holds a line break: give one output per value`,
      {
        exitCode: 2,
      },
    );
  return o;
}

/** Outputs as one text, one per line (the in-memory form; outputs never hold a line break). */
export function joinOutputs(outputs: readonly string[]): string {
  return outputs.length === 0 ? '' : outputs.join('\n');
}

export function splitOutputs(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

/** The stored form of a list of outputs: a JSON array of strings. */
export function encodeOutputList(outputs: readonly string[]): string {
  return JSON.stringify(outputs);
}

/**
 * The outputs of a stored point: the JSON array of `output_list` when the point has one, else the comma list of
 * the older field `outputs` (points written before outputs could hold commas). Undefined when `output_list` is
 * not an array of strings.
 */
export function decodeOutputList(list: unknown, legacy: unknown): string[] | undefined {
  if (typeof list !== 'string' || list === '') {
    return typeof legacy === 'string' && legacy !== '' ? legacy.split(',') : [];
  }
  let v: unknown;
  try {
    v = JSON.parse(list);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  // a line break cannot be held in memory (one output per line): replaced, never split
  return (v as string[]).map((x) => (LINE_BREAK.test(x) ? x.replace(/[\r\n]/g, ' ') : x));
}
