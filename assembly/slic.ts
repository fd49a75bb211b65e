// AssemblyScript source of the SLIC superpixel kernels in WebAssembly (issue 13).
//
// Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into src/ops/slic-wasm.generated.ts;
// driven by src/ops/slic-wasm.ts, which runs the same sequence of steps as `slic` in
// src/ops/slic.ts. That file holds the TypeScript reference: every kernel here does the same
// float64 operations in the same order on the same float32 / int32 values, so the labels are
// bit-identical (no fused multiply-add exists in WebAssembly; SIMD is used only lane-wise, where
// each lane computes exactly the scalar expression).
//
// Layouts differ from the TypeScript only inside this module: Lab is planar here (three f32 planes
// of `n` values, L then a then b) instead of interleaved, so that two neighbouring pixels' values
// load as one f64x2. Labels are row-major i32, centres interleaved (L, a, b, x, y) f64 per centre.
// All pointers are byte offsets into this module's memory, laid out by the caller; nothing here
// allocates or keeps state between calls.

@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + ((<usize>i) << 2));
}
@inline function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + ((<usize>i) << 2), v);
}
@inline function ldf(p: usize, i: i32): f64 {
  return <f64>load<f32>(p + ((<usize>i) << 2));
}
@inline function stf(p: usize, i: i32, v: f64): void {
  store<f32>(p + ((<usize>i) << 2), <f32>v);
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

/**
 * `rgbToLab`: interleaved 8-bit RGB (n pixels) to planar Lab at `lab` (planes n apart). `lin`:
 * the 256 f64 transfer values, `f`: the f(t) table (F_TABLE_SIZE + 2 f64), `m`: the 9 f64 matrix
 * coefficients premultiplied by F_TABLE_SIZE, all computed by the caller exactly as slic.ts does.
 * Two pixels per step, one per lane of f64x2 (the table reads stay scalar).
 */
export function rgbToLab(rgb: usize, n: i32, lin: usize, f: usize, m: usize, lab: usize): void {
  const m00 = ldd(m, 0);
  const m01 = ldd(m, 1);
  const m02 = ldd(m, 2);
  const m10 = ldd(m, 3);
  const m11 = ldd(m, 4);
  const m12 = ldd(m, 5);
  const m20 = ldd(m, 6);
  const m21 = ldd(m, 7);
  const m22 = ldd(m, 8);
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  const M00 = f64x2.splat(m00);
  const M01 = f64x2.splat(m01);
  const M02 = f64x2.splat(m02);
  const M10 = f64x2.splat(m10);
  const M11 = f64x2.splat(m11);
  const M12 = f64x2.splat(m12);
  const M20 = f64x2.splat(m20);
  const M21 = f64x2.splat(m21);
  const M22 = f64x2.splat(m22);
  const K116 = f64x2.splat(116);
  const K16 = f64x2.splat(16);
  const K500 = f64x2.splat(500);
  const K200 = f64x2.splat(200);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const j = rgb + <usize>i * 3;
    const R = f64x2(ldd(lin, load<u8>(j)), ldd(lin, load<u8>(j, 3)));
    const G = f64x2(ldd(lin, load<u8>(j, 1)), ldd(lin, load<u8>(j, 4)));
    const B = f64x2(ldd(lin, load<u8>(j, 2)), ldd(lin, load<u8>(j, 5)));
    const tx = f64x2.add(f64x2.add(f64x2.mul(M00, R), f64x2.mul(M01, G)), f64x2.mul(M02, B));
    const ty = f64x2.add(f64x2.add(f64x2.mul(M10, R), f64x2.mul(M11, G)), f64x2.mul(M12, B));
    const tz = f64x2.add(f64x2.add(f64x2.mul(M20, R), f64x2.mul(M21, G)), f64x2.mul(M22, B));
    const fx = interp2(f, tx);
    const fy = interp2(f, ty);
    const fz = interp2(f, tz);
    const off = (<usize>i) << 2;
    v128.store64_lane(lab + off, f32x4.demote_f64x2_zero(f64x2.sub(f64x2.mul(K116, fy), K16)), 0);
    v128.store64_lane(pa + off, f32x4.demote_f64x2_zero(f64x2.mul(K500, f64x2.sub(fx, fy))), 0);
    v128.store64_lane(pb + off, f32x4.demote_f64x2_zero(f64x2.mul(K200, f64x2.sub(fy, fz))), 0);
  }
  for (; i < n; i++) {
    const j = <usize>i * 3;
    const r = ldd(lin, load<u8>(rgb + j));
    const g = ldd(lin, load<u8>(rgb + j + 1));
    const b = ldd(lin, load<u8>(rgb + j + 2));
    const tx = m00 * r + m01 * g + m02 * b;
    const ty = m10 * r + m11 * g + m12 * b;
    const tz = m20 * r + m21 * g + m22 * b;
    const qx = <i32>tx;
    const qy = <i32>ty;
    const qz = <i32>tz;
    const fx0 = ldd(f, qx);
    const fy0 = ldd(f, qy);
    const fz0 = ldd(f, qz);
    const fx = fx0 + (ldd(f, qx + 1) - fx0) * (tx - <f64>qx);
    const fy = fy0 + (ldd(f, qy + 1) - fy0) * (ty - <f64>qy);
    const fz = fz0 + (ldd(f, qz + 1) - fz0) * (tz - <f64>qz);
    stf(lab, i, 116 * fy - 16);
    stf(pa, i, 500 * (fx - fy));
    stf(pb, i, 200 * (fy - fz));
  }
}

/** f[q] + (f[q+1] - f[q])·(t - q), q = trunc(t), per lane. */
@inline function interp2(f: usize, t: v128): v128 {
  const q = i32x4.trunc_sat_f64x2_s_zero(t);
  const a = v128.load(f + ((<usize>i32x4.extract_lane(q, 0)) << 3));
  const b = v128.load(f + ((<usize>i32x4.extract_lane(q, 1)) << 3));
  const lo = i64x2.shuffle(a, b, 0, 2);
  const hi = i64x2.shuffle(a, b, 1, 3);
  return f64x2.add(lo, f64x2.mul(f64x2.sub(hi, lo), f64x2.sub(t, f64x2.convert_low_i32x4_s(q))));
}

/** Squared Lab difference of pixels p and q (planes n apart), as `sq3`. */
@inline function sq3(lab: usize, n: i32, p: i32, q: i32): f64 {
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  const dl = ldf(lab, p) - ldf(lab, q);
  const da = ldf(pa, p) - ldf(pa, q);
  const db = ldf(pb, p) - ldf(pb, q);
  return dl * dl + da * da + db * db;
}

/** `seedCentres`: writes the nx·ny centres (L, a, b, x, y) f64 at `cv`. */
export function seedCentres(lab: usize, width: i32, height: i32, nx: i32, ny: i32, stepX: f64, stepY: f64, cv: usize): void {
  const n = width * height;
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  for (let j = 0; j < ny; j++) {
    const sy = min<i32>(height - 1, <i32>Math.floor((<f64>j + 0.5) * stepY));
    for (let i = 0; i < nx; i++) {
      const sx = min<i32>(width - 1, <i32>Math.floor((<f64>i + 0.5) * stepX));
      let bx = sx;
      let by = sy;
      let best = Infinity;
      for (let oy = -1; oy <= 1; oy++) {
        const y = sy + oy;
        if (y < 1 || y > height - 2) continue;
        for (let ox = -1; ox <= 1; ox++) {
          const x = sx + ox;
          if (x < 1 || x > width - 2) continue;
          const p = y * width + x;
          const gx = sq3(lab, n, p + 1, p - 1);
          const gy = sq3(lab, n, p + width, p - width);
          const g = gx + gy;
          if (g < best) {
            best = g;
            bx = x;
            by = y;
          }
        }
      }
      const c = (j * nx + i) * 5;
      const p = by * width + bx;
      stdd(cv, c, ldf(lab, p));
      stdd(cv, c + 1, ldf(pa, p));
      stdd(cv, c + 2, ldf(pb, p));
      stdd(cv, c + 3, <f64>bx);
      stdd(cv, c + 4, <f64>by);
    }
  }
}

/** `gridLabels`: each point of the w x h grid (spacing `stride`) gets its grid cell. `colCell`: w i32 scratch. */
export function gridLabels(labels: usize, w: i32, h: i32, stride: i32, nx: i32, ny: i32, stepX: f64, stepY: f64, colCell: usize): void {
  for (let x = 0; x < w; x++) sti(colCell, x, min<i32>(nx - 1, <i32>Math.floor(<f64>(x * stride) / stepX)));
  for (let y = 0; y < h; y++) {
    const row = min<i32>(ny - 1, <i32>Math.floor(<f64>(y * stride) / stepY)) * nx;
    const base = y * w;
    for (let x = 0; x < w; x++) sti(labels, base + x, row + ldi(colCell, x));
  }
}

/** `decimateLab`: planar Lab of the pixels (2i, 2j) into planar `out`, ceil(W/2) x ceil(H/2). */
export function decimateLab(lab: usize, width: i32, height: i32, out: usize): void {
  const n = width * height;
  const cw = (width + 1) >> 1;
  const m = cw * ((height + 1) >> 1);
  for (let ch = 0; ch < 3; ch++) {
    const src = lab + ((<usize>(ch * n)) << 2);
    const dst = out + ((<usize>(ch * m)) << 2);
    let o = 0;
    for (let y = 0; y < height; y += 2) {
      const row = y * width;
      for (let x = 0; x < width; x += 2, o++) store<f32>(dst + ((<usize>o) << 2), load<f32>(src + ((<usize>(row + x)) << 2)));
    }
  }
}

/**
 * `assign`: one SLIC assignment over the w x h grid whose point (i, j) is at (stride·i, stride·j).
 * `dist` (f32, w·h) and `labels` (i32) as there; `cv`: k centres; `dxTerm`: scratch of at least
 * w + 1 f64, where each centre's (dx·dx)·w per column of its window is computed once, with dx
 * accumulated column by column exactly as the TypeScript loop does.
 */
export function assign(
  lab: usize,
  w: i32,
  h: i32,
  stride: i32,
  cv: usize,
  k: i32,
  rx: f64,
  ry: f64,
  spatialWeight: f64,
  dist: usize,
  labels: usize,
  dxTerm: usize,
): void {
  const n = w * h;
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  const inf = f32x4.splat(Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dist + ((<usize>i) << 2), inf);
  for (; i < n; i++) store<f32>(dist + ((<usize>i) << 2), Infinity);
  const fs = <f64>stride;
  for (let c = 0; c < k; c++) {
    const o = c * 5;
    const l0 = ldd(cv, o);
    const a0 = ldd(cv, o + 1);
    const b0 = ldd(cv, o + 2);
    const x0 = ldd(cv, o + 3);
    const y0 = ldd(cv, o + 4);
    const xs = <i32>Math.max(0, Math.ceil((x0 - rx) / fs));
    const xe = <i32>Math.min(<f64>(w - 1), Math.floor((x0 + rx) / fs));
    const ys = <i32>Math.max(0, Math.ceil((y0 - ry) / fs));
    const ye = <i32>Math.min(<f64>(h - 1), Math.floor((y0 + ry) / fs));
    if (xs > xe) continue;
    const cols = xe - xs + 1;
    let dx = <f64>(xs * stride) - x0;
    for (let t = 0; t < cols; t++, dx += fs) stdd(dxTerm, t, dx * dx * spatialWeight);
    const L2 = f64x2.splat(l0);
    const A2 = f64x2.splat(a0);
    const B2 = f64x2.splat(b0);
    const C4 = i32x4.splat(c);
    for (let y = ys; y <= ye; y++) {
      const dy = <f64>(y * stride) - y0;
      const dyTerm = dy * dy * spatialWeight;
      const D2 = f64x2.splat(dyTerm);
      const row = y * w + xs;
      let t = 0;
      // Four points per step, as two f64x2 halves: each lane computes the scalar expression below,
      // in the same order; the f32 distances and the labels are then updated where it is smaller.
      for (; t + 4 <= cols; t += 4) {
        const off = (<usize>(row + t)) << 2;
        const l4 = v128.load(lab + off);
        const a4 = v128.load(pa + off);
        const b4 = v128.load(pb + off);
        const dl0 = f64x2.sub(f64x2.promote_low_f32x4(l4), L2);
        const da0 = f64x2.sub(f64x2.promote_low_f32x4(a4), A2);
        const db0 = f64x2.sub(f64x2.promote_low_f32x4(b4), B2);
        const dl1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(l4, l4, 2, 3, 2, 3)), L2);
        const da1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(a4, a4, 2, 3, 2, 3)), A2);
        const db1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(b4, b4, 2, 3, 2, 3)), B2);
        let d0 = f64x2.add(f64x2.mul(dl0, dl0), f64x2.mul(da0, da0));
        let d1 = f64x2.add(f64x2.mul(dl1, dl1), f64x2.mul(da1, da1));
        d0 = f64x2.add(d0, f64x2.mul(db0, db0));
        d1 = f64x2.add(d1, f64x2.mul(db1, db1));
        d0 = f64x2.add(d0, v128.load(dxTerm + ((<usize>t) << 3)));
        d1 = f64x2.add(d1, v128.load(dxTerm + ((<usize>t) << 3), 16));
        d0 = f64x2.add(d0, D2);
        d1 = f64x2.add(d1, D2);
        const old = v128.load(dist + off);
        const lt0 = f64x2.lt(d0, f64x2.promote_low_f32x4(old));
        const lt1 = f64x2.lt(d1, f64x2.promote_low_f32x4(i32x4.shuffle(old, old, 2, 3, 2, 3)));
        // Branch-free (faster than skipping the stores when no lane improves).
        const lt = i32x4.shuffle(lt0, lt1, 0, 2, 4, 6);
        const nd = i32x4.shuffle(f32x4.demote_f64x2_zero(d0), f32x4.demote_f64x2_zero(d1), 0, 1, 4, 5);
        v128.store(dist + off, v128.bitselect(nd, old, lt));
        v128.store(labels + off, v128.bitselect(C4, v128.load(labels + off), lt));
      }
      for (; t + 2 <= cols; t += 2) {
        const off = (<usize>(row + t)) << 2;
        const dl = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(lab + off)), L2);
        const da = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(pa + off)), A2);
        const db = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(pb + off)), B2);
        let d = f64x2.add(f64x2.mul(dl, dl), f64x2.mul(da, da));
        d = f64x2.add(d, f64x2.mul(db, db));
        d = f64x2.add(d, v128.load(dxTerm + ((<usize>t) << 3)));
        d = f64x2.add(d, D2);
        const old = v128.load64_zero(dist + off);
        const lt = f64x2.lt(d, f64x2.promote_low_f32x4(old));
        if (v128.any_true(lt)) {
          // 64-bit lane masks to 32-bit ones (low halves).
          const m = i32x4.shuffle(lt, lt, 0, 2, 0, 2);
          v128.store64_lane(dist + off, v128.bitselect(f32x4.demote_f64x2_zero(d), old, m), 0);
          v128.store64_lane(labels + off, v128.bitselect(C4, v128.load64_zero(labels + off), m), 0);
        }
      }
      for (; t < cols; t++) {
        const p = row + t;
        const dl = ldf(lab, p) - l0;
        const da = ldf(pa, p) - a0;
        const db = ldf(pb, p) - b0;
        const d = dl * dl + da * da + db * db + ldd(dxTerm, t) + dyTerm;
        if (d < ldf(dist, p)) {
          stf(dist, p, d);
          sti(labels, p, c);
        }
      }
    }
  }
}

/**
 * `updateCentres` over the w x h grid of spacing `stride`: sums (f64, k x 5) and counts (i32, k)
 * are scratch. Returns 1 when a centre changed.
 */
export function updateCentres(labels: usize, lab: usize, w: i32, h: i32, stride: i32, cv: usize, k: i32, sums: usize, counts: usize): i32 {
  const n = w * h;
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  memory.fill(sums, 0, (<usize>(k * 5)) << 3);
  memory.fill(counts, 0, (<usize>k) << 2);
  for (let y = 0; y < h; y++) {
    const rowEnd = (y + 1) * w;
    const ys = <f64>(y * stride);
    for (let p = y * w; p < rowEnd; ) {
      const c = ldi(labels, p);
      const start = p;
      let sl: f64 = 0;
      let sa: f64 = 0;
      let sb: f64 = 0;
      for (; p < rowEnd && ldi(labels, p) == c; p++) {
        sl += ldf(lab, p);
        sa += ldf(pa, p);
        sb += ldf(pb, p);
      }
      const m = <f64>(p - start);
      const x0 = <f64>(start - y * w);
      const o = c * 5;
      stdd(sums, o, ldd(sums, o) + sl);
      stdd(sums, o + 1, ldd(sums, o + 1) + sa);
      stdd(sums, o + 2, ldd(sums, o + 2) + sb);
      stdd(sums, o + 3, ldd(sums, o + 3) + ((2 * x0 + m - 1) * m * <f64>stride) / 2);
      stdd(sums, o + 4, ldd(sums, o + 4) + ys * m);
      sti(counts, c, ldi(counts, c) + (p - start));
    }
  }
  let changed = 0;
  for (let c = 0; c < k; c++) {
    const m = ldi(counts, c);
    if (m == 0) continue;
    const inv = 1 / <f64>m;
    for (let o = c * 5, e = o + 5; o < e; o++) {
      const v = ldd(sums, o) * inv;
      if (v != ldd(cv, o)) {
        changed = 1;
        stdd(cv, o, v);
      }
    }
  }
  return changed;
}

/**
 * `slicDistance` of two pixels (lanes) to the centre at `cv[o..o+4]`, each lane in the scalar
 * order: dl² + da² + db² + (dx² + dy²)·w.
 */
@inline function dist2(L: v128, A: v128, B: v128, X: v128, Y: v128, cv: usize, o: i32, W2: v128): v128 {
  const p = cv + ((<usize>o) << 3);
  const dl = f64x2.sub(L, v128.load64_splat(p));
  const da = f64x2.sub(A, v128.load64_splat(p, 8));
  const db = f64x2.sub(B, v128.load64_splat(p, 16));
  const dx = f64x2.sub(X, v128.load64_splat(p, 24));
  const dy = f64x2.sub(Y, v128.load64_splat(p, 32));
  const s = f64x2.add(f64x2.add(f64x2.mul(dl, dl), f64x2.mul(da, da)), f64x2.mul(db, db));
  return f64x2.add(s, f64x2.mul(f64x2.add(f64x2.mul(dx, dx), f64x2.mul(dy, dy)), W2));
}

/**
 * `refineAssign`: the multiscale final assignment from the decimated labels `clabels`. A block's
 * two rows are done together, each as an f64x2 of its two pixels; the tie rule (smaller distance,
 * else the lower cluster index) is applied per lane, so each pixel gets the scalar loop's cluster.
 */
export function refineAssign(lab: usize, width: i32, height: i32, clabels: usize, cv: usize, w: f64, labels: usize): void {
  const n = width * height;
  const pa = lab + ((<usize>n) << 2);
  const pb = pa + ((<usize>n) << 2);
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  const W2 = f64x2.splat(w);
  for (let j = 0; j < ch; j++) {
    const j1 = min<i32>(ch - 1, j + 1);
    const y0 = 2 * j;
    const y1 = min<i32>(height - 1, y0 + 1);
    for (let i = 0; i < cw; i++) {
      const i1 = min<i32>(cw - 1, i + 1);
      const c00 = ldi(clabels, j * cw + i);
      const c10 = ldi(clabels, j * cw + i1);
      const c01 = ldi(clabels, j1 * cw + i);
      const c11 = ldi(clabels, j1 * cw + i1);
      const x0 = 2 * i;
      const x1 = min<i32>(width - 1, x0 + 1);
      if (c00 == c10 && c00 == c01 && c00 == c11) {
        sti(labels, y0 * width + x0, c00);
        sti(labels, y0 * width + x1, c00);
        sti(labels, y1 * width + x0, c00);
        sti(labels, y1 * width + x1, c00);
        continue;
      }
      let m = 1;
      let k1 = 0;
      let k2 = 0;
      let k3 = 0;
      if (c10 != c00) {
        k1 = c10;
        m = 2;
      }
      if (c01 != c00 && c01 != c10) {
        if (m == 1) k1 = c01;
        else k2 = c01;
        m++;
      }
      if (c11 != c00 && c11 != c10 && c11 != c01) {
        if (m == 1) k1 = c11;
        else if (m == 2) k2 = c11;
        else k3 = c11;
        m++;
      }
      // Lane 0: pixel (x0, y), lane 1: (x0 + 1, y) (not stored when x1 == x0).
      const X = f64x2(<f64>x0, <f64>(x0 + 1));
      const offA = (<usize>(y0 * width + x0)) << 2;
      const offB = (<usize>(y1 * width + x0)) << 2;
      const YA = f64x2.splat(<f64>y0);
      const YB = f64x2.splat(<f64>y1);
      const LA = f64x2.promote_low_f32x4(v128.load64_zero(lab + offA));
      const AA = f64x2.promote_low_f32x4(v128.load64_zero(pa + offA));
      const BA = f64x2.promote_low_f32x4(v128.load64_zero(pb + offA));
      const LB = f64x2.promote_low_f32x4(v128.load64_zero(lab + offB));
      const AB = f64x2.promote_low_f32x4(v128.load64_zero(pa + offB));
      const BB = f64x2.promote_low_f32x4(v128.load64_zero(pb + offB));
      let bcA = i64x2.splat(<i64>c00);
      let bcB = bcA;
      let bestA = dist2(LA, AA, BA, X, YA, cv, c00 * 5, W2);
      let bestB = dist2(LB, AB, BB, X, YB, cv, c00 * 5, W2);
      for (let t = 1; t < m; t++) {
        const c = t == 1 ? k1 : t == 2 ? k2 : k3;
        const dA = dist2(LA, AA, BA, X, YA, cv, c * 5, W2);
        const dB = dist2(LB, AB, BB, X, YB, cv, c * 5, W2);
        const C = i64x2.splat(<i64>c);
        const mA = v128.or(f64x2.lt(dA, bestA), v128.and(f64x2.eq(dA, bestA), i64x2.lt_s(C, bcA)));
        const mB = v128.or(f64x2.lt(dB, bestB), v128.and(f64x2.eq(dB, bestB), i64x2.lt_s(C, bcB)));
        bestA = v128.bitselect(dA, bestA, mA);
        bcA = v128.bitselect(C, bcA, mA);
        bestB = v128.bitselect(dB, bestB, mB);
        bcB = v128.bitselect(C, bcB, mB);
      }
      // Row y1 first: when y1 == y0 the row y0 result (the same computation) is written last.
      if (x1 != x0) {
        v128.store64_lane(labels + offB, i32x4.shuffle(bcB, bcB, 0, 2, 0, 2), 0);
        v128.store64_lane(labels + offA, i32x4.shuffle(bcA, bcA, 0, 2, 0, 2), 0);
      } else {
        store<i32>(labels + offB, <i32>i64x2.extract_lane(bcB, 0));
        store<i32>(labels + offA, <i32>i64x2.extract_lane(bcA, 0));
      }
    }
  }
}

/**
 * `enforceConnectivity`: relabels `labels` (width x height) into `out`; returns the count. The same
 * runs, unions, sizes and ids as the TypeScript; the run starts are found and the output written
 * without data-dependent branches per pixel (a run ends every few pixels, too often to predict).
 * Scratch: runStart (n + 1 i32), parent and size (n i32 each), rowRun (height + 1 i32).
 */
export function enforceConnectivity(
  labels: usize,
  width: i32,
  height: i32,
  minSize: f64,
  runStart: usize,
  rowRun: usize,
  parent: usize,
  size: usize,
  out: usize,
): i32 {
  const n = width * height;
  let runs = 0;
  for (let y = 0, p = 0; y < height; y++) {
    sti(rowRun, y, runs);
    sti(runStart, runs++, p);
    let prev = ldi(labels, p++);
    for (let x = 1; x < width; x++, p++) {
      const v = ldi(labels, p);
      // Written always, kept (by advancing `runs`) where a run starts.
      sti(runStart, runs, p);
      runs += <i32>(v != prev);
      prev = v;
    }
  }
  sti(rowRun, height, runs);
  for (let r = 0; r < runs; r++) sti(parent, r, r);
  for (let y = 1; y < height; y++) {
    const base = y * width;
    let u = ldi(rowRun, y - 1);
    const uEnd = ldi(rowRun, y);
    const rEnd = ldi(rowRun, y + 1);
    for (let r = ldi(rowRun, y); r < rEnd; r++) {
      const s = ldi(runStart, r) - base;
      const e = (r + 1 < rEnd ? ldi(runStart, r + 1) : base + width) - base;
      const v = ldi(labels, ldi(runStart, r));
      while (u + 1 < uEnd && ldi(runStart, u + 1) - base + width <= s) u++;
      for (let q = u; q < uEnd && ldi(runStart, q) - base + width < e; q++) {
        if (ldi(labels, ldi(runStart, q)) != v) continue;
        let a = q;
        while (ldi(parent, a) != a) {
          const g = ldi(parent, ldi(parent, a));
          sti(parent, a, g);
          a = g;
        }
        let b = r;
        while (ldi(parent, b) != b) {
          const g = ldi(parent, ldi(parent, b));
          sti(parent, b, g);
          b = g;
        }
        if (a < b) sti(parent, b, a);
        else if (b < a) sti(parent, a, b);
      }
    }
  }
  memory.fill(size, 0, (<usize>runs) << 2);
  for (let r = 0; r < runs; r++) {
    const root = ldi(parent, ldi(parent, r));
    sti(parent, r, root);
    sti(size, root, ldi(size, root) + (r + 1 < runs ? ldi(runStart, r + 1) : n) - ldi(runStart, r));
  }
  let count = 0;
  for (let y = 0; y < height; y++) {
    const r0 = ldi(rowRun, y);
    const r1 = ldi(rowRun, y + 1);
    for (let r = r0; r < r1; r++) {
      if (ldi(parent, r) != r) continue;
      const adj = r > r0 ? ldi(size, ldi(parent, r - 1)) : y > 0 ? ldi(size, ldi(parent, ldi(rowRun, y - 1))) : -1;
      if (<f64>ldi(size, r) < minSize && adj >= 0) sti(size, r, adj);
      else sti(size, r, count++);
    }
  }
  // parent[r] becomes run r's id (its root's entry of `size`), then each pixel takes its run's id.
  for (let r = 0; r < runs; r++) sti(parent, r, ldi(size, ldi(parent, r)));
  for (let y = 0, p = 0, r = 0; y < height; y++) {
    const last = width - 1;
    for (let x = 0; x < last; x++, p++) {
      sti(out, p, ldi(parent, r));
      r += <i32>(ldi(labels, p + 1) != ldi(labels, p));
    }
    sti(out, p++, ldi(parent, r++));
  }
  return count;
}

/** `compactLabels`: used ids of `cluster` (n values below k) renumbered into `out`; `map`: k i32 scratch. */
export function compactLabels(cluster: usize, n: i32, k: i32, map: usize, out: usize): i32 {
  memory.fill(map, 0xff, (<usize>k) << 2);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const c = ldi(cluster, i);
    let m = ldi(map, c);
    if (m < 0) {
      m = count++;
      sti(map, c, m);
    }
    sti(out, i, m);
  }
  return count;
}
