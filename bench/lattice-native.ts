/**
 * The TypeScript permutohedral lattice side by side with the native C++ reference (Krähenbühl's
 * DenseCRF lattice, ../shared/bench/native-lattice): one command builds the native harness into a
 * temporary folder (its build.sh also writes the inputs: DAVIS blackswan frames 0-1, 819,840
 * points, d = 4 and d = 6 features, C = 2 and C = 32 random values), then alternates native and
 * TypeScript processes on the same files and prints a markdown table of medians.
 *
 *   node --import tsx bench/lattice-native.ts [--runs 5] [--cpu 1] [--dims 4,6] [--module PATH]
 *
 * Each process times the second call of each op, as the native harness does: build (embedding,
 * hashing and the blur neighbour table: `buildLattice` + `latticeSteps`), filter C = 2 and
 * filter C = 32 (splat, Gaussian blur, slice with the DenseCRF alpha: `gaussianFilter`). Wall and
 * process CPU time are both reported; the machine is shared, and CPU time is the steadier one.
 * `--cpu N` pins both sides to one core with taskset (default 1; `--cpu none` to not pin).
 * `--module` times another build of the lattice module (e.g. a copy of an older version) through
 * the same harness, for before/after figures. Outputs are checked against the native `--dump`
 * files: correlation and NRMSE (RMS difference over the RMS of the native output).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { argValue, hasFlag, machine, median, projectRoot } from './common.js';

const N = 819_840;
const nativeDir = resolve(projectRoot, '..', 'shared', 'bench', 'native-lattice');

interface Timings {
  build_ms: number;
  build_cpu: number;
  M: number;
  filter2_ms: number;
  filter2_cpu: number;
  filter32_ms: number;
  filter32_cpu: number;
}

const OPS = [
  { op: 'build', ms: 'build_ms', cpu: 'build_cpu' },
  { op: 'filter C = 2', ms: 'filter2_ms', cpu: 'filter2_cpu' },
  { op: 'filter C = 32', ms: 'filter32_ms', cpu: 'filter32_cpu' },
] as const;

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  // Copy into a fresh, aligned buffer (a Buffer may sit at an unaligned offset of a shared pool).
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Child mode: time the TypeScript lattice on DIR's files, print one JSON line. */
async function child(dir: string, d: number, modulePath: string, dump: string | undefined): Promise<void> {
  const L: typeof import('../src/ops/lattice.js') = await import(pathToFileURL(modulePath).href);
  const cpuNow = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const timed = <T>(fn: () => T): { value: T; ms: number; cpu: number } => {
    const c0 = cpuNow();
    const t0 = performance.now();
    const value = fn();
    return { value, ms: performance.now() - t0, cpu: cpuNow() - c0 };
  };
  const f = readF32(join(dir, `feat${d}.f32`));
  const build = () => {
    const lat = L.buildLattice(f, N, null, N, d);
    L.latticeSteps(lat);
    return lat;
  };
  build(); // cold call, as the native harness makes one
  const b = timed(build);
  const lat = b.value;
  const res: Timings = { build_ms: b.ms, build_cpu: b.cpu, M: lat.M, filter2_ms: 0, filter2_cpu: 0, filter32_ms: 0, filter32_cpu: 0 };
  for (const C of [2, 32] as const) {
    const v = readF32(join(dir, `val${C}.f32`));
    const out = new Float32Array(C * N);
    L.gaussianFilter(lat, v, C, { alpha: 'densecrf', out });
    const t = timed(() => L.gaussianFilter(lat, v, C, { alpha: 'densecrf', out }));
    res[`filter${C}_ms`] = t.ms;
    res[`filter${C}_cpu`] = t.cpu;
    if (dump) writeFileSync(`${dump}_d${d}_C${C}.f32`, out);
  }
  console.log(JSON.stringify(res));
}

function pinned(cpu: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]];
}

function runJson(cmd: string, args: string[]): Timings {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Timings;
}

/** Correlation and NRMSE (RMS difference / RMS of the reference) of two equally long arrays. */
function agreement(a: Float32Array, ref: Float32Array): { corr: number; nrmse: number } {
  let sa = 0;
  let sr = 0;
  for (let i = 0; i < a.length; i++) {
    sa += a[i];
    sr += ref[i];
  }
  const ma = sa / a.length;
  const mr = sr / ref.length;
  let cov = 0;
  let va = 0;
  let vr = 0;
  let se = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma;
    const y = ref[i] - mr;
    cov += x * y;
    va += x * x;
    vr += y * y;
    se += (a[i] - ref[i]) ** 2;
    sq += ref[i] ** 2;
  }
  return { corr: cov / Math.sqrt(va * vr), nrmse: Math.sqrt(se / sq) };
}

async function main(): Promise<void> {
  if (hasFlag('child')) {
    await child(argValue('dir') as string, Number(argValue('d')), argValue('module') as string, argValue('dump'));
    return;
  }
  if (!existsSync(join(nativeDir, 'build.sh'))) {
    console.error(`skipped: needs the native reference lattice in ${nativeDir} (../shared/bench/native-lattice), which is absent`);
    process.exit(0);
  }
  const runs = Number(argValue('runs', '5'));
  const cpuArg = argValue('cpu', '1');
  const cpu = cpuArg === 'none' ? undefined : cpuArg;
  const dims = (argValue('dims', '4,6') as string).split(',').map(Number);
  const modulePath = resolve(argValue('module', join(projectRoot, 'src', 'ops', 'lattice.ts')) as string);
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'vprop-native-lattice-'));
  try {
    console.error(`building the native harness and inputs in ${dir} ...`);
    execFileSync('bash', [join(nativeDir, 'build.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const load0 = loadavg();
    const native = new Map<number, Timings[]>();
    const ts = new Map<number, Timings[]>();
    for (const d of dims) {
      native.set(d, []);
      ts.set(d, []);
    }
    for (let run = 0; run < runs; run++) {
      for (const d of dims) {
        // Alternate the two sides so that a change in the machine's load hits both alike; the
        // first run of each side also dumps its outputs for the agreement check.
        const dumpArgs = (who: string) => (run === 0 ? ['--dump', join(dir, who)] : []);
        native.get(d)?.push(runJson(...pinned(cpu, join(dir, 'bench'), [dir, String(d), String(N), ...dumpArgs('native')])));
        const tsArgs = [...process.execArgv, self, '--child', '--dir', dir, '--d', String(d), '--module', modulePath, ...dumpArgs('ts')];
        ts.get(d)?.push(runJson(...pinned(cpu, process.execPath, tsArgs)));
        console.error(`run ${run + 1}/${runs} d=${d} done`);
      }
    }
    const load1 = loadavg();
    const lines: string[] = [];
    lines.push(
      `Machine: ${machine()}; pinned to CPU ${cpu ?? 'none'}; ${runs} alternating runs, medians of the second call in each process.`,
    );
    lines.push(
      `Load average (1/5/15 min): ${load0.map((x) => x.toFixed(2)).join(' / ')} at start, ${load1.map((x) => x.toFixed(2)).join(' / ')} at end.`,
    );
    lines.push(`TypeScript module: ${modulePath}`);
    lines.push('');
    lines.push('| d | op | native ms | TS ms | TS / native | native CPU ms | TS CPU ms | TS / native (CPU) |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const d of dims) {
      const nat = native.get(d) ?? [];
      const tsr = ts.get(d) ?? [];
      for (const o of OPS) {
        const nw = median(nat.map((t) => t[o.ms]));
        const tw = median(tsr.map((t) => t[o.ms]));
        const nc = median(nat.map((t) => t[o.cpu]));
        const tc = median(tsr.map((t) => t[o.cpu]));
        lines.push(
          `| ${d} | ${o.op} | ${nw.toFixed(0)} | ${tw.toFixed(0)} | ${(tw / nw).toFixed(2)} | ${nc.toFixed(0)} | ${tc.toFixed(0)} | ${(tc / nc).toFixed(2)} |`,
        );
      }
    }
    lines.push('');
    lines.push('| d | C | vertices native / TS | correlation | NRMSE |');
    lines.push('|---|---|---|---|---|');
    for (const d of dims) {
      for (const C of [2, 32]) {
        const a = readF32(join(dir, `ts_d${d}_C${C}.f32`));
        const ref = readF32(join(dir, `native_d${d}_C${C}.f32`));
        const { corr, nrmse } = agreement(a, ref);
        lines.push(`| ${d} | ${C} | ${native.get(d)?.[0].M} / ${ts.get(d)?.[0].M} | ${corr.toFixed(6)} | ${nrmse.toExponential(1)} |`);
      }
    }
    console.log(lines.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
