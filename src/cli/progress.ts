import cliProgress from 'cli-progress';
import type { Io } from './io.js';
import type { Progress } from '../core/context.js';

/** A progress bar on a TTY (stderr); nothing when piped. Returns the callback and a stop function. */
export function progressBar(
  io: Io,
  label: string,
  minTotal = 2000,
): { onProgress?: Progress; stop: () => void } {
  if (!io.isTTY) return { stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
  return {
    onProgress: (done, total) => {
      if (total < minTotal) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `${label} [{bar}] {percentage}% {value}/{total}`,
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}
