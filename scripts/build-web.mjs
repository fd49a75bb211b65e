// Part of `npm run build`: bundles the web app (web/) with esbuild into static files in dist/web:
// index.html, style.css, app.js (the page) and worker.js (the propagation worker, which imports
// the library's browser entry). `vprop serve` serves this folder; any static host can too.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --out DIR builds elsewhere (the browser tests build a fresh copy into a temporary folder).
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? process.argv[outArg + 1] : join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });
const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true, logLevel: 'warning' };
await build({ ...common, entryPoints: { app: join(root, 'web', 'src', 'main.ts'), worker: join(root, 'web', 'src', 'propagate-worker.ts') }, outdir: out });
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(out, f));
