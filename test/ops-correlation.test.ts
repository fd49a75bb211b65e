import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type CorrelationParams, correlate, correlationShape, MSN_CORRELATION } from '../src/ops/correlation.js';
import { projectRoot } from './helpers/shared.js';

interface Fixture {
  cases: {
    dims: { C: number; H: number; W: number };
    params: CorrelationParams;
    outDims: [number, number, number];
    a: number[];
    b: number[];
    out: number[];
  }[];
}

describe('correlation (ANCHORS §5.3)', () => {
  test('hand-worked vector: 1 channel, 1x3 row, displacements -1..1', () => {
    // a = [1, 2, 3], b = [4, 5, 6], pad 1, k 1, max displacement 1, strides 1: R = 1, D = 3; only the
    // dy = 0 row of displacements can overlap a 1-row image.
    const p = { pad: 1, kernelSize: 1, maxDisplacement: 1, stride1: 1, stride2: 1 };
    const out = correlate(Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6), 1, 1, 3, p);
    assert.deepEqual(correlationShape(1, 3, p), { displacements: 3, height: 1, width: 3 });
    const row = (dy: number, dx: number) => Array.from(out.subarray(((dy + 1) * 3 + dx + 1) * 3, ((dy + 1) * 3 + dx + 2) * 3));
    assert.deepEqual(row(0, -1), [0, 2 * 4, 3 * 5]);
    assert.deepEqual(row(0, 0), [4, 10, 18]);
    assert.deepEqual(row(0, 1), [1 * 5, 2 * 6, 0]);
    for (const dy of [-1, 1]) for (const dx of [-1, 0, 1]) assert.deepEqual(row(dy, dx), [0, 0, 0]);
  });

  test('zero displacement of a map with itself is the mean square over channels', () => {
    const C = 3;
    const H = 4;
    const W = 5;
    const a = Float32Array.from({ length: C * H * W }, (_, i) => Math.sin(i * 1.3));
    const out = correlate(a, a, C, H, W, MSN_CORRELATION);
    const { displacements: D } = correlationShape(H, W, MSN_CORRELATION);
    assert.equal(D, 21);
    const centre = (10 * D + 10) * H * W;
    for (let i = 0; i < H * W; i++) {
      const expected = (a[i] ** 2 + a[H * W + i] ** 2 + a[2 * H * W + i] ** 2) / 3;
      assert.ok(Math.abs(out[centre + i] - expected) < 1e-6, `pixel ${i}: ${out[centre + i]} vs ${expected}`);
    }
  });

  test('matches the PyTorch twin (test/fixtures/msn/correlation.json)', () => {
    const fixture = JSON.parse(readFileSync(join(projectRoot, 'test', 'fixtures', 'msn', 'correlation.json'), 'utf8')) as Fixture;
    assert.ok(fixture.cases.length >= 5);
    for (const c of fixture.cases) {
      const { C, H, W } = c.dims;
      const shape = correlationShape(H, W, c.params);
      assert.deepEqual([shape.displacements ** 2, shape.height, shape.width], c.outDims, JSON.stringify(c.params));
      const out = correlate(Float32Array.from(c.a), Float32Array.from(c.b), C, H, W, c.params);
      assert.equal(out.length, c.out.length);
      for (let i = 0; i < out.length; i++)
        assert.ok(
          Math.abs(out[i] - c.out[i]) <= 1e-5 * Math.max(1, Math.abs(c.out[i])),
          `${JSON.stringify(c.params)}[${i}]: ${out[i]} vs ${c.out[i]}`,
        );
    }
  });

  test('reuses a given output array and rejects what it cannot compute', () => {
    const p = { pad: 2, kernelSize: 1, maxDisplacement: 2, stride1: 1, stride2: 2 };
    const a = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i % 5);
    const fresh = correlate(a, a, 2, 3, 4, p);
    const reused = correlate(a, a, 2, 3, 4, p, new Float32Array(fresh.length).fill(7));
    assert.deepEqual(reused, fresh);
    assert.throws(() => correlate(a, a, 3, 3, 4, p), /expected 3x3x4/);
    assert.throws(() => correlationShape(3, 4, { ...p, kernelSize: 2 }), /odd integer/);
    assert.throws(() => correlationShape(3, 4, { ...p, pad: 0, maxDisplacement: 4 }), /leaves no output/);
    assert.throws(() => correlate(a, a, 2, 3, 4, p, new Float32Array(3)), /out has 3 values/);
  });
});
