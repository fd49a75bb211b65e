import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeCell, stgruStep } from '../src/engines/flowgru/cell.js';
import { BUNDLED_MODELS, bundledModelPath, loadModel, readOnnxMetadata, rgbToPlanar, softmaxChannels } from '../src/models/index.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Parity of the committed ONNX models with PyTorch: each model (bundled, or under training/models)
 * has a fixture written by `training/vprop_train/export.py` (fixed inputs and PyTorch's outputs; a
 * 3-frame clip run with PyTorch's warping), so this runs without torch.
 */
interface Fixture {
  cell: 'exact' | 'shared';
  dims: { C: number; H: number; W: number };
  inputs: Record<'image' | 'prev_warped' | 'h_warped' | 'x', number[]>;
  outputs: { h: number[]; r: number[] };
  clip: {
    dims: { T: number; C: number; H: number; W: number };
    images: number[];
    flows: number[];
    scores: number[];
    p0: number[];
    probabilities: number[][];
  };
}

const fixtureDir = join(projectRoot, 'test', 'fixtures', 'grfp');
const fixtureOf = (file: string): Fixture | undefined => {
  const p = join(fixtureDir, file.replace(/\.onnx$/, '.json'));
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Fixture) : undefined;
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Planar C x H x W frame slice t of a (T, C, H, W) flat array. */
const slice = (flat: number[], t: number, size: number) => Float32Array.from(flat.slice(t * size, (t + 1) * size));

/** Planar 3 x H x W (0..255 integers) → interleaved RGB bytes. */
function toFrame(planar: Float32Array, H: number, W: number) {
  const n = H * W;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = planar[c * n + i];
  return { width: W, height: H, data };
}

// Every exported GRFP model: the bundled ones and those under training/models (DAVIS fold models
// and the initialised weights the bench compares against). STPN models: test/models-stpn.test.ts.
const trainingModels = join(projectRoot, 'training', 'models');
const MODELS: Array<{ name: string; file: string; path: () => Promise<string> }> = [
  ...BUNDLED_MODELS.filter((m) => m.name.startsWith('grfp-')).map((m) => ({
    name: m.name,
    file: m.file,
    path: () => bundledModelPath(m.name),
  })),
  ...readdirSync(trainingModels)
    .filter((f) => f.startsWith('grfp-') && f.endsWith('.onnx'))
    .sort()
    .map((f) => ({ name: `training/models/${f}`, file: f, path: async () => join(trainingModels, f) })),
];

describe('ONNX models: every exported STGRU model matches PyTorch', () => {
  test('every exported model has a parity fixture', () => {
    const missing = MODELS.filter((m) => !fixtureOf(m.file)).map((m) => m.file);
    assert.deepEqual(missing, [], 'write them with training/scripts/train-all.sh fixtures');
  });
  for (const m of MODELS) {
    const fx = fixtureOf(m.file);
    test(`${m.name}: cell outputs within 1e-4 of PyTorch`, {
      skip: fx ? false : `no fixture test/fixtures/grfp/${m.file.replace('.onnx', '.json')}`,
    }, async () => {
      const f = fx as Fixture;
      const model = await loadModel(await m.path());
      try {
        assert.equal(model.metadata.props['vprop.model'], 'grfp-stgru');
        assert.equal(model.metadata.props['vprop.cell'], f.cell);
        assert.equal(describeCell(model).kind, f.cell);
        const { C, H, W } = f.dims;
        const t = (k: keyof Fixture['inputs'], c: number) => ({ data: Float32Array.from(f.inputs[k]), dims: [1, c, H, W] });
        const out = await model.run({ image: t('image', 3), prev_warped: t('prev_warped', 3), h_warped: t('h_warped', C), x: t('x', C) });
        assert.deepEqual(out.h.dims, [1, C, H, W]);
        assert.ok(maxAbsDiff(out.h.data, f.outputs.h) < 1e-4, `h differs by ${maxAbsDiff(out.h.data, f.outputs.h)}`);
        assert.ok(maxAbsDiff(out.r.data, f.outputs.r) < 1e-4);
      } finally {
        await model.release();
      }
    });

    test(`${m.name}: a 3-frame clip with TypeScript warping matches PyTorch's run_clip`, { skip: fx ? false : 'no fixture' }, async () => {
      const c = (fx as Fixture).clip;
      const { T, C, H, W } = c.dims;
      const n = H * W;
      const model = await loadModel(await m.path());
      try {
        const frames = Array.from({ length: T }, (_, t) => toFrame(slice(c.images, t, 3 * n), H, W));
        let prev: { frame: (typeof frames)[number]; probabilities: Float32Array } = {
          frame: frames[0],
          probabilities: Float32Array.from(c.p0),
        };
        for (let t = 1; t < T; t++) {
          const perFrame = softmaxChannels(slice(c.scores, t, C * n), C, n);
          const r = await stgruStep(model, prev, { frame: frames[t], perFrame }, C, { floor: 1e-30 }, undefined, slice(c.flows, t, 2 * n));
          const d = maxAbsDiff(r.probabilities, c.probabilities[t - 1]);
          assert.ok(d < 1e-4, `frame ${t}: probabilities differ by ${d}`);
          prev = { frame: frames[t], probabilities: r.probabilities };
        }
      } finally {
        await model.release();
      }
    });
  }

  test('the shared-cell model takes any channel count; the exact one rejects a wrong count', async () => {
    const shared = await loadModel(await bundledModelPath('grfp-mask'));
    const exact = await loadModel(await bundledModelPath('grfp-labels-c6'));
    try {
      assert.equal(describeCell(shared).kind, 'shared');
      assert.equal(describeCell(exact).kind, 'exact');
      assert.equal(describeCell(exact).classes, 6);
      const z = (c: number, h = 5, w = 6) => ({ data: new Float32Array(c * h * w), dims: [1, c, h, w] });
      for (const C of [2, 4, 7]) {
        const o = await shared.run({ image: z(3), prev_warped: z(3), h_warped: z(C), x: z(C) });
        assert.deepEqual(o.h.dims, [1, C, 5, 6]);
      }
      await assert.rejects(exact.run({ image: z(3), prev_warped: z(3), h_warped: z(3), x: z(3) }), /dimension 1 must be 6/);
      await assert.rejects(shared.run({ image: z(3), prev_warped: z(3), h_warped: z(2) } as never), /missing input "x"/);
    } finally {
      await shared.release();
      await exact.release();
    }
  });
});

describe('models: loading and metadata', () => {
  test('readOnnxMetadata reads metadata_props and skips other fields', () => {
    // ModelProto: ir_version (1) = 7, producer_name (2) = "p", metadata_props (14) {key "a", value "b"}.
    const bytes = Uint8Array.from([0x08, 0x07, 0x12, 0x01, 0x70, 0x72, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]);
    const m = readOnnxMetadata(bytes);
    assert.equal(m.producerName, 'p');
    assert.deepEqual(m.props, { a: 'b' });
    assert.throws(() => readOnnxMetadata(Uint8Array.from([0x12, 0x09, 0x70])), /runs past the end/);
  });

  test('clear errors for a missing file, non-ONNX bytes and an unknown bundled name', async () => {
    await assert.rejects(loadModel('/nonexistent/model.onnx'), /\/nonexistent\/model\.onnx: cannot read the model file \(no such file\)/);
    await assert.rejects(loadModel(new TextEncoder().encode('hello, not a model'), { name: 'bad.onnx' }), /bad\.onnx/);
    await assert.rejects(bundledModelPath('nope'), /unknown bundled model "nope"/);
  });

  test('rgbToPlanar and softmaxChannels', () => {
    const p = rgbToPlanar({ width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
    assert.deepEqual([...p], [1, 4, 2, 5, 3, 6]);
    // pixel 0: scores (0, 1000); pixel 1: (1000, 1000)
    const s = softmaxChannels(Float32Array.from([0, 1000, 1000, 1000]), 2, 2);
    assert.deepEqual([...s], [0, 0.5, 1, 0.5]);
  });
});
