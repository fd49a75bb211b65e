/**
 * Permutohedral lattice (Adams, Baek, Davis, Eurographics 2010) and the bilateral convolution
 * layer built on it (VPN, Jampani et al. 2017), plus the DenseCRF flavour of the Gaussian filter.
 * See ANCHORS.md §2 for the algorithm this follows step by step.
 *
 * Layouts (all kernels are pure functions on typed arrays):
 * - Point features: channel-major `Float32Array`, `f[j * n + k]` = feature j of point k, already
 *   multiplied by the caller's scales.
 * - Point values: planar `Float32Array (C x n)`, `x[c * n + k]`.
 * - Vertex values: vertex-major `Float32Array ((M + 1) x C)`, `V[s * C + c]` for slot s. Slot 0 is
 *   the always-zero "missing vertex" (absent neighbours point there); vertex id i lives in slot
 *   i + 1. Vertex-major (not the reference's planar C x (M+1)) keeps the C values one point
 *   touches in one cache line, which is what splat/slice/blur spend their time on.
 * - Learned filter weights: `W[(o * C + c) * F + t]`, shape (O x C x F), F = filterSize(n, d).
 *
 * Kernels never write their inputs. Vertex-value inputs are read as if slot 0 were zero.
 * A lattice memoises its neighbour tables (built on first use by a blur); nothing else mutates it.
 *
 * Backends: where WebAssembly SIMD is available the build, neighbour table, splat, slice, blurs and
 * filters below run the kernels of `lattice-wasm.ts` (compiled from assembly/lattice.ts), else the
 * TypeScript ones here, which stay the reference (test/ops-lattice-wasm.test.ts checks one against
 * the other). The build is bit-identical either way; splat, blur and slice agree to float32
 * rounding. `setLatticeBackend('typescript')`, or env `VPROP_WASM=0` in Node, forces TypeScript.
 */
import {
  tryWasm,
  type WasmBlur,
  wasmBlurGaussian,
  wasmBlurLearned,
  wasmBuild,
  wasmFilter,
  wasmSlice,
  wasmSplat,
  wasmSteps,
} from './lattice-wasm.js';

export { initLatticeWasm, type LatticeBackend, latticeBackend, releaseLatticeWasm, setLatticeBackend } from './lattice-wasm.js';

/** A permutohedral lattice over one point set: the inputs, followed by the outputs unless shared. */
export interface Lattice {
  /** Feature dimension. */
  readonly d: number;
  /** Number of input points (splat sources). */
  readonly nIn: number;
  /** Number of output points (slice targets). */
  readonly nOut: number;
  /** Points embedded: nIn + nOut, or nIn when the outputs are the inputs. */
  readonly nPoints: number;
  /** Index of the first output point in the point set: nIn, or 0 when the outputs are the inputs. */
  readonly outStart: number;
  /** Number of distinct lattice vertices. */
  readonly M: number;
  /** `(nPoints) x (d+1)`: 0-based id of the vertex with remainder r of point k at `k * (d+1) + r`. */
  readonly vertexIds: Int32Array;
  /** `(nPoints) x (d+1)`: barycentric weight matching `vertexIds` (each row is >= 0 and sums to 1). */
  readonly bary: Float32Array;
  /**
   * `M x d`: the first d coordinates of each vertex key; the implied last coordinate is minus
   * their sum (keys live on the plane of zero coordinate sum).
   */
  readonly keys: Int32Array;
  /** @internal memoised neighbour tables; use the exported accessors. */
  readonly cache: LatticeCache;
}

interface LatticeCache {
  /** `(d+1) x M x 2` slots: [(j * M + v) * 2] = v + step_j, [... + 1] = v - step_j (0 = absent). */
  steps?: Int32Array;
  /** Tap tables per neighbourhood size n: `M x F` slots of the Caffe walk (tap 0 = the vertex). */
  taps: Map<number, Int32Array>;
  /** Lookup table of the final vertex set by key (see `hashKeys`): the build's, kept. */
  table?: Int32Array;
  /** The vertices in key-hash order, for `matchVertices`. */
  hashOrder?: HashOrder;
}

/** Keys must stay well inside int32; elevated coordinates beyond this are rejected as input errors. */
const MAX_ELEVATED = 2 ** 29;

/** Per-point scratch for the embedding, created once per build. */
interface EmbedScratch {
  d: number;
  scale: Float64Array;
  el: Float64Array;
  /** Coordinates of the remainder-0 vertex (multiples of d+1, well inside int32). */
  rem0: Int32Array;
  rank: Int32Array;
  bary: Float64Array;
}

function makeScratch(d: number): EmbedScratch {
  // Scaling of Adams et al. 2010 p.5-6: makes the lattice filter's std about 1 feature unit.
  const invStd = Math.sqrt(2 / 3) * (d + 1);
  const scale = new Float64Array(d);
  for (let i = 0; i < d; i++) scale[i] = invStd / Math.sqrt((i + 1) * (i + 2));
  return {
    d,
    scale,
    el: new Float64Array(d + 1),
    rem0: new Int32Array(d + 1),
    rank: new Int32Array(d + 1),
    bary: new Float64Array(d + 2),
  };
}

/**
 * Embeds one point (features `f[off + j * stride]`, j < d) into the lattice: elevated position,
 * nearest remainder-0 point, ranks and barycentric weights (§2.1 steps 2-6), in float64.
 * Returns false when a coordinate is not finite or too large to key.
 */
function embedPoint(f: ArrayLike<number>, off: number, stride: number, s: EmbedScratch): boolean {
  const { d, scale, el, rem0, rank, bary } = s;
  const d1 = d + 1;
  const invD1 = 1 / d1;
  let sm = 0;
  for (let j = d; j > 0; j--) {
    const cf = f[off + (j - 1) * stride] * scale[j - 1];
    el[j] = sm - j * cf;
    sm += cf;
  }
  el[0] = sm;
  let sum = 0;
  for (let i = 0; i <= d; i++) {
    const e = el[i];
    // NaN fails this comparison too.
    if (!(Math.abs(e) <= MAX_ELEVATED)) return false;
    // Ties go up (Math.round); the reference rounds half away from zero. Either is a valid
    // nearest point; ties have measure zero for real-valued features.
    const rd = Math.round(e * invD1);
    rem0[i] = rd * d1;
    sum += rd;
    rank[i] = 0;
  }
  for (let i = 0; i < d; i++) {
    const di = el[i] - rem0[i];
    let ri = rank[i];
    for (let j = i + 1; j <= d; j++) {
      // Arithmetic instead of a branch: the outcome is data-dependent and mispredicts half the time.
      const lt = Number(di < el[j] - rem0[j]);
      ri += lt;
      rank[j] += 1 - lt;
    }
    rank[i] = ri;
  }
  if (sum !== 0) {
    // The rounded point is off the zero-sum plane: shift ranks and wrap the out-of-range ones.
    for (let i = 0; i <= d; i++) {
      let r = rank[i] + sum;
      if (r < 0) {
        r += d1;
        rem0[i] += d1;
      } else if (r > d) {
        r -= d1;
        rem0[i] -= d1;
      }
      rank[i] = r;
    }
  }
  for (let i = 0; i <= d1; i++) bary[i] = 0;
  for (let i = 0; i <= d; i++) {
    const v = (el[i] - rem0[i]) * invD1;
    bary[d - rank[i]] += v;
    bary[d - rank[i] + 1] -= v;
  }
  bary[0] += 1 + bary[d1];
  return true;
}

/** Coordinate i of the remainder-r vertex: rem0 + canonical[r][rank], canonical per §2.1 step 7. */
function vertexCoord(rem0: number, rank: number, r: number, d: number): number {
  return rem0 + r - (rank > d - r ? d + 1 : 0);
}

/** Integer hash of a key (LCG accumulation as in the reference, then a murmur-style finaliser so
 * that the low bits used by the power-of-two table depend on every coordinate). */
function finishHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h;
}

/**
 * The key hash before `finishHash` is h = sum_i key_i P^(d-i) mod 2^32 (P = 1664525, the LCG
 * accumulation below), linear in the key: adding 1 to every coordinate adds `sumPw`, adding x to
 * coordinate i adds x * pw[i]. This lets neighbouring keys be hashed in O(1).
 */
function keyHashPowers(d: number): { pw: Int32Array; sumPw: number } {
  const pw = new Int32Array(d);
  let p = 1;
  let sumPw = 0;
  for (let i = d - 1; i >= 0; i--) {
    p = Math.imul(p, 1664525);
    pw[i] = p;
    sumPw = (sumPw + p) | 0;
  }
  return { pw, sumPw };
}

/** Open-addressing table (linear probing, -1 = empty) of vertex ids 0..M-1 by their keys. */
function hashKeys(keys: Int32Array, M: number, d: number, cap: number): Int32Array {
  const mask = cap - 1;
  const table = new Int32Array(cap).fill(-1);
  for (let v = 0; v < M; v++) {
    let h = 0;
    const kb = v * d;
    for (let i = 0; i < d; i++) h = Math.imul(h + keys[kb + i], 1664525);
    let slot = finishHash(h) & mask;
    while (table[slot] >= 0) slot = (slot + 1) & mask;
    table[slot] = v;
  }
  return table;
}

function nextPow2(x: number): number {
  let c = 1;
  while (c < x) c *= 2;
  return c;
}

/**
 * Exact embedding of one point, for tests and diagnostics (allocates; not for hot loops).
 * @param features the d scaled features of the point
 * @returns elevated position (d+1), full vertex keys `(d+1) x (d+1)` (row r = remainder-r vertex,
 *   all d+1 coordinates) and barycentric weights (d+1), all computed in float64.
 */
export function latticeEmbedding(
  features: ArrayLike<number>,
  d: number,
): { elevated: Float64Array; vertices: Int32Array; barycentric: Float64Array } {
  checkDim(d);
  const s = makeScratch(d);
  if (!embedPoint(features, 0, 1, s)) throw new RangeError('latticeEmbedding: feature not finite or too large');
  const d1 = d + 1;
  const vertices = new Int32Array(d1 * d1);
  for (let r = 0; r <= d; r++) for (let i = 0; i <= d; i++) vertices[r * d1 + i] = vertexCoord(s.rem0[i], s.rank[i], r, d);
  return { elevated: s.el.slice(), vertices, barycentric: s.bary.slice(0, d1) };
}

function checkDim(d: number): void {
  if (!Number.isInteger(d) || d < 1 || d > 64) throw new RangeError(`lattice: feature dimension d must be an integer in 1..64, got ${d}`);
}

/**
 * Builds one lattice over input and output points (§2.1 steps 1-8).
 * @param inFeatures channel-major `d x nIn`, already scaled
 * @param outFeatures channel-major `d x nOut`, or null when the outputs are the inputs themselves
 *   (in-to-in filtering, as in DenseCRF); then nOut must equal nIn
 */
export function buildLattice(inFeatures: Float32Array, nIn: number, outFeatures: Float32Array | null, nOut: number, d: number): Lattice {
  checkDim(d);
  if (!Number.isInteger(nIn) || nIn < 0) throw new RangeError(`buildLattice: nIn must be a non-negative integer, got ${nIn}`);
  if (!Number.isInteger(nOut) || nOut < 0) throw new RangeError(`buildLattice: nOut must be a non-negative integer, got ${nOut}`);
  if (inFeatures.length < d * nIn)
    throw new RangeError(`buildLattice: inFeatures has ${inFeatures.length} values, need d*nIn = ${d * nIn}`);
  const shared = outFeatures === null;
  if (shared && nOut !== nIn) throw new RangeError(`buildLattice: outFeatures is null (outputs = inputs) but nOut ${nOut} != nIn ${nIn}`);
  if (!shared && outFeatures.length < d * nOut) {
    throw new RangeError(`buildLattice: outFeatures has ${outFeatures.length} values, need d*nOut = ${d * nOut}`);
  }
  const nPoints = shared ? nIn : nIn + nOut;
  const d1 = d + 1;
  const maxVertices = nPoints * d1;
  if (maxVertices > 2 ** 29) throw new RangeError(`buildLattice: ${nPoints} points in d=${d} are too many for one lattice`);
  const outStart = shared ? 0 : nIn;
  // WebAssembly: the same algorithm and arithmetic, so the same lattice; a bad feature returns
  // undefined and the TypeScript build below reports it.
  const built = tryWasm((k) =>
    wasmBuild(k, inFeatures, nIn, outFeatures, nOut, d, makeScratch(d).scale, (p) => ({
      d,
      nIn,
      nOut,
      nPoints,
      outStart,
      M: p.M,
      vertexIds: p.vertexIds,
      bary: p.bary,
      keys: p.keys,
      cache: { taps: new Map(), table: p.table },
    })),
  );
  if (built) return built;
  // The table starts small and doubles at load 1/2 rather than being sized for nPoints*(d+1) up
  // front: dense (video) data has far fewer vertices than that, and a table that stays in cache
  // made the build 1.3-2x faster in bench/lattice.bench.ts; rehashing costs O(M d) per doubling.
  // (Storing keys inline in the slots was no faster and costs (d+1)x the table memory.)
  let cap = 4096;
  let mask = cap - 1;
  let table: Int32Array = new Int32Array(cap).fill(-1);
  let keyCap = Math.min(maxVertices, cap / 2);
  let keys: Int32Array = new Int32Array(keyCap * d);
  let M = 0;

  const vertexIds = new Int32Array(maxVertices);
  const bary = new Float32Array(maxVertices);
  const s = makeScratch(d);
  const { rem0, rank } = s;
  // The key hash is linear mod 2^32 (see `keyHashPowers`), and the remainder-(r+1) key is the
  // remainder-r key plus 1 except at the coordinate of rank d-r: O(1) hash per vertex.
  const { pw, sumPw } = keyHashPowers(d);
  const byRank = new Int32Array(d1);
  // This point's keys and raw hashes, and the previous point's with their ids. A remainder-r
  // vertex can only equal another point's remainder-r vertex, and neighbouring pixels mostly
  // share vertices (or the whole simplex), so comparing with the previous point replaces most
  // hash lookups; ids are still assigned in order of first appearance, so nothing changes.
  let pkeys = new Int32Array(d1 * d);
  let prevKeys = new Int32Array(d1 * d);
  let ph = new Int32Array(d1);
  let prevH = new Int32Array(d1);
  const prevIds = new Int32Array(d1).fill(-1);
  const prevRem0 = new Int32Array(d1);
  const prevRank = new Int32Array(d1).fill(-1);
  const home = new Int32Array(d1);
  const touched = new Int32Array(d1);
  // Direct-mapped cache (64 KiB, stays in L2) of vertices looked up recently, by hash: most
  // lookups the previous point cannot answer are for vertices of the previous image row, and this
  // saves the random read of the main table (10-15 % of the build on the blackswan features).
  const RECENT_MASK = (1 << 14) - 1;
  const recent = new Int32Array(RECENT_MASK + 1).fill(-1);

  for (let k = 0; k < nPoints; k++) {
    const isIn = k < nIn;
    const ok = isIn ? embedPoint(inFeatures, k, nIn, s) : embedPoint(outFeatures as Float32Array, k - nIn, nOut, s);
    if (!ok) {
      throw new RangeError(
        `buildLattice: ${isIn ? 'input' : 'output'} point ${isIn ? k : k - nIn} has a non-finite or too large feature (|elevated| > ${MAX_ELEVATED})`,
      );
    }
    const pb = k * d1;
    for (let r = 0; r <= d; r++) bary[pb + r] = s.bary[r];
    let sameSimplex = true;
    for (let i = 0; i <= d; i++) {
      if (rem0[i] !== prevRem0[i] || rank[i] !== prevRank[i]) {
        sameSimplex = false;
        break;
      }
    }
    if (sameSimplex) {
      for (let r = 0; r <= d; r++) vertexIds[pb + r] = prevIds[r];
      continue;
    }
    for (let i = 0; i <= d; i++) {
      prevRem0[i] = rem0[i];
      prevRank[i] = rank[i];
      byRank[rank[i]] = i;
    }
    while (2 * (M + d1) > cap) {
      // Grow before this point's d+1 lookups so that its insertions keep the load <= 1/2.
      cap *= 2;
      mask = cap - 1;
      table = hashKeys(keys, M, d, cap);
      keyCap = Math.min(maxVertices, cap / 2);
      const grown = new Int32Array(keyCap * d);
      grown.set(keys.subarray(0, M * d));
      keys = grown;
    }
    // Keys and home slots of all d+1 vertices first, then one read of each home slot and of the
    // key it holds: the lookups are memory-latency bound and independent reads overlap their
    // cache misses, where the probe loop below would take them one after another.
    let h = 0;
    for (let i = 0; i < d; i++) {
      pkeys[i] = rem0[i];
      h = Math.imul(h + rem0[i], 1664525);
    }
    let misses = 0;
    for (let r = 0; r <= d; r++) {
      const kb = r * d;
      if (r > 0) {
        for (let i = 0; i < d; i++) pkeys[kb + i] = pkeys[kb - d + i] + 1;
        const c = byRank[d - r + 1];
        h = (h + sumPw) | 0;
        if (c < d) {
          pkeys[kb + c] -= d1;
          h = (h - Math.imul(d1, pw[c])) | 0;
        }
      }
      ph[r] = h;
      if (h === prevH[r] && prevIds[r] >= 0) {
        let i = 0;
        while (i < d && pkeys[kb + i] === prevKeys[kb + i]) i++;
        if (i === d) {
          vertexIds[pb + r] = prevIds[r];
          home[r] = -1;
          continue;
        }
      }
      const fh = finishHash(h);
      const rid = recent[fh & RECENT_MASK];
      if (rid >= 0) {
        const vb = rid * d;
        let i = 0;
        while (i < d && keys[vb + i] === pkeys[kb + i]) i++;
        if (i === d) {
          vertexIds[pb + r] = rid;
          prevIds[r] = rid;
          home[r] = -1;
          continue;
        }
      }
      const slot = fh & mask;
      home[r] = slot;
      touched[r] = table[slot];
      misses++;
    }
    if (misses > 0) {
      for (let r = 0; r <= d; r++) {
        const id = touched[r];
        if (home[r] >= 0 && id >= 0) touched[r] = keys[id * d];
      }
      for (let r = 0; r <= d; r++) {
        let slot = home[r];
        if (slot < 0) continue;
        const kb = r * d;
        let id: number;
        for (;;) {
          id = table[slot];
          if (id < 0) {
            const vb = M * d;
            for (let i = 0; i < d; i++) keys[vb + i] = pkeys[kb + i];
            id = M++;
            table[slot] = id;
            break;
          }
          const vb = id * d;
          let i = 0;
          while (i < d && keys[vb + i] === pkeys[kb + i]) i++;
          if (i === d) break;
          slot = (slot + 1) & mask;
        }
        vertexIds[pb + r] = id;
        prevIds[r] = id;
        recent[finishHash(ph[r]) & RECENT_MASK] = id;
      }
    }
    let t = prevKeys;
    prevKeys = pkeys;
    pkeys = t;
    t = prevH;
    prevH = ph;
    ph = t;
  }
  const keysOut = M * d < 0.75 * keys.length ? keys.slice(0, M * d) : keys.subarray(0, M * d);
  return {
    d,
    nIn,
    nOut,
    nPoints,
    outStart,
    M,
    vertexIds,
    bary,
    keys: keysOut,
    // The build's table indexes the final vertex set already: keep it for the neighbour tables
    // and `matchVertices` instead of rehashing all keys there.
    cache: { taps: new Map(), table },
  };
}

// ---------------------------------------------------------------------------------------------
// Vertices shared between lattices
// ---------------------------------------------------------------------------------------------

/**
 * For each vertex of `target`, the slot (id + 1) of the vertex with the same key in `source`, or 0
 * (the zero slot) when `source` has no such vertex. Vertex identity is the key alone, so splatting
 * into `source` and reading through this map equals splatting into one lattice built over both
 * point sets: this is what lets a video engine splat every frame once and slice any later frame
 * from the cached splats of its guides instead of rebuilding a lattice over all of them.
 * @returns `Int32Array (target.M)`
 */
export function matchVertices(target: Lattice, source: Lattice): Int32Array {
  if (target.d !== source.d) throw new RangeError(`matchVertices: dimensions differ (${target.d} vs ${source.d})`);
  if (!target.cache.hashOrder || !source.cache.hashOrder) return probeVertices(target, source);
  const out = new Int32Array(target.M);
  mergeMatches(target, source, (v, slot) => {
    out[v] = slot;
  });
  return out;
}

/**
 * `V[v+1][c] += w * S[u+1][c]` and `D[v+1] += N[u+1]` for every vertex v of `target` whose key is
 * vertex u of `source`: a guide's splats (`S`, vertex-major `(source.M+1) x C`, and its splat of
 * ones `N`, `source.M+1`) gathered onto the target's vertices (`V`, `(target.M+1) x C`; `D`,
 * `target.M+1`; slot 0 unused). The same sums, in the same order per vertex, as reading through
 * `matchVertices(target, source)`; between lattices prepared with `prepareMatching` it adds as the
 * merge finds each match, without a map (one Int32Array of target.M fewer per call).
 */
export function gatherMatched(
  target: Lattice,
  source: Lattice,
  S: Float32Array,
  N: Float32Array,
  C: number,
  w: number,
  V: Float32Array,
  D: Float32Array,
): void {
  if (target.d !== source.d) throw new RangeError(`gatherMatched: dimensions differ (${target.d} vs ${source.d})`);
  if (S.length < (source.M + 1) * C || N.length < source.M + 1 || V.length < (target.M + 1) * C || D.length < target.M + 1)
    throw new RangeError('gatherMatched: a buffer is shorter than its lattice needs');
  const add = (v: number, slot: number) => {
    const o = (v + 1) * C;
    const so = slot * C;
    for (let c = 0; c < C; c++) V[o + c] += w * S[so + c];
    D[v + 1] += N[slot];
  };
  if (target.cache.hashOrder && source.cache.hashOrder) mergeMatches(target, source, add);
  else {
    const map = probeVertices(target, source);
    for (let v = 0; v < target.M; v++) if (map[v] !== 0) add(v, map[v]);
  }
}

/**
 * Calls `visit(v, id + 1)` for every target vertex v whose key is source vertex `id`. Both
 * lattices' vertices sorted by key hash (`prepareMatching`, once per lattice: a video engine
 * matches each lattice against many others), then one merge: two sequential streams instead of a
 * hash-table probe, i.e. a cache miss or two, per target vertex. Equal hashes are confirmed by
 * comparing the keys (stored in the same order), so the result is exact and the same as probing:
 * each key has at most one vertex per lattice.
 */
function mergeMatches(target: Lattice, source: Lattice, visit: (v: number, slot: number) => void): void {
  const d = source.d;
  const T = sortedByHash(target);
  const S = sortedByHash(source);
  const th = T.hashes;
  const sh = S.hashes;
  const tk = T.keys;
  const sk = S.keys;
  const MT = target.M;
  const MS = source.M;
  let i = 0;
  let j = 0;
  while (i < MT && j < MS) {
    const a = th[i];
    const b = sh[j];
    if (a < b) i++;
    else if (a > b) j++;
    else {
      // A run of equal hashes on each side (almost always one vertex each).
      let i2 = i + 1;
      while (i2 < MT && th[i2] === a) i2++;
      let j2 = j + 1;
      while (j2 < MS && sh[j2] === a) j2++;
      for (let u = i; u < i2; u++) {
        for (let w = j; w < j2; w++) {
          let c = 0;
          while (c < d && tk[u * d + c] === sk[w * d + c]) c++;
          if (c === d) {
            visit(T.ids[u], S.ids[w] + 1);
            break;
          }
        }
      }
      i = i2;
      j = j2;
    }
  }
}

/** `matchVertices` without prepared hash orders: each target key looked up in the source's table. */
function probeVertices(target: Lattice, source: Lattice): Int32Array {
  const d = source.d;
  const table = lookupTable(source);
  const mask = table.length - 1;
  const sk = source.keys;
  const tk = target.keys;
  const out = new Int32Array(target.M);
  for (let v = 0; v < target.M; v++) {
    const tb = v * d;
    let h = 0;
    for (let i = 0; i < d; i++) h = Math.imul(h + tk[tb + i], 1664525);
    let slot = finishHash(h) & mask;
    for (;;) {
      const id = table[slot];
      if (id < 0) break;
      const sb = id * d;
      let i = 0;
      while (i < d && sk[sb + i] === tk[tb + i]) i++;
      if (i === d) {
        out[v] = id + 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return out;
}

/**
 * Sorts a lattice's vertices by key hash (memoised on it; 4 (d + 2) bytes per vertex) so that
 * `matchVertices` between two prepared lattices is a merge instead of a probe per vertex: worth it
 * for a lattice matched against several others, as the bilateral engine's per-frame lattices are.
 * Call it where the lattice is built (a pool's worker, say); the maps are the same either way.
 */
export function prepareMatching(lat: Lattice): void {
  sortedByHash(lat);
}

/** A lattice's vertices in ascending order of their key hash (`matchVertices`; memoised on the lattice). */
interface HashOrder {
  /** `M`: finished key hashes, ascending (as signed int32). */
  readonly hashes: Int32Array;
  /** `M`: the vertex id at each position. */
  readonly ids: Int32Array;
  /** `M x d`: the vertex keys in the same order. */
  readonly keys: Int32Array;
}

/** Grow-only scratch of `sortedByHash` (per module instance, i.e. per thread): the hashes and the radix sort's ping-pong buffer. */
let sortScratch = { hash: new Int32Array(0), ping: new Int32Array(0) };

function sortedByHash(lat: Lattice): HashOrder {
  if (lat.cache.hashOrder) return lat.cache.hashOrder;
  const { d, M, keys } = lat;
  // Scratch is reused across calls: fresh memory costs a page fault per 4 KiB on first touch.
  if (sortScratch.hash.length < M) sortScratch = { hash: new Int32Array(M), ping: new Int32Array(M) };
  const hash = sortScratch.hash;
  for (let v = 0; v < M; v++) {
    const kb = v * d;
    let h = 0;
    for (let i = 0; i < d; i++) h = Math.imul(h + keys[kb + i], 1664525);
    hash[v] = finishHash(h);
  }
  // LSD radix sort of the ids by hash (3 passes of 11, 11 and 10 bits; the sign bit flipped so
  // that the order is the signed one): stable, O(M). The three passes go ping → ids → ping → ids,
  // so the sorted ids end in the fresh array the lattice keeps.
  const ids = new Int32Array(M);
  let src = sortScratch.ping;
  let dst = ids;
  for (let v = 0; v < M; v++) src[v] = v;
  const count = new Int32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    count.fill(0);
    for (let v = 0; v < M; v++) count[((hash[v] ^ 0x80000000) >>> shift) & 2047]++;
    let sum = 0;
    for (let b = 0; b < 2048; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let p = 0; p < M; p++) {
      const v = src[p];
      dst[count[((hash[v] ^ 0x80000000) >>> shift) & 2047]++] = v;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  const hashes = new Int32Array(M);
  const sortedKeys = new Int32Array(M * d);
  for (let p = 0; p < M; p++) {
    const v = ids[p];
    hashes[p] = hash[v];
    const from = v * d;
    const to = p * d;
    for (let i = 0; i < d; i++) sortedKeys[to + i] = keys[from + i];
  }
  const order: HashOrder = { hashes, ids, keys: sortedKeys };
  lat.cache.hashOrder = order;
  return order;
}

// ---------------------------------------------------------------------------------------------
// Neighbour tables
// ---------------------------------------------------------------------------------------------

/**
 * Immediate neighbours along the d+1 lattice directions, `(d+1) x M x 2` slots:
 * `[(j * M + v) * 2]` = slot of v + step_j, `[(j * M + v) * 2 + 1]` = slot of v - step_j, 0 when
 * absent. step_j adds -1 to every coordinate and d+1 to coordinate j; on the d stored coordinates
 * that is -1 everywhere plus d+1 at j when j < d (for j = d only the implied last coordinate gets
 * the +(d+1)). Built on first use and memoised on the lattice.
 */
export function latticeSteps(lat: Lattice): Int32Array {
  if (lat.cache.steps) return lat.cache.steps;
  const fromWasm = tryWasm((k) => wasmSteps(k, lat, lookupTable(lat)));
  if (fromWasm) {
    lat.cache.steps = fromWasm;
    return fromWasm;
  }
  const { d, M, keys } = lat;
  const d1 = d + 1;
  const table = lookupTable(lat);
  const mask = table.length - 1;
  // A neighbour's hash is the vertex's plus a per-direction constant (`keyHashPowers`): one O(d)
  // hash per vertex instead of 2(d+1).
  const { pw, sumPw } = keyHashPowers(d);
  const plusDelta = new Int32Array(d1);
  for (let j = 0; j <= d; j++) plusDelta[j] = (j < d ? Math.imul(d1, pw[j]) - sumPw : -sumPw) | 0;
  const steps = new Int32Array(d1 * M * 2);
  for (let v = 0; v < M; v++) {
    const vb = v * d;
    let h = 0;
    for (let i = 0; i < d; i++) h = Math.imul(h + keys[vb + i], 1664525);
    for (let j = 0; j <= d; j++) {
      // Only v + step_j is looked up: finding u = v + step_j also gives u - step_j = v.
      let slot = finishHash((h + plusDelta[j]) | 0) & mask;
      for (;;) {
        const id = table[slot];
        if (id < 0) break;
        const ub = id * d;
        let i = 0;
        while (i < d && keys[ub + i] === keys[vb + i] - 1 + (i === j ? d1 : 0)) i++;
        if (i === d) {
          steps[(j * M + v) * 2] = id + 1;
          steps[(j * M + id) * 2 + 1] = v + 1;
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
  }
  lat.cache.steps = steps;
  return steps;
}

/** Lookup table of the vertex keys (see `hashKeys`): the build's, or rebuilt once and memoised. */
function lookupTable(lat: Lattice): Int32Array {
  if (!lat.cache.table) lat.cache.table = hashKeys(lat.keys, lat.M, lat.d, nextPow2(Math.max(16, 2 * lat.M)));
  return lat.cache.table;
}

/** Number of taps of a learned lattice filter: F(n, d) = (n+1)^(d+1) - n^(d+1) (§2.2). */
export function filterSize(n: number, d: number): number {
  return (n + 1) ** (d + 1) - n ** (d + 1);
}

/**
 * Tap offsets in units of lattice steps, `F x (d+1)`: tap t reaches `v + sum_j a[t][j] step_j`.
 * Taps are the vectors a in {0..n}^(d+1) with at least one zero (sum_j step_j = 0 makes the
 * others duplicates), in Caffe's `LatticeTraversal` order: lexicographic with a[0] most
 * significant, so tap 0 is the vertex itself. For n = 1 that is every proper subset of
 * directions, ordered by bitmask with direction 0 as the top bit.
 */
export function filterTapOffsets(n: number, d: number): Int32Array {
  checkNeighborhood(n, d);
  const d1 = d + 1;
  const F = filterSize(n, d);
  const out = new Int32Array(F * d1);
  const total = (n + 1) ** d1;
  const digits = new Int32Array(d1);
  let t = 0;
  for (let code = 0; code < total; code++) {
    let c = code;
    let hasZero = false;
    for (let j = d; j >= 0; j--) {
      digits[j] = c % (n + 1);
      c = Math.floor(c / (n + 1));
      if (digits[j] === 0) hasZero = true;
    }
    if (!hasZero) continue;
    out.set(digits, t * d1);
    t++;
  }
  return out;
}

function checkNeighborhood(n: number, d: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`lattice filter: neighborhood must be a non-negative integer, got ${n}`);
  if ((n + 1) ** (d + 1) > 2 ** 24)
    throw new RangeError(`lattice filter: neighborhood ${n} in d=${d} has too many taps (${filterSize(n, d)})`);
}

/**
 * Tap table for neighbourhood n, `M x F` slots (0 = absent), memoised. Tap t of vertex v is found
 * as Caffe's `LatticeApproximateTraversal` does: walk a[t][0] steps along direction 0, then
 * a[t][1] along direction 1, ... through existing vertices only, so a tap behind a missing
 * intermediate vertex is absent even if the tap vertex itself exists.
 */
export function latticeTaps(lat: Lattice, n: number): Int32Array {
  const cached = lat.cache.taps.get(n);
  if (cached) return cached;
  const { d, M } = lat;
  const d1 = d + 1;
  const F = filterSize(n, d);
  if (M * F > 2 ** 28) throw new RangeError(`latticeTaps: ${M} vertices x ${F} taps is too large a table`);
  const offs = filterTapOffsets(n, d);
  const taps = new Int32Array(M * F);
  if (n === 0) {
    for (let v = 0; v < M; v++) taps[v] = v + 1;
  } else {
    const steps = latticeSteps(lat);
    for (let v = 0; v < M; v++) {
      for (let t = 0; t < F; t++) {
        let slot = v + 1;
        for (let j = 0; j <= d && slot !== 0; j++) {
          for (let s = offs[t * d1 + j]; s > 0 && slot !== 0; s--) slot = steps[(j * M + slot - 1) * 2];
        }
        taps[v * F + t] = slot;
      }
    }
  }
  lat.cache.taps.set(n, taps);
  return taps;
}

/**
 * The fixed Gaussian lattice filter of neighbourhood n (Caffe `GaussianFilter::build_filter`):
 * a unit impulse at the centre, d+1 passes with weights {1, 0.5} at distance {0, 1} (0 beyond)
 * along each direction over the tap set only, divided by the resulting centre value. Returns F
 * taps in `filterTapOffsets` order; n = 0 gives [1]. Used for AFTER normalisation and offsets.
 */
export function gaussianTaps(d: number, n: number): Float32Array {
  checkDim(d);
  checkNeighborhood(n, d);
  const d1 = d + 1;
  const F = filterSize(n, d);
  const offs = filterTapOffsets(n, d);
  // Full (d+1)-coordinate keys of the taps, for exact lookups (one-off, small).
  const index = new Map<string, number>();
  const keyOf = (a: ArrayLike<number>, extraDir: number, extraSteps: number): string => {
    let sumA = extraSteps;
    for (let j = 0; j <= d; j++) sumA += a[j];
    const parts: number[] = [];
    for (let i = 0; i <= d; i++) parts.push(-sumA + d1 * (a[i] + (i === extraDir ? extraSteps : 0)));
    return parts.join(',');
  };
  for (let t = 0; t < F; t++) index.set(keyOf(offs.subarray(t * d1, (t + 1) * d1), -1, 0), t);
  let cur = new Float64Array(F);
  let next = new Float64Array(F);
  cur[0] = 1;
  const gauss = [1, 0.5];
  for (let j = 0; j <= d; j++) {
    for (let t = 0; t < F; t++) {
      const a = offs.subarray(t * d1, (t + 1) * d1);
      let v = cur[t] * gauss[0];
      for (let m = 1; m <= n; m++) {
        const w = m < gauss.length ? gauss[m] : 0;
        if (w === 0) continue;
        const up = index.get(keyOf(a, j, m));
        const down = index.get(keyOf(a, j, -m));
        v += ((up === undefined ? 0 : cur[up]) + (down === undefined ? 0 : cur[down])) * w;
      }
      next[t] = v;
    }
    [cur, next] = [next, cur];
  }
  const out = new Float32Array(F);
  for (let t = 0; t < F; t++) out[t] = cur[t] / cur[0];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splat / slice and their adjoints
// ---------------------------------------------------------------------------------------------

function checkValues(name: string, values: Float32Array, C: number, n: number): void {
  if (!Number.isInteger(C) || C < 1) throw new RangeError(`${name}: channel count must be a positive integer, got ${C}`);
  if (values.length < C * n) throw new RangeError(`${name}: values have ${values.length} entries, need C*n = ${C * n}`);
}

function vertexBuffer(name: string, lat: Lattice, C: number, out: Float32Array | undefined, zero = true): Float32Array {
  const len = (lat.M + 1) * C;
  if (!out) return new Float32Array(len);
  if (out.length < len) throw new RangeError(`${name}: out has ${out.length} entries, need (M+1)*C = ${len}`);
  if (zero) out.fill(0, 0, len);
  return out;
}

/** Runs a WebAssembly kernel that fills its output; false when the TypeScript one must run. */
function ranWasm(f: Parameters<typeof tryWasm>[0]): boolean {
  return (
    tryWasm((k) => {
      f(k);
      return true;
    }) === true
  );
}

/** Scatter-adds planar values of points [start, start+n) onto vertex slots. */
function splatRange(lat: Lattice, start: number, n: number, values: Float32Array, C: number, out: Float32Array): void {
  const { vertexIds, bary } = lat;
  const d1 = lat.d + 1;
  if (C === 1) {
    for (let k = 0; k < n; k++) {
      const x = values[k];
      const pb = (start + k) * d1;
      for (let r = 0; r < d1; r++) out[vertexIds[pb + r] + 1] += bary[pb + r] * x;
    }
    return;
  }
  if (C === 2) {
    // Two channels (fg/bg masks, chroma pairs, binary CRFs) are common enough to unroll.
    for (let k = 0; k < n; k++) {
      const x0 = values[k];
      const x1 = values[n + k];
      const pb = (start + k) * d1;
      for (let r = 0; r < d1; r++) {
        const w = bary[pb + r];
        const o = (vertexIds[pb + r] + 1) * 2;
        out[o] += w * x0;
        out[o + 1] += w * x1;
      }
    }
    return;
  }
  // Vertex-major with the channels inner, in blocks of 8 and 4 held in locals: V8 does not
  // vectorise, and locals leave one load, multiply-add and store per value in the inner loop
  // (3-4x faster at C = 32 than a loop over a per-point buffer).
  const ws = new Float64Array(d1);
  const os = new Int32Array(d1);
  const C8 = C & ~7;
  const C4 = C & ~3;
  for (let k = 0; k < n; k++) {
    const pb = (start + k) * d1;
    for (let r = 0; r < d1; r++) {
      ws[r] = bary[pb + r];
      os[r] = (vertexIds[pb + r] + 1) * C;
    }
    let c = 0;
    for (; c < C8; c += 8) {
      const b = c * n + k;
      const x0 = values[b];
      const x1 = values[b + n];
      const x2 = values[b + 2 * n];
      const x3 = values[b + 3 * n];
      const x4 = values[b + 4 * n];
      const x5 = values[b + 5 * n];
      const x6 = values[b + 6 * n];
      const x7 = values[b + 7 * n];
      for (let r = 0; r < d1; r++) {
        const w = ws[r];
        const o = os[r] + c;
        out[o] += w * x0;
        out[o + 1] += w * x1;
        out[o + 2] += w * x2;
        out[o + 3] += w * x3;
        out[o + 4] += w * x4;
        out[o + 5] += w * x5;
        out[o + 6] += w * x6;
        out[o + 7] += w * x7;
      }
    }
    for (; c < C4; c += 4) {
      const b = c * n + k;
      const x0 = values[b];
      const x1 = values[b + n];
      const x2 = values[b + 2 * n];
      const x3 = values[b + 3 * n];
      for (let r = 0; r < d1; r++) {
        const w = ws[r];
        const o = os[r] + c;
        out[o] += w * x0;
        out[o + 1] += w * x1;
        out[o + 2] += w * x2;
        out[o + 3] += w * x3;
      }
    }
    for (; c < C; c++) {
      const x = values[c * n + k];
      for (let r = 0; r < d1; r++) out[os[r] + c] += ws[r] * x;
    }
  }
}

/** Barycentric interpolation of vertex values at points [start, start+n), times `scale`. */
function sliceRange(lat: Lattice, start: number, n: number, V: Float32Array, C: number, scale: number, out: Float32Array): void {
  const { vertexIds, bary } = lat;
  const d1 = lat.d + 1;
  if (C === 1) {
    for (let k = 0; k < n; k++) {
      const pb = (start + k) * d1;
      let acc = 0;
      for (let r = 0; r < d1; r++) acc += bary[pb + r] * V[vertexIds[pb + r] + 1];
      out[k] = acc * scale;
    }
    return;
  }
  if (C === 2) {
    for (let k = 0; k < n; k++) {
      const pb = (start + k) * d1;
      let a0 = 0;
      let a1 = 0;
      for (let r = 0; r < d1; r++) {
        const w = bary[pb + r];
        const o = (vertexIds[pb + r] + 1) * 2;
        a0 += w * V[o];
        a1 += w * V[o + 1];
      }
      out[k] = a0 * scale;
      out[n + k] = a1 * scale;
    }
    return;
  }
  // Channel blocks accumulated in locals, as in splatRange.
  const ws = new Float64Array(d1);
  const os = new Int32Array(d1);
  const C8 = C & ~7;
  const C4 = C & ~3;
  for (let k = 0; k < n; k++) {
    const pb = (start + k) * d1;
    for (let r = 0; r < d1; r++) {
      ws[r] = bary[pb + r];
      os[r] = (vertexIds[pb + r] + 1) * C;
    }
    let c = 0;
    for (; c < C8; c += 8) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let a4 = 0;
      let a5 = 0;
      let a6 = 0;
      let a7 = 0;
      for (let r = 0; r < d1; r++) {
        const w = ws[r];
        const o = os[r] + c;
        a0 += w * V[o];
        a1 += w * V[o + 1];
        a2 += w * V[o + 2];
        a3 += w * V[o + 3];
        a4 += w * V[o + 4];
        a5 += w * V[o + 5];
        a6 += w * V[o + 6];
        a7 += w * V[o + 7];
      }
      const b = c * n + k;
      out[b] = a0 * scale;
      out[b + n] = a1 * scale;
      out[b + 2 * n] = a2 * scale;
      out[b + 3 * n] = a3 * scale;
      out[b + 4 * n] = a4 * scale;
      out[b + 5 * n] = a5 * scale;
      out[b + 6 * n] = a6 * scale;
      out[b + 7 * n] = a7 * scale;
    }
    for (; c < C4; c += 4) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let r = 0; r < d1; r++) {
        const w = ws[r];
        const o = os[r] + c;
        a0 += w * V[o];
        a1 += w * V[o + 1];
        a2 += w * V[o + 2];
        a3 += w * V[o + 3];
      }
      const b = c * n + k;
      out[b] = a0 * scale;
      out[b + n] = a1 * scale;
      out[b + 2 * n] = a2 * scale;
      out[b + 3 * n] = a3 * scale;
    }
    for (; c < C; c++) {
      let a = 0;
      for (let r = 0; r < d1; r++) a += ws[r] * V[os[r] + c];
      out[c * n + k] = a * scale;
    }
  }
}

function pointBuffer(name: string, C: number, n: number, out: Float32Array | undefined): Float32Array {
  if (!out) return new Float32Array(C * n);
  if (out.length < C * n) throw new RangeError(`${name}: out has ${out.length} entries, need C*n = ${C * n}`);
  return out;
}

/**
 * Splat: S[v][c] = sum over input points k of bary[k][r] x[c][k] for the vertices v of k.
 * @param values planar `C x nIn`
 * @returns vertex values `(M+1) x C` (slot 0 zero)
 */
export function splat(lat: Lattice, values: Float32Array, C: number, out?: Float32Array): Float32Array {
  checkValues('splat', values, C, lat.nIn);
  const S = vertexBuffer('splat', lat, C, out, false);
  if (ranWasm((k) => wasmSplat(k, lat, 0, lat.nIn, values, C, S))) return S;
  S.fill(0, 0, (lat.M + 1) * C);
  splatRange(lat, 0, lat.nIn, values, C, S);
  return S;
}

/**
 * Slice: y[c][p] = scale * sum_r bary[p][r] V[vertex(p, r)][c] at the output points.
 * @param V vertex values `(M+1) x C`
 * @returns planar `C x nOut`
 */
export function slice(lat: Lattice, V: Float32Array, C: number, out?: Float32Array, scale = 1): Float32Array {
  checkValues('slice', V, C, lat.M + 1);
  const y = pointBuffer('slice', C, lat.nOut, out);
  if (!ranWasm((k) => wasmSlice(k, lat, lat.outStart, lat.nOut, V, C, scale, y))) sliceRange(lat, lat.outStart, lat.nOut, V, C, scale, y);
  return y;
}

/** Adjoint of `splat`: slicing at the input points. Returns planar `C x nIn`. */
export function splatAdjoint(lat: Lattice, V: Float32Array, C: number, out?: Float32Array): Float32Array {
  checkValues('splatAdjoint', V, C, lat.M + 1);
  const x = pointBuffer('splatAdjoint', C, lat.nIn, out);
  if (!ranWasm((k) => wasmSlice(k, lat, 0, lat.nIn, V, C, 1, x))) sliceRange(lat, 0, lat.nIn, V, C, 1, x);
  return x;
}

/** Adjoint of `slice` (scale 1): splatting from the output points. `y` is planar `C x nOut`. */
export function sliceAdjoint(lat: Lattice, y: Float32Array, C: number, out?: Float32Array): Float32Array {
  checkValues('sliceAdjoint', y, C, lat.nOut);
  const V = vertexBuffer('sliceAdjoint', lat, C, out, false);
  if (ranWasm((k) => wasmSplat(k, lat, lat.outStart, lat.nOut, y, C, V))) return V;
  V.fill(0, 0, (lat.M + 1) * C);
  splatRange(lat, lat.outStart, lat.nOut, y, C, V);
  return V;
}

// ---------------------------------------------------------------------------------------------
// Blurs
// ---------------------------------------------------------------------------------------------

/**
 * One pass dst[v] = src[v] + 0.5 (src[v + step_j] + src[v - step_j]) for v = 1..M; `sb` is the
 * direction's offset in the steps table. Absent neighbours read slot 0, which must be zero in src.
 */
function blurPass(steps: Int32Array, sb: number, M: number, src: Float32Array, dst: Float32Array, C: number): void {
  for (let c = 0; c < C; c++) dst[c] = 0;
  if (C === 1) {
    for (let v = 1; v <= M; v++) {
      const e = sb + (v - 1) * 2;
      dst[v] = src[v] + 0.5 * (src[steps[e]] + src[steps[e + 1]]);
    }
    return;
  }
  if (C === 2) {
    for (let v = 1; v <= M; v++) {
      const e = sb + (v - 1) * 2;
      const a = steps[e] * 2;
      const b = steps[e + 1] * 2;
      const o = v * 2;
      dst[o] = src[o] + 0.5 * (src[a] + src[b]);
      dst[o + 1] = src[o + 1] + 0.5 * (src[a + 1] + src[b + 1]);
    }
    return;
  }
  const C4 = C & ~3;
  for (let v = 1; v <= M; v++) {
    const e = sb + (v - 1) * 2;
    const a = steps[e] * C;
    const b = steps[e + 1] * C;
    const o = v * C;
    let c = 0;
    for (; c < C4; c += 4) {
      dst[o + c] = src[o + c] + 0.5 * (src[a + c] + src[b + c]);
      dst[o + c + 1] = src[o + c + 1] + 0.5 * (src[a + c + 1] + src[b + c + 1]);
      dst[o + c + 2] = src[o + c + 2] + 0.5 * (src[a + c + 2] + src[b + c + 2]);
      dst[o + c + 3] = src[o + c + 3] + 0.5 * (src[a + c + 3] + src[b + c + 3]);
    }
    for (; c < C; c++) dst[o + c] = src[o + c] + 0.5 * (src[a + c] + src[b + c]);
  }
}

/**
 * The d+1 Gaussian passes from `V` (never written), pass p writing `even` for even p and `odd`
 * for odd p (either may be V itself, which is read only by pass 0); returns the buffer holding
 * the result. A non-zero slot 0 in V (allowed: read as zero) is cleared on a copy first.
 */
function gaussianPassesInto(
  lat: Lattice,
  V: Float32Array,
  C: number,
  reverse: boolean,
  even: Float32Array,
  odd: Float32Array,
): Float32Array {
  const { d, M } = lat;
  const steps = latticeSteps(lat);
  let src = V;
  for (let c = 0; c < C; c++) {
    if (V[c] !== 0) {
      src = V.slice(0, (M + 1) * C);
      src.fill(0, 0, C);
      break;
    }
  }
  for (let p = 0; p <= d; p++) {
    const j = reverse ? d - p : p;
    const dst = p % 2 === 0 ? even : odd;
    blurPass(steps, j * M * 2, M, src, dst, C);
    src = dst;
  }
  return src;
}

/** d+1 passes new = old + 0.5 (next + prev) along each direction, in the given order. */
function gaussianPasses(lat: Lattice, V: Float32Array, C: number, reverse: boolean, out: Float32Array | undefined): Float32Array {
  if (out === V) throw new RangeError('blurGaussian: out must not alias the input');
  const result = vertexBuffer('blurGaussian', lat, C, out, false);
  if (ranWasm((k) => wasmBlurGaussian(k, lat, latticeSteps(lat), V, C, reverse, result))) return result;
  const scratch = new Float32Array((lat.M + 1) * C);
  // The last pass (p = d) must land in `result`.
  return lat.d % 2 === 0
    ? gaussianPassesInto(lat, V, C, reverse, result, scratch)
    : gaussianPassesInto(lat, V, C, reverse, scratch, result);
}

/**
 * Gaussian lattice blur: d+1 passes with weights [0.5, 1, 0.5] along directions 0..d (as in
 * DenseCRF and Caffe's GaussPermutohedral). `V` and the result are `(M+1) x C`.
 */
export function blurGaussian(lat: Lattice, V: Float32Array, C: number, out?: Float32Array): Float32Array {
  checkValues('blurGaussian', V, C, lat.M + 1);
  return gaussianPasses(lat, V, C, false, out);
}

/** Adjoint of `blurGaussian`: each pass is symmetric, so the same passes in reverse order. */
export function blurGaussianAdjoint(lat: Lattice, V: Float32Array, C: number, out?: Float32Array): Float32Array {
  checkValues('blurGaussianAdjoint', V, C, lat.M + 1);
  return gaussianPasses(lat, V, C, true, out);
}

function checkWeights(name: string, lat: Lattice, W: Float32Array, C: number, O: number, n: number): number {
  checkNeighborhood(n, lat.d);
  if (!Number.isInteger(O) || O < 1) throw new RangeError(`${name}: output channel count must be a positive integer, got ${O}`);
  const F = filterSize(n, lat.d);
  if (W.length < O * C * F) throw new RangeError(`${name}: weights have ${W.length} entries, need O*C*F = ${O}*${C}*${F}`);
  return F;
}

/** W (O x C x F) re-laid as (F x O x C) so the per-tap inner loops run over contiguous memory. */
function weightsByTap(W: Float32Array, O: number, C: number, F: number): Float32Array {
  const Wt = new Float32Array(F * O * C);
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let t = 0; t < F; t++) Wt[(t * O + o) * C + c] = W[(o * C + c) * F + t];
  return Wt;
}

/**
 * Learned lattice filter (§2.2): B[v][o] = sum_c sum_t W[o][c][t] S[tap_t(v)][c], taps from
 * `latticeTaps` (absent taps read zero). n = 0 is the per-vertex 1x1 channel mix VPN uses.
 * @param S vertex values `(M+1) x C`
 * @param W `O x C x F`
 * @returns vertex values `(M+1) x O`
 */
export function blurLearned(
  lat: Lattice,
  S: Float32Array,
  C: number,
  W: Float32Array,
  O: number,
  neighborhood: number,
  out?: Float32Array,
): Float32Array {
  checkValues('blurLearned', S, C, lat.M + 1);
  const F = checkWeights('blurLearned', lat, W, C, O, neighborhood);
  if (out === S) throw new RangeError('blurLearned: out must not alias the input');
  const M = lat.M;
  const B = vertexBuffer('blurLearned', lat, O, out);
  const taps = latticeTaps(lat, neighborhood);
  const Wt = weightsByTap(W, O, C, F);
  if (ranWasm((k) => wasmBlurLearned(k, lat, taps, F, S, C, Wt, O, B))) return B;
  for (let v = 1; v <= M; v++) {
    const tb = (v - 1) * F;
    const ob = v * O;
    for (let t = 0; t < F; t++) {
      const s = taps[tb + t];
      if (s === 0) continue;
      const sb = s * C;
      const wb = t * O * C;
      for (let o = 0; o < O; o++) {
        let acc = 0;
        const wo = wb + o * C;
        for (let c = 0; c < C; c++) acc += Wt[wo + c] * S[sb + c];
        B[ob + o] += acc;
      }
    }
  }
  return B;
}

/**
 * Adjoint of `blurLearned` with respect to S: Sbar[tap_t(v)][c] += sum_o W[o][c][t] Bbar[v][o].
 * @param Bbar `(M+1) x O`; @returns `(M+1) x C` (slot 0 zero)
 */
export function blurLearnedAdjoint(
  lat: Lattice,
  Bbar: Float32Array,
  C: number,
  W: Float32Array,
  O: number,
  neighborhood: number,
  out?: Float32Array,
): Float32Array {
  checkValues('blurLearnedAdjoint', Bbar, O, lat.M + 1);
  const F = checkWeights('blurLearnedAdjoint', lat, W, C, O, neighborhood);
  if (out === Bbar) throw new RangeError('blurLearnedAdjoint: out must not alias the input');
  const M = lat.M;
  const Sbar = vertexBuffer('blurLearnedAdjoint', lat, C, out);
  const taps = latticeTaps(lat, neighborhood);
  const Wt = weightsByTap(W, O, C, F);
  for (let v = 1; v <= M; v++) {
    const tb = (v - 1) * F;
    const ob = v * O;
    for (let t = 0; t < F; t++) {
      const s = taps[tb + t];
      if (s === 0) continue;
      const sb = s * C;
      const wb = t * O * C;
      for (let o = 0; o < O; o++) {
        const g = Bbar[ob + o];
        if (g === 0) continue;
        const wo = wb + o * C;
        for (let c = 0; c < C; c++) Sbar[sb + c] += Wt[wo + c] * g;
      }
    }
  }
  return Sbar;
}

/**
 * Gradient of sum(Bbar . blurLearned(S, W)) with respect to W:
 * dW[o][c][t] = sum_v Bbar[v][o] S[tap_t(v)][c]. Returns `O x C x F`.
 */
export function blurLearnedWeightGrad(
  lat: Lattice,
  S: Float32Array,
  Bbar: Float32Array,
  C: number,
  O: number,
  neighborhood: number,
): Float32Array {
  checkValues('blurLearnedWeightGrad', S, C, lat.M + 1);
  checkValues('blurLearnedWeightGrad', Bbar, O, lat.M + 1);
  checkNeighborhood(neighborhood, lat.d);
  const F = filterSize(neighborhood, lat.d);
  const M = lat.M;
  const taps = latticeTaps(lat, neighborhood);
  // Accumulate in float64 in (F x O x C) order, then transpose to the public layout.
  const acc = new Float64Array(F * O * C);
  for (let v = 1; v <= M; v++) {
    const tb = (v - 1) * F;
    const ob = v * O;
    for (let t = 0; t < F; t++) {
      const s = taps[tb + t];
      if (s === 0) continue;
      const sb = s * C;
      const ab = t * O * C;
      for (let o = 0; o < O; o++) {
        const g = Bbar[ob + o];
        if (g === 0) continue;
        const ao = ab + o * C;
        for (let c = 0; c < C; c++) acc[ao + c] += g * S[sb + c];
      }
    }
  }
  const dW = new Float32Array(O * C * F);
  for (let t = 0; t < F; t++) for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) dW[(o * C + c) * F + t] = acc[(t * O + o) * C + c];
  return dW;
}

// ---------------------------------------------------------------------------------------------
// Normalised filtering (BCL "AFTER") and the DenseCRF Gaussian filter
// ---------------------------------------------------------------------------------------------

/** What happens between splat and slice. */
export type LatticeBlur =
  /** Nothing: splat -> slice (VPN's n = 0 with W = I, i.e. BNN-Identity). */
  | { kind: 'none' }
  /** The fixed [0.5, 1, 0.5] Gaussian passes. */
  | { kind: 'gaussian' }
  /** A learned filter, W `O x C x F(n, d)`. */
  | { kind: 'learned'; weights: Float32Array; outChannels: number; neighborhood: number };

/** The WebAssembly form of the fixed blur `afterNormaliser` uses for `blur`. */
function normaliserBlur(lat: Lattice, blur: LatticeBlur): WasmBlur {
  if (blur.kind === 'gaussian') return { kind: 'gaussian', steps: latticeSteps(lat) };
  if (blur.kind === 'learned' && blur.neighborhood > 0) {
    const n = blur.neighborhood;
    checkNeighborhood(n, lat.d);
    const F = filterSize(n, lat.d);
    return { kind: 'learned', taps: latticeTaps(lat, n), F, Wt: gaussianTaps(lat.d, n), O: 1 };
  }
  return { kind: 'none' };
}

/** The WebAssembly form of `blur` for values of C channels (weights checked and re-laid). */
function wasmBlurOf(lat: Lattice, blur: LatticeBlur, C: number): WasmBlur {
  if (blur.kind === 'none') return blur;
  if (blur.kind === 'gaussian') return { kind: 'gaussian', steps: latticeSteps(lat) };
  const O = blur.outChannels;
  const F = checkWeights('blurLearned', lat, blur.weights, C, O, blur.neighborhood);
  return { kind: 'learned', taps: latticeTaps(lat, blur.neighborhood), F, Wt: weightsByTap(blur.weights, O, C, F), O };
}

function applyBlur(lat: Lattice, S: Float32Array, C: number, blur: LatticeBlur): { B: Float32Array; O: number } {
  switch (blur.kind) {
    case 'none':
      return { B: S, O: C };
    case 'gaussian':
      return { B: blurGaussian(lat, S, C), O: C };
    case 'learned':
      return { B: blurLearned(lat, S, C, blur.weights, blur.outChannels, blur.neighborhood), O: blur.outChannels };
  }
}

/**
 * AFTER normaliser per output point: 1 / (slice(G * splat(1_inputs)) + 1e-20), with G the blur's
 * fixed counterpart (none -> identity, gaussian -> the same passes, learned with neighbourhood
 * n -> `gaussianTaps(d, n)`). Output points that no input reaches get 1e20 (their numerator is 0).
 * Depends only on the lattice, so compute it once and pass it to `filterAfter` when reusing.
 */
export function afterNormaliser(lat: Lattice, blur: LatticeBlur = { kind: 'none' }): Float32Array {
  const Dw = new Float32Array(lat.nOut);
  if (ranWasm((k) => wasmFilter(k, lat, null, 1, normaliserBlur(lat, blur), 1, null, Dw))) {
    for (let p = 0; p < Dw.length; p++) Dw[p] = 1 / (Dw[p] + 1e-20);
    return Dw;
  }
  const ones = new Float32Array(lat.nIn).fill(1);
  let S = splat(lat, ones, 1);
  if (blur.kind === 'gaussian') S = blurGaussian(lat, S, 1);
  else if (blur.kind === 'learned' && blur.neighborhood > 0) {
    const n = blur.neighborhood;
    S = blurLearned(lat, S, 1, gaussianTaps(lat.d, n), 1, n);
  }
  const D = slice(lat, S, 1);
  for (let p = 0; p < D.length; p++) D[p] = 1 / (D[p] + 1e-20);
  return D;
}

/**
 * Normalised bilateral filtering from inputs to outputs (BCL with AFTER normalisation, no bias):
 * y[o][p] = norm(p) * slice(blur(splat(x)))[o][p].
 * @param values planar `C x nIn`
 * @param norm optional precomputed `afterNormaliser(lat, blur)`
 * @returns planar `O x nOut` (O = C unless the blur is learned)
 */
export function filterAfter(
  lat: Lattice,
  values: Float32Array,
  C: number,
  blur: LatticeBlur = { kind: 'none' },
  norm?: Float32Array,
): Float32Array {
  const nrm = norm ?? afterNormaliser(lat, blur);
  if (nrm.length < lat.nOut) throw new RangeError(`filterAfter: norm has ${nrm.length} entries, need nOut = ${lat.nOut}`);
  checkValues('splat', values, C, lat.nIn);
  const viaWasm = tryWasm((k) => {
    const wb = wasmBlurOf(lat, blur, C);
    const y = new Float32Array((wb.kind === 'learned' ? wb.O : C) * lat.nOut);
    wasmFilter(k, lat, values, C, wb, 1, nrm, y);
    return y;
  });
  if (viaWasm) return viaWasm;
  const S = splat(lat, values, C);
  const { B, O } = applyBlur(lat, S, C, blur);
  const y = slice(lat, B, O);
  const nOut = lat.nOut;
  for (let o = 0; o < O; o++) {
    const b = o * nOut;
    for (let p = 0; p < nOut; p++) y[b + p] *= nrm[p];
  }
  return y;
}

/**
 * Backward pass of `filterAfter` (features get no gradient, as in the reference):
 * gradValues = splat^T(blur^T(slice^T(norm * gradOut))); for a learned blur also
 * gradWeights[o][c][t] = sum_v (slice^T(norm * gradOut))[v][o] S[tap_t(v)][c].
 * @param values planar `C x nIn` (needed only for the weight gradient)
 * @param gradOut planar `O x nOut`
 */
export function filterAfterBackward(
  lat: Lattice,
  values: Float32Array,
  gradOut: Float32Array,
  C: number,
  blur: LatticeBlur = { kind: 'none' },
  norm?: Float32Array,
): { gradValues: Float32Array; gradWeights?: Float32Array } {
  const nrm = norm ?? afterNormaliser(lat, blur);
  const O = blur.kind === 'learned' ? blur.outChannels : C;
  checkValues('filterAfterBackward', gradOut, O, lat.nOut);
  const nOut = lat.nOut;
  const g = new Float32Array(O * nOut);
  for (let o = 0; o < O; o++) {
    const b = o * nOut;
    for (let p = 0; p < nOut; p++) g[b + p] = gradOut[b + p] * nrm[p];
  }
  const Bbar = sliceAdjoint(lat, g, O);
  let Sbar: Float32Array;
  let gradWeights: Float32Array | undefined;
  if (blur.kind === 'none') Sbar = Bbar;
  else if (blur.kind === 'gaussian') Sbar = blurGaussianAdjoint(lat, Bbar, C);
  else {
    Sbar = blurLearnedAdjoint(lat, Bbar, C, blur.weights, O, blur.neighborhood);
    gradWeights = blurLearnedWeightGrad(lat, splat(lat, values, C), Bbar, C, O, blur.neighborhood);
  }
  const gradValues = splatAdjoint(lat, Sbar, C);
  return gradWeights ? { gradValues, gradWeights } : { gradValues };
}

/** DenseCRF's slice factor alpha = 1 / (1 + 2^-d) (§2.4). */
export function denseCrfAlpha(d: number): number {
  return 1 / (1 + 2 ** -d);
}

/**
 * Un-normalised Gaussian lattice filter: scale * slice(blurGaussian(splat(x))), with
 * scale = alpha = 1/(1 + 2^-d) when `alpha` is 'densecrf' (pydensecrf's `seqCompute`) and 1 for
 * 'none' (Caffe's GaussPermutohedral). alpha cancels under any normalisation.
 * @param values planar `C x nIn`; @returns planar `C x nOut`
 */
export function gaussianFilter(
  lat: Lattice,
  values: Float32Array,
  C: number,
  opts: { alpha?: 'densecrf' | 'none'; out?: Float32Array } = {},
): Float32Array {
  const scale = opts.alpha === 'densecrf' ? denseCrfAlpha(lat.d) : 1;
  checkValues('splat', values, C, lat.nIn);
  const y = pointBuffer('slice', C, lat.nOut, opts.out);
  if (ranWasm((k) => wasmFilter(k, lat, values, C, { kind: 'gaussian', steps: latticeSteps(lat) }, scale, null, y))) return y;
  const S = splat(lat, values, C);
  // The splat buffer is ours: ping-pong the passes between it and one more buffer.
  const B = gaussianPassesInto(lat, S, C, false, new Float32Array((lat.M + 1) * C), S);
  return slice(lat, B, C, y, scale);
}

/**
 * Builds a lattice over inputs and outputs and applies the AFTER-normalised filter: what VPN's
 * BNN-Identity and colour propagation do (blur 'none', i.e. n = 0 and W = I, by default).
 * @param inFeatures channel-major `d x nIn`, scaled; @param outFeatures `d x nOut` or null (= inputs)
 * @param values planar `C x nIn`; @returns planar `O x nOut`
 */
export function bilateralFilter(
  inFeatures: Float32Array,
  nIn: number,
  outFeatures: Float32Array | null,
  nOut: number,
  d: number,
  values: Float32Array,
  C: number,
  opts: { blur?: LatticeBlur } = {},
): Float32Array {
  const lat = buildLattice(inFeatures, nIn, outFeatures, nOut, d);
  return filterAfter(lat, values, C, opts.blur ?? { kind: 'none' });
}
