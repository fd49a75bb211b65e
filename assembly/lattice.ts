// AssemblyScript source of the permutohedral lattice's WebAssembly SIMD kernels (issue 13).
//
// Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into src/ops/lattice-wasm.generated.ts;
// driven by src/ops/lattice-wasm.ts; src/ops/lattice.ts holds the TypeScript reference that every
// kernel here must match (build: bit-identical; filters: float32 arithmetic, so within rounding).
// Layouts are the ones documented there: point features channel-major `d x n`, point values planar
// `C x n`, vertex values vertex-major `(M+1) x C` with slot 0 = zero, vertex ids and barycentric
// weights `nPoints x (d+1)`, keys `M x d`, neighbour steps `(d+1) x M x 2`.
//
// All pointers are byte offsets into this module's memory, laid out by the caller; no kernel
// allocates except `build`, which takes memory above `heap` (and grows the memory) for its
// scratch, hash tables and keys. Nothing here keeps state between calls other than the results of
// the last `build` (resultKeys / resultTable / resultCap).

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + ((<usize>i) << 2));
}
@inline function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + ((<usize>i) << 2), v);
}
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + ((<usize>i) << 2));
}
@inline function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + ((<usize>i) << 2), v);
}
@inline function ldd(p: usize, i: i32): f64 {
  return load<f64>(p + ((<usize>i) << 3));
}
@inline function stdd(p: usize, i: i32, v: f64): void {
  store<f64>(p + ((<usize>i) << 3), v);
}

/** Start of free memory (after this module's static data). */
export function heapBase(): usize {
  return __heap_base;
}

let heapTop: usize = 0;

/**
 * Bump allocation (16-byte aligned) above `heapTop`, growing the memory; 0 when it cannot (sizes
 * in 64 bits so that an impossible request fails instead of wrapping around).
 */
function alloc(bytes: u64): usize {
  const p = (heapTop + 15) & ~(<usize>15);
  const end64 = <u64>p + bytes + 16;
  if (end64 > 0xffff0000) return 0;
  const end = <usize>end64;
  const have = (<usize>memory.size()) << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >>> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  heapTop = end;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Build: embedding, ranks, barycentric weights and the hash table of vertex keys
// ---------------------------------------------------------------------------------------------

const MAX_ELEVATED: f64 = 536870912.0; // 2^29, as in lattice.ts
const HALF: f32 = 0.5;
const RECENT_MASK: i32 = (1 << 14) - 1;
const HASH_MUL: i32 = 1664525;

@inline function finishHash(h: i32): i32 {
  h ^= h >>> 16;
  h *= 0x7feb352d;
  h ^= h >>> 15;
  h *= <i32>0x846ca68b;
  h ^= h >>> 16;
  return h;
}

/** JavaScript's Math.round: the nearest integer, ties towards +infinity. */
@inline function jsRound(x: f64): f64 {
  const c = Math.ceil(x);
  return c - 0.5 <= x ? c : c - 1.0;
}

/**
 * `embedPoint` of lattice.ts, operation for operation in float64 (so the same bits): the point's
 * features are f32 at `f + 4 (off + j stride)`. Writes el (f64 x d+1), rem0 and rank (i32 x d+1)
 * and bw (f64 x d+2). Returns false for a non-finite or too large coordinate.
 */
function embed(f: usize, off: usize, stride: usize, d: i32, scale: usize, el: usize, rem0: usize, rank: usize, bw: usize): bool {
  const d1 = d + 1;
  const invD1: f64 = 1.0 / <f64>d1;
  let sm: f64 = 0;
  for (let j = d; j > 0; j--) {
    const cf = <f64>load<f32>(f + ((off + <usize>(j - 1) * stride) << 2)) * ldd(scale, j - 1);
    stdd(el, j, sm - <f64>j * cf);
    sm += cf;
  }
  stdd(el, 0, sm);
  let sum: f64 = 0;
  for (let i = 0; i <= d; i++) {
    const e = ldd(el, i);
    if (!(Math.abs(e) <= MAX_ELEVATED)) return false;
    const rd = jsRound(e * invD1);
    sti(rem0, i, <i32>rd * d1);
    sum += rd;
    sti(rank, i, 0);
  }
  for (let i = 0; i < d; i++) {
    const di = ldd(el, i) - <f64>ldi(rem0, i);
    let ri = ldi(rank, i);
    for (let j = i + 1; j <= d; j++) {
      const lt = <i32>(di < ldd(el, j) - <f64>ldi(rem0, j));
      ri += lt;
      sti(rank, j, ldi(rank, j) + 1 - lt);
    }
    sti(rank, i, ri);
  }
  if (sum != 0) {
    const s = <i32>sum;
    for (let i = 0; i <= d; i++) {
      let r = ldi(rank, i) + s;
      if (r < 0) {
        r += d1;
        sti(rem0, i, ldi(rem0, i) + d1);
      } else if (r > d) {
        r -= d1;
        sti(rem0, i, ldi(rem0, i) - d1);
      }
      sti(rank, i, r);
    }
  }
  for (let i = 0; i <= d1; i++) stdd(bw, i, 0);
  for (let i = 0; i <= d; i++) {
    const v = (ldd(el, i) - <f64>ldi(rem0, i)) * invD1;
    const q = d - ldi(rank, i);
    stdd(bw, q, ldd(bw, q) + v);
    stdd(bw, q + 1, ldd(bw, q + 1) - v);
  }
  stdd(bw, 0, ldd(bw, 0) + (1 + ldd(bw, d1)));
  return true;
}

/** Open-addressing table (-1 = empty) of vertex ids 0..M-1 by key, as `hashKeys` in lattice.ts. */
function hashKeys(keys: usize, M: i32, d: i32, cap: i32): usize {
  const table = alloc((<u64>cap) << 2);
  if (table == 0) return 0;
  memory.fill(table, 0xff, (<usize>cap) << 2);
  const mask = cap - 1;
  for (let v = 0; v < M; v++) {
    let h = 0;
    const kb = v * d;
    for (let i = 0; i < d; i++) h = (h + ldi(keys, kb + i)) * HASH_MUL;
    let slot = finishHash(h) & mask;
    while (ldi(table, slot) >= 0) slot = (slot + 1) & mask;
    sti(table, slot, v);
  }
  return table;
}

let resKeys: usize = 0;
let resTable: usize = 0;
let resCap: i32 = 0;

/** Keys (M x d i32) of the last successful `build`. */
export function resultKeys(): usize {
  return resKeys;
}
/** Hash table (resultCap() i32 slots) of the last successful `build`. */
export function resultTable(): usize {
  return resTable;
}
export function resultCap(): i32 {
  return resCap;
}

/**
 * `buildLattice` of lattice.ts (same algorithm, same ids in order of first appearance, same
 * float64 embedding). fin/fout: channel-major f32 features of the inputs and (unless shared) the
 * outputs; scale: f64 x d (the caller's `makeScratch` scale, so that it is the same number);
 * ids / bary: outputs, nPoints x (d+1). Memory above `heap` is scratch; the keys and the table end
 * up at resultKeys() / resultTable(). Returns M, -1 for a bad feature, -2 when out of memory.
 */
export function build(fin: usize, nIn: i32, fout: usize, nOut: i32, shared: i32, d: i32, scale: usize, ids: usize, bary: usize, heap: usize): i32 {
  heapTop = heap;
  resKeys = 0;
  resTable = 0;
  resCap = 0;
  const d1 = d + 1;
  const nPoints = shared != 0 ? nIn : nIn + nOut;
  const maxVertices = nPoints * d1;
  const el = alloc(<u64>d1 << 3);
  const bw = alloc(<u64>(d1 + 1) << 3);
  const rem0 = alloc(<u64>d1 << 2);
  const rank = alloc(<u64>d1 << 2);
  const pw = alloc(<u64>d1 << 2);
  const byRank = alloc(<u64>d1 << 2);
  let pkeys = alloc(<u64>(d1 * d) << 2);
  let prevKeys = alloc(<u64>(d1 * d) << 2);
  let ph = alloc(<u64>d1 << 2);
  let prevH = alloc(<u64>d1 << 2);
  const prevIds = alloc(<u64>d1 << 2);
  const prevRem0 = alloc(<u64>d1 << 2);
  const prevRank = alloc(<u64>d1 << 2);
  const home = alloc(<u64>d1 << 2);
  const touched = alloc(<u64>d1 << 2);
  const recent = alloc(<u64>(RECENT_MASK + 1) << 2);
  let cap: i32 = 4096;
  let mask = cap - 1;
  let table = alloc(<u64>cap << 2);
  let keyCap = min(maxVertices, cap / 2);
  let keys = alloc((<u64>keyCap * <u64>d) << 2);
  if (recent == 0 || table == 0 || keys == 0) return -2;
  memory.fill(pkeys, 0, <usize>(d1 * d) << 2);
  memory.fill(prevKeys, 0, <usize>(d1 * d) << 2);
  memory.fill(ph, 0, <usize>d1 << 2);
  memory.fill(prevH, 0, <usize>d1 << 2);
  memory.fill(prevIds, 0xff, <usize>d1 << 2);
  memory.fill(prevRem0, 0, <usize>d1 << 2);
  memory.fill(prevRank, 0xff, <usize>d1 << 2);
  memory.fill(recent, 0xff, <usize>(RECENT_MASK + 1) << 2);
  memory.fill(table, 0xff, <usize>cap << 2);

  // Key hash powers (`keyHashPowers`).
  let p: i32 = 1;
  let sumPw: i32 = 0;
  for (let i = d - 1; i >= 0; i--) {
    p *= HASH_MUL;
    sti(pw, i, p);
    sumPw += p;
  }
  let M: i32 = 0;
  for (let k = 0; k < nPoints; k++) {
    const isIn = k < nIn;
    const ok = isIn
      ? embed(fin, <usize>k, <usize>nIn, d, scale, el, rem0, rank, bw)
      : embed(fout, <usize>(k - nIn), <usize>nOut, d, scale, el, rem0, rank, bw);
    if (!ok) return -1;
    const pb = k * d1;
    for (let r = 0; r <= d; r++) stf(bary, pb + r, <f32>ldd(bw, r));
    let sameSimplex = true;
    for (let i = 0; i <= d; i++) {
      if (ldi(rem0, i) != ldi(prevRem0, i) || ldi(rank, i) != ldi(prevRank, i)) {
        sameSimplex = false;
        break;
      }
    }
    if (sameSimplex) {
      for (let r = 0; r <= d; r++) sti(ids, pb + r, ldi(prevIds, r));
      continue;
    }
    for (let i = 0; i <= d; i++) {
      sti(prevRem0, i, ldi(rem0, i));
      sti(prevRank, i, ldi(rank, i));
      sti(byRank, ldi(rank, i), i);
    }
    while (2 * (M + d1) > cap) {
      cap *= 2;
      mask = cap - 1;
      table = hashKeys(keys, M, d, cap);
      keyCap = min(maxVertices, cap / 2);
      const grown = alloc((<u64>keyCap * <u64>d) << 2);
      if (table == 0 || grown == 0) return -2;
      memory.copy(grown, keys, <usize>(M * d) << 2);
      keys = grown;
    }
    let h: i32 = 0;
    for (let i = 0; i < d; i++) {
      const c = ldi(rem0, i);
      sti(pkeys, i, c);
      h = (h + c) * HASH_MUL;
    }
    let misses = 0;
    for (let r = 0; r <= d; r++) {
      const kb = r * d;
      if (r > 0) {
        for (let i = 0; i < d; i++) sti(pkeys, kb + i, ldi(pkeys, kb - d + i) + 1);
        const c = ldi(byRank, d - r + 1);
        h += sumPw;
        if (c < d) {
          sti(pkeys, kb + c, ldi(pkeys, kb + c) - d1);
          h -= d1 * ldi(pw, c);
        }
      }
      sti(ph, r, h);
      if (h == ldi(prevH, r) && ldi(prevIds, r) >= 0) {
        let i = 0;
        while (i < d && ldi(pkeys, kb + i) == ldi(prevKeys, kb + i)) i++;
        if (i == d) {
          sti(ids, pb + r, ldi(prevIds, r));
          sti(home, r, -1);
          continue;
        }
      }
      const fh = finishHash(h);
      const rid = ldi(recent, fh & RECENT_MASK);
      if (rid >= 0) {
        const vb = rid * d;
        let i = 0;
        while (i < d && ldi(keys, vb + i) == ldi(pkeys, kb + i)) i++;
        if (i == d) {
          sti(ids, pb + r, rid);
          sti(prevIds, r, rid);
          sti(home, r, -1);
          continue;
        }
      }
      const slot = fh & mask;
      sti(home, r, slot);
      sti(touched, r, ldi(table, slot));
      misses++;
    }
    if (misses > 0) {
      for (let r = 0; r <= d; r++) {
        let slot = ldi(home, r);
        if (slot < 0) continue;
        const kb = r * d;
        let id: i32;
        for (;;) {
          id = ldi(table, slot);
          if (id < 0) {
            const vb = M * d;
            for (let i = 0; i < d; i++) sti(keys, vb + i, ldi(pkeys, kb + i));
            id = M++;
            sti(table, slot, id);
            break;
          }
          const vb = id * d;
          let i = 0;
          while (i < d && ldi(keys, vb + i) == ldi(pkeys, kb + i)) i++;
          if (i == d) break;
          slot = (slot + 1) & mask;
        }
        sti(ids, pb + r, id);
        sti(prevIds, r, id);
        sti(recent, finishHash(ldi(ph, r)) & RECENT_MASK, id);
      }
    }
    let t = prevKeys;
    prevKeys = pkeys;
    pkeys = t;
    t = prevH;
    prevH = ph;
    ph = t;
  }
  resKeys = keys;
  resTable = table;
  resCap = cap;
  return M;
}

/**
 * `latticeSteps` of lattice.ts: `(d+1) x M x 2` slots of the neighbours v +- step_j (0 = absent),
 * looked up in `table` (cap slots, a power of two) of the keys (M x d). `scratch` takes 8 (d+1) bytes.
 */
export function steps(keys: usize, M: i32, d: i32, table: usize, cap: i32, out: usize, scratch: usize): void {
  const d1 = d + 1;
  const mask = cap - 1;
  const pw = scratch;
  const plusDelta = scratch + (<usize>d1 << 2);
  let p: i32 = 1;
  let sumPw: i32 = 0;
  for (let i = d - 1; i >= 0; i--) {
    p *= HASH_MUL;
    sti(pw, i, p);
    sumPw += p;
  }
  for (let j = 0; j <= d; j++) sti(plusDelta, j, j < d ? d1 * ldi(pw, j) - sumPw : -sumPw);
  memory.fill(out, 0, <usize>(d1 * M * 2) << 2);
  for (let v = 0; v < M; v++) {
    const vb = v * d;
    let h: i32 = 0;
    for (let i = 0; i < d; i++) h = (h + ldi(keys, vb + i)) * HASH_MUL;
    for (let j = 0; j <= d; j++) {
      let slot = finishHash(h + ldi(plusDelta, j)) & mask;
      for (;;) {
        const id = ldi(table, slot);
        if (id < 0) break;
        const ub = id * d;
        let i = 0;
        while (i < d && ldi(keys, ub + i) == ldi(keys, vb + i) - 1 + (i == j ? d1 : 0)) i++;
        if (i == d) {
          sti(out, (j * M + v) * 2, id + 1);
          sti(out, (j * M + id) * 2 + 1, v + 1);
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Splat / slice / Gaussian blur (float32, four channels per SIMD operation)
// ---------------------------------------------------------------------------------------------

/**
 * Copies the values of points k..k+3 (planar `C x n` at `vals`, rows `stride` bytes apart) into
 * four contiguous rows of C floats at `xr`, four channels at a time by 4x4 transposes.
 */
@inline function gather4(vals: usize, stride: usize, k: i32, C: i32, xr: usize): void {
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  let src = vals + ((<usize>k) << 2);
  let c = 0;
  for (; c < C4; c += 4) {
    const a = v128.load(src);
    const b = v128.load(src + stride);
    const g = v128.load(src + 2 * stride);
    const h = v128.load(src + 3 * stride);
    const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(g, h, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
    const t3 = v128.shuffle<f32>(g, h, 2, 6, 3, 7);
    const q = xr + ((<usize>c) << 2);
    v128.store(q, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
    v128.store(q + rowBytes, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
    v128.store(q + 2 * rowBytes, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
    v128.store(q + 3 * rowBytes, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    src += 4 * stride;
  }
  for (; c < C; c++) {
    const q = xr + ((<usize>c) << 2);
    store<f32>(q, load<f32>(src));
    store<f32>(q + rowBytes, load<f32>(src, 4));
    store<f32>(q + 2 * rowBytes, load<f32>(src, 8));
    store<f32>(q + 3 * rowBytes, load<f32>(src, 12));
    src += stride;
  }
}

/** The inverse of `gather4`: four rows of C floats at `yr`, times `scale`, into planar `out` at points k..k+3. */
@inline function scatter4(yr: usize, C: i32, scale: f32, out: usize, stride: usize, k: i32): void {
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  const s4 = f32x4.splat(scale);
  let dst = out + ((<usize>k) << 2);
  let c = 0;
  for (; c < C4; c += 4) {
    const q = yr + ((<usize>c) << 2);
    const a = v128.load(q);
    const b = v128.load(q + rowBytes);
    const g = v128.load(q + 2 * rowBytes);
    const h = v128.load(q + 3 * rowBytes);
    const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(g, h, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
    const t3 = v128.shuffle<f32>(g, h, 2, 6, 3, 7);
    v128.store(dst, f32x4.mul(s4, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5)));
    v128.store(dst + stride, f32x4.mul(s4, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7)));
    v128.store(dst + 2 * stride, f32x4.mul(s4, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5)));
    v128.store(dst + 3 * stride, f32x4.mul(s4, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7)));
    dst += 4 * stride;
  }
  for (; c < C; c++) {
    const q = yr + ((<usize>c) << 2);
    store<f32>(dst, load<f32>(q) * scale);
    store<f32>(dst, load<f32>(q + rowBytes) * scale, 4);
    store<f32>(dst, load<f32>(q + 2 * rowBytes) * scale, 8);
    store<f32>(dst, load<f32>(q + 3 * rowBytes) * scale, 12);
    dst += stride;
  }
}

/**
 * Adds bary[pb + r] x to the rows of the point's d+1 vertices (x: C contiguous floats), 32 or 16
 * channels at a time with x held in registers across the vertices, then 4, then one.
 */
@inline function splatRow(ids: usize, bary: usize, pb: i32, d1: i32, out: usize, C: i32, x: usize, os: usize): void {
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  const C16 = C & ~15;
  const wp = bary + ((<usize>pb) << 2);
  for (let r = 0; r < d1; r++) store<usize>(os + ((<usize>r) << 2), out + <usize>(ldi(ids, pb + r) + 1) * rowBytes);
  const C32 = C & ~31;
  let c = 0;
  for (; c < C32; c += 32) {
    const b = (<usize>c) << 2;
    const x0 = v128.load(x + b);
    const x1 = v128.load(x + b, 16);
    const x2 = v128.load(x + b, 32);
    const x3 = v128.load(x + b, 48);
    const x4 = v128.load(x + b, 64);
    const x5 = v128.load(x + b, 80);
    const x6 = v128.load(x + b, 96);
    const x7 = v128.load(x + b, 112);
    for (let r = 0; r < d1; r++) {
      const w = v128.load32_splat(wp + ((<usize>r) << 2));
      const o = load<usize>(os + ((<usize>r) << 2)) + b;
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, x0)));
      v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(w, x1)), 16);
      v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(w, x2)), 32);
      v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(w, x3)), 48);
      v128.store(o, f32x4.add(v128.load(o, 64), f32x4.mul(w, x4)), 64);
      v128.store(o, f32x4.add(v128.load(o, 80), f32x4.mul(w, x5)), 80);
      v128.store(o, f32x4.add(v128.load(o, 96), f32x4.mul(w, x6)), 96);
      v128.store(o, f32x4.add(v128.load(o, 112), f32x4.mul(w, x7)), 112);
    }
  }
  for (; c < C16; c += 16) {
    const b = (<usize>c) << 2;
    const x0 = v128.load(x + b);
    const x1 = v128.load(x + b, 16);
    const x2 = v128.load(x + b, 32);
    const x3 = v128.load(x + b, 48);
    for (let r = 0; r < d1; r++) {
      const w = v128.load32_splat(wp + ((<usize>r) << 2));
      const o = load<usize>(os + ((<usize>r) << 2)) + b;
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, x0)));
      v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(w, x1)), 16);
      v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(w, x2)), 32);
      v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(w, x3)), 48);
    }
  }
  for (; c < C4; c += 4) {
    const b = (<usize>c) << 2;
    const x0 = v128.load(x + b);
    for (let r = 0; r < d1; r++) {
      const w = v128.load32_splat(wp + ((<usize>r) << 2));
      const o = load<usize>(os + ((<usize>r) << 2)) + b;
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, x0)));
    }
  }
  for (; c < C; c++) {
    const b = (<usize>c) << 2;
    const xs = load<f32>(x + b);
    for (let r = 0; r < d1; r++) {
      const o = load<usize>(os + ((<usize>r) << 2)) + b;
      store<f32>(o, load<f32>(o) + load<f32>(wp + ((<usize>r) << 2)) * xs);
    }
  }
}

/** The row sum_r bary[pb + r] V[vertex r] (C floats) of one point into `y`, 16 channels at a time (32 would
 * spill registers), then 4, then one. */
@inline function sliceRow(ids: usize, bary: usize, pb: i32, d1: i32, V: usize, C: i32, y: usize, os: usize): void {
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  const C16 = C & ~15;
  const wp = bary + ((<usize>pb) << 2);
  for (let r = 0; r < d1; r++) store<usize>(os + ((<usize>r) << 2), V + <usize>(ldi(ids, pb + r) + 1) * rowBytes);
  let c = 0;
  for (; c < C16; c += 16) {
    const b = (<usize>c) << 2;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let r = 0; r < d1; r++) {
      const w = v128.load32_splat(wp + ((<usize>r) << 2));
      const o = load<usize>(os + ((<usize>r) << 2)) + b;
      a0 = f32x4.add(a0, f32x4.mul(w, v128.load(o)));
      a1 = f32x4.add(a1, f32x4.mul(w, v128.load(o, 16)));
      a2 = f32x4.add(a2, f32x4.mul(w, v128.load(o, 32)));
      a3 = f32x4.add(a3, f32x4.mul(w, v128.load(o, 48)));
    }
    v128.store(y + b, a0);
    v128.store(y + b, a1, 16);
    v128.store(y + b, a2, 32);
    v128.store(y + b, a3, 48);
  }
  for (; c < C4; c += 4) {
    const b = (<usize>c) << 2;
    let a = f32x4.splat(0);
    for (let r = 0; r < d1; r++) {
      const w = v128.load32_splat(wp + ((<usize>r) << 2));
      a = f32x4.add(a, f32x4.mul(w, v128.load(load<usize>(os + ((<usize>r) << 2)) + b)));
    }
    v128.store(y + b, a);
  }
  for (; c < C; c++) {
    const b = (<usize>c) << 2;
    let a: f32 = 0;
    for (let r = 0; r < d1; r++) a += load<f32>(wp + ((<usize>r) << 2)) * load<f32>(load<usize>(os + ((<usize>r) << 2)) + b);
    store<f32>(y + b, a);
  }
}

/**
 * Splat of points [start, start+n) (planar values `C x n` at `vals`) onto `out`, `(M+1) x C`,
 * which this zeroes first. `scratch` takes 4 (d+1) + 16 C + 16 bytes.
 */
export function splat(ids: usize, bary: usize, d1: i32, start: i32, n: i32, vals: usize, C: i32, out: usize, M: i32, scratch: usize): void {
  memory.fill(out, 0, <usize>((M + 1) * C) << 2);
  splatAdd(ids, bary, d1, start, n, vals, C, out, scratch);
}

/** `splat` without zeroing `out` first: adds to what it holds (for splatting in chunks of points). */
export function splatAdd(ids: usize, bary: usize, d1: i32, start: i32, n: i32, vals: usize, C: i32, out: usize, scratch: usize): void {
  const un = <usize>n;
  if (C == 1) {
    for (let k = 0; k < n; k++) {
      const x = ldf(vals, k);
      const pb = (start + k) * d1;
      for (let r = 0; r < d1; r++) {
        const o = out + ((<usize>(ldi(ids, pb + r) + 1)) << 2);
        store<f32>(o, load<f32>(o) + ldf(bary, pb + r) * x);
      }
    }
    return;
  }
  if (C == 2) {
    for (let k = 0; k < n; k++) {
      const x0 = ldf(vals, k);
      const x1 = ldf(vals, n + k);
      const pb = (start + k) * d1;
      for (let r = 0; r < d1; r++) {
        const w = ldf(bary, pb + r);
        const o = out + ((<usize>(ldi(ids, pb + r) + 1)) << 3);
        store<f32>(o, load<f32>(o) + w * x0);
        store<f32>(o, load<f32>(o, 4) + w * x1, 4);
      }
    }
    return;
  }
  // Four points at a time: their values transposed into four contiguous rows (xr), then each
  // point's row added to its d+1 vertex rows.
  const xr = scratch;
  const rowBytes = (<usize>C) << 2;
  const os = scratch + 4 * rowBytes + 16;
  const stride = un << 2;
  for (let k = 0; k < n; k += 4) {
    const np = min(4, n - k);
    if (np == 4) gather4(vals, stride, k, C, xr);
    else {
      for (let p = 0; p < np; p++) {
        for (let c = 0; c < C; c++) store<f32>(xr + <usize>p * rowBytes + ((<usize>c) << 2), load<f32>(vals + ((<usize>c * un + <usize>(k + p)) << 2)));
      }
    }
    for (let p = 0; p < np; p++) splatRow(ids, bary, (start + k + p) * d1, d1, out, C, xr + <usize>p * rowBytes, os);
  }
}

/**
 * Slice at points [start, start+n): `out` (planar `C x n`) = scale * sum_r bary V[vertex]; `V` is
 * `(M+1) x C` with slot 0 zero. `scratch` takes 4 (d+1) + 16 C + 32 bytes.
 */
export function slice(ids: usize, bary: usize, d1: i32, start: i32, n: i32, V: usize, C: i32, scale: f32, out: usize, scratch: usize): void {
  const un = <usize>n;
  if (C == 1) {
    for (let k = 0; k < n; k++) {
      const pb = (start + k) * d1;
      let acc: f32 = 0;
      for (let r = 0; r < d1; r++) acc += ldf(bary, pb + r) * load<f32>(V + ((<usize>(ldi(ids, pb + r) + 1)) << 2));
      stf(out, k, acc * scale);
    }
    return;
  }
  if (C == 2) {
    for (let k = 0; k < n; k++) {
      const pb = (start + k) * d1;
      let a0: f32 = 0;
      let a1: f32 = 0;
      for (let r = 0; r < d1; r++) {
        const w = ldf(bary, pb + r);
        const o = V + ((<usize>(ldi(ids, pb + r) + 1)) << 3);
        a0 += w * load<f32>(o);
        a1 += w * load<f32>(o, 4);
      }
      stf(out, k, a0 * scale);
      stf(out, n + k, a1 * scale);
    }
    return;
  }
  // Four points at a time: their rows computed into yr, then transposed into the planar output.
  const rowBytes = (<usize>C) << 2;
  const yr = scratch;
  const os = scratch + 4 * rowBytes + 16;
  const stride = un << 2;
  for (let k = 0; k < n; k += 4) {
    const np = min(4, n - k);
    for (let p = 0; p < np; p++) sliceRow(ids, bary, (start + k + p) * d1, d1, V, C, yr + <usize>p * rowBytes, os);
    if (np == 4) scatter4(yr, C, scale, out, stride, k);
    else {
      for (let p = 0; p < np; p++) {
        for (let c = 0; c < C; c++) {
          store<f32>(out + ((<usize>c * un + <usize>(k + p)) << 2), load<f32>(yr + <usize>p * rowBytes + ((<usize>c) << 2)) * scale);
        }
      }
    }
  }
}

/**
 * One Gaussian pass dst[v] = src[v] + 0.5 (src[v + step_j] + src[v - step_j]) for v = 1..M, with
 * `steps` pointing at direction j's M x 2 block; dst slot 0 is zeroed. src slot 0 must be zero.
 */
export function blurPass(steps: usize, M: i32, src: usize, dst: usize, C: i32): void {
  memory.fill(dst, 0, (<usize>C) << 2);
  if (C == 1) {
    for (let v = 1; v <= M; v++) {
      const e = (v - 1) * 2;
      const a = ldf(src, ldi(steps, e));
      const b = ldf(src, ldi(steps, e + 1));
      stf(dst, v, ldf(src, v) + HALF * (a + b));
    }
    return;
  }
  if (C == 2) {
    for (let v = 1; v <= M; v++) {
      const e = (v - 1) * 2;
      const a = src + ((<usize>ldi(steps, e)) << 3);
      const b = src + ((<usize>ldi(steps, e + 1)) << 3);
      const o = (<usize>v) << 3;
      store<f32>(dst + o, load<f32>(src + o) + HALF * (load<f32>(a) + load<f32>(b)));
      store<f32>(dst + o, load<f32>(src + o, 4) + HALF * (load<f32>(a, 4) + load<f32>(b, 4)), 4);
    }
    return;
  }
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  const C16 = C & ~15;
  const half = f32x4.splat(0.5);
  for (let v = 1; v <= M; v++) {
    const e = (v - 1) * 2;
    const a = src + <usize>ldi(steps, e) * rowBytes;
    const b = src + <usize>ldi(steps, e + 1) * rowBytes;
    const s = src + <usize>v * rowBytes;
    const o = dst + <usize>v * rowBytes;
    let c = 0;
    for (; c < C16; c += 16) {
      const q = (<usize>c) << 2;
      v128.store(o + q, f32x4.add(v128.load(s + q), f32x4.mul(half, f32x4.add(v128.load(a + q), v128.load(b + q)))));
      v128.store(o + q, f32x4.add(v128.load(s + q, 16), f32x4.mul(half, f32x4.add(v128.load(a + q, 16), v128.load(b + q, 16)))), 16);
      v128.store(o + q, f32x4.add(v128.load(s + q, 32), f32x4.mul(half, f32x4.add(v128.load(a + q, 32), v128.load(b + q, 32)))), 32);
      v128.store(o + q, f32x4.add(v128.load(s + q, 48), f32x4.mul(half, f32x4.add(v128.load(a + q, 48), v128.load(b + q, 48)))), 48);
    }
    for (; c < C4; c += 4) {
      const q = (<usize>c) << 2;
      v128.store(o + q, f32x4.add(v128.load(s + q), f32x4.mul(half, f32x4.add(v128.load(a + q), v128.load(b + q)))));
    }
    for (; c < C; c++) {
      const q = (<usize>c) << 2;
      store<f32>(o + q, load<f32>(s + q) + HALF * (load<f32>(a + q) + load<f32>(b + q)));
    }
  }
}

/**
 * Learned lattice filter (`blurLearned`): B[v][o] = sum_t sum_c Wt[t][o][c] S[tap_t(v)][c] for
 * v = 1..M, taps `M x F` slots (0 = absent), Wt the weights re-laid `F x O x C`; B `(M+1) x O` is
 * zeroed first.
 */
export function blurLearned(taps: usize, F: i32, M: i32, S: usize, C: i32, Wt: usize, O: i32, B: usize): void {
  memory.fill(B, 0, <usize>((M + 1) * O) << 2);
  const rowBytes = (<usize>C) << 2;
  const C4 = C & ~3;
  for (let v = 1; v <= M; v++) {
    const tb = (v - 1) * F;
    const ob = B + ((<usize>(v * O)) << 2);
    for (let t = 0; t < F; t++) {
      const s = ldi(taps, tb + t);
      if (s == 0) continue;
      const sb = S + <usize>s * rowBytes;
      let wo = Wt + <usize>(t * O) * rowBytes;
      for (let o = 0; o < O; o++) {
        let acc4 = f32x4.splat(0);
        let c = 0;
        for (; c < C4; c += 4) {
          const q = (<usize>c) << 2;
          acc4 = f32x4.add(acc4, f32x4.mul(v128.load(wo + q), v128.load(sb + q)));
        }
        let acc: f32 = f32x4.extract_lane(acc4, 0) + f32x4.extract_lane(acc4, 1) + (f32x4.extract_lane(acc4, 2) + f32x4.extract_lane(acc4, 3));
        for (; c < C; c++) {
          const q = (<usize>c) << 2;
          acc += load<f32>(wo + q) * load<f32>(sb + q);
        }
        const bo = ob + ((<usize>o) << 2);
        store<f32>(bo, load<f32>(bo) + acc);
        wo += rowBytes;
      }
    }
  }
}

/** y[o][p] *= norm[p] for planar y `O x n`. */
export function scaleRows(y: usize, O: i32, n: i32, norm: usize): void {
  const n4 = n & ~3;
  for (let o = 0; o < O; o++) {
    const row = y + ((<usize>o * <usize>n) << 2);
    let p = 0;
    for (; p < n4; p += 4) {
      const q = (<usize>p) << 2;
      v128.store(row + q, f32x4.mul(v128.load(row + q), v128.load(norm + q)));
    }
    for (; p < n; p++) {
      const q = (<usize>p) << 2;
      store<f32>(row + q, load<f32>(row + q) * load<f32>(norm + q));
    }
  }
}
