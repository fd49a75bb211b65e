/**
 * SLIC on the WebAssembly kernels (src/ops/slic-wasm.ts, compiled from assembly/slic.ts) against
 * the TypeScript reference kernels of src/ops/slic.ts: labels, count and iterations must be
 * identical for the same options, on random images, odd sizes, a synthetic scene frame and a real
 * DAVIS frame; plus the generated module's freshness, the backend switch and the memory reuse.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createSlicWorkspace, type SlicOptions, type SlicResult, setSlicBackend, slic, slicBackend } from '../src/ops/slic.js';
import { SLIC_WASM_BASE64, SLIC_WASM_SOURCE_SHA256 } from '../src/ops/slic-wasm.generated.js';
import { releaseSlicWasm, slicWasmMemoryBytes } from '../src/ops/slic-wasm.js';
import { createScene } from '../src/synth/index.js';
import { rng } from './helpers/random.js';
import { sharedPath } from './helpers/shared.js';

after(() => setSlicBackend('auto'));

type Rgb = Uint8Array | Uint8ClampedArray;

/** Runs `slic` with the TypeScript kernels, then with the WebAssembly ones. */
function both(rgb: Rgb, width: number, height: number, opts: SlicOptions): { ts: SlicResult; wasm: SlicResult } {
  setSlicBackend('typescript');
  assert.equal(slicBackend(), 'typescript');
  const ts = slic(rgb, width, height, opts);
  setSlicBackend('auto');
  assert.equal(slicBackend(), 'wasm', 'Node 20 has WebAssembly SIMD: the WebAssembly kernels must run');
  const wasm = slic(rgb, width, height, opts);
  return { ts, wasm };
}

/** Identical results of both backends (every field of SlicResult); returns the result. */
function assertSame(rgb: Rgb, width: number, height: number, opts: SlicOptions, what: string): SlicResult {
  const { ts, wasm } = both(rgb, width, height, opts);
  const label = `${what} ${width}x${height} ${JSON.stringify({ ...opts, workspace: undefined })}`;
  assert.deepEqual(Object.keys(wasm).sort(), Object.keys(ts).sort(), `${label}: fields`);
  assert.equal(wasm.count, ts.count, `${label}: count`);
  assert.equal(wasm.iterations, ts.iterations, `${label}: iterations`);
  assert.ok(wasm.labels instanceof Int32Array, `${label}: labels type`);
  assert.equal(wasm.labels.length, ts.labels.length, `${label}: labels length`);
  for (let i = 0; i < ts.labels.length; i++) {
    if (wasm.labels[i] !== ts.labels[i]) assert.fail(`${label}: label ${i} is ${wasm.labels[i]}, TypeScript ${ts.labels[i]}`);
  }
  return ts;
}

/** Uniform random RGB bytes. */
function randomImage(width: number, height: number, seed: number): Uint8Array {
  const r = rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(r() * 256);
  return rgb;
}

/** Smooth gradients, blobs and noise: structure with texture, like ops-slic.test.ts. */
function texturedImage(width: number, height: number, seed: number): Uint8Array {
  const r = rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  const c8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const blob = Math.sin(x * 0.05) * Math.cos(y * 0.07) > 0.3 ? 60 : 0;
      const noise = (r() - 0.5) * 24;
      rgb[i] = c8((x * 255) / width + noise + blob);
      rgb[i + 1] = c8((y * 255) / height + noise);
      rgb[i + 2] = c8(128 + 100 * Math.sin((x + y) * 0.02) + noise - blob);
    }
  }
  return rgb;
}

/** Every combination of the mode switches. */
const MODES: SlicOptions[] = [
  { multiscale: true, enforceConnectivity: true },
  { multiscale: true, enforceConnectivity: false },
  { multiscale: false, enforceConnectivity: true },
  { multiscale: false, enforceConnectivity: false },
];

describe('SLIC: WebAssembly kernels identical to the TypeScript ones', () => {
  test('random images, both modes, with and without connectivity', () => {
    let seed = 1;
    for (const [w, h, segments] of [
      [64, 48, 40],
      [100, 75, 300],
      [160, 120, 1000],
    ] as const) {
      for (const mode of MODES) assertSame(randomImage(w, h, seed++), w, h, { ...mode, segments }, 'random');
    }
  });

  test('textured images: other options (colour space, compactness, iterations, merging, convergence stop)', () => {
    const W = 120;
    const H = 90;
    const rgb = texturedImage(W, H, 3);
    const variants: SlicOptions[] = [
      { segments: 108 },
      { segments: 108, colorSpace: 'gslicr' },
      { segments: 200, compactness: 3 },
      { segments: 200, compactness: 40 },
      { segments: 150, iterations: 0 },
      { segments: 150, iterations: 1 },
      { segments: 150, iterations: 2 },
      { segments: 150, iterations: 12 },
      { segments: 150, iterations: 12, stopWhenConverged: false },
      { segments: 108, minSizeFactor: 0 },
      { segments: 108, minSizeFactor: 0.6 },
      { segments: 108, minSizeFactor: 3 },
    ];
    for (const v of variants) for (const mode of MODES) assertSame(rgb, W, H, { ...v, ...mode }, 'textured');
  });

  test('odd sizes: 1xN, Nx1, tiny images, sizes not divisible by the grid step, segments beyond the pixel count', () => {
    let seed = 100;
    const sizes: [number, number][] = [
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
      [3, 3],
      [1, 37],
      [41, 1],
      [3, 5],
      [5, 3],
      [7, 13],
      [31, 17],
      [33, 9],
      [101, 77],
    ];
    for (const [w, h] of sizes) {
      const n = w * h;
      const rgb = randomImage(w, h, seed++);
      for (const segments of new Set([1, 2, 5, Math.max(1, Math.floor(n / 7)), n, n + 3, 4 * n])) {
        for (const mode of MODES) assertSame(rgb, w, h, { ...mode, segments }, 'odd size');
      }
    }
  });

  test('flat and saturated images (ties everywhere; the ends of the colour tables)', () => {
    const W = 45;
    const H = 31;
    for (const value of [0, 255, 128]) {
      const rgb = new Uint8Array(W * H * 3).fill(value);
      for (const mode of MODES) assertSame(rgb, W, H, { ...mode, segments: 60 }, `flat ${value}`);
    }
    // Two halves of pure colours: every 8-bit extreme of the Lab conversion.
    const rgb = new Uint8ClampedArray(W * H * 3);
    for (let p = 0; p < W * H; p++) {
      const c = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 255],
      ][(p % W < W / 2 ? 0 : 1) + (Math.floor(p / W) < H / 2 ? 0 : 2)];
      rgb.set(c, p * 3);
    }
    for (const mode of MODES) assertSame(rgb, W, H, { ...mode, segments: 40 }, 'pure colours');
  });

  test('exact distance ties (spatial weight 1, integer centres): the tie rules of both assignments', () => {
    // 40x30 with 12 segments: a 4 x 3 grid of 10 px cells, S = 10, so compactness 10 gives a
    // spatial weight of exactly 1 and, on flat colour, distances that are small integers (or
    // quarter-integers once centres move to means): many pixels are equidistant from two centres.
    const W = 40;
    const H = 30;
    const flat = new Uint8Array(W * H * 3).fill(90);
    const halves = new Uint8Array(W * H * 3);
    for (let p = 0; p < W * H; p++) halves.fill(p % W < 17 ? 30 : 200, p * 3, p * 3 + 3);
    for (const [name, rgb] of [
      ['flat', flat],
      ['halves', halves],
    ] as const) {
      for (const iterations of [1, 2, 3, 5]) {
        for (const mode of MODES) assertSame(rgb, W, H, { ...mode, segments: 12, compactness: 10, iterations }, `ties ${name}`);
      }
    }
  });

  test('synthetic scene frames (320x240 and 854x480, the bilateral engine setting)', () => {
    const small = createScene({ seed: 7, width: 320, height: 240, frames: 2, objects: 3 });
    for (const t of [0, 1]) {
      const f = small.render(t);
      for (const mode of MODES) assertSame(f.rgb.data, f.width, f.height, { ...mode, segments: 600 }, `scene frame ${t}`);
    }
    const big = createScene({ seed: 11, width: 854, height: 480, frames: 1, objects: 4 }).render(0);
    for (const multiscale of [true, false]) assertSame(big.rgb.data, 854, 480, { multiscale, segments: 12000 }, 'scene 854x480');
  });

  const davis = sharedPath('davis/JPEGImages/480p');
  test('real DAVIS frames: 12000 and 3000 segments, both modes, with and without connectivity', { skip: davis.skip }, async () => {
    const { default: sharp } = await import('sharp');
    const seqs = readdirSync(davis.path).sort();
    for (const seq of [seqs[0], seqs[seqs.length - 1]]) {
      const frame = readdirSync(join(davis.path, seq))
        .filter((f) => f.endsWith('.jpg'))
        .sort()[0];
      const { data, info } = await sharp(join(davis.path, seq, frame))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
      for (const mode of MODES) assertSame(rgb, info.width, info.height, { ...mode, segments: 12000 }, `davis ${seq}/${frame}`);
      assertSame(rgb, info.width, info.height, { segments: 3000 }, `davis ${seq}/${frame}`);
    }
  });
});

describe('SLIC WebAssembly: memory, workspace, backend switch, generated module', () => {
  test('the WebAssembly memory is reused: repeated frames do not grow it; results do not alias it', () => {
    setSlicBackend('auto');
    const W = 200;
    const H = 150;
    const a = texturedImage(W, H, 1);
    const b = texturedImage(W, H, 2);
    const ra = slic(a, W, H, { segments: 400 });
    slic(b, W, H, { segments: 400 });
    const size = slicWasmMemoryBytes();
    assert.ok(size > 0);
    for (let i = 0; i < 5; i++) {
      const r = slic(i % 2 ? b : a, W, H, { segments: 400, multiscale: i % 3 !== 0 });
      assert.notEqual(r.labels, ra.labels);
    }
    assert.equal(slicWasmMemoryBytes(), size);
    assert.deepEqual(slic(a, W, H, { segments: 400 }).labels, ra.labels, 'earlier results must not change');
    // A smaller frame fits in the memory already there.
    slic(texturedImage(100, 60, 3), 100, 60, { segments: 100 });
    assert.equal(slicWasmMemoryBytes(), size);
    // Released: the memory goes with the instance; the next call loads a fresh one.
    releaseSlicWasm();
    assert.equal(slicWasmMemoryBytes(), 0);
    assert.deepEqual(slic(a, W, H, { segments: 400 }).labels, ra.labels);
    assert.equal(slicBackend(), 'wasm');
  });

  test('a workspace is accepted (and its size checked) on both backends, with the same result', () => {
    const W = 90;
    const H = 70;
    const rgb = texturedImage(W, H, 5);
    const ws = createSlicWorkspace(W, H);
    const ref = assertSame(rgb, W, H, { segments: 80 }, 'no workspace');
    const { ts, wasm } = both(rgb, W, H, { segments: 80, workspace: ws });
    assert.deepEqual(ts.labels, ref.labels);
    assert.deepEqual(wasm.labels, ref.labels);
    for (const backend of ['typescript', 'auto'] as const) {
      setSlicBackend(backend);
      assert.throws(() => slic(rgb, W, H, { workspace: createSlicWorkspace(W, H + 1) }), /workspace/);
    }
    setSlicBackend('auto');
  });

  test('setSlicBackend validates its argument and returns the previous choice', () => {
    assert.equal(setSlicBackend('typescript'), 'auto');
    assert.equal(setSlicBackend('auto'), 'typescript');
    assert.throws(() => setSlicBackend('wasm' as 'auto'), RangeError);
    assert.equal(slicBackend(), 'wasm');
  });

  test('VPROP_WASM=0 starts Node with the TypeScript kernels; without it, WebAssembly', () => {
    const code = "import('./src/ops/slic.ts').then((S) => console.log(S.slicBackend()))";
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
    const { compileWasm, sourceHash } = await import('../scripts/build-wasm.js');
    assert.equal(SLIC_WASM_SOURCE_SHA256, sourceHash('slic'), 'assembly/slic.ts changed: run npm run build:wasm');
    const fresh = await compileWasm('slic');
    assert.equal(Buffer.from(fresh).toString('base64'), SLIC_WASM_BASE64, 'asc output differs from the committed module');
  });
});
