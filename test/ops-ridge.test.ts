import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accumulateGram, logisticRegression, predictLinear, ridgeRegression, solveSpd } from '../src/ops/ridge.js';
import { Rng } from '../src/util/rng.js';

function randomDesign(rng: Rng, n: number, d: number, bias = true): Float32Array {
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = bias && j === d - 1 ? 1 : rng.range(-1, 1);
  return X;
}

test('solveSpd recovers x from A x = b for a random SPD matrix, and rejects an indefinite one', () => {
  const rng = new Rng(3);
  const d = 30;
  const B = new Float64Array(d * d).map(() => rng.range(-1, 1));
  const A = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = i === j ? 0.5 : 0;
      for (let k = 0; k < d; k++) s += B[k * d + i] * B[k * d + j];
      A[i * d + j] = s;
    }
  const x = new Float64Array(d).map(() => rng.range(-2, 2));
  const b = new Float64Array(d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) b[i] += A[i * d + j] * x[j];
  const copy = Float64Array.from(A);
  const got = solveSpd(A, d, b);
  assert.deepEqual(A, copy, 'A is not modified');
  for (let i = 0; i < d; i++) assert.ok(Math.abs(got[i] - x[i]) < 1e-8, `x[${i}] ${got[i]} vs ${x[i]}`);
  assert.throws(() => solveSpd(new Float64Array([1, 2, 2, 1]), 2, [1, 1]), /not positive definite/);
});

test('accumulateGram equals XᵀSX and XᵀSt computed directly, skipping zero weights', () => {
  const rng = new Rng(5);
  const n = 40;
  const d = 6;
  const X = randomDesign(rng, n, d);
  const s = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : rng.range(0, 2)));
  const t = Array.from({ length: n }, () => rng.range(-1, 1));
  const G = new Float64Array(d * d);
  const r = new Float64Array(d);
  accumulateGram(X, n, d, s, t, G, r);
  for (let a = 0; a < d; a++) {
    let ra = 0;
    for (let i = 0; i < n; i++) ra += s[i] * t[i] * X[i * d + a];
    assert.ok(Math.abs(r[a] - ra) < 1e-9);
    for (let b = 0; b < d; b++) {
      let g = 0;
      for (let i = 0; i < n; i++) g += s[i] * X[i * d + a] * X[i * d + b];
      assert.ok(Math.abs(G[a * d + b] - g) < 1e-9, `G[${a},${b}]`);
    }
  }
});

test('ridgeRegression: exact on noiseless data at λ = 0; at λ > 0 the gradient of its objective vanishes', () => {
  const rng = new Rng(7);
  const n = 200;
  const d = 8;
  const X = randomDesign(rng, n, d);
  const beta = Array.from({ length: d }, () => rng.range(-3, 3));
  const y = Array.from(predictLinear(X, n, d, beta));
  const w = Array.from({ length: n }, () => rng.range(0.1, 3));
  const exact = ridgeRegression(X, y, w, n, d, { lambda: 0 });
  for (let j = 0; j < d; j++) assert.ok(Math.abs(exact[j] - beta[j]) < 1e-4, `β[${j}] ${exact[j]} vs ${beta[j]}`);

  const lambda = 0.3;
  const b = ridgeRegression(X, y, w, n, d, { lambda, unpenalized: [d - 1] });
  const S = w.reduce((a, v) => a + v, 0);
  const z = predictLinear(X, n, d, b);
  for (let j = 0; j < d; j++) {
    // ∂/∂β_j of (1/S) Σ w (xβ − y)² + λ Σ_{penalised} β² = (2/S) Σ w (xβ − y) x_j + 2λβ_j
    let g = 0;
    for (let i = 0; i < n; i++) g += w[i] * (z[i] - y[i]) * X[i * d + j];
    g = (2 * g) / S + (j === d - 1 ? 0 : 2 * lambda * b[j]);
    assert.ok(Math.abs(g) < 1e-4, `gradient ${j} = ${g}`);
  }
  // The penalty shrinks the coefficients.
  const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v).slice(0, d - 1));
  assert.ok(norm(b) < norm(exact));
});

test('logisticRegression: stationary point of the regularised weighted log-loss; separable data stays finite', () => {
  const rng = new Rng(11);
  const n = 300;
  const d = 5;
  const X = randomDesign(rng, n, d);
  const truth = [2, -1, 0.5, 1.5, -0.3];
  const z0 = predictLinear(X, n, d, truth);
  const y = Array.from(z0, (v) => (rng.next() < 1 / (1 + Math.exp(-v)) ? 1 : 0));
  const w = Array.from({ length: n }, (_, i) => (y[i] ? 1.5 : 0.7));
  const lambda = 0.05;
  const b = logisticRegression(X, y, w, n, d, { lambda, unpenalized: [d - 1], iterations: 30, tolerance: 1e-12 });
  const S = w.reduce((a, v) => a + v, 0);
  const z = predictLinear(X, n, d, b);
  for (let j = 0; j < d; j++) {
    let g = 0;
    for (let i = 0; i < n; i++) g += w[i] * (1 / (1 + Math.exp(-z[i])) - y[i]) * X[i * d + j];
    g = g / S + (j === d - 1 ? 0 : lambda * b[j]);
    assert.ok(Math.abs(g) < 1e-7, `gradient ${j} = ${g}`);
  }
  // Perfectly separable labels: without a penalty the optimum is at infinity; with one it is finite
  // and still separates the classes.
  const ys = Array.from(z0, (v) => (v > 0 ? 1 : 0));
  const bs = logisticRegression(X, ys, new Array(n).fill(1), n, d, { lambda: 1e-3, iterations: 50 });
  assert.ok(bs.every((v) => Number.isFinite(v)));
  const zs = predictLinear(X, n, d, bs);
  const correct = ys.filter((v, i) => (zs[i] > 0 ? 1 : 0) === v).length;
  assert.ok(correct >= n - 3, `${correct}/${n} correct`);
});

test('logisticRegression: a huge penalty leaves the unpenalised bias at the weighted log-odds', () => {
  const rng = new Rng(13);
  const n = 100;
  const d = 4;
  const X = randomDesign(rng, n, d);
  const y = Array.from({ length: n }, (_, i) => (i < 30 ? 1 : 0));
  const w = Array.from({ length: n }, (_, i) => (i < 30 ? 2 : 1));
  const b = logisticRegression(X, y, w, n, d, { lambda: 1e6, unpenalized: [d - 1] });
  const p = (30 * 2) / (30 * 2 + 70);
  assert.ok(Math.abs(b[d - 1] - Math.log(p / (1 - p))) < 1e-3, `bias ${b[d - 1]}`);
  for (let j = 0; j < d - 1; j++) assert.ok(Math.abs(b[j]) < 1e-4);
  assert.throws(() => logisticRegression(X, y, new Array(n).fill(0), n, d, { lambda: 1 }), /weights are 0/);
  assert.throws(() => logisticRegression(X, y, [1], n, d, { lambda: 1 }), /weights have 1 values/);
});
