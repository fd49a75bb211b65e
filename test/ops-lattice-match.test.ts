import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLattice, filterAfter, matchVertices, slice, splat } from '../src/ops/lattice.js';

/** Small deterministic generator (tests only). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

test('splats cached per point set and matched by key equal one lattice over the union', () => {
  const rnd = lcg(42);
  const d = 4;
  const C = 3;
  const sets = [500, 700, 300].map((n) => {
    const f = new Float32Array(d * n);
    for (let i = 0; i < f.length; i++) f[i] = rnd() * 3;
    const v = new Float32Array(C * n);
    for (let i = 0; i < v.length; i++) v[i] = rnd();
    return { n, f, v };
  });
  const nOut = 400;
  const outF = new Float32Array(d * nOut);
  for (let i = 0; i < outF.length; i++) outF[i] = rnd() * 3;

  // Reference: one lattice over all inputs and the outputs, AFTER-normalised.
  const nIn = sets.reduce((s, x) => s + x.n, 0);
  const inF = new Float32Array(d * nIn);
  const inV = new Float32Array(C * nIn);
  let off = 0;
  for (const x of sets) {
    for (let j = 0; j < d; j++) inF.set(x.f.subarray(j * x.n, (j + 1) * x.n), j * nIn + off);
    for (let c = 0; c < C; c++) inV.set(x.v.subarray(c * x.n, (c + 1) * x.n), c * nIn + off);
    off += x.n;
  }
  const ref = filterAfter(buildLattice(inF, nIn, outF, nOut, d), inV, C);

  // Cached: one lattice per set, splat once, gather onto the output lattice by key, slice.
  const target = buildLattice(outF, nOut, null, nOut, d);
  const V = new Float32Array((target.M + 1) * C);
  const D = new Float32Array(target.M + 1);
  let matched = 0;
  for (const x of sets) {
    const lat = buildLattice(x.f, x.n, null, x.n, d);
    const S = splat(lat, x.v, C);
    const N = splat(lat, new Float32Array(x.n).fill(1), 1);
    const map = matchVertices(target, lat);
    for (let v = 0; v < target.M; v++) {
      if (!map[v]) continue;
      matched++;
      for (let c = 0; c < C; c++) V[(v + 1) * C + c] += S[map[v] * C + c];
      D[v + 1] += N[map[v]];
    }
  }
  assert.ok(matched > target.M / 2, 'the point sets overlap enough to share vertices');
  const num = slice(target, V, C);
  const den = slice(target, D, 1);
  let maxErr = 0;
  for (let k = 0; k < nOut; k++) {
    for (let c = 0; c < C; c++) {
      const got = num[c * nOut + k] / (den[k] + 1e-20);
      maxErr = Math.max(maxErr, Math.abs(got - ref[c * nOut + k]));
    }
  }
  assert.ok(maxErr < 1e-5, `max abs difference ${maxErr}`);
});

test('matchVertices gives 0 for vertices the source lacks and the slot of shared ones', () => {
  const a = buildLattice(new Float32Array([0, 0]), 1, null, 1, 2);
  const b = buildLattice(new Float32Array([100, 100]), 1, null, 1, 2);
  assert.deepEqual([...matchVertices(a, b)], new Array(a.M).fill(0));
  const self = matchVertices(a, a);
  assert.deepEqual(
    [...self],
    Array.from({ length: a.M }, (_, i) => i + 1),
  );
});
