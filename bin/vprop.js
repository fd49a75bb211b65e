#!/usr/bin/env node
// Runs the compiled CLI; in a source checkout without a build, runs the TypeScript through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
if (existsSync(built)) {
  const { main } = await import(pathToFileURL(built).href);
  process.exitCode = await main(process.argv);
} else {
  const { tsImport } = await import('tsx/esm/api');
  const { main } = await tsImport(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href, import.meta.url);
  process.exitCode = await main(process.argv);
}
