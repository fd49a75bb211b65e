/**
 * matchVertices against a brute-force reference (a Map from key to slot), both ways it runs: a
 * hash-table probe per target vertex, and (issue 13) between lattices prepared with
 * `prepareMatching`, a merge of their vertices sorted by key hash.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLattice, gatherMatched, type Lattice, matchVertices, prepareMatching } from '../src/ops/lattice.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** For each target vertex, 1 + the id of the source vertex with the same key, else 0. */
function reference(target: Lattice, source: Lattice): Int32Array {
  const d = source.d;
  const byKey = new Map<string, number>();
  for (let v = 0; v < source.M; v++) byKey.set(source.keys.subarray(v * d, (v + 1) * d).join(','), v + 1);
  const out = new Int32Array(target.M);
  for (let v = 0; v < target.M; v++) out[v] = byKey.get(target.keys.subarray(v * d, (v + 1) * d).join(',')) ?? 0;
  return out;
}

/** A lattice with only what matchVertices reads: d, M and distinct keys (no points). */
function keysOnly(d: number, keys: number[][]): Lattice {
  return {
    d,
    nIn: 0,
    nOut: 0,
    nPoints: 0,
    outStart: 0,
    M: keys.length,
    vertexIds: new Int32Array(0),
    bary: new Float32Array(0),
    keys: Int32Array.from(keys.flat()),
    cache: { taps: new Map() },
  };
}

test('matchVertices equals a key lookup on lattices of overlapping random point sets (d = 1..7)', () => {
  const rnd = lcg(7);
  for (let d = 1; d <= 7; d++) {
    const make = (n: number, shift: number) => {
      const f = new Float32Array(d * n);
      for (let i = 0; i < f.length; i++) f[i] = rnd() * 6 + shift;
      return buildLattice(f, n, null, n, d);
    };
    const a = make(400, 0);
    const b = make(300, 1.5);
    const c = make(50, 100); // disjoint from a
    for (const [t, s] of [
      [a, b],
      [b, a],
      [a, a],
      [a, c],
    ] as const) {
      assert.deepEqual(matchVertices(t, s), reference(t, s), `d = ${d}, probe`);
    }
    for (const lat of [a, b, c]) prepareMatching(lat);
    for (const [t, s] of [
      [a, b],
      [b, a],
      [a, a],
      [a, c],
    ] as const) {
      assert.deepEqual(matchVertices(t, s), reference(t, s), `d = ${d}, merge`);
    }
    const shared = reference(a, b).filter((x) => x > 0).length;
    assert.ok(shared > 0 && shared < a.M, `d = ${d}: the sets share some vertices (${shared} of ${a.M})`);
    // Repeated calls reuse the prepared order and give the same map.
    assert.deepEqual(matchVertices(a, b), reference(a, b));
  }
});

test('matchVertices tells apart keys whose hashes collide', () => {
  // The key hash before mixing is sum_i k_i P^(d-i) mod 2^32 (P = 1664525): for d = 2, (x + 1, y - P)
  // hashes like (x, y). Several such pairs, shuffled, some only in one lattice.
  const P = 1664525;
  const base: number[][] = [];
  for (let x = -3; x <= 3; x++) base.push([x, 5 * x], [x + 1, 5 * x - P], [x + 2, 5 * x - 2 * P]);
  const target = keysOnly(2, [base[4], base[0], base[7], base[1], base[2], base[20], base[9], [9, 9]]);
  const source = keysOnly(2, [base[1], base[9], base[3], base[4], base[2], base[8], [1, 2]]);
  // base[4] at source id 3, base[1] at 0, base[2] at 4, base[9] at 1; the rest are absent.
  const want = [4, 0, 0, 1, 5, 0, 2, 0];
  assert.deepEqual([...reference(target, source)], want);
  assert.deepEqual([...matchVertices(target, source)], want, 'probe');
  prepareMatching(target);
  prepareMatching(source);
  assert.deepEqual([...matchVertices(target, source)], want, 'merge');
});

test('matchVertices handles empty lattices', () => {
  const empty = keysOnly(3, []);
  const one = keysOnly(3, [[1, 2, 3]]);
  assert.deepEqual([...matchVertices(empty, one)], []);
  assert.deepEqual([...matchVertices(one, empty)], [0]);
  prepareMatching(empty);
  prepareMatching(one);
  assert.deepEqual([...matchVertices(empty, one)], []);
  assert.deepEqual([...matchVertices(one, empty)], [0]);
});

/** V[v+1][c] += w S[map[v]][c], D[v+1] += N[map[v]] through the reference map. */
function gatherReference(
  target: Lattice,
  source: Lattice,
  S: Float32Array,
  N: Float32Array,
  C: number,
  w: number,
  V: Float32Array,
  D: Float32Array,
): void {
  const map = reference(target, source);
  for (let v = 0; v < target.M; v++) {
    if (map[v] === 0) continue;
    for (let c = 0; c < C; c++) V[(v + 1) * C + c] += w * S[map[v] * C + c];
    D[v + 1] += N[map[v]];
  }
}

test('gatherMatched adds the matched guide splats exactly as a gather through the key map (probe and merge)', () => {
  const rnd = lcg(11);
  for (const d of [2, 4, 6]) {
    const make = (n: number, shift: number) => {
      const f = new Float32Array(d * n);
      for (let i = 0; i < f.length; i++) f[i] = rnd() * 5 + shift;
      return buildLattice(f, n, null, n, d);
    };
    const target = make(300, 0);
    const guides = [make(250, 0.7), make(200, 1.9), make(40, 50)];
    for (const C of [1, 3]) {
      const splats = guides.map((g) => Float32Array.from({ length: (g.M + 1) * C }, () => rnd()));
      const ones = guides.map((g) => Float32Array.from({ length: g.M + 1 }, () => rnd()));
      for (const prepared of [false, true]) {
        if (prepared) for (const lat of [target, ...guides]) prepareMatching(lat);
        const V = new Float32Array((target.M + 1) * C);
        const D = new Float32Array(target.M + 1);
        const Vr = new Float32Array((target.M + 1) * C);
        const Dr = new Float32Array(target.M + 1);
        guides.forEach((g, k) => {
          gatherMatched(target, g, splats[k], ones[k], C, 0.5 ** k, V, D);
          gatherReference(target, g, splats[k], ones[k], C, 0.5 ** k, Vr, Dr);
        });
        assert.deepEqual(V, Vr, `d = ${d}, C = ${C}, prepared ${prepared}`);
        assert.deepEqual(D, Dr, `d = ${d}, C = ${C}, prepared ${prepared}`);
        assert.ok(D.some((x) => x > 0) && D.slice(1).some((x) => x === 0), 'some target vertices matched, some not');
      }
    }
  }
  const a = keysOnly(2, [[0, 0]]);
  assert.throws(
    () => gatherMatched(a, a, new Float32Array(1), new Float32Array(2), 1, 1, new Float32Array(2), new Float32Array(2)),
    /shorter/,
  );
});
