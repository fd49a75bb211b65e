import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  directionGates,
  normaliseGates,
  normaliseGatesBackward,
  propagate4,
  propagate4Backward,
  reverseDirection,
  SCAN_DIRECTIONS,
  type ScanArray,
  type ScanDirection,
  scan3,
  scan3Backward,
  scan3Transpose,
  swapGateDirections,
} from '../src/ops/linear-scan.js';
import { rng } from './helpers/random.js';

/** Neighbour offsets [dy, dx] of G1, G2, G3 for each direction, written out from ANCHORS §4.1. */
const OFFSETS: Record<ScanDirection, [number, number][]> = {
  'left-right': [
    [-1, -1],
    [0, -1],
    [1, -1],
  ],
  'right-left': [
    [-1, 1],
    [0, 1],
    [1, 1],
  ],
  'top-bottom': [
    [-1, -1],
    [-1, 0],
    [-1, 1],
  ],
  'bottom-top': [
    [1, -1],
    [1, 0],
    [1, 1],
  ],
};

/** Pixels (y, x) in an order that visits every pixel after its three neighbours of `dir`. */
function scanOrder(dir: ScanDirection, H: number, W: number): [number, number][] {
  const px: [number, number][] = [];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.push([y, x]);
  const key = ([y, x]: [number, number]) => ({ 'left-right': x, 'right-left': -x, 'top-bottom': y, 'bottom-top': -y })[dir];
  return px.sort((a, b) => key(a) - key(b));
}

/** §4.1 transliterated pixel by pixel in image coordinates (float64), independent of the kernel's scan geometry. */
function referenceScan(x: ScanArray, g: ScanArray[], C: number, H: number, W: number, dir: ScanDirection): Float64Array {
  const h = new Float64Array(C * H * W);
  const order = scanOrder(dir, H, W);
  for (let c = 0; c < C; c++) {
    const b = c * H * W;
    for (const [y, w] of order) {
      const p = b + y * W + w;
      let sum = 0;
      let acc = 0;
      OFFSETS[dir].forEach(([dy, dx], k) => {
        const ny = y + dy;
        const nx = w + dx;
        if (ny < 0 || ny >= H || nx < 0 || nx >= W) return; // border rule: the gate counts as 0
        sum += g[k][p];
        acc += g[k][p] * h[b + ny * W + nx];
      });
      h[p] = (1 - sum) * x[p] + acc;
    }
  }
  return h;
}

const random64 = (n: number, rand: () => number, lo = -1, hi = 1) => Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
const random32 = (n: number, rand: () => number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

/** Three gate maps with Σ|g| ≤ `total` per pixel (stable range), signed. */
function stableGates(n: number, rand: () => number, total = 1): Float64Array[] {
  const g = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let i = 0; i < n; i++) {
    const r = [rand() * 2 - 1, rand() * 2 - 1, rand() * 2 - 1];
    const s = (Math.abs(r[0]) + Math.abs(r[1]) + Math.abs(r[2])) / (total * rand());
    for (let k = 0; k < 3; k++) g[k][i] = r[k] / Math.max(s, 1e-9);
  }
  return g;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 1, 7],
  [2, 6, 1],
  [1, 2, 2],
  [3, 5, 8],
  [2, 9, 4],
];

describe('scan3: ANCHORS §4.1 test vectors', () => {
  test('all gates 0 ⇒ H = X, every direction', () => {
    const rand = rng(1);
    for (const [C, H, W] of SHAPES) {
      const x = random32(C * H * W, rand);
      const z = new Float32Array(C * H * W);
      for (const dir of SCAN_DIRECTIONS) assert.deepEqual(scan3(x, z, z, z, C, H, W, dir), x, `${dir} ${C}x${H}x${W}`);
    }
  });

  test('left→right with g2 = 1, g1 = g3 = 0 ⇒ every row is constant = its first-column value', () => {
    const rand = rng(2);
    const [C, H, W] = [2, 5, 7];
    const x = random32(C * H * W, rand);
    const z = new Float32Array(C * H * W);
    const one = new Float32Array(C * H * W).fill(1);
    const h = scan3(x, z, one, z, C, H, W, 'left-right');
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        const first = x[c * H * W + y * W];
        for (let w = 0; w < W; w++) assert.equal(h[c * H * W + y * W + w], first);
      }
    }
    // and the same by symmetry for the other directions: right→left copies the last column,
    // top→bottom the first row, bottom→top the last row
    const rl = scan3(x, z, one, z, C, H, W, 'right-left');
    const tb = scan3(x, z, one, z, C, H, W, 'top-bottom');
    const bt = scan3(x, z, one, z, C, H, W, 'bottom-top');
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let w = 0; w < W; w++) {
          const p = c * H * W + y * W + w;
          assert.equal(rl[p], x[c * H * W + y * W + W - 1]);
          assert.equal(tb[p], x[c * H * W + w]);
          assert.equal(bt[p], x[c * H * W + (H - 1) * W + w]);
        }
      }
    }
  });

  test('constant X ⇒ H = X for any signed gates with Σ|g| ≤ 1, every direction (float64)', () => {
    const rand = rng(3);
    for (const [C, H, W] of SHAPES) {
      const n = C * H * W;
      const x = new Float64Array(n).fill(0.75);
      const g = stableGates(n, rand);
      for (const dir of SCAN_DIRECTIONS) {
        const h = scan3(x, g[0], g[1], g[2], C, H, W, dir);
        assert.ok(maxAbsDiff(h, x) < 1e-12, `${dir} ${C}x${H}x${W}: ${maxAbsDiff(h, x)}`);
      }
    }
  });
});

describe('scan3: recurrence, directions and borders', () => {
  test('matches a pixel-by-pixel transliteration of §4.1, every direction and shape (float64 and float32)', () => {
    const rand = rng(4);
    for (const [C, H, W] of SHAPES) {
      const n = C * H * W;
      const x = random64(n, rand);
      const g = stableGates(n, rand);
      for (const dir of SCAN_DIRECTIONS) {
        const ref = referenceScan(x, g, C, H, W, dir);
        assert.ok(maxAbsDiff(scan3(x, g[0], g[1], g[2], C, H, W, dir), ref) < 1e-12, `${dir} ${C}x${H}x${W} float64`);
        const x32 = Float32Array.from(x);
        const g32 = g.map((a) => Float32Array.from(a));
        const ref32 = referenceScan(x32, g32, C, H, W, dir);
        // float32 storage rounds each h (|h| ≤ 1) by ≤ 6e-8; with Σ|g| ≤ 1 those errors do not grow by more than the scan length
        const bound = 6e-8 * (Math.max(H, W) + 1);
        assert.ok(maxAbsDiff(scan3(x32, g32[0], g32[1], g32[2], C, H, W, dir), ref32) <= bound, `${dir} ${C}x${H}x${W} float32`);
      }
    }
  });

  test('a 2x2 left→right scan by hand: the first column is X, off-image links are ignored', () => {
    // pixels (y, w): x00 = 1, x01 = 2, x10 = 3, x11 = 4; gates per pixel [g1, g2, g3]
    const x = Float64Array.from([1, 2, 3, 4]);
    const g1 = Float64Array.from([9, 9, 9, 0.25]);
    const g2 = Float64Array.from([9, 0.5, 9, 0.125]);
    const g3 = Float64Array.from([9, 0.25, 9, 9]);
    const h = scan3(x, g1, g2, g3, 1, 2, 2, 'left-right');
    assert.equal(h[0], 1);
    assert.equal(h[2], 3);
    // (0, 1): G1 would link to (−1, 0), off the image: only g2, g3
    assert.equal(h[1], (1 - 0.5 - 0.25) * 2 + 0.5 * 1 + 0.25 * 3);
    // (1, 1): G3 would link to (2, 0), off the image: only g1, g2
    assert.equal(h[3], (1 - 0.25 - 0.125) * 4 + 0.25 * 1 + 0.125 * 3);
  });

  test('directions are related by flips and transposition (independent of the reference)', () => {
    const rand = rng(5);
    const [C, H, W] = [2, 6, 9];
    const n = C * H * W;
    const x = random64(n, rand);
    const g = stableGates(n, rand);
    const flipW = (a: ScanArray) => {
      const o = new Float64Array(n);
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++) for (let w = 0; w < W; w++) o[(c * H + y) * W + w] = a[(c * H + y) * W + W - 1 - w];
      return o;
    };
    const transpose = (a: ScanArray, h: number, w: number) => {
      const o = new Float64Array(n);
      for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let v = 0; v < w; v++) o[(c * w + v) * h + y] = a[(c * h + y) * w + v];
      return o;
    };
    const lr = scan3(x, g[0], g[1], g[2], C, H, W, 'left-right');
    // right→left = mirror of left→right on mirrored data (G1..G3 keep their meaning: rows do not flip)
    const rl = scan3(flipW(x), flipW(g[0]), flipW(g[1]), flipW(g[2]), C, H, W, 'right-left');
    assert.ok(maxAbsDiff(flipW(rl), lr) < 1e-12);
    // top→bottom on the transposed image (W x H) = transposed left→right
    const tb = scan3(transpose(x, H, W), transpose(g[0], H, W), transpose(g[1], H, W), transpose(g[2], H, W), C, W, H, 'top-bottom');
    assert.ok(maxAbsDiff(tb, transpose(lr, H, W)) < 1e-12);
  });

  test('out may be x (in place), float32 and float64 outputs follow x', () => {
    const rand = rng(6);
    const [C, H, W] = [2, 5, 6];
    const x = random32(C * H * W, rand);
    const g = stableGates(C * H * W, rand).map((a) => Float32Array.from(a));
    for (const dir of SCAN_DIRECTIONS) {
      const expected = scan3(x, g[0], g[1], g[2], C, H, W, dir);
      assert.ok(expected instanceof Float32Array);
      const y = x.slice();
      assert.equal(scan3(y, g[0], g[1], g[2], C, H, W, dir, y), y);
      assert.deepEqual(y, expected);
    }
    assert.ok(scan3(Float64Array.from(x), g[0], g[1], g[2], C, H, W, 'left-right') instanceof Float64Array);
  });

  test('bad shapes, lengths and directions are rejected', () => {
    const a = new Float32Array(12);
    assert.throws(() => scan3(a, a, a, a, 1, 3, 5, 'left-right'), RangeError);
    assert.throws(() => scan3(a, a, a, new Float32Array(11), 1, 3, 4, 'left-right'), RangeError);
    assert.throws(() => scan3(a, a, a, a, 1, 3, 4, 'diagonal' as ScanDirection), RangeError);
    assert.throws(() => scan3(a, a, a, a, 0, 3, 4, 'left-right'), RangeError);
    assert.throws(() => propagate4(a, new Float32Array(12 * 11), 1, 3, 4), RangeError);
    assert.throws(() => normaliseGates(new Float32Array(13), 1, 1, 1), RangeError);
  });
});

describe('scan3 backward', () => {
  test('scan3Transpose is the adjoint: ⟨scan3(x), y⟩ = ⟨x, scan3Transpose(y)⟩ (float64 and float32)', () => {
    const rand = rng(7);
    for (const [C, H, W] of [...SHAPES, [4, 23, 17] as [number, number, number]]) {
      const n = C * H * W;
      const g = stableGates(n, rand);
      const x = random64(n, rand);
      const y = random64(n, rand);
      for (const dir of SCAN_DIRECTIONS) {
        const lhs = dot(scan3(x, g[0], g[1], g[2], C, H, W, dir), y);
        const rhs = dot(x, scan3Transpose(y, g[0], g[1], g[2], C, H, W, dir));
        assert.ok(Math.abs(lhs - rhs) <= 1e-12 * Math.max(1, Math.abs(lhs)), `${dir} ${C}x${H}x${W}: ${lhs} vs ${rhs}`);
        const g32 = g.map((a) => Float32Array.from(a));
        const [x32, y32] = [Float32Array.from(x), Float32Array.from(y)];
        const h32 = scan3(x32, g32[0], g32[1], g32[2], C, H, W, dir);
        const t32 = scan3Transpose(y32, g32[0], g32[1], g32[2], C, H, W, dir);
        // each float32 output carries ≤ (scan length)·6e-8 ≈ 1.5e-6 relative error here: bound by the sums of |terms|
        const scale = dot(h32.map(Math.abs), y32.map(Math.abs)) + dot(x32.map(Math.abs), t32.map(Math.abs));
        assert.ok(Math.abs(dot(h32, y32) - dot(x32, t32)) <= 1e-5 * scale, `${dir} float32`);
      }
    }
  });

  test('scan3Backward: dx is the transpose; dx and dg1..3 match central differences (float64)', () => {
    const rand = rng(8);
    for (const [C, H, W] of [
      [1, 1, 4],
      [1, 4, 1],
      [2, 4, 5],
      [1, 6, 3],
    ] as [number, number, number][]) {
      const n = C * H * W;
      const x = random64(n, rand);
      const g = stableGates(n, rand);
      const r = random64(n, rand);
      for (const dir of SCAN_DIRECTIONS) {
        const loss = (xx: ScanArray, gg: ScanArray[]) => dot(scan3(xx, gg[0], gg[1], gg[2], C, H, W, dir), r);
        const h = scan3(x, g[0], g[1], g[2], C, H, W, dir);
        const grads = scan3Backward(r, x, g[0], g[1], g[2], h, C, H, W, dir);
        assert.ok(maxAbsDiff(grads.dx, scan3Transpose(r, g[0], g[1], g[2], C, H, W, dir)) < 1e-14);
        // central differences in double: truncation ~eps², rounding ~1e-16/eps, both far below 1e-7
        const eps = 1e-6;
        const inputs: ScanArray[] = [x, g[0], g[1], g[2]];
        const analytic = [grads.dx, grads.dg1, grads.dg2, grads.dg3];
        inputs.forEach((arr, which) => {
          for (let i = 0; i < n; i++) {
            const keep = arr[i];
            arr[i] = keep + eps;
            const up = loss(x, g);
            arr[i] = keep - eps;
            const down = loss(x, g);
            arr[i] = keep;
            const fd = (up - down) / (2 * eps);
            assert.ok(
              Math.abs(fd - analytic[which][i]) < 1e-7,
              `${dir} ${C}x${H}x${W} input ${which} [${i}]: fd ${fd} vs ${analytic[which][i]}`,
            );
          }
        });
      }
    }
  });

  test('gates of off-image links get zero gradient; the first scanned line passes dH through', () => {
    const rand = rng(9);
    const [C, H, W] = [1, 4, 5];
    const n = C * H * W;
    const x = random64(n, rand);
    const g = stableGates(n, rand);
    const r = random64(n, rand);
    const h = scan3(x, g[0], g[1], g[2], C, H, W, 'left-right');
    const { dg1, dg2, dg3 } = scan3Backward(r, x, g[0], g[1], g[2], h, C, H, W, 'left-right');
    for (let y = 0; y < H; y++) {
      assert.equal(dg1[y * W], 0);
      assert.equal(dg2[y * W], 0);
      assert.equal(dg3[y * W], 0);
    }
    for (let w = 0; w < W; w++) {
      assert.equal(dg1[w], 0); // row 0 has no upper neighbour
      assert.equal(dg3[(H - 1) * W + w], 0); // last row has no lower neighbour
    }
  });
});

describe('normaliseGates', () => {
  test('s < 1 leaves gates unchanged; s ≥ 1 divides by s (signed), per direction triple', () => {
    const [C, H, W] = [1, 1, 3];
    // 12 groups of one channel, 3 pixels each; direction d's triple at groups 3d..3d+2
    const gates = new Float64Array(12 * 3);
    const set = (d: number, pixel: number, v: [number, number, number]) => {
      for (let k = 0; k < 3; k++) gates[(3 * d + k) * 3 + pixel] = v[k];
    };
    set(0, 0, [0.25, -0.25, 0.25]); // s = 0.75
    set(0, 1, [1, -0.5, 0.5]); // s = 2
    set(0, 2, [0.5, 0.25, -0.25]); // s = 1: divided by 1 (unchanged values)
    set(2, 1, [0, 0, -3]); // s = 3
    const ng = normaliseGates(gates, C, H, W);
    const get = (d: number, pixel: number) => [0, 1, 2].map((k) => ng[(3 * d + k) * 3 + pixel]);
    assert.deepEqual(get(0, 0), [0.25, -0.25, 0.25]);
    assert.deepEqual(get(0, 1), [0.5, -0.25, 0.25]);
    assert.deepEqual(get(0, 2), [0.5, 0.25, -0.25]);
    assert.deepEqual(get(2, 1), [0, 0, -1]);
    assert.deepEqual(get(1, 0), [0, 0, 0]);
    // in place gives the same
    const copy = gates.slice();
    normaliseGates(copy, C, H, W, copy);
    assert.deepEqual(copy, ng);
  });

  test('after normalisation Σ|g| ≤ 1 everywhere; the backward matches central differences', () => {
    const rand = rng(10);
    const [C, H, W] = [2, 3, 4];
    const n = C * H * W;
    const gates = random64(12 * n, rand, -1.5, 1.5);
    const ng = normaliseGates(gates, C, H, W);
    for (let t = 0; t < 4; t++) {
      for (let i = 0; i < n; i++) {
        const s = [0, 1, 2].reduce((acc, k) => acc + Math.abs(ng[(3 * t + k) * n + i]), 0);
        assert.ok(s <= 1 + 1e-15);
      }
    }
    const r = random64(12 * n, rand);
    const grad = normaliseGatesBackward(gates, r, C, H, W);
    const eps = 1e-6;
    for (let i = 0; i < gates.length; i++) {
      const keep = gates[i];
      gates[i] = keep + eps;
      const up = dot(normaliseGates(gates, C, H, W), r);
      gates[i] = keep - eps;
      const down = dot(normaliseGates(gates, C, H, W), r);
      gates[i] = keep;
      assert.ok(Math.abs((up - down) / (2 * eps) - grad[i]) < 1e-7, `gate ${i}`);
    }
  });
});

/** Normalised view of direction d's gates. */
const normalisedTriple = (gates: ScanArray, C: number, H: number, W: number, dir: ScanDirection) =>
  directionGates(normaliseGates(gates.slice(), C, H, W), C, H, W, dir);

describe('propagate4', () => {
  test('= element-wise max of the four scans with normalised gates; winner names the direction', () => {
    const rand = rng(11);
    for (const [C, H, W] of SHAPES) {
      const n = C * H * W;
      const x = random32(n, rand);
      const gates = random32(12 * n, rand, -0.9, 0.9);
      const scans = SCAN_DIRECTIONS.map((dir) => {
        const [a, b, c] = normalisedTriple(gates, C, H, W, dir);
        return scan3(x, a, b, c, C, H, W, dir);
      });
      const { out, winner } = propagate4(x, gates, C, H, W, { winner: true });
      const plain = propagate4(x, gates, C, H, W);
      assert.equal(plain.winner, undefined);
      assert.deepEqual(plain.out, out);
      assert.ok(winner);
      for (let i = 0; i < n; i++) {
        const vals = scans.map((s) => s[i]);
        const best = Math.max(...vals);
        assert.equal(out[i], best);
        assert.equal(winner[i], vals.indexOf(best), `element ${i}`); // first maximal direction
      }
    }
  });

  test('ties go to the earlier direction: zero gates ⇒ out = X, winner left→right everywhere', () => {
    const rand = rng(12);
    const [C, H, W] = [2, 4, 5];
    const x = random32(C * H * W, rand);
    const { out, winner } = propagate4(x, new Float32Array(12 * C * H * W), C, H, W, { winner: true });
    assert.deepEqual(out, x);
    assert.ok(winner?.every((v) => v === 0));
    // top→bottom (2) and bottom→top (3) equal and above the horizontal scans: 2 wins
    const gates = new Float32Array(12 * C * H * W);
    const m = C * H * W;
    gates.fill(1, 7 * m, 8 * m); // top→bottom G2 = 1: every column copies its first row
    gates.fill(1, 10 * m, 11 * m); // bottom→top G2 = 1: copies its last row
    const y = new Float32Array(C * H * W).fill(-1);
    for (let c = 0; c < C; c++) {
      for (let w = 0; w < W; w++) {
        y[c * H * W + w] = 5;
        y[c * H * W + (H - 1) * W + w] = 5;
      }
    }
    const r = propagate4(y, gates, C, H, W, { winner: true });
    for (let c = 0; c < C; c++) {
      for (let yy = 1; yy < H - 1; yy++) {
        for (let w = 0; w < W; w++) {
          const p = c * H * W + yy * W + w;
          assert.equal(r.out[p], 5);
          assert.equal(r.winner?.[p], 2);
        }
      }
    }
  });

  test('propagate4Backward matches central differences in X and the raw gates (float64, gates beyond the stable range)', () => {
    const rand = rng(13);
    for (const [C, H, W] of [
      [1, 3, 4],
      [2, 4, 3],
      [1, 1, 5],
    ] as [number, number, number][]) {
      const n = C * H * W;
      const x = random64(n, rand);
      const gates = random64(12 * n, rand, -1.2, 1.2); // many triples with s ≥ 1: the normalisation's backward is exercised
      const r = random64(n, rand);
      const loss = () => dot(propagate4(x, gates, C, H, W).out, r);
      const { dx, dGates } = propagate4Backward(r, x, gates, C, H, W);
      const eps = 1e-6;
      const check = (arr: Float64Array, grad: ArrayLike<number>, name: string) => {
        for (let i = 0; i < arr.length; i++) {
          const keep = arr[i];
          arr[i] = keep + eps;
          const up = loss();
          arr[i] = keep - eps;
          const down = loss();
          arr[i] = keep;
          const fd = (up - down) / (2 * eps);
          assert.ok(Math.abs(fd - grad[i]) < 1e-7, `${C}x${H}x${W} ${name}[${i}]: fd ${fd} vs ${grad[i]}`);
        }
      };
      check(x, dx, 'x');
      check(gates, dGates, 'gates');
    }
  });

  test('propagate4Backward with float32 arrays agrees with float64', () => {
    const rand = rng(14);
    const [C, H, W] = [3, 7, 6];
    const n = C * H * W;
    const x = random64(n, rand);
    const gates = random64(12 * n, rand, -0.8, 0.8);
    const r = random64(n, rand);
    const g64 = propagate4Backward(r, x, gates, C, H, W);
    const g32 = propagate4Backward(Float32Array.from(r), Float32Array.from(x), Float32Array.from(gates), C, H, W);
    assert.ok(g32.dx instanceof Float32Array);
    // float32 storage: ≤ ~1e-6 relative per value, |gradients| = O(1)
    assert.ok(maxAbsDiff(g32.dx, g64.dx) < 1e-5);
    assert.ok(maxAbsDiff(g32.dGates, g64.dGates) < 1e-5);
  });
});

describe('swapGateDirections: what the STPN switch is', () => {
  const [C, H, W] = [2, 6, 7];
  const n = C * H * W;

  test('exchanges the gate groups of opposite directions; an involution; in place works', () => {
    const rand = rng(15);
    const gates = random32(12 * n, rand);
    const s = swapGateDirections(gates, C, H, W);
    for (const dir of SCAN_DIRECTIONS) {
      const a = directionGates(s, C, H, W, dir);
      const b = directionGates(gates, C, H, W, reverseDirection(dir));
      for (let k = 0; k < 3; k++) assert.deepEqual(a[k], b[k]);
    }
    assert.deepEqual(swapGateDirections(s, C, H, W), gates);
    const copy = gates.slice();
    swapGateDirections(copy, C, H, W, copy);
    assert.deepEqual(copy, s);
  });

  test('propagate4 with swapped gates runs every scan the other way with the same gate maps', () => {
    const rand = rng(16);
    const x = random64(n, rand);
    const gates = random64(12 * n, rand, -0.6, 0.6);
    const swapped = propagate4(x, swapGateDirections(gates, C, H, W), C, H, W).out;
    const expected = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    for (const dir of SCAN_DIRECTIONS) {
      const [a, b, c] = normalisedTriple(gates, C, H, W, dir);
      const h = scan3(x, a, b, c, C, H, W, reverseDirection(dir));
      for (let i = 0; i < n; i++) expected[i] = Math.max(expected[i], h[i]);
    }
    assert.deepEqual(swapped, expected);
  });

  /**
   * The exact transpose: scan_dᵀ y = D ⊙ scan_{−d}(y ⊘ D′; G′), where G′ moves each link's gate to
   * the link's other end with G1 ↔ G3 (G′_{4−k}(p + off_k) = G_k(p)), D = 1 − Σ in-bounds g, D′ the same for G′.
   */
  function transposedGates(g: ScanArray[], dir: ScanDirection): Float64Array[] {
    const gp = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let w = 0; w < W; w++) {
          OFFSETS[dir].forEach(([dy, dx], k) => {
            const [qy, qx] = [y + dy, w + dx];
            if (qy < 0 || qy >= H || qx < 0 || qx >= W) return;
            gp[2 - k][c * H * W + qy * W + qx] = g[k][c * H * W + y * W + w];
          });
        }
      }
    }
    return gp;
  }
  function inBoundsDiagonal(g: ScanArray[], dir: ScanDirection): Float64Array {
    const D = new Float64Array(n);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let w = 0; w < W; w++) {
          const p = c * H * W + y * W + w;
          let s = 0;
          OFFSETS[dir].forEach(([dy, dx], k) => {
            if (y + dy >= 0 && y + dy < H && w + dx >= 0 && w + dx < W) s += g[k][p];
          });
          D[p] = 1 - s;
        }
      }
    }
    return D;
  }

  test('the transpose is the reverse scan with gates moved one pixel along the links, G1↔G3, between diagonal scalings', () => {
    const rand = rng(17);
    const g = stableGates(n, rand, 0.3); // Σ|g| ≤ 0.3, so D′ (gathered from 3 pixels) stays ≥ 0.1
    const y = random64(n, rand);
    for (const dir of SCAN_DIRECTIONS) {
      const rev = reverseDirection(dir);
      const gp = transposedGates(g, dir);
      const D = inBoundsDiagonal(g, dir);
      const Dp = inBoundsDiagonal(gp, rev);
      const lhs = scan3Transpose(y, g[0], g[1], g[2], C, H, W, dir);
      const inner = scan3(
        y.map((v, i) => v / Dp[i]),
        gp[0],
        gp[1],
        gp[2],
        C,
        H,
        W,
        rev,
      );
      const rhs = inner.map((v, i) => v * D[i]);
      assert.ok(maxAbsDiff(lhs, rhs) < 1e-12, `${dir}: ${maxAbsDiff(lhs, rhs)}`);
      // ...and the plain swap (same maps, reverse direction) is NOT the transpose for such gates
      const swapped = scan3(y, g[0], g[1], g[2], C, H, W, rev);
      assert.ok(maxAbsDiff(lhs, swapped) > 1e-3, `${dir}: swap unexpectedly equals the transpose`);
    }
  });

  test('with constant gates and g1 = g3, the swap IS the transpose off the image border (inputs vanishing on the border)', () => {
    const rand = rng(18);
    const [a, b] = [0.2, 0.45];
    const g = [new Float64Array(n).fill(a), new Float64Array(n).fill(b), new Float64Array(n).fill(a)];
    const y = random64(n, rand);
    const onBorder = (i: number) => {
      const yy = Math.floor((i % (H * W)) / W);
      const w = i % W;
      return yy === 0 || yy === H - 1 || w === 0 || w === W - 1;
    };
    for (let i = 0; i < n; i++) if (onBorder(i)) y[i] = 0;
    for (const dir of SCAN_DIRECTIONS) {
      const transposed = scan3Transpose(y, g[0], g[1], g[2], C, H, W, dir);
      const swapped = scan3(y, g[0], g[1], g[2], C, H, W, reverseDirection(dir));
      let differs = false;
      for (let i = 0; i < n; i++) {
        if (onBorder(i)) differs ||= Math.abs(transposed[i] - swapped[i]) > 1e-6;
        else assert.ok(Math.abs(transposed[i] - swapped[i]) < 1e-12, `${dir} pixel ${i}`);
      }
      assert.ok(differs, `${dir}: expected the border to differ`); // the border rule breaks the symmetry there
    }
    // with g1 ≠ g3 the swap is not the transpose even off the border
    const g13 = [new Float64Array(n).fill(0.3), new Float64Array(n).fill(0.3), new Float64Array(n).fill(0.1)];
    const t = scan3Transpose(y, g13[0], g13[1], g13[2], C, H, W, 'left-right');
    const s = scan3(y, g13[0], g13[1], g13[2], C, H, W, 'right-left');
    assert.ok(maxAbsDiff(t, s) > 1e-3);
  });

  test('a 180° rotation of the image is matched by the swap plus G1↔G3 in every triple, maps rotated', () => {
    const rand = rng(19);
    const x = random64(n, rand);
    const gates = random64(12 * n, rand, -0.7, 0.7);
    const rotate = (a: Float64Array, planes: number) => {
      const o = new Float64Array(a.length);
      const m = H * W;
      for (let p = 0; p < planes; p++) for (let i = 0; i < m; i++) o[p * m + i] = a[p * m + m - 1 - i];
      return o;
    };
    const exchange13 = (a: Float64Array) => {
      const o = a.slice();
      for (let t = 0; t < 4; t++) {
        o.set(a.subarray((3 * t + 2) * n, (3 * t + 3) * n), 3 * t * n);
        o.set(a.subarray(3 * t * n, (3 * t + 1) * n), (3 * t + 2) * n);
      }
      return o;
    };
    const direct = propagate4(x, gates, C, H, W).out;
    const rotated = propagate4(rotate(x, C), rotate(exchange13(swapGateDirections(gates, C, H, W)), 12 * C), C, H, W).out;
    assert.ok(maxAbsDiff(rotate(rotated, C), direct) < 1e-12);
    // without the G1↔G3 exchange it does not hold
    const wrong = propagate4(rotate(x, C), rotate(swapGateDirections(gates, C, H, W), 12 * C), C, H, W).out;
    assert.ok(maxAbsDiff(rotate(wrong, C), direct) > 1e-3);
  });
});
