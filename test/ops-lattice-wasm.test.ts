/**
 * The WebAssembly SIMD lattice kernels (src/ops/lattice-wasm.ts, compiled from assembly/lattice.ts)
 * against the TypeScript reference kernels of src/ops/lattice.ts: the build must be bit-identical,
 * splat / blur / slice / filters equal to float32 rounding; plus the generated module's freshness,
 * the backend switch and the memory reuse.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  afterNormaliser,
  blurGaussian,
  blurGaussianAdjoint,
  blurLearned,
  buildLattice,
  filterAfter,
  filterSize,
  gaussianFilter,
  type Lattice,
  type LatticeBlur,
  latticeBackend,
  latticeSteps,
  latticeTaps,
  releaseLatticeWasm,
  setLatticeBackend,
  slice,
  sliceAdjoint,
  splat,
  splatAdjoint,
} from '../src/ops/lattice.js';
import { LATTICE_WASM_BASE64, LATTICE_WASM_SOURCE_SHA256 } from '../src/ops/lattice-wasm.generated.js';
import { latticeWasmMemoryBytes } from '../src/ops/lattice-wasm.js';
import { rng } from './helpers/random.js';

after(() => setLatticeBackend('auto'));

/** Runs `f` with the TypeScript kernels, then with the WebAssembly ones. */
function both<T>(f: () => T): { ts: T; wasm: T } {
  setLatticeBackend('typescript');
  assert.equal(latticeBackend(), 'typescript');
  const ts = f();
  setLatticeBackend('auto');
  assert.equal(latticeBackend(), 'wasm', 'Node 20 has WebAssembly SIMD: the WebAssembly kernels must run');
  const wasm = f();
  return { ts, wasm };
}

function randomArray(n: number, r: () => number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Raster-ordered smooth "image" features (like the engines'): neighbouring points share vertices. */
function rasterFeatures(d: number, W: number, H: number, r: () => number, t = 0): Float32Array {
  const N = W * H;
  const f = new Float32Array(d * N);
  for (let k = 0; k < N; k++) {
    const x = k % W;
    const y = Math.floor(k / W);
    const row = [
      Math.sin(x * 0.05) * 3 + r() * 0.3,
      x * 0.15,
      y * 0.15,
      Math.cos(y * 0.07) * 2 + t,
      0.5 * r(),
      0.01 * t,
      r(),
      x * 0.02 * r(),
    ];
    for (let j = 0; j < d; j++) f[j * N + k] = row[j % row.length];
  }
  return f;
}

/** Bitwise equality of two typed arrays (so -0 and NaN payloads count). */
function assertBits(a: Int32Array | Float32Array, b: Int32Array | Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}: entry ${i} differs (${a[i]} vs ${b[i]})`);
}

function assertSameLattice(ts: Lattice, wasm: Lattice, what: string): void {
  for (const k of ['d', 'nIn', 'nOut', 'nPoints', 'outStart', 'M'] as const) assert.equal(wasm[k], ts[k], `${what}: ${k}`);
  assertBits(ts.vertexIds, wasm.vertexIds, `${what}: vertexIds`);
  assertBits(ts.bary, wasm.bary, `${what}: bary`);
  assertBits(ts.keys, wasm.keys, `${what}: keys`);
  assertBits(ts.cache.table as Int32Array, wasm.cache.table as Int32Array, `${what}: hash table`);
}

/**
 * Float32 agreement: every entry within 1e-5 of the reference's largest magnitude (the kernels sum
 * the same terms in the same order, rounding float32 where the reference rounds float64), and the
 * arrays must not be trivially zero.
 */
function assertClose(got: Float32Array, want: Float32Array, what: string, n = want.length): void {
  assert.ok(got.length >= n, `${what}: length ${got.length} < ${n}`);
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < n; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= 1e-5 * scale)) assert.fail(`${what}: entry ${i}: ${got[i]} vs ${want[i]} (scale ${scale})`);
  }
}

describe('WebAssembly lattice build: bit-identical to the TypeScript build', () => {
  for (const d of [1, 2, 3, 4, 6, 8]) {
    test(`d = ${d}: random, raster and separate in/out points`, () => {
      const r = rng(100 + d);
      const cases: { name: string; fin: Float32Array; nIn: number; fout: Float32Array | null; nOut: number }[] = [];
      const n = 3000;
      cases.push({ name: 'random shared', fin: randomArray(d * n, r, -20, 20), nIn: n, fout: null, nOut: n });
      // Sparse random points: many vertices, so the hash table grows several times.
      cases.push({ name: 'sparse', fin: randomArray(d * 6000, r, -50000, 50000), nIn: 6000, fout: null, nOut: 6000 });
      const W = 64;
      const H = 40;
      cases.push({ name: 'raster shared', fin: rasterFeatures(d, W, H, r), nIn: W * H, fout: null, nOut: W * H });
      cases.push({ name: 'raster in/out', fin: rasterFeatures(d, W, H, r), nIn: W * H, fout: rasterFeatures(d, W, H, r, 1), nOut: W * H });
      cases.push({
        name: 'separate, fewer outputs',
        fin: randomArray(d * 500, r, 0, 6),
        nIn: 500,
        fout: randomArray(d * 77, r, 0, 6),
        nOut: 77,
      });
      // Quantised features: exact ties in the rounding and many repeated points.
      const q = randomArray(d * 2000, r, 0, 8).map((v) => Math.round(v * 2) / 2);
      cases.push({ name: 'quantised', fin: q, nIn: 2000, fout: null, nOut: 2000 });
      cases.push({ name: 'all zero', fin: new Float32Array(d * 50), nIn: 50, fout: null, nOut: 50 });
      for (const c of cases) {
        const { ts, wasm } = both(() => {
          const lat = buildLattice(c.fin, c.nIn, c.fout, c.nOut, d);
          latticeSteps(lat);
          return lat;
        });
        assertSameLattice(ts, wasm, `d=${d} ${c.name}`);
        assertBits(ts.cache.steps as Int32Array, wasm.cache.steps as Int32Array, `d=${d} ${c.name}: steps`);
        if (c.name === 'sparse') assert.ok(wasm.M > 4096, `the sparse case grows the table (M = ${wasm.M})`);
      }
    });
  }

  test('empty inputs and outputs', () => {
    for (const d of [2, 5]) {
      for (const [nIn, nOut, shared] of [
        [0, 0, true],
        [0, 0, false],
        [0, 10, false],
        [10, 0, false],
      ] as const) {
        const r = rng(7);
        const fin = randomArray(d * nIn, r, 0, 4);
        const fout = shared ? null : randomArray(d * nOut, r, 0, 4);
        const { ts, wasm } = both(() => buildLattice(fin, nIn, fout, nOut, d));
        assertSameLattice(ts, wasm, `d=${d} nIn=${nIn} nOut=${nOut}`);
        const { ts: y0, wasm: y1 } = both(() => gaussianFilter(wasm, new Float32Array(3 * nIn), 3));
        assert.deepEqual(y1, y0);
        const { ts: a0, wasm: a1 } = both(() => filterAfter(wasm, new Float32Array(2 * nIn).fill(1), 2));
        assert.deepEqual(a1, a0);
      }
    }
  });

  test('features read at any offset (subarray views) and rejected the same way', () => {
    const d = 3;
    const r = rng(9);
    const big = randomArray(d * 400 + 7, r, 0, 5);
    const view = big.subarray(7);
    const { ts, wasm } = both(() => buildLattice(view, 400, null, 400, d));
    assertSameLattice(ts, wasm, 'subarray');
    const bad = randomArray(d * 100, r, 0, 5);
    bad[1 * 100 + 53] = Number.NaN; // feature 1 of point 53
    setLatticeBackend('auto');
    assert.throws(() => buildLattice(bad, 100, null, 100, d), /input point 53 has a non-finite/);
  });
});

describe('WebAssembly splat, blur, slice and filters: equal to the TypeScript kernels', () => {
  const channelCounts = [1, 2, 3, 4, 5, 7, 13, 16, 32, 35];
  for (const d of [2, 4, 6]) {
    for (const shared of [true, false]) {
      test(`d = ${d}, ${shared ? 'shared' : 'separate'} points, C = ${channelCounts.join(', ')}`, () => {
        const r = rng(200 + d + (shared ? 0 : 50));
        const W = 45;
        const H = 30;
        const nIn = W * H;
        const nOut = shared ? nIn : 611;
        const fout = shared ? null : randomArray(d * nOut, r, 0, 6);
        setLatticeBackend('typescript');
        const lat = buildLattice(rasterFeatures(d, W, H, r), nIn, fout, nOut, d);
        for (const C of channelCounts) {
          const x = randomArray(C * nIn, r, -1, 1);
          const y = randomArray(C * nOut, r, -1, 1);
          const V = randomArray((lat.M + 1) * C, r, -0.5, 1);
          V.fill(0, 0, C);
          const before = [x.slice(), y.slice(), V.slice()];
          const what = `d=${d} C=${C}`;
          const pairs: [string, () => Float32Array][] = [
            ['splat', () => splat(lat, x, C)],
            ['slice', () => slice(lat, V, C, undefined, 0.7)],
            ['splatAdjoint', () => splatAdjoint(lat, V, C)],
            ['sliceAdjoint', () => sliceAdjoint(lat, y, C)],
            ['blurGaussian', () => blurGaussian(lat, V, C)],
            ['blurGaussianAdjoint', () => blurGaussianAdjoint(lat, V, C)],
            ['gaussianFilter', () => gaussianFilter(lat, x, C, { alpha: 'densecrf' })],
            ['filterAfter none', () => filterAfter(lat, x, C)],
            ['filterAfter gaussian', () => filterAfter(lat, x, C, { kind: 'gaussian' })],
          ];
          for (const [name, f] of pairs) {
            const { ts, wasm } = both(f);
            assertClose(wasm, ts, `${what} ${name}`);
          }
          assert.deepEqual([x, y, V], before, `${what}: inputs unchanged`);
        }
      });
    }
  }

  test('large inputs go through the staging area in chunks of points (remainders included)', () => {
    const d = 4;
    const r = rng(250);
    const W = 200;
    const H = 150; // 30,000 points: C = 32 takes 4 chunks, C = 13 two
    const N = W * H;
    setLatticeBackend('typescript');
    const lat = buildLattice(rasterFeatures(d, W, H, r), N, rasterFeatures(d, W, H - 11, r, 1), W * (H - 11), d);
    for (const C of [13, 32]) {
      const x = randomArray(C * N, r, -1, 1);
      for (const [name, f] of [
        ['gaussianFilter', () => gaussianFilter(lat, x, C, { alpha: 'densecrf' })],
        ['filterAfter none', () => filterAfter(lat, x, C)],
        ['filterAfter gaussian', () => filterAfter(lat, x, C, { kind: 'gaussian' })],
      ] as const) {
        const { ts, wasm } = both(f);
        assertClose(wasm, ts, `C=${C} ${name}`);
      }
    }
  });

  test('learned blur and AFTER normalisers (n = 0, 1), O != C', () => {
    const d = 3;
    const r = rng(300);
    const W = 40;
    const H = 25;
    const N = W * H;
    setLatticeBackend('typescript');
    const lat = buildLattice(rasterFeatures(d, W, H, r), N, null, N, d);
    for (const n of [0, 1]) {
      const F = filterSize(n, d);
      for (const [C, O] of [
        [1, 1],
        [3, 2],
        [6, 5],
        [9, 4],
      ]) {
        const Wt = randomArray(O * C * F, r, -1, 1);
        const S = randomArray((lat.M + 1) * C, r, -1, 1);
        S.fill(0, 0, C);
        const x = randomArray(C * N, r, 0, 1);
        const blur: LatticeBlur = { kind: 'learned', weights: Wt, outChannels: O, neighborhood: n };
        const { ts: b0, wasm: b1 } = both(() => blurLearned(lat, S, C, Wt, O, n));
        assertClose(b1, b0, `blurLearned n=${n} C=${C} O=${O}`);
        const { ts: f0, wasm: f1 } = both(() => filterAfter(lat, x, C, blur));
        assertClose(f1, f0, `filterAfter learned n=${n} C=${C} O=${O}`);
        assert.equal(latticeTaps(lat, n).length, lat.M * F);
      }
      const { ts: n0, wasm: n1 } = both(() =>
        afterNormaliser(lat, { kind: 'learned', weights: new Float32Array(F), outChannels: 1, neighborhood: n }),
      );
      assertClose(n1, n0, `afterNormaliser learned n=${n}`);
    }
    for (const blur of [{ kind: 'none' }, { kind: 'gaussian' }] as const) {
      const { ts, wasm } = both(() => afterNormaliser(lat, blur));
      assertClose(wasm, ts, `afterNormaliser ${blur.kind}`);
    }
  });

  test('out buffers: written up to their size only; vertex slot 0 read as zero', () => {
    const d = 4;
    const r = rng(400);
    setLatticeBackend('auto');
    const N = 900;
    const lat = buildLattice(rasterFeatures(d, 30, 30, r), N, null, N, d);
    for (const C of [2, 5, 32]) {
      const x = randomArray(C * N, r, -1, 1);
      const V = randomArray((lat.M + 1) * C, r, -1, 1);
      const dirty = V.slice();
      for (let c = 0; c < C; c++) dirty[c] = 1e6;
      V.fill(0, 0, C);
      const { ts, wasm } = both(() => {
        const S = new Float32Array((lat.M + 1) * C + 5).fill(42);
        splat(lat, x, C, S);
        const y = new Float32Array(C * N + 3).fill(42);
        slice(lat, dirty, C, y);
        const B = new Float32Array((lat.M + 1) * C + 2).fill(42);
        blurGaussian(lat, dirty, C, B);
        const g = new Float32Array(C * N + 1).fill(42);
        gaussianFilter(lat, x, C, { out: g });
        return { S, y, B, g, clean: slice(lat, V, C), cleanB: blurGaussian(lat, V, C) };
      });
      for (const k of ['S', 'y', 'B', 'g'] as const) {
        assertClose(wasm[k], ts[k], `C=${C} ${k}`);
        assert.equal(wasm[k][wasm[k].length - 1], 42, `C=${C} ${k}: nothing written past the output`);
      }
      assertClose(wasm.y, wasm.clean, `C=${C}: slice reads slot 0 as zero`, C * N);
      assertClose(wasm.B, wasm.cleanB, `C=${C}: blur reads slot 0 as zero`, (lat.M + 1) * C);
    }
  });

  test('several lattices used in turn, and lattices built by either backend', () => {
    const d = 5;
    const r = rng(500);
    const N = 1200;
    const C = 6;
    const feats = [0, 1, 2].map((t) => rasterFeatures(d, 40, 30, r, t));
    setLatticeBackend('typescript');
    const tsLats = feats.map((f) => buildLattice(f, N, null, N, d));
    const xs = feats.map(() => randomArray(C * N, r, 0, 1));
    const want = tsLats.map((lat, i) => gaussianFilter(lat, xs[i], C));
    setLatticeBackend('auto');
    const wasmLats = feats.map((f) => buildLattice(f, N, null, N, d));
    // Interleaved: every call switches lattice (the resident one changes each time).
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) {
        assertClose(gaussianFilter(wasmLats[i], xs[i], C), want[i], `WebAssembly-built lattice ${i}, round ${round}`);
        assertClose(gaussianFilter(tsLats[(i + 1) % 3], xs[(i + 1) % 3], C), want[(i + 1) % 3], `TypeScript-built lattice, round ${round}`);
      }
    }
  });

  test('the WebAssembly memory is reused: repeated calls do not grow it', () => {
    const d = 4;
    const r = rng(600);
    setLatticeBackend('auto');
    const N = 2000;
    const f = rasterFeatures(d, 50, 40, r);
    const x = randomArray(8 * N, r, 0, 1);
    const run = () => {
      const lat = buildLattice(f, N, null, N, d);
      gaussianFilter(lat, x, 8);
      filterAfter(lat, x, 8, { kind: 'gaussian' });
      return lat;
    };
    run();
    run();
    const size = latticeWasmMemoryBytes();
    assert.ok(size > 0);
    for (let i = 0; i < 10; i++) run();
    assert.equal(latticeWasmMemoryBytes(), size);
    // Released: the memory goes with the instance; the next call loads a fresh one.
    const want = gaussianFilter(run(), x, 8);
    releaseLatticeWasm();
    assert.equal(latticeWasmMemoryBytes(), 0);
    assert.deepEqual(gaussianFilter(run(), x, 8), want);
    assert.equal(latticeBackend(), 'wasm');
  });

  test('lattices used in one synchronous loop are not kept alive (only the last one is resident)', () => {
    // A WeakRef to the resident lattice kept every lattice it ever pointed to alive until the
    // synchronous job ended: DenseCRF over many frames in one loop ran out of memory.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    setLatticeBackend('auto');
    const d = 4;
    const r = rng(601);
    const N = 100_000;
    const f = rasterFeatures(d, 400, 250, r);
    const x = randomArray(N, r, 0, 1);
    const perLattice = N * (d + 1) * 8; // vertex ids and weights
    gaussianFilter(buildLattice(f, N, null, N, d), x, 1);
    gc();
    const base = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) gaussianFilter(buildLattice(f, N, null, N, d), x, 1);
    gc();
    const grown = process.memoryUsage().arrayBuffers - base;
    assert.ok(
      grown < 3 * perLattice,
      `array buffers grew by ${(grown / 2 ** 20).toFixed(1)} MiB over 20 lattices of ${(perLattice / 2 ** 20).toFixed(1)} MiB`,
    );
  });
});

describe('WebAssembly module and backend switch', () => {
  test('VPROP_WASM=0 starts Node with the TypeScript kernels; without it, WebAssembly', () => {
    const code = "import('./src/ops/lattice.ts').then((L) => console.log(L.latticeBackend()))";
    for (const [env, want] of [
      ['0', 'typescript'],
      ['1', 'wasm'],
    ]) {
      const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
        env: { ...process.env, VPROP_WASM: env },
        encoding: 'utf8',
      });
      assert.equal(out.status, 0, out.stderr);
      assert.equal(out.stdout.trim(), want);
    }
  });

  test('the generated module matches its AssemblyScript sources (hash and a fresh compile)', { timeout: 180_000 }, async () => {
    const { compileLatticeWasm, sourceHash } = await import('../scripts/build-wasm.js');
    assert.equal(LATTICE_WASM_SOURCE_SHA256, sourceHash(), 'assembly/ changed: run npm run build:wasm');
    const fresh = await compileLatticeWasm();
    assert.equal(Buffer.from(fresh).toString('base64'), LATTICE_WASM_BASE64, 'asc output differs from the committed module');
  });
});
