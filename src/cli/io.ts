/** Where the CLI prints. Tests pass their own to capture output. */
import { createRequire } from 'node:module';
import type CliTable3 from 'cli-table3';
import { visible, visibleLines } from '../domain/text.js';

// cli-table3 (CommonJS) is loaded on the first table printed, not at every CLI start
const load = createRequire(import.meta.url);
let Table: typeof CliTable3 | undefined;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  isTTY: process.stderr.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
};

/**
 * What the CLI prints, made safe for a terminal: control and bidi characters of stored text (reasons, outputs,
 * names, errors) shown as escapes, never written raw (src/domain/text.ts). JSON stays valid JSON.
 */
export function terminalIo(io: Io): Io {
  return { ...io, out: (t) => io.out(visibleLines(t)), err: (t) => io.err(visibleLines(t)) };
}

export function table(head: string[], rows: (string | number)[][]): string {
  Table ??= load('cli-table3') as typeof CliTable3;
  const t = new Table({ head, style: { head: [], border: [] } });
  // a cell is one value: a line feed in it is escaped too, so that it cannot forge a row
  for (const r of rows) t.push(r.map((c) => visible(String(c))));
  return t.toString();
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
