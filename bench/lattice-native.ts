/**
 * The permutohedral lattice (src/ops/lattice.ts) side by side with the native C++ reference
 * (Krähenbühl's DenseCRF lattice, ../shared/bench/native-lattice), with both of its backends: the
 * TypeScript kernels (env VPROP_WASM=0) and the WebAssembly SIMD ones (the default). One command
 * builds the native harness into a temporary folder (its build.sh also writes the inputs: DAVIS
 * blackswan frames 0-1, 819,840 points, d = 4 and d = 6 features, C = 2 and C = 32 random values),
 * then alternates native, TypeScript and WebAssembly processes on the same files and prints a
 * markdown table of medians; then, per d, one process times TypeScript and WebAssembly against each
 * other on the same lattice, alternating calls (the within-process ratio, free of process effects).
 *
 *   node --import tsx bench/lattice-native.ts [--runs 5] [--cpu 1] [--dims 4,6] [--module PATH] [--backends ts,wasm] [--reps 3]
 *
 * Each process times the second call of each op, as the native harness does: build (embedding,
 * hashing and the blur neighbour table: `buildLattice` + `latticeSteps`), filter C = 2 and
 * filter C = 32 (splat, Gaussian blur, slice with the DenseCRF alpha: `gaussianFilter`). Wall and
 * process CPU time are both reported; the machine is shared, and CPU time is the steadier one.
 * `--cpu N` pins both sides to one core with taskset (default 1; `--cpu none` to not pin).
 * `--backends` picks the module's sides (ts, wasm or both); `--reps` the timed calls per backend of
 * the within-process comparison (0 skips it). `--module` times another build of the lattice module (e.g. a copy of an older version) through
 * the same harness, for before/after figures (a module without the WebAssembly backend times
 * TypeScript in both columns). Outputs are checked against the native `--dump` files: correlation
 * and NRMSE (RMS difference over the RMS of the native output), and WebAssembly against TypeScript
 * (largest difference over the largest TypeScript output).
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
  /** The lattice backend the process ran ('native' for the C++ harness). */
  backend?: string;
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

type LatticeModule = typeof import('../src/ops/lattice.js');

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

/** Which backend a module runs now (modules from before the WebAssembly path: TypeScript). */
function backendOf(L: Partial<LatticeModule>): string {
  return typeof L.latticeBackend === 'function' ? L.latticeBackend() : 'typescript';
}

/** Child mode: time the lattice (the backend env VPROP_WASM selects) on DIR's files, print one JSON line. */
async function child(dir: string, d: number, modulePath: string, dump: string | undefined): Promise<void> {
  const L: LatticeModule = await import(pathToFileURL(modulePath).href);
  const f = readF32(join(dir, `feat${d}.f32`));
  const build = () => {
    const lat = L.buildLattice(f, N, null, N, d);
    L.latticeSteps(lat);
    return lat;
  };
  build(); // cold call, as the native harness makes one
  const b = timed(build);
  const lat = b.value;
  const res: Timings = {
    backend: backendOf(L),
    build_ms: b.ms,
    build_cpu: b.cpu,
    M: lat.M,
    filter2_ms: 0,
    filter2_cpu: 0,
    filter32_ms: 0,
    filter32_cpu: 0,
  };
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

/**
 * Child mode: TypeScript and WebAssembly in one process on one lattice of DIR's d features,
 * alternating calls (one warm-up each, then `reps` timed calls each); prints one JSON line of
 * median CPU ms per backend and op.
 */
async function inProcess(dir: string, d: number, modulePath: string, reps: number): Promise<void> {
  const L: LatticeModule = await import(pathToFileURL(modulePath).href);
  if (typeof L.setLatticeBackend !== 'function') {
    console.log('{}'); // a module from before the WebAssembly backend
    return;
  }
  const f = readF32(join(dir, `feat${d}.f32`));
  const values = new Map<number, Float32Array>([2, 32].map((C) => [C, readF32(join(dir, `val${C}.f32`))]));
  const outs = new Map<number, Float32Array>([2, 32].map((C) => [C, new Float32Array(C * N)]));
  const cpu: Record<string, number[]> = {};
  const add = (key: string, v: number) => {
    cpu[key] ??= [];
    cpu[key].push(v);
  };
  const lats = new Map<string, import('../src/ops/lattice.js').Lattice>();
  for (let rep = 0; rep <= reps; rep++) {
    for (const backend of ['typescript', 'auto'] as const) {
      L.setLatticeBackend(backend);
      const name = backendOf(L);
      const b = timed(() => {
        const lat = L.buildLattice(f, N, null, N, d);
        L.latticeSteps(lat);
        return lat;
      });
      lats.set(name, b.value);
      if (rep > 0) add(`${name}:build`, b.cpu);
      for (const C of [2, 32]) {
        const t = timed(() => L.gaussianFilter(b.value, values.get(C) as Float32Array, C, { alpha: 'densecrf', out: outs.get(C) }));
        if (rep > 0) add(`${name}:filter${C}`, t.cpu);
      }
    }
  }
  const medians: Record<string, number> = {};
  for (const [k, v] of Object.entries(cpu)) medians[k] = median(v);
  console.log(JSON.stringify(medians));
}

function pinned(cpu: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]];
}

function runJson<T = Timings>(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): T {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20, env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** Largest |a - ref| over the largest |ref|. */
function maxRelDiff(a: Float32Array, ref: Float32Array): number {
  let md = 0;
  let mr = 0;
  for (let i = 0; i < a.length; i++) {
    md = Math.max(md, Math.abs(a[i] - ref[i]));
    mr = Math.max(mr, Math.abs(ref[i]));
  }
  return md / mr;
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
  if (hasFlag('inprocess')) {
    await inProcess(argValue('dir') as string, Number(argValue('d')), argValue('module') as string, Number(argValue('reps', '3')));
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
  const backends = (argValue('backends', 'ts,wasm') as string).split(',');
  const reps = Number(argValue('reps', '3'));
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'vprop-native-lattice-'));
  try {
    console.error(`building the native harness and inputs in ${dir} ...`);
    execFileSync('bash', [join(nativeDir, 'build.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const load0 = loadavg();
    // Sides: the native harness, then the lattice module with each backend (env VPROP_WASM picks it).
    const sides = [
      { key: 'ts', label: 'TS', env: { ...process.env, VPROP_WASM: '0' } },
      { key: 'wasm', label: 'WASM', env: { ...process.env, VPROP_WASM: '1' } },
    ].filter((s) => backends.includes(s.key));
    const results = new Map<string, Timings[]>();
    const at = (who: string, d: number) => {
      const k = `${who}:${d}`;
      if (!results.has(k)) results.set(k, []);
      return results.get(k) as Timings[];
    };
    for (let run = 0; run < runs; run++) {
      for (const d of dims) {
        // Alternate the sides so that a change in the machine's load hits them alike; the first
        // run of each side also dumps its outputs for the agreement check.
        const dumpArgs = (who: string) => (run === 0 ? ['--dump', join(dir, who)] : []);
        at('native', d).push(runJson(...pinned(cpu, join(dir, 'bench'), [dir, String(d), String(N), ...dumpArgs('native')])));
        for (const side of sides) {
          const args = [
            ...process.execArgv,
            self,
            '--child',
            '--dir',
            dir,
            '--d',
            String(d),
            '--module',
            modulePath,
            ...dumpArgs(side.key),
          ];
          at(side.key, d).push(runJson(...pinned(cpu, process.execPath, args), side.env));
        }
        console.error(`run ${run + 1}/${runs} d=${d} done`);
      }
    }
    // Within one process: TypeScript and WebAssembly alternating on the same inputs.
    const inproc = new Map<number, Record<string, number>>();
    if (reps > 0 && sides.length === 2) {
      for (const d of dims) {
        const args = [
          ...process.execArgv,
          self,
          '--inprocess',
          '--dir',
          dir,
          '--d',
          String(d),
          '--module',
          modulePath,
          '--reps',
          String(reps),
        ];
        inproc.set(d, runJson<Record<string, number>>(...pinned(cpu, process.execPath, args)));
        console.error(`in-process d=${d} done`);
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
    lines.push(
      `Lattice module: ${modulePath}; backends run: ${sides.map((s) => `${s.label} = ${at(s.key, dims[0])[0]?.backend}`).join(', ')}`,
    );
    lines.push('');
    const head = ['d', 'op', 'native ms', ...sides.map((s) => `${s.label} ms`), 'native CPU ms', ...sides.map((s) => `${s.label} CPU ms`)];
    head.push(...sides.map((s) => `${s.label} / native (CPU)`));
    lines.push(`| ${head.join(' | ')} |`);
    lines.push(`|${head.map(() => '---').join('|')}|`);
    for (const d of dims) {
      for (const o of OPS) {
        const med = (who: string, f: 'ms' | 'cpu') => median(at(who, d).map((t) => t[o[f]]));
        const nc = med('native', 'cpu');
        const row = [String(d), o.op, med('native', 'ms').toFixed(0), ...sides.map((s) => med(s.key, 'ms').toFixed(0)), nc.toFixed(0)];
        row.push(...sides.map((s) => med(s.key, 'cpu').toFixed(0)), ...sides.map((s) => (med(s.key, 'cpu') / nc).toFixed(2)));
        lines.push(`| ${row.join(' | ')} |`);
      }
    }
    if (inproc.size > 0) {
      lines.push('');
      lines.push(`Within one process (CPU ms, medians of ${reps} alternating calls after one warm-up each):`);
      lines.push('');
      lines.push('| d | op | TS CPU ms | WASM CPU ms | TS / WASM |');
      lines.push('|---|---|---|---|---|');
      for (const d of dims) {
        const m = inproc.get(d) ?? {};
        for (const [op, key] of [
          ['build', 'build'],
          ['filter C = 2', 'filter2'],
          ['filter C = 32', 'filter32'],
        ]) {
          const t = m[`typescript:${key}`] ?? Number.NaN;
          const w = m[`wasm:${key}`] ?? Number.NaN;
          lines.push(`| ${d} | ${op} | ${t.toFixed(0)} | ${w.toFixed(0)} | ${(t / w).toFixed(2)} |`);
        }
      }
    }
    lines.push('');
    lines.push(
      `| d | C | vertices native / ${sides.map((s) => s.label).join(' / ')} | ${sides.map((s) => `${s.label} correlation | ${s.label} NRMSE`).join(' | ')} |${sides.length === 2 ? ' WASM vs TS max diff / max |' : ''}`,
    );
    lines.push(`|---|---|---|${sides.map(() => '---|---|').join('')}${sides.length === 2 ? '---|' : ''}`);
    for (const d of dims) {
      for (const C of [2, 32]) {
        const ref = readF32(join(dir, `native_d${d}_C${C}.f32`));
        const outs = sides.map((s) => readF32(join(dir, `${s.key}_d${d}_C${C}.f32`)));
        const cells = outs.map((a) => {
          const { corr, nrmse } = agreement(a, ref);
          return `${corr.toFixed(6)} | ${nrmse.toExponential(1)}`;
        });
        const verts = [at('native', d)[0].M, ...sides.map((s) => at(s.key, d)[0].M)].join(' / ');
        const cross = outs.length === 2 ? ` ${maxRelDiff(outs[1], outs[0]).toExponential(1)} |` : '';
        lines.push(`| ${d} | ${C} | ${verts} | ${cells.join(' | ')} |${cross}`);
      }
    }
    console.log(lines.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
