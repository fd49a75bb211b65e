import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUNDLED_MODELS, bundledModelPath, loadModel } from '../src/models/index.js';
import { propagate4 } from '../src/ops/linear-scan.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Parity of every committed STPN model pair with PyTorch: the fixture (written by
 * `training/vprop_train/export_stpn.py`) holds fixed inputs, PyTorch's scanned code and output;
 * here the same inputs go through the ONNX front graph, the TypeScript scan and the ONNX back
 * graph, as the engine runs them. Runs without torch.
 */
interface Fixture {
  task: 'color' | 'hdr' | 'mask';
  hidden: number;
  height: number;
  width: number;
  guide_t: number[];
  guide_kw: number[];
  x: number[];
  valid: number[];
  scanned: number[];
  y: number[];
}

const GUIDE: Record<string, number> = { color: 1, hdr: 3, mask: 3 };
const PROPERTY: Record<string, number> = { color: 2, hdr: 3, mask: 1 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const trainingModels = join(projectRoot, 'training', 'models');
const fixtureDir = join(projectRoot, 'test', 'fixtures', 'stpn');
// Model pairs by prefix: bundled `stpn-*` and those under training/models (fold models, BTPN).
const PAIRS: Array<{ name: string; front: () => Promise<string>; back: () => Promise<string> }> = [
  ...BUNDLED_MODELS.filter((m) => m.name.startsWith('stpn-') && m.name.endsWith('-front')).map((m) => {
    const base = m.name.replace(/-front$/, '');
    return { name: base, front: () => bundledModelPath(`${base}-front`), back: () => bundledModelPath(`${base}-back`) };
  }),
  ...readdirSync(trainingModels)
    .filter((f) => /^(stpn|btpn)-.*-front\.onnx$/.test(f))
    .sort()
    .map((f) => {
      const base = f.replace(/-front\.onnx$/, '');
      return { name: base, front: async () => join(trainingModels, f), back: async () => join(trainingModels, `${base}-back.onnx`) };
    }),
];

describe('STPN models: ONNX front + TypeScript scan + ONNX back equal PyTorch', () => {
  test('every committed model pair has a parity fixture', () => {
    for (const p of PAIRS) assert.ok(existsSync(join(fixtureDir, `${p.name}.json`)), `test/fixtures/stpn/${p.name}.json is missing`);
  });

  for (const pair of PAIRS) {
    test(pair.name, async () => {
      const fx = JSON.parse(readFileSync(join(fixtureDir, `${pair.name}.json`), 'utf8')) as Fixture;
      const front = await loadModel(await pair.front());
      const back = await loadModel(await pair.back());
      try {
        const { height: H, width: W, hidden } = fx;
        const G = GUIDE[fx.task];
        const P = PROPERTY[fx.task];
        const f = await front.run({
          guide_t: { data: Float32Array.from(fx.guide_t), dims: [1, G, H, W] },
          guide_kw: { data: Float32Array.from(fx.guide_kw), dims: [1, G, H, W] },
          x: { data: Float32Array.from(fx.x), dims: [1, P, H, W] },
          valid: { data: Float32Array.from(fx.valid), dims: [1, 1, H, W] },
        });
        const { out } = propagate4(f.code.data, f.gates.data, hidden, H / 2, W / 2);
        const scanDiff = maxAbsDiff(out, fx.scanned);
        assert.ok(scanDiff < 1e-4, `scanned code differs by ${scanDiff}`);
        const b = await back.run({
          h: { data: out, dims: [1, hidden, H / 2, W / 2] },
          x: { data: Float32Array.from(fx.x), dims: [1, P, H, W] },
          feat: f.feat,
        });
        const yDiff = maxAbsDiff(b.y.data, fx.y);
        assert.ok(yDiff < 1e-4, `output differs by ${yDiff}`);
      } finally {
        await front.release();
        await back.release();
      }
    });
  }
});
