// Builds the dashboard's assets into dist/web/assets (part of `npm run build`): the client TypeScript
// bundled by esbuild (uPlot included, no CDN), the page shell, its stylesheet and uPlot's stylesheet.
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'web', 'assets');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(root, 'src', 'web', 'client', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
for (const [from, to] of [
  [path.join(root, 'src', 'web', 'static', 'index.html'), 'index.html'],
  [path.join(root, 'src', 'web', 'static', 'app.css'), 'app.css'],
  [path.join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'uPlot.min.css'],
]) {
  await copyFile(from, path.join(out, to));
}
