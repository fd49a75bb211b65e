import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { propagate4, propagate4Backward, type ScanDirection, scan3, scan3Backward } from '../src/ops/linear-scan.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Parity of the TypeScript SPN scan with its PyTorch twin (`training/vprop_train/spn.py`): the
 * fixtures under test/fixtures/spn are fixed inputs and PyTorch's float32 outputs, written by
 * `cd training && /usr/bin/python3 -m vprop_train.spn_fixtures`, so this runs without torch.
 * Tolerance 1e-5·max(1, |value|): PyTorch rounds every intermediate to float32 (≤ 6e-8 relative each,
 * over at most 9 scan steps here), the kernels round only what they store.
 */
interface Dims {
  C: number;
  H: number;
  W: number;
}
interface Scan3Fixture {
  cases: {
    dims: Dims;
    x: number[];
    g1: number[];
    g2: number[];
    g3: number[];
    dH: number[];
    directions: Record<ScanDirection, { h: number[]; dx: number[]; dg1: number[]; dg2: number[]; dg3: number[] }>;
  }[];
}
interface Propagate4Fixture {
  cases: {
    kind: string;
    dims: Dims;
    x: number[];
    gates: number[];
    dOut: number[];
    out: number[];
    winner: number[];
    dx: number[];
    dGates: number[];
  }[];
}

const dir = join(projectRoot, 'test', 'fixtures', 'spn');
const load = <T>(name: string): T => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
const f32 = (a: number[]) => Float32Array.from(a);

function assertClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-5 * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs PyTorch ${expected[i]}`);
  }
}

describe('SPN scan: TypeScript matches PyTorch (test/fixtures/spn)', () => {
  const scan = load<Scan3Fixture>('scan3.json');
  const p4 = load<Propagate4Fixture>('propagate4.json');

  test('fixtures cover every direction, non-square shapes, C > 1 and the all-ties case', () => {
    assert.ok(scan.cases.length >= 4 && p4.cases.length >= 4);
    assert.ok(scan.cases.some((c) => c.dims.C > 1 && c.dims.H !== c.dims.W && c.dims.H > 1 && c.dims.W > 1));
    assert.ok(scan.cases.every((c) => Object.keys(c.directions).length === 4));
    assert.ok(p4.cases.some((c) => c.kind === 'zero-gates'));
    assert.ok(p4.cases.some((c) => c.dims.C > 1 && c.dims.H !== c.dims.W));
    // the random cases really exercise several winners
    assert.ok(p4.cases.some((c) => new Set(c.winner).size === 4));
  });

  for (const c of scan.cases) {
    const { C, H, W } = c.dims;
    test(`scan3 and scan3Backward, ${C}x${H}x${W}, four directions`, () => {
      const [x, g1, g2, g3, dH] = [f32(c.x), f32(c.g1), f32(c.g2), f32(c.g3), f32(c.dH)];
      for (const [direction, want] of Object.entries(c.directions) as [
        ScanDirection,
        Scan3Fixture['cases'][0]['directions']['left-right'],
      ][]) {
        const h = scan3(x, g1, g2, g3, C, H, W, direction);
        assertClose(h, want.h, `${direction} h`);
        const grads = scan3Backward(dH, x, g1, g2, g3, h, C, H, W, direction);
        assertClose(grads.dx, want.dx, `${direction} dx`);
        assertClose(grads.dg1, want.dg1, `${direction} dg1`);
        assertClose(grads.dg2, want.dg2, `${direction} dg2`);
        assertClose(grads.dg3, want.dg3, `${direction} dg3`);
      }
    });
  }

  for (const c of p4.cases) {
    const { C, H, W } = c.dims;
    test(`propagate4 and propagate4Backward, ${c.kind} ${C}x${H}x${W}`, () => {
      const [x, gates, dOut] = [f32(c.x), f32(c.gates), f32(c.dOut)];
      const { out, winner } = propagate4(x, gates, C, H, W, { winner: true });
      assertClose(out, c.out, 'out');
      assert.deepEqual(Array.from(winner ?? []), c.winner);
      const { dx, dGates } = propagate4Backward(dOut, x, gates, C, H, W);
      assertClose(dx, c.dx, 'dx');
      assertClose(dGates, c.dGates, 'dGates');
    });
  }
});
