/**
 * The last non-empty line of a log file, bounded: only a regular file (opened non-blocking, so a FIFO cannot
 * hang the caller), only its last `maxBytes`, within `timeoutMs`; '' for anything else.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export async function lastNonEmptyLine(file: string, maxBytes = 8192, timeoutMs = 2000): Promise<string> {
  if (!file) return '';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(''), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([read(file, maxBytes), timeout]);
  } catch {
    return '';
  } finally {
    clearTimeout(timer);
  }
}

async function read(file: string, maxBytes: number): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) return '';
    const len = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, st.size - len);
    const lines = buf.toString('utf8').split(/\r?\n/);
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = (lines[i] ?? '').trim();
      if (l !== '') return l.slice(0, 500);
    }
    return '';
  } finally {
    await fh.close();
  }
}

/**
 * `read` remembered per key (a failed job's stderr does not change once it has ended), at most `max` keys:
 * a page refreshed at every change does not read the same files again.
 */
export function memoLines<K>(
  read: (k: K) => Promise<string>,
  keyOf: (k: K) => string,
  max = 5000,
): (k: K) => Promise<string> {
  const memo = new Map<string, Promise<string>>();
  return (k) => {
    const key = keyOf(k);
    let p = memo.get(key);
    if (!p) {
      if (memo.size >= max) memo.delete(memo.keys().next().value as string);
      p = read(k);
      memo.set(key, p);
    }
    return p;
  };
}
