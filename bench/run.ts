/**
 * Runs the speed and memory benchmarks one after another (each in its own process, so one's heap
 * does not disturb the next) and prints their reports. The accuracy benchmarks (davis-masks,
 * color-vpn, grfp) take tens of minutes and are run by name; see bench/RESULTS.md.
 *
 *   npm run bench
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { machine, projectRoot } from './common.js';

const scripts = [
  'io.ts',
  'lattice.bench.ts',
  'linear-scan.bench.ts',
  'slic.bench.ts',
  'flow.bench.ts',
  'bilateral-speed.ts',
  'backbone.bench.ts',
];
console.log(`# vprop benchmarks, ${machine()}, ${new Date().toISOString()}`);
let failed = 0;
for (const s of scripts) {
  console.log(`\n## ${s}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', s)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
