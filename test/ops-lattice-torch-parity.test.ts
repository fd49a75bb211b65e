import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  blurLearned,
  buildLattice,
  filterAfter,
  filterAfterBackward,
  filterSize,
  type Lattice,
  type LatticeBlur,
  latticeEmbedding,
  slice,
  splat,
} from '../src/ops/lattice.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Parity of the TypeScript lattice with its PyTorch twin (`training/vprop_train/lattice.py`): the
 * fixtures under test/fixtures/lattice are fixed float32 inputs and PyTorch's results, written by
 * `cd training && /usr/bin/python3 -m vprop_train.lattice_fixtures`, so this runs without torch.
 *
 * Keys and barycentric weights must agree exactly: both sides run the same float64 operations in
 * the same order and round the weights once to float32. Points include exact rounding ties on
 * which round-half-even and round-half-away-from-zero give other keys than Math.round (checked on
 * the Python side, tests/test_lattice.py). Vertex ids differ (sorted keys there, first appearance
 * here), so keys are compared per point and remainder, never by id.
 *
 * Float results: |TS - PyTorch| <= 1e-5 * max(1, |value|). Both sides sum float32 products in
 * different orders (vertex order, oneDNN's blocked dot products in PyTorch, which also mixes the
 * channels of a 1x1 blur at the points rather than at the vertices), each rounding partial sums to
 * float32 (relative 6e-8); the longest sums (weight gradients, over every vertex) have a few hundred
 * terms of magnitude <= ~10. Observed worst case 1e-6 (gradW, n = 1), most below 3e-7 (the fixture
 * holds 8 significant digits); a wrong key, weight, tap or normaliser moves results by 1e-2 or more.
 */
const PARITY_TOLERANCE = 1e-5;

interface LearnedCase {
  n: number;
  W: number[];
  blurSlice: number[];
  y: number[];
  gradX: number[];
  gradW: number[];
}
interface LatticeCase {
  name: string;
  d: number;
  nIn: number;
  nOut: number;
  shared: boolean;
  C: number;
  O: number;
  inFeatures: number[];
  outFeatures: number[] | null;
  M: number;
  keys: number[];
  bary: number[];
  x: number[];
  gradOut: number[];
  splatSlice: number[];
  identityY: number[];
  learned: LearnedCase[];
}

const fixture = JSON.parse(readFileSync(join(projectRoot, 'test', 'fixtures', 'lattice', 'lattice.json'), 'utf8')) as {
  cases: LatticeCase[];
};
const f32 = (a: number[]) => Float32Array.from(a);

function assertClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = PARITY_TOLERANCE * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs PyTorch ${expected[i]}`);
  }
}

function build(c: LatticeCase): Lattice {
  return buildLattice(f32(c.inFeatures), c.nIn, c.outFeatures ? f32(c.outFeatures) : null, c.nOut, c.d);
}

describe('permutohedral lattice: TypeScript matches PyTorch (test/fixtures/lattice)', () => {
  test('fixtures cover d = 4 and 6, shared and separate outputs, ties, duplicates and unreached outputs', () => {
    const cases = fixture.cases;
    assert.ok(cases.some((c) => c.d === 4) && cases.some((c) => c.d === 6));
    assert.ok(cases.some((c) => c.shared) && cases.some((c) => !c.shared));
    for (const c of cases) {
      const d1 = c.d + 1;
      const nPoints = c.shared ? c.nIn : c.nIn + c.nOut;
      const features = (k: number): number[] => {
        const [f, n, p] = k < c.nIn ? [c.inFeatures, c.nIn, k] : [c.outFeatures as number[], c.nOut, k - c.nIn];
        return Array.from({ length: c.d }, (_, j) => Math.fround(f[j * n + p]));
      };
      // exact ties of both signs: elevated / (d+1) a half-integer
      let posTies = 0;
      let negTies = 0;
      for (let k = 0; k < nPoints; k++) {
        for (const e of latticeEmbedding(features(k), c.d).elevated) {
          const v = e * (1 / d1);
          if (v - Math.floor(v) === 0.5) v > 0 ? posTies++ : negTies++;
        }
      }
      assert.ok(posTies >= 2 && negTies >= 2, `${c.name}: ${posTies} positive, ${negTies} negative rounding ties`);
      // shared vertices (duplicates, clusters), and for separate outputs some that no input reaches
      assert.ok(c.M < 0.8 * nPoints * d1, `${c.name}: M = ${c.M} of ${nPoints * d1} point-vertices`);
      if (!c.shared) assert.ok(c.identityY.filter((v) => v === 0).length >= c.nOut / 10, `${c.name}: unreached outputs`);
    }
  });

  for (const c of fixture.cases) {
    const d1 = c.d + 1;
    const nPoints = c.shared ? c.nIn : c.nIn + c.nOut;

    test(`${c.name}: vertex keys and barycentric weights per point (exact)`, () => {
      const lat = build(c);
      assert.equal(lat.M, c.M, 'vertex count');
      assert.equal(lat.nPoints, nPoints);
      for (let k = 0; k < nPoints; k++) {
        for (let r = 0; r < d1; r++) {
          const p = k * d1 + r;
          const id = lat.vertexIds[p];
          let last = 0;
          for (let i = 0; i < c.d; i++) {
            const coord = lat.keys[id * c.d + i];
            last -= coord;
            assert.equal(coord, c.keys[p * d1 + i], `point ${k} remainder ${r} coordinate ${i}`);
          }
          assert.equal(last, c.keys[p * d1 + c.d], `point ${k} remainder ${r} implied last coordinate`);
          assert.equal(lat.bary[p], Math.fround(c.bary[p]), `point ${k} remainder ${r} barycentric weight`);
        }
      }
    });

    test(`${c.name}: splat -> slice, learned blur (n = 0, 1) -> slice`, () => {
      const lat = build(c);
      const x = f32(c.x);
      const S = splat(lat, x, c.C);
      assertClose(slice(lat, S, c.C), c.splatSlice, 'splatSlice');
      for (const l of c.learned) {
        assert.equal(l.W.length, c.O * c.C * filterSize(l.n, c.d));
        const B = blurLearned(lat, S, c.C, f32(l.W), c.O, l.n);
        assertClose(slice(lat, B, c.O), l.blurSlice, `blurSlice n=${l.n}`);
      }
    });

    test(`${c.name}: filterAfter (identity, learned n = 0, 1) and filterAfterBackward`, () => {
      const lat = build(c);
      const x = f32(c.x);
      assertClose(filterAfter(lat, x, c.C), c.identityY, 'identityY');
      for (const l of c.learned) {
        const blur: LatticeBlur = { kind: 'learned', weights: f32(l.W), outChannels: c.O, neighborhood: l.n };
        assertClose(filterAfter(lat, x, c.C, blur), l.y, `y n=${l.n}`);
        const { gradValues, gradWeights } = filterAfterBackward(lat, x, f32(c.gradOut), c.C, blur);
        assertClose(gradValues, l.gradX, `gradX n=${l.n}`);
        assert.ok(gradWeights);
        assertClose(gradWeights, l.gradW, `gradW n=${l.n}`);
      }
    });
  }
});
