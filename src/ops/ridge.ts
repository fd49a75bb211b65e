/**
 * Small dense linear models fitted in closed form (pure, typed arrays): weighted ridge regression
 * and L2-regularised logistic regression by iteratively reweighted least squares (Newton steps,
 * each a ridge-like solve), for online target models on frozen features (FRTM-style, on a CPU).
 *
 * Layouts:
 * - Design matrix `X`: row-major `n x d` (`X[i * d + j]` = feature j of sample i), Float32Array.
 *   A bias is just a column of ones; `unpenalized` names columns left out of the L2 penalty.
 * - Targets `y` and sample weights `w`: length n. Logistic targets are probabilities in [0, 1]
 *   (soft labels allowed).
 * - Square matrices: row-major `d x d` Float64Array; vectors Float64Array of length d.
 *
 * Objectives (weights need not sum to 1; both are normalised by S = Σ w_i):
 * - ridge:    min_β (1/S) Σ w_i (x_i·β − y_i)² + λ ‖β‖²  →  (XᵀWX/S + λI) β = XᵀWy/S
 * - logistic: min_β (1/S) Σ w_i ℓ(x_i·β, y_i) + (λ/2) ‖β‖², ℓ(z, y) = log(1 + e^z) − y z
 *   (Newton: H = XᵀSX/S + λI with S = diag(w p (1 − p)), g = Xᵀ(w (p − y))/S + λβ, β ← β − H⁻¹g,
 *   step halved while the objective does not decrease).
 */

/**
 * In-place Cholesky factorisation A = L Lᵀ of a symmetric positive definite `d x d` matrix
 * (row-major; only the lower triangle is read; L is written into the lower triangle).
 * Throws a RangeError when a pivot is not positive (A not positive definite).
 */
export function choleskyFactor(A: Float64Array, d: number): void {
  if (A.length !== d * d) throw new RangeError(`cholesky: matrix has ${A.length} values, expected ${d}x${d}`);
  for (let j = 0; j < d; j++) {
    let s = A[j * d + j];
    for (let k = 0; k < j; k++) s -= A[j * d + k] * A[j * d + k];
    if (!(s > 0)) throw new RangeError(`cholesky: matrix is not positive definite (pivot ${j} is ${s})`);
    const ljj = Math.sqrt(s);
    A[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = A[i * d + j];
      for (let k = 0; k < j; k++) t -= A[i * d + k] * A[j * d + k];
      A[i * d + j] = t / ljj;
    }
  }
}

/** Solve L Lᵀ x = b given the factor from `choleskyFactor` (lower triangle of `L`); returns x. */
export function choleskySolve(L: Float64Array, d: number, b: ArrayLike<number>): Float64Array {
  if (b.length !== d) throw new RangeError(`cholesky: right-hand side has ${b.length} values, expected ${d}`);
  const x = Float64Array.from(b);
  for (let i = 0; i < d; i++) {
    let s = x[i];
    for (let k = 0; k < i; k++) s -= L[i * d + k] * x[k];
    x[i] = s / L[i * d + i];
  }
  for (let i = d - 1; i >= 0; i--) {
    let s = x[i];
    for (let k = i + 1; k < d; k++) s -= L[k * d + i] * x[k];
    x[i] = s / L[i * d + i];
  }
  return x;
}

/** Solve the SPD system A x = b (A is copied, not modified). */
export function solveSpd(A: Float64Array, d: number, b: ArrayLike<number>): Float64Array {
  const L = Float64Array.from(A);
  choleskyFactor(L, d);
  return choleskySolve(L, d, b);
}

/**
 * Weighted Gram statistics: `gram += Σ_i s_i x_i x_iᵀ` (full symmetric matrix) and
 * `rhs += Σ_i s_i t_i x_i`, with `s` per-sample weights and `t` per-sample targets.
 * Skips samples with zero weight. Accumulates into the given arrays (zero them to start).
 */
export function accumulateGram(
  X: Float32Array,
  n: number,
  d: number,
  s: ArrayLike<number>,
  t: ArrayLike<number>,
  gram: Float64Array,
  rhs: Float64Array,
): void {
  checkDesign(X, n, d);
  if (gram.length !== d * d || rhs.length !== d) throw new RangeError(`gram: outputs must be ${d}x${d} and ${d}`);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const si = s[i];
    if (si === 0) continue;
    const o = i * d;
    for (let j = 0; j < d; j++) row[j] = X[o + j];
    const st = si * t[i];
    for (let a = 0; a < d; a++) {
      const ra = si * row[a];
      rhs[a] += st * row[a];
      const g = a * d;
      for (let b = 0; b <= a; b++) gram[g + b] += ra * row[b];
    }
  }
  // Mirror the lower triangle (accumulated above) into the upper one.
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) gram[a * d + b] = gram[b * d + a];
}

export interface FitOptions {
  /** L2 penalty λ (see the module comment). */
  readonly lambda: number;
  /** Columns without penalty (e.g. the bias column); a tiny 1e-8 keeps the system definite. */
  readonly unpenalized?: readonly number[];
}

/** Weighted ridge regression (closed form): returns β of length d. */
export function ridgeRegression(
  X: Float32Array,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  n: number,
  d: number,
  opts: FitOptions,
): Float64Array {
  const S = weightSum(w, n);
  const gram = new Float64Array(d * d);
  const rhs = new Float64Array(d);
  accumulateGram(X, n, d, w, y, gram, rhs);
  for (let i = 0; i < d * d; i++) gram[i] /= S;
  for (let j = 0; j < d; j++) rhs[j] /= S;
  addPenalty(gram, d, opts);
  return solveSpd(gram, d, rhs);
}

export interface LogisticOptions extends FitOptions {
  /** Newton iterations (default 10). */
  readonly iterations?: number;
  /** Starting weights (default zeros). */
  readonly init?: ArrayLike<number>;
  /** Stop when the largest coefficient change is below this (default 1e-6). */
  readonly tolerance?: number;
}

/**
 * L2-regularised weighted logistic regression by Newton / IRLS (module comment). Returns β;
 * scores are logits z = x·β.
 */
export function logisticRegression(
  X: Float32Array,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  n: number,
  d: number,
  opts: LogisticOptions,
): Float64Array {
  checkDesign(X, n, d);
  const S = weightSum(w, n);
  const beta = new Float64Array(d);
  if (opts.init) {
    if (opts.init.length !== d) throw new RangeError(`logistic: init has ${opts.init.length} values, expected ${d}`);
    beta.set(opts.init);
  }
  const penalised = new Uint8Array(d).fill(1);
  for (const j of opts.unpenalized ?? []) penalised[j] = 0;
  const iterations = opts.iterations ?? 10;
  const tol = opts.tolerance ?? 1e-6;
  const z = new Float64Array(n);
  const s = new Float64Array(n);
  const r = new Float64Array(n);
  const ones = new Float64Array(n).fill(1);
  const objective = (b: Float64Array): number => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      const zi = dot(X, i * d, b, d);
      // log(1 + e^z) computed stably.
      const lse = zi > 0 ? zi + Math.log1p(Math.exp(-zi)) : Math.log1p(Math.exp(zi));
      loss += w[i] * (lse - y[i] * zi);
    }
    let pen = 0;
    for (let j = 0; j < d; j++) if (penalised[j]) pen += b[j] * b[j];
    return loss / S + 0.5 * opts.lambda * pen;
  };
  let current = objective(beta);
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < n; i++) {
      z[i] = dot(X, i * d, beta, d);
      const p = 1 / (1 + Math.exp(-z[i]));
      s[i] = w[i] * Math.max(p * (1 - p), 1e-10);
      r[i] = w[i] * (p - y[i]);
    }
    const H = new Float64Array(d * d);
    const g = new Float64Array(d);
    accumulateGram(X, n, d, s, ones, H, new Float64Array(d));
    // g = Xᵀ r / S + λβ
    for (let i = 0; i < n; i++) {
      const ri = r[i];
      if (ri === 0) continue;
      const o = i * d;
      for (let j = 0; j < d; j++) g[j] += ri * X[o + j];
    }
    for (let i = 0; i < d * d; i++) H[i] /= S;
    for (let j = 0; j < d; j++) g[j] = g[j] / S + (penalised[j] ? opts.lambda * beta[j] : 0);
    addPenalty(H, d, opts);
    const step = solveSpd(H, d, g);
    let t = 1;
    let next = new Float64Array(d);
    let value = Number.POSITIVE_INFINITY;
    for (let half = 0; half < 20; half++) {
      for (let j = 0; j < d; j++) next[j] = beta[j] - t * step[j];
      value = objective(next);
      if (value <= current) break;
      t /= 2;
    }
    if (!(value <= current)) break;
    let change = 0;
    for (let j = 0; j < d; j++) change = Math.max(change, Math.abs(next[j] - beta[j]));
    beta.set(next);
    current = value;
    next = new Float64Array(d);
    if (change < tol) break;
  }
  return beta;
}

/** z = X β for every sample (n logits or regression outputs). */
export function predictLinear(X: Float32Array, n: number, d: number, beta: ArrayLike<number>, out = new Float32Array(n)): Float32Array {
  checkDesign(X, n, d);
  for (let i = 0; i < n; i++) out[i] = dot(X, i * d, beta, d);
  return out;
}

function dot(X: Float32Array, o: number, b: ArrayLike<number>, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += X[o + j] * b[j];
  return s;
}

function addPenalty(A: Float64Array, d: number, opts: FitOptions): void {
  if (!(opts.lambda >= 0)) throw new RangeError(`lambda must be >= 0, got ${opts.lambda}`);
  const free = new Set(opts.unpenalized ?? []);
  for (let j = 0; j < d; j++) A[j * d + j] += free.has(j) ? 1e-8 : opts.lambda;
}

function weightSum(w: ArrayLike<number>, n: number): number {
  if (w.length !== n) throw new RangeError(`weights have ${w.length} values, expected ${n}`);
  let S = 0;
  for (let i = 0; i < n; i++) {
    if (!(w[i] >= 0)) throw new RangeError(`weight ${i} is ${w[i]}, must be >= 0`);
    S += w[i];
  }
  if (!(S > 0)) throw new RangeError('all sample weights are 0');
  return S;
}

function checkDesign(X: Float32Array, n: number, d: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1) throw new RangeError(`invalid design shape ${n}x${d}`);
  if (X.length !== n * d) throw new RangeError(`design matrix has ${X.length} values, expected ${n}x${d} = ${n * d}`);
}
