import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type WarpBorder, warpBilinear, warpBilinearAdjoint } from '../src/ops/warp.js';
import { rng } from './helpers/random.js';

const flowConst = (H: number, W: number, dy: number, dx: number) => {
  const f = new Float32Array(2 * H * W);
  f.fill(dy, 0, H * W);
  f.fill(dx, H * W);
  return f;
};

const randomImage = (n: number, rand: () => number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Direct transliteration of GRFP's CUDA forward kernel (zeros border): neighbours ceil(s − 1) .. +1. */
function grfpReference(src: Float32Array, C: number, H: number, W: number, flow: Float32Array): Float64Array {
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const fi = flow[h * W + w];
        const fj = flow[H * W + h * W + w];
        const sLow = Math.ceil(h + fi - 1);
        const tLow = Math.ceil(w + fj - 1);
        let acc = 0;
        for (let s = sLow; s <= sLow + 1; s++) {
          for (let t = tLow; t <= tLow + 1; t++) {
            if (s < 0 || s >= H || t < 0 || t >= W) continue;
            const weight = (1 - Math.abs(h + fi - s)) * (1 - Math.abs(w + fj - t));
            acc += weight * src[c * H * W + s * W + t];
          }
        }
        out[c * H * W + h * W + w] = acc;
      }
    }
  }
  return out;
}

describe('warpBilinear', () => {
  const H = 7;
  const W = 9;
  const C = 2;
  const rand = rng(1);
  const src = randomImage(C * H * W, rand);

  test('zero flow is the identity in both modes', () => {
    for (const mode of ['zeros', 'replicate'] as WarpBorder[]) {
      assert.deepEqual(warpBilinear(src, C, H, W, flowConst(H, W, 0, 0), mode), src);
    }
  });

  test('integer shift dx = +2: out(y, x) = src(y, x + 2); border zeros or replicated', () => {
    const z = warpBilinear(src, C, H, W, flowConst(H, W, 0, 2), 'zeros');
    const r = warpBilinear(src, C, H, W, flowConst(H, W, 0, 2), 'replicate');
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const i = c * H * W + y * W + x;
          const inside = x + 2 < W;
          assert.equal(z[i], inside ? src[i + 2] : 0);
          assert.equal(r[i], inside ? src[i + 2] : src[c * H * W + y * W + W - 1]);
        }
      }
    }
  });

  test('channel 0 is dy: dy = −1 gives out(y, x) = src(y − 1, x)', () => {
    const z = warpBilinear(src, C, H, W, flowConst(H, W, -1, 0), 'zeros');
    const r = warpBilinear(src, C, H, W, flowConst(H, W, -1, 0), 'replicate');
    for (let c = 0; c < C; c++) {
      for (let x = 0; x < W; x++) {
        assert.equal(z[c * H * W + x], 0);
        assert.equal(r[c * H * W + x], src[c * H * W + x]);
        for (let y = 1; y < H; y++) assert.equal(z[c * H * W + y * W + x], src[c * H * W + (y - 1) * W + x]);
      }
    }
  });

  test('half-pixel flow averages neighbours; zeros mode does not renormalise at the border', () => {
    const one = new Float32Array(H * W).fill(1);
    const z = warpBilinear(one, 1, H, W, flowConst(H, W, 0, 0.5), 'zeros');
    const r = warpBilinear(one, 1, H, W, flowConst(H, W, 0, 0.5), 'replicate');
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        assert.equal(z[y * W + x], x === W - 1 ? 0.5 : 1); // last column: the outside neighbour contributes 0
        assert.equal(r[y * W + x], 1);
      }
    }
    // a sample entirely outside the image is 0 (zeros) or the border value (replicate)
    const far = warpBilinear(src, C, H, W, flowConst(H, W, 0, 100), 'zeros');
    assert.ok(far.every((v) => v === 0));
  });

  test('matches a transliteration of the GRFP CUDA kernel on random (also integer) flows', () => {
    const flow = new Float32Array(2 * H * W);
    for (let i = 0; i < flow.length; i++) flow[i] = i % 5 === 0 ? Math.round(rand() * 6 - 3) : rand() * 8 - 4;
    const ours = warpBilinear(src, C, H, W, flow, 'zeros');
    const ref = grfpReference(src, C, H, W, flow);
    for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(ours[i] - ref[i]) < 1e-6, `pixel ${i}: ${ours[i]} vs ${ref[i]}`);
  });

  test('non-finite flow gives 0; bad shapes and modes are rejected', () => {
    const flow = flowConst(H, W, 0, 0);
    flow[3] = Number.NaN;
    const out = warpBilinear(src, C, H, W, flow);
    assert.equal(out[3], 0);
    assert.equal(out[4], src[4]);
    assert.throws(() => warpBilinear(src, C, H, W + 1, flow), RangeError);
    assert.throws(() => warpBilinear(src, C, H, W, flow, 'wrap' as WarpBorder), RangeError);
  });
});

describe('warpBilinearAdjoint', () => {
  test('dot-product test ⟨warp(x), y⟩ = ⟨x, warpᵀ(y)⟩ for random flows, both modes', () => {
    const rand = rng(42);
    for (const mode of ['zeros', 'replicate'] as WarpBorder[]) {
      for (let trial = 0; trial < 6; trial++) {
        const H = 5 + Math.floor(rand() * 20);
        const W = 5 + Math.floor(rand() * 20);
        const C = 1 + Math.floor(rand() * 3);
        const flow = new Float32Array(2 * H * W);
        const amp = [0.5, 3, 12][trial % 3];
        for (let i = 0; i < flow.length; i++) flow[i] = (rand() * 2 - 1) * amp;
        const x = randomImage(C * H * W, rand);
        const y = randomImage(C * H * W, rand);
        const lhs = dot(warpBilinear(x, C, H, W, flow, mode), y);
        const rhs = dot(x, warpBilinearAdjoint(y, C, H, W, flow, mode));
        const scale = Math.max(Math.abs(lhs), Math.abs(rhs), 1e-3);
        assert.ok(Math.abs(lhs - rhs) / scale < 1e-4, `${mode} trial ${trial}: ${lhs} vs ${rhs}`);
      }
    }
  });

  test('adjoint of an integer shift moves the gradient back; zero flow is the identity', () => {
    const H = 4;
    const W = 6;
    const g = new Float32Array(H * W);
    g[1 * W + 2] = 1; // output pixel (1, 2) read src (1, 3) under dx = +1
    const a = warpBilinearAdjoint(g, 1, H, W, flowConst(H, W, 0, 1), 'zeros');
    assert.equal(a[1 * W + 3], 1);
    assert.equal(
      a.reduce((s, v) => s + v, 0),
      1,
    );
    // replicate: every output pixel of the last column read src column W − 1 under dx = +1
    const ones = new Float32Array(H * W).fill(1);
    const ar = warpBilinearAdjoint(ones, 1, H, W, flowConst(H, W, 0, 1), 'replicate');
    for (let y = 0; y < H; y++) {
      assert.equal(ar[y * W], 0);
      assert.equal(ar[y * W + W - 1], 2);
    }
    const rand = rng(5);
    const x = randomImage(H * W, rand);
    assert.deepEqual(warpBilinearAdjoint(x, 1, H, W, flowConst(H, W, 0, 0)), x);
  });
});
