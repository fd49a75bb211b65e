/**
 * Linear 3-way propagation ("SPN scan", Liu et al., "Learning Affinity via Spatial Propagation
 * Networks", NIPS 2017) in four directions, the propagation of TPN/STPN (ANCHORS §4.1), with its
 * exact backward pass. The PyTorch twin used for training is `training/vprop_train/spn.py`;
 * `test/fixtures/spn/*.json` (written by `training/vprop_train/spn_fixtures.py`) hold its outputs.
 *
 * Layouts (planar, channel-major, as every kernel in `ops/`):
 * - Images X, H and one gate map G_k are `C x H x W`: `a[c * H * W + y * W + x]`.
 * - The four directions' gates are one `12C x H x W` array of 12 groups of C channels in the
 *   reference order (SPNFULL): groups 0–2 = left→right G1, G2, G3; 3–5 = right→left; 6–8 =
 *   top→bottom; 9–11 = bottom→top. Gate k of direction d, channel c is plane `(3d + k − 1) * C + c`
 *   ({@link directionGates} returns the three views of one direction).
 * - Arrays may be `Float32Array` (what the engine uses) or `Float64Array` (the tests' finite
 *   differences); outputs that a function allocates have the type of its first array argument.
 *
 * One direction (gates read at the CURRENT pixel: the gate of a link is stored at the later pixel
 * in scan order). Left→right scans columns w = 0..W−1, all rows of a column at once:
 *
 *   h(y, w) = (1 − g1 − g2 − g3)·x(y, w) + g1·h(y−1, w−1) + g2·h(y, w−1) + g3·h(y+1, w−1)
 *
 * right→left (w = W−1..0) uses (y−1, w+1), (y, w+1), (y+1, w+1); top→bottom (y = 0..H−1) uses
 * (y−1, w−1), (y−1, w), (y−1, w+1); bottom→top (y = H−1..0) uses (y+1, w−1), (y+1, w), (y+1, w+1),
 * always for G1, G2, G3 in that order. In scan coordinates (s along the scan, o across it) every
 * direction is the same: G1, G2, G3 link (o, s) to (o − 1, s − d), (o, s − d), (o + 1, s − d).
 * Border rule: a gate whose neighbour is outside the image counts as 0 in both its neighbour term
 * and the (1 − Σg) term, so the first scanned line is h = x and edge pixels use only their
 * in-bounds gates. Gate values are not checked: SPN's stability condition Σ|g| ≤ 1 per pixel
 * (which {@link normaliseGates} guarantees) keeps the recurrence from growing exponentially along
 * the scan, and with non-negative gates each h is a convex combination of X values.
 *
 * Gate normalisation (§4.1, SPNFULL `spn_block`), per pixel, channel and direction:
 * s = |g1| + |g2| + |g3|; if s ≥ 1 then g_k ← g_k / s (signed), else unchanged. (SPNFULL replaces
 * s = 0 by 1e-6 first; that never matters under the s ≥ 1 test, so it is not done here.)
 *
 * Four-direction merge ({@link propagate4}): normalise each direction's triple, run the four
 * scans on the same X, output = element-wise max. Ties go to the first direction in the reference
 * order (left→right, right→left, top→bottom, bottom→top) — the PyTorch twin does the same, so
 * the gradient, which flows to the winning direction only, matches. (Ties are real: the four
 * first-scanned lines equal X, so two directions tie at each image corner, and zero gates make
 * all four equal X.)
 *
 * Backward (§4.1; dtop = ∂L/∂H), in reverse scan order, for in-bounds links only:
 *   dh(p) = dtop(p) + Σ over the pixels q whose link k points at p of g_k(q)·dh(q)
 *   dx(p) = (1 − Σ in-bounds g_k(p))·dh(p),   dg_k(p) = dh(p)·(h(nbr_k(p)) − x(p))  (0 off-image)
 * `dx` alone is the exact transpose of the linear map X ↦ H for fixed gates ({@link scan3Transpose}).
 *
 * The "switch" of STPN ({@link swapGateDirections}) exchanges the gate groups of opposite
 * directions. What it is exactly (each statement is tested in test/ops-linear-scan.test.ts):
 * - It runs every scan in the opposite direction with the SAME per-pixel gate maps.
 * - It is not the transpose. Write one scan as H = A X with A = (I − L)⁻¹ D, where L holds the
 *   in-bounds link weights and D = diag(1 − Σ in-bounds g). Then Aᵀ = D (I − Lᵀ)⁻¹, and Lᵀ is the
 *   link matrix of the reverse-direction scan whose gates G′ sit at the OTHER end of each link with
 *   G1 and G3 exchanged: G′_{4−k}(nbr_k(p)) = G_k(p) — a shift by one pixel along the scan and, for
 *   G1/G3, by ∓1 across it. Hence, exactly, Aᵀ y = D ⊙ scan_reverse(y ⊘ D′; G′) with D′ the
 *   (1 − Σ in-bounds g′) of G′ (where D′ ≠ 0).
 * - So the swap is the transpose only where G′ = G and the scalings cancel. For spatially
 *   constant gates with g1 = g3, G′ = G and D = D′ = 1 − Σg off the image border, so the swapped
 *   scan and the transpose agree exactly at every pixel off the border for inputs that vanish on
 *   it (and differ on the border). For smooth gates with g1 ≈ g3 the swap approximates the
 *   transpose; its error is the one-pixel gate shift, the G1/G3 asymmetry and the border.
 * - Image rotation by 180° is matched exactly by the swap PLUS the G1↔G3 exchange inside every
 *   triple, with the gate maps rotated too: propagate4(R x, R·exchange13(swap(G))) = R·propagate4(x, G).
 *
 * Speed (bench/linear-scan.bench.ts, figures in bench/RESULTS.md): top↔bottom scans walk memory
 * contiguously; left↔right scans walk a column at a time with stride W (about 2x slower per plane
 * when the plane is in cache, 3x when it comes from memory), so {@link propagate4} works one channel
 * plane at a time and runs top→bottom first, which brings X and the output plane into cache for
 * the strided scans; the gates of each direction are normalised into a 3-plane scratch just before
 * their scan. Not kept: normalising inside the scan loop (measured 5–10 % faster, for a second
 * copy of the kernel); transposing planes so that left↔right scans run contiguously (not built:
 * a 427x240 plane transpose measured 0.2 ms and a channel would need about 9 of them, as much as
 * the stride costs). All arithmetic is in double and rounded on store
 * (h is stored and re-read in the output's precision, as PyTorch does in float32); the backward
 * keeps dh in double. NaN inputs give unspecified results (the merge compares with `>`).
 */

export type ScanDirection = 'left-right' | 'right-left' | 'top-bottom' | 'bottom-top';

/** The four directions in the reference (SPNFULL) order of the gate groups. */
export const SCAN_DIRECTIONS: readonly ScanDirection[] = ['left-right', 'right-left', 'top-bottom', 'bottom-top'];

/** Arrays the kernels accept. */
export type ScanArray = Float32Array | Float64Array;

/** Gradients of one scan with respect to X and the three gate maps (each `C x H x W`). */
export interface Scan3Gradients<T extends ScanArray = Float32Array> {
  dx: T;
  dg1: T;
  dg2: T;
  dg3: T;
}

/** Result of {@link propagate4}. */
export interface Propagate4Result<T extends ScanArray = Float32Array> {
  /** `C x H x W`: element-wise max of the four scans. */
  out: T;
  /**
   * `C x H x W`: index into {@link SCAN_DIRECTIONS} of the scan that gave each element (ties to the
   * earlier direction); only when asked for (`options.winner`), as it costs a branchy merge.
   */
  winner?: Uint8Array;
}

/** Gradients of {@link propagate4} with respect to X (`C x H x W`) and the raw gates (`12C x H x W`). */
export interface Propagate4Gradients<T extends ScanArray = Float32Array> {
  dx: T;
  dGates: T;
}

/** Scan geometry: `nS` lines of `nO` pixels; memory strides along (`sStride`) and across (`oStride`). */
interface Geometry {
  nS: number;
  nO: number;
  sStride: number;
  oStride: number;
  /** +1 scans from line 0, −1 from line nS − 1. */
  d: 1 | -1;
}

function geometry(direction: ScanDirection, H: number, W: number): Geometry {
  switch (direction) {
    case 'left-right':
      return { nS: W, nO: H, sStride: 1, oStride: W, d: 1 };
    case 'right-left':
      return { nS: W, nO: H, sStride: 1, oStride: W, d: -1 };
    case 'top-bottom':
      return { nS: H, nO: W, sStride: W, oStride: 1, d: 1 };
    case 'bottom-top':
      return { nS: H, nO: W, sStride: W, oStride: 1, d: -1 };
    default:
      throw new RangeError(`unknown scan direction ${String(direction)} (expected one of ${SCAN_DIRECTIONS.join(', ')})`);
  }
}

/** The direction scanning the other way (left-right ↔ right-left, top-bottom ↔ bottom-top). */
export function reverseDirection(direction: ScanDirection): ScanDirection {
  geometry(direction, 1, 1);
  return SCAN_DIRECTIONS[SCAN_DIRECTIONS.indexOf(direction) ^ 1];
}

function checkShape(C: number, H: number, W: number): void {
  if (!Number.isInteger(C) || !Number.isInteger(H) || !Number.isInteger(W) || C < 1 || H < 1 || W < 1) {
    throw new RangeError(`invalid shape ${C}x${H}x${W}`);
  }
}

function checkLength(name: string, a: ScanArray, n: number, shape: string): void {
  if (!(a instanceof Float32Array || a instanceof Float64Array)) throw new TypeError(`${name} must be a Float32Array or Float64Array`);
  if (a.length !== n) throw new RangeError(`${name} has ${a.length} values, expected ${shape} = ${n}`);
}

function alloc<T extends ScanArray>(like: T, n: number): T {
  return (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
}

function outBuffer<T extends ScanArray>(name: string, like: T, n: number, shape: string, out: T | undefined): T {
  if (out === undefined) return alloc(like, n);
  checkLength(name, out, n, shape);
  return out;
}

/**
 * Forward scan of one plane (all arrays are views of one `H x W` plane). `h` may be `x`: each x(p)
 * is read just before h(p) is written and h only reads the previous line.
 */
function forwardPlane(x: ScanArray, g1: ScanArray, g2: ScanArray, g3: ScanArray, h: ScanArray, geo: Geometry): void {
  const { nS, nO, sStride, oStride: oS, d } = geo;
  let row = d > 0 ? 0 : (nS - 1) * sStride;
  for (let o = 0, p = row; o < nO; o++, p += oS) h[p] = x[p];
  const step = d * sStride;
  for (let i = 1; i < nS; i++) {
    const prev = row;
    row += step;
    if (nO === 1) {
      const b = g2[row];
      h[row] = (1 - b) * x[row] + b * h[prev];
      continue;
    }
    // o = 0: no G1 link (its neighbour o − 1 is off the image)
    let p = row;
    let q = prev;
    let hm = 0;
    let h0 = h[q];
    let hp = h[q + oS];
    let b = g2[p];
    let c = g3[p];
    h[p] = (1 - b - c) * x[p] + b * h0 + c * hp;
    for (let o = 1; o < nO - 1; o++) {
      p += oS;
      q += oS;
      hm = h0;
      h0 = hp;
      hp = h[q + oS];
      const a = g1[p];
      b = g2[p];
      c = g3[p];
      h[p] = (1 - a - b - c) * x[p] + a * hm + b * h0 + c * hp;
    }
    // o = nO − 1: no G3 link
    p += oS;
    const a = g1[p];
    b = g2[p];
    h[p] = (1 - a - b) * x[p] + a * h0 + b * hp;
  }
}

/**
 * Backward of one plane, in reverse scan order. `dhNext`/`dhCur` are scratch lines of nO doubles.
 * With `h` null only dx is computed (the transpose); `accumulate` adds dx into `dx` instead of
 * overwriting it. dg_k is written (not accumulated) for every pixel, 0 where the link is off-image.
 */
function backwardPlane(
  dtop: ScanArray,
  x: ScanArray | null,
  g1: ScanArray,
  g2: ScanArray,
  g3: ScanArray,
  h: ScanArray | null,
  dx: ScanArray,
  dg1: ScanArray | null,
  dg2: ScanArray | null,
  dg3: ScanArray | null,
  geo: Geometry,
  dhNext: Float64Array,
  dhCur: Float64Array,
  accumulate: boolean,
): void {
  const { nS, nO, sStride, oStride: oS, d } = geo;
  const step = d * sStride;
  const last = nO - 1;
  const full = x !== null && h !== null && dg1 !== null && dg2 !== null && dg3 !== null;
  let row = d > 0 ? (nS - 1) * sStride : 0;
  for (let i = nS - 1; i >= 0; i--) {
    // 1. dh of this line: dtop plus what flows back from the scan-later pixels whose links
    //    point here (G1 of o + 1, G2 of o, G3 of o − 1 on the next line)
    if (i === nS - 1) {
      for (let o = 0, p = row; o < nO; o++, p += oS) dhCur[o] = dtop[p];
    } else if (nO === 1) {
      dhCur[0] = dtop[row] + g2[row + step] * dhNext[0];
    } else {
      let p = row;
      let qn = row + step;
      dhCur[0] = dtop[p] + g2[qn] * dhNext[0] + g1[qn + oS] * dhNext[1];
      for (let o = 1; o < last; o++) {
        p += oS;
        qn += oS;
        dhCur[o] = dtop[p] + g2[qn] * dhNext[o] + g1[qn + oS] * dhNext[o + 1] + g3[qn - oS] * dhNext[o - 1];
      }
      p += oS;
      qn += oS;
      dhCur[last] = dtop[p] + g2[qn] * dhNext[last] + g3[qn - oS] * dhNext[last - 1];
    }
    // 2. dx and dg of this line (the first scanned line has no links: dx = dh, dg = 0)
    if (i === 0) {
      for (let o = 0, p = row; o < nO; o++, p += oS) {
        dx[p] = accumulate ? dx[p] + dhCur[o] : dhCur[o];
        if (full) dg1![p] = dg2![p] = dg3![p] = 0;
      }
    } else {
      for (let o = 0, p = row, q = row - step; o < nO; o++, p += oS, q += oS) {
        const v = dhCur[o];
        const a = o > 0 ? g1[p] : 0;
        const c = o < last ? g3[p] : 0;
        const dxv = (1 - a - g2[p] - c) * v;
        dx[p] = accumulate ? dx[p] + dxv : dxv;
        if (full) {
          const xp = x![p];
          dg1![p] = o > 0 ? v * (h![q - oS] - xp) : 0;
          dg2![p] = v * (h![q] - xp);
          dg3![p] = o < last ? v * (h![q + oS] - xp) : 0;
        }
      }
    }
    const t = dhNext;
    dhNext = dhCur;
    dhCur = t;
    row -= step;
  }
}

const planeOf = (a: ScanArray, c: number, plane: number): ScanArray => a.subarray(c * plane, (c + 1) * plane);

/**
 * One-direction scan: H = scan(X; G1, G2, G3) as in the module comment.
 * @param x planar `C x H x W`
 * @param g1 planar `C x H x W` (per channel and pixel; likewise g2, g3), read at the current pixel
 * @param out optional `C x H x W` output; may be `x` (computed in place)
 * @returns H, planar `C x H x W`
 */
export function scan3<T extends ScanArray>(
  x: T,
  g1: ScanArray,
  g2: ScanArray,
  g3: ScanArray,
  C: number,
  H: number,
  W: number,
  direction: ScanDirection,
  out?: T,
): T {
  checkShape(C, H, W);
  const geo = geometry(direction, H, W);
  const plane = H * W;
  const n = C * plane;
  const shape = `${C}x${H}x${W}`;
  checkLength('x', x, n, shape);
  checkLength('g1', g1, n, shape);
  checkLength('g2', g2, n, shape);
  checkLength('g3', g3, n, shape);
  const h = outBuffer('out', x, n, shape, out);
  for (let c = 0; c < C; c++) {
    forwardPlane(planeOf(x, c, plane), planeOf(g1, c, plane), planeOf(g2, c, plane), planeOf(g3, c, plane), planeOf(h, c, plane), geo);
  }
  return h;
}

/**
 * The exact transpose (adjoint) of X ↦ scan3(X; G) for fixed gates: ⟨scan3(x), y⟩ = ⟨x, scan3Transpose(y)⟩.
 * Equal to the `dx` of {@link scan3Backward} with dH = y (it needs neither X nor H).
 * @param y planar `C x H x W`
 * @returns planar `C x H x W`
 */
export function scan3Transpose<T extends ScanArray>(
  y: T,
  g1: ScanArray,
  g2: ScanArray,
  g3: ScanArray,
  C: number,
  H: number,
  W: number,
  direction: ScanDirection,
  out?: T,
): T {
  checkShape(C, H, W);
  const geo = geometry(direction, H, W);
  const plane = H * W;
  const n = C * plane;
  const shape = `${C}x${H}x${W}`;
  checkLength('y', y, n, shape);
  checkLength('g1', g1, n, shape);
  checkLength('g2', g2, n, shape);
  checkLength('g3', g3, n, shape);
  const dx = outBuffer('out', y, n, shape, out);
  if (dx === y) throw new RangeError('scan3Transpose: out must not be y');
  const a = new Float64Array(geo.nO);
  const b = new Float64Array(geo.nO);
  for (let c = 0; c < C; c++) {
    const g = [planeOf(g1, c, plane), planeOf(g2, c, plane), planeOf(g3, c, plane)];
    backwardPlane(planeOf(y, c, plane), null, g[0], g[1], g[2], null, planeOf(dx, c, plane), null, null, null, geo, a, b, false);
  }
  return dx;
}

/**
 * Backward of {@link scan3}: given dH = ∂L/∂H, returns ∂L/∂X and ∂L/∂G1..3 (§4.1; 0 for gates of
 * off-image links, which the forward ignores).
 * @param dH planar `C x H x W`
 * @param x, g1, g2, g3 the forward's inputs
 * @param h the forward's output H = scan3(x; g)
 */
export function scan3Backward<T extends ScanArray>(
  dH: T,
  x: ScanArray,
  g1: ScanArray,
  g2: ScanArray,
  g3: ScanArray,
  h: ScanArray,
  C: number,
  H: number,
  W: number,
  direction: ScanDirection,
  out?: Partial<Scan3Gradients<T>>,
): Scan3Gradients<T> {
  checkShape(C, H, W);
  const geo = geometry(direction, H, W);
  const plane = H * W;
  const n = C * plane;
  const shape = `${C}x${H}x${W}`;
  checkLength('dH', dH, n, shape);
  checkLength('x', x, n, shape);
  checkLength('g1', g1, n, shape);
  checkLength('g2', g2, n, shape);
  checkLength('g3', g3, n, shape);
  checkLength('h', h, n, shape);
  const res: Scan3Gradients<T> = {
    dx: outBuffer('out.dx', dH, n, shape, out?.dx),
    dg1: outBuffer('out.dg1', dH, n, shape, out?.dg1),
    dg2: outBuffer('out.dg2', dH, n, shape, out?.dg2),
    dg3: outBuffer('out.dg3', dH, n, shape, out?.dg3),
  };
  const a = new Float64Array(geo.nO);
  const b = new Float64Array(geo.nO);
  for (let c = 0; c < C; c++) {
    const v = (arr: ScanArray) => planeOf(arr, c, plane);
    backwardPlane(v(dH), v(x), v(g1), v(g2), v(g3), v(h), v(res.dx), v(res.dg1), v(res.dg2), v(res.dg3), geo, a, b, false);
  }
  return res;
}

/** Normalises one triple of planes (n values each) into n1..n3 (may be the inputs). */
function normaliseTriple(g1: ScanArray, g2: ScanArray, g3: ScanArray, n1: ScanArray, n2: ScanArray, n3: ScanArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const a = g1[i];
    const b = g2[i];
    const c = g3[i];
    const s = Math.abs(a) + Math.abs(b) + Math.abs(c);
    if (s >= 1) {
      n1[i] = a / s;
      n2[i] = b / s;
      n3[i] = c / s;
    } else {
      n1[i] = a;
      n2[i] = b;
      n3[i] = c;
    }
  }
}

/**
 * Backward of the normalisation of one triple: given the raw gates and ∂L/∂(normalised), writes
 * ∂L/∂(raw). For s ≥ 1: dg_j = dn_j / s − sign(g_j)·Σ_k dn_k·g_k / s² (sign(0) = 0, as PyTorch's abs).
 */
function normaliseTripleBackward(
  g1: ScanArray,
  g2: ScanArray,
  g3: ScanArray,
  d1: ScanArray,
  d2: ScanArray,
  d3: ScanArray,
  o1: ScanArray,
  o2: ScanArray,
  o3: ScanArray,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const a = g1[i];
    const b = g2[i];
    const c = g3[i];
    const s = Math.abs(a) + Math.abs(b) + Math.abs(c);
    if (s >= 1) {
      const e1 = d1[i];
      const e2 = d2[i];
      const e3 = d3[i];
      const t = (e1 * a + e2 * b + e3 * c) / (s * s);
      o1[i] = e1 / s - Math.sign(a) * t;
      o2[i] = e2 / s - Math.sign(b) * t;
      o3[i] = e3 / s - Math.sign(c) * t;
    } else {
      o1[i] = d1[i];
      o2[i] = d2[i];
      o3[i] = d3[i];
    }
  }
}

function checkGateTriples(name: string, gates: ScanArray, C: number, H: number, W: number): number {
  checkShape(C, H, W);
  const group = 3 * C * H * W;
  if (!(gates instanceof Float32Array || gates instanceof Float64Array))
    throw new TypeError(`${name} must be a Float32Array or Float64Array`);
  if (gates.length === 0 || gates.length % group !== 0) {
    throw new RangeError(
      `${name} has ${gates.length} values, expected a multiple of 3x${C}x${H}x${W} = ${group} (triples of C-channel groups)`,
    );
  }
  return gates.length / group;
}

/**
 * Gate normalisation (§4.1): for every triple of C-channel groups (G1, G2, G3 of one direction) and
 * every channel and pixel, s = |g1| + |g2| + |g3|; if s ≥ 1 the three are divided by s (signed).
 * @param gates planar `3T·C x H x W` — T consecutive triples, e.g. the `12C x H x W` gates of
 *   {@link propagate4} (T = 4) or one direction's `3C x H x W` (T = 1)
 * @param out optional output of the same size; may be `gates` (in place)
 */
export function normaliseGates<T extends ScanArray>(gates: T, C: number, H: number, W: number, out?: T): T {
  const triples = checkGateTriples('gates', gates, C, H, W);
  const res = outBuffer('out', gates, gates.length, `${3 * triples * C}x${H}x${W}`, out);
  const m = C * H * W;
  for (let t = 0; t < triples; t++) {
    const v = (a: ScanArray, k: number) => a.subarray((3 * t + k) * m, (3 * t + k + 1) * m);
    normaliseTriple(v(gates, 0), v(gates, 1), v(gates, 2), v(res, 0), v(res, 1), v(res, 2), m);
  }
  return res;
}

/**
 * Backward of {@link normaliseGates}: ∂L/∂gates from the raw `gates` and ∂L/∂(normalised gates).
 * @param gates raw gates, planar `3T·C x H x W`
 * @param dNormalised same layout
 */
export function normaliseGatesBackward<T extends ScanArray>(gates: ScanArray, dNormalised: T, C: number, H: number, W: number, out?: T): T {
  const triples = checkGateTriples('gates', gates, C, H, W);
  const shape = `${3 * triples * C}x${H}x${W}`;
  checkLength('dNormalised', dNormalised, gates.length, shape);
  const res = outBuffer('out', dNormalised, gates.length, shape, out);
  const m = C * H * W;
  for (let t = 0; t < triples; t++) {
    const v = (a: ScanArray, k: number) => a.subarray((3 * t + k) * m, (3 * t + k + 1) * m);
    normaliseTripleBackward(
      v(gates, 0),
      v(gates, 1),
      v(gates, 2),
      v(dNormalised, 0),
      v(dNormalised, 1),
      v(dNormalised, 2),
      v(res, 0),
      v(res, 1),
      v(res, 2),
      m,
    );
  }
  return res;
}

function checkGates4(gates: ScanArray, C: number, H: number, W: number): void {
  checkShape(C, H, W);
  checkLength('gates', gates, 12 * C * H * W, `12x${C}x${H}x${W}`);
}

/**
 * Views (no copy) of the three gate maps G1, G2, G3 (`C x H x W` each) of one direction in a
 * `12C x H x W` gate array.
 */
export function directionGates<T extends ScanArray>(gates: T, C: number, H: number, W: number, direction: ScanDirection): [T, T, T] {
  checkGates4(gates, C, H, W);
  geometry(direction, H, W);
  const m = C * H * W;
  const base = 3 * SCAN_DIRECTIONS.indexOf(direction) * m;
  return [
    gates.subarray(base, base + m) as T,
    gates.subarray(base + m, base + 2 * m) as T,
    gates.subarray(base + 2 * m, base + 3 * m) as T,
  ];
}

/** Plane views of channel c of the three raw gate groups of direction index d. */
function rawTriple(gates: ScanArray, C: number, plane: number, d: number, c: number): [ScanArray, ScanArray, ScanArray] {
  const at = (k: number) => gates.subarray(((3 * d + k) * C + c) * plane, ((3 * d + k) * C + c + 1) * plane);
  return [at(0), at(1), at(2)];
}

/** Order in which propagate4 computes the directions (indices into SCAN_DIRECTIONS). */
const MERGE_ORDER = [2, 3, 0, 1];

/** out = max(out, h) element-wise (a compare, not Math.max: V8's Math.max is 4x slower here). */
function mergeMax(h: ScanArray, out: ScanArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = h[i];
    if (v > out[i]) out[i] = v;
  }
}

/**
 * out = max(out, h) and the winner where h (direction d) wins; ties go to the direction earlier in
 * SCAN_DIRECTIONS, whatever the order of the merges.
 */
function mergeMaxWinner(h: ScanArray, out: ScanArray, winner: Uint8Array, d: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = h[i];
    const o = out[i];
    if (v > o || (v === o && d < winner[i])) {
      out[i] = v;
      winner[i] = d;
    }
  }
}

/** masked = v where winner = d, else 0. */
function maskByWinner(v: ScanArray, winner: Uint8Array, d: number, masked: ScanArray, n: number): void {
  for (let i = 0; i < n; i++) masked[i] = winner[i] === d ? v[i] : 0;
}

/**
 * The four-direction propagation (§4.1): normalise each direction's gates, scan X in the four
 * directions, take the element-wise max (ties to the earlier direction of {@link SCAN_DIRECTIONS}).
 * Works one channel plane at a time, so its scratch is a few `H x W` planes.
 * @param x planar `C x H x W`
 * @param gates raw (un-normalised) gates, planar `12C x H x W` in the reference group order
 * @param options.out optional `C x H x W` output (not `x`)
 * @param options.winner `true` or a `C x H x W` Uint8Array: also report which direction won
 */
export function propagate4<T extends ScanArray>(
  x: T,
  gates: ScanArray,
  C: number,
  H: number,
  W: number,
  options: { out?: T; winner?: boolean | Uint8Array } = {},
): Propagate4Result<T> {
  checkShape(C, H, W);
  const plane = H * W;
  const n = C * plane;
  checkLength('x', x, n, `${C}x${H}x${W}`);
  checkGates4(gates, C, H, W);
  const out = outBuffer('out', x, n, `${C}x${H}x${W}`, options.out);
  if (out === x) throw new RangeError('propagate4: out must not be x');
  const winner = options.winner === true ? new Uint8Array(n) : options.winner || undefined;
  if (winner !== undefined && winner.length !== n) throw new RangeError(`winner has ${winner.length} values, expected ${n}`);
  const ng = [alloc(x, plane), alloc(x, plane), alloc(x, plane)];
  const h = alloc(x, plane);
  for (let c = 0; c < C; c++) {
    const xc = planeOf(x, c, plane);
    const oc = planeOf(out, c, plane);
    const wc = winner?.subarray(c * plane, (c + 1) * plane);
    // top→bottom first: it reads X and writes the output contiguously, so the strided left↔right
    // scans that follow find both in cache
    for (let k = 0; k < 4; k++) {
      const d = MERGE_ORDER[k];
      const [g1, g2, g3] = rawTriple(gates, C, plane, d, c);
      normaliseTriple(g1, g2, g3, ng[0], ng[1], ng[2], plane);
      forwardPlane(xc, ng[0], ng[1], ng[2], k === 0 ? oc : h, geometry(SCAN_DIRECTIONS[d], H, W));
      if (k === 0) wc?.fill(d);
      else if (wc === undefined) mergeMax(h, oc, plane);
      else mergeMaxWinner(h, oc, wc, d, plane);
    }
  }
  return { out, winner };
}

/**
 * Backward of {@link propagate4}: ∂L/∂X and ∂L/∂(raw gates) from ∂L/∂out. The gradient of the max
 * goes to the winning direction only (ties as in the forward); the gates' gradient passes through
 * the normalisation. Recomputes the forward one channel plane at a time (nothing to keep between
 * the calls; scratch is 12 `H x W` planes).
 * @param dOut planar `C x H x W`
 * @param x, gates the forward's inputs (`C x H x W`, `12C x H x W`)
 * @returns dx `C x H x W`, dGates `12C x H x W`
 */
export function propagate4Backward<T extends ScanArray>(
  dOut: T,
  x: ScanArray,
  gates: ScanArray,
  C: number,
  H: number,
  W: number,
  out?: Partial<Propagate4Gradients<T>>,
): Propagate4Gradients<T> {
  checkShape(C, H, W);
  const plane = H * W;
  const n = C * plane;
  const shape = `${C}x${H}x${W}`;
  checkLength('dOut', dOut, n, shape);
  checkLength('x', x, n, shape);
  checkGates4(gates, C, H, W);
  const dx = outBuffer('out.dx', dOut, n, shape, out?.dx);
  const dGates = outBuffer('out.dGates', dOut, 12 * n, `12x${shape}`, out?.dGates);
  const geos = SCAN_DIRECTIONS.map((d) => geometry(d, H, W));
  // scratch of the caller's array type, so the kernels see one element type in production
  const ng = [alloc(dOut, plane), alloc(dOut, plane), alloc(dOut, plane)];
  const hs = Array.from({ length: 4 }, () => alloc(dOut, plane));
  const dn = [alloc(dOut, plane), alloc(dOut, plane), alloc(dOut, plane)];
  const masked = alloc(dOut, plane);
  const best = alloc(dOut, plane);
  const win = new Uint8Array(plane);
  const lineA = new Float64Array(Math.max(H, W));
  const lineB = new Float64Array(Math.max(H, W));
  for (let c = 0; c < C; c++) {
    const xc = planeOf(x, c, plane);
    const dxc = planeOf(dx, c, plane);
    const dOutc = planeOf(dOut, c, plane);
    dxc.fill(0);
    // forward, keeping the four scans
    for (let d = 0; d < 4; d++) {
      const [g1, g2, g3] = rawTriple(gates, C, plane, d, c);
      normaliseTriple(g1, g2, g3, ng[0], ng[1], ng[2], plane);
      forwardPlane(xc, ng[0], ng[1], ng[2], hs[d], geos[d]);
    }
    best.set(hs[0]);
    win.fill(0);
    for (let d = 1; d < 4; d++) mergeMaxWinner(hs[d], best, win, d, plane);
    // backward per direction; the gates are normalised again (cheaper than keeping 12 planes,
    // and it leaves the raw gates in cache for the normalisation's backward)
    for (let d = 0; d < 4; d++) {
      const [r1, r2, r3] = rawTriple(gates, C, plane, d, c);
      normaliseTriple(r1, r2, r3, ng[0], ng[1], ng[2], plane);
      maskByWinner(dOutc, win, d, masked, plane);
      backwardPlane(masked, xc, ng[0], ng[1], ng[2], hs[d], dxc, dn[0], dn[1], dn[2], geos[d], lineA, lineB, true);
      const [o1, o2, o3] = rawTriple(dGates, C, plane, d, c);
      normaliseTripleBackward(r1, r2, r3, dn[0], dn[1], dn[2], o1, o2, o3, plane);
    }
  }
  return { dx, dGates };
}

/** Group permutation of the switch: left→right ↔ right→left, top→bottom ↔ bottom→top. */
const SWAP_GROUPS = [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8];

/**
 * The STPN "switch": exchanges the gate groups of opposite directions (groups 0–2 ↔ 3–5 and
 * 6–8 ↔ 9–11; G1, G2, G3 keep their order and every map keeps its pixels), so propagate4 runs each
 * scan in the opposite direction with the same gate maps. An involution. It is NOT the transpose
 * of the propagation; see the module comment for what it is exactly.
 * @param gates planar `12C x H x W`
 * @param out optional output; may be `gates` (swapped in place)
 */
export function swapGateDirections<T extends ScanArray>(gates: T, C: number, H: number, W: number, out?: T): T {
  checkGates4(gates, C, H, W);
  const res = outBuffer('out', gates, gates.length, `12x${C}x${H}x${W}`, out);
  const m = C * H * W;
  const src = res === gates ? gates.slice() : gates;
  for (let g = 0; g < 12; g++) res.set(src.subarray(SWAP_GROUPS[g] * m, (SWAP_GROUPS[g] + 1) * m), g * m);
  return res;
}
