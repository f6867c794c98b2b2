// Bundles the CLI (part of `npm run build`, after tsc): dist/cli/main.js and everything it imports, npm
// packages included, into one CommonJS file, dist/runctrl.cjs, that bin/runctrl.js loads with a V8 code cache
// (src/cli/code-cache.ts). One file instead of ~130 modules, and compiled code reused between invocations,
// take about 50 ms off every start-up. Modules loaded on demand (import()) stay lazy: esbuild
// runs their top level when they are first imported. dist/cli/main.js stays the fallback without a bundle.
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
await build({
  entryPoints: [path.join(root, 'dist', 'cli', 'main.js')],
  outfile: path.join(root, 'dist', 'runctrl.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // the bundle sits in dist/, as dist/config.js does: paths found from import.meta.url stay right
  define: { 'import.meta.url': '__runctrlModuleUrl', 'import.meta.dirname': '__dirname' },
  banner: { js: "const __runctrlModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
