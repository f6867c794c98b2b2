#!/usr/bin/env node
// Loads the CLI from its bundle with a V8 code cache (src/cli/code-cache.ts), else from dist/cli/main.js.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../dist/cli/code-cache.js';

// `runctrl status … | head` closes the pipe early: that is not an error
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const bundled = loadBundle(path.join(dist, 'runctrl.cjs'), process.env, path.join(dist, 'cli', 'main.js'));
const { main } = bundled ?? (await import('../dist/cli/main.js'));

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    bundled?.save();
  },
  (err) => {
    console.error(`runctrl: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 70;
  },
);
