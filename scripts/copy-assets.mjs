// Part of `npm run build`: copies the bundled ONNX weights next to the compiled models module
// (dist/models/weights), where bundledModelPath() finds them in an installed package.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src', 'models', 'weights');
const to = join(root, 'dist', 'models', 'weights');
mkdirSync(to, { recursive: true });
let n = 0;
for (const name of readdirSync(from)) {
  if (!name.endsWith('.onnx')) continue;
  copyFileSync(join(from, name), join(to, name));
  n++;
}
if (n === 0) throw new Error(`no bundled weights in ${from}`);

// The HTTP API's OpenAPI description, next to the compiled server (served at /api/openapi.yaml).
mkdirSync(join(root, 'dist', 'server'), { recursive: true });
copyFileSync(join(root, 'src', 'server', 'openapi.yaml'), join(root, 'dist', 'server', 'openapi.yaml'));
