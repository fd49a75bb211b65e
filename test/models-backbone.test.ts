import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  BACKBONE_OUTPUTS,
  convertBackbone,
  encodeOnnxModel,
  type NsfwjsModelFiles,
  ProtoWriter,
  readNsfwjsModel,
} from '../scripts/convert-backbone.js';
import type { RgbFrame } from '../src/core/types.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import {
  Backbone,
  type BackboneFeatures,
  bundledModelPath,
  cachedBackboneFeatures,
  loadModel,
  type OnnxModel,
  readOnnxMetadata,
} from '../src/models/index.js';
import { createScene } from '../src/synth/index.js';
import { decodeImageRgb } from '../src/video/folder.js';
import { sharedDataRoot } from './helpers/shared.js';

/**
 * The bundled backbone (scripts/convert-backbone.ts) against the ORIGINAL nsfwjs model run by
 * TensorFlow.js (CPU backend) from the same files: the raw quantized weights go to tfjs, so its own
 * dequantization, batch norm, padding and layouts are the reference for the converter's.
 */

/** A real frame: DAVIS when ../shared/data has it, else a synthetic scene frame. */
async function realFrame(): Promise<{ frame: RgbFrame; what: string }> {
  const dir = join(sharedDataRoot, 'davis', 'JPEGImages', '480p');
  if (existsSync(dir)) {
    const seq = readdirSync(dir).includes('camel') ? 'camel' : readdirSync(dir).sort()[0];
    const file = readdirSync(join(dir, seq))
      .filter((f) => f.endsWith('.jpg'))
      .sort()[0];
    return { frame: await decodeImageRgb(join(dir, seq, file)), what: `DAVIS ${seq}/${file}` };
  }
  const scene = createScene({ seed: 5, width: 320, height: 240, frames: 4, objects: 2 });
  return { frame: scene.render(2).rgb, what: 'synthetic scene seed 5, frame 2' };
}

function crop(f: RgbFrame, x0: number, y0: number, w: number, h: number): RgbFrame {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(f.data.subarray(((y0 + y) * f.width + x0) * 3, ((y0 + y) * f.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, data };
}

/** Interleaved RGB → planar float 0..255, edge-replicated to Wp x Hp (independent of backbone.ts). */
function planarReplicate(f: RgbFrame, Wp = f.width, Hp = f.height): Float32Array {
  const out = new Float32Array(3 * Wp * Hp);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < Hp; y++)
      for (let x = 0; x < Wp; x++)
        out[(c * Hp + y) * Wp + x] = f.data[(Math.min(y, f.height - 1) * f.width + Math.min(x, f.width - 1)) * 3 + c];
  return out;
}

/** NHWC (tfjs) → planar CHW. */
function nhwcToChw(data: Float32Array, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(C * H * W);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) out[c * H * W + i] = data[i * C + c];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function range(a: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i]);
    hi = Math.max(hi, a[i]);
  }
  return hi - lo;
}

const LAYER_OF = BACKBONE_OUTPUTS as Record<string, string>;
const NAMES = Object.keys(LAYER_OF);

describe('backbone: MobileNetV2 trunk converted from nsfwjs', () => {
  let files: NsfwjsModelFiles;
  let onnx: OnnxModel;
  let reference: tf.LayersModel;

  before(async () => {
    files = readNsfwjsModel();
    onnx = await loadModel(await bundledModelPath('mobilenetv2-backbone'), { threads: 2 });
    await tf.setBackend('cpu');
    // The saved input is fixed at 224x224; the convs are size-agnostic, so let H, W be free, and
    // keep the layers up to the last output (the classifier head needs the fixed size).
    const topology = structuredClone(files.modelTopology) as unknown as {
      model_config: {
        config: { layers: Array<{ name: string; class_name: string; config: Record<string, unknown> }>; output_layers: unknown };
      };
    };
    const cfg = topology.model_config.config;
    cfg.layers = cfg.layers.slice(0, cfg.layers.findIndex((l) => l.name === LAYER_OF.s16) + 1);
    cfg.output_layers = NAMES.map((n) => [LAYER_OF[n], 0, 0]);
    for (const l of cfg.layers) if (l.class_name === 'InputLayer') l.config.batch_input_shape = [null, null, null, 3];
    const w = files.weightData;
    reference = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: topology,
        weightSpecs: [...files.weightSpecs] as tf.io.WeightsManifestEntry[],
        weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
      }),
      // The head's weights have no layer left to go to.
      { strict: false },
    );
    assert.deepEqual(
      reference.outputs.map((o) => o.shape),
      [
        [null, null, null, 24],
        [null, null, null, 32],
        [null, null, null, 96],
      ],
    );
  });
  after(async () => {
    await onnx?.release();
  });

  /** tfjs outputs (planar) for an RGB frame, fed as nsfwjs feeds its model: x / 255. */
  function runReference(f: RgbFrame): Record<string, { data: Float32Array; dims: number[] }> {
    const outs = tf.tidy(
      () => reference.predict(tf.tensor4d(f.data, [1, f.height, f.width, 3], 'int32').toFloat().div(255)) as tf.Tensor[],
    );
    const res: Record<string, { data: Float32Array; dims: number[] }> = {};
    NAMES.forEach((n, i) => {
      const [, H, W, C] = outs[i].shape;
      res[n] = { data: nhwcToChw(outs[i].dataSync() as Float32Array, H, W, C), dims: [1, C, H, W] };
      outs[i].dispose();
    });
    return res;
  }

  test('the committed ONNX file is what the converter writes from nsfwjs@4.4.0', async () => {
    assert.equal(files.version, '4.4.0');
    const committed = readFileSync(await bundledModelPath('mobilenetv2-backbone'));
    const fresh = convertBackbone(files);
    assert.ok(Buffer.from(fresh).equals(committed), 'run: node --import tsx scripts/convert-backbone.ts');
    const meta = readOnnxMetadata(fresh).props;
    assert.equal(meta['vprop.model'], 'mobilenetv2-backbone');
    assert.equal(meta['vprop.image_units'], 'rgb-0-255');
    assert.match(meta['vprop.source'], /nsfwjs@4\.4\.0/);
    assert.deepEqual(
      onnx.outputs.map((o) => [o.name, o.shape[1]]),
      [
        ['s4', 24],
        ['s8', 32],
        ['s16', 96],
      ],
    );
  });

  for (const [label, w, h] of [
    ['320x224 (multiple of 16)', 320, 224],
    ['203x147 (odd sizes: Keras one-sided padding at every stride)', 203, 147],
  ] as const) {
    test(`matches TensorFlow.js on a real frame, ${label}; a perturbed input does not`, async (t) => {
      const { frame, what } = await realFrame();
      const f = crop(frame, Math.floor((frame.width - w) / 2), Math.floor((frame.height - h) / 2), w, h);
      const ref = runReference(f);
      const got = await onnx.run({ image: { data: planarReplicate(f), dims: [1, 3, h, w] } });
      // A bright square in the middle: the outputs must move far beyond the parity tolerance.
      const bumped = { ...f, data: f.data.slice() };
      for (let y = (h >> 1) - 16; y < (h >> 1) + 16; y++)
        for (let x = (w >> 1) - 16; x < (w >> 1) + 16; x++)
          for (let c = 0; c < 3; c++) bumped.data[(y * w + x) * 3 + c] = 255 - bumped.data[(y * w + x) * 3 + c];
      const moved = await onnx.run({ image: { data: planarReplicate(bumped), dims: [1, 3, h, w] } });
      for (const n of NAMES) {
        assert.deepEqual(got[n].dims, ref[n].dims, `${n} dims`);
        const r = range(ref[n].data);
        assert.ok(r > 1, `${n}: the reference output has a non-trivial range (${r})`);
        const rel = maxAbsDiff(got[n].data, ref[n].data) / r;
        const relMoved = maxAbsDiff(moved[n].data, ref[n].data) / r;
        t.diagnostic(
          `${what} ${w}x${h} ${n} [${ref[n].dims.join(',')}]: range ${r.toFixed(2)}, max |onnx - tfjs| / range ${rel.toExponential(2)}; perturbed ${relMoved.toExponential(2)}`,
        );
        assert.ok(rel < 1e-3, `${n}: max abs diff / range ${rel} >= 1e-3`);
        assert.ok(relMoved > 0.05, `${n}: the perturbed input changed the output by only ${relMoved} of its range`);
      }
    });
  }

  test('extractFeatures pads (edge replicate) to a multiple of 16 and crops to ceil(size / stride)', async () => {
    const { frame } = await realFrame();
    const W = 250;
    const H = 170;
    const f = crop(frame, 40, 30, W, H);
    const bb = new Backbone(onnx);
    const feats = await bb.extractFeatures(f);
    assert.equal(feats.inputWidth, W);
    assert.equal(feats.inputHeight, H);
    const Wp = 256;
    const Hp = 176;
    const full = await onnx.run({ image: { data: planarReplicate(f, Wp, Hp), dims: [1, 3, Hp, Wp] } });
    for (const [n, stride, C] of [
      ['s4', 4, 24],
      ['s8', 8, 32],
      ['s16', 16, 96],
    ] as const) {
      const m = feats[n];
      assert.deepEqual([m.channels, m.width, m.height, m.stride], [C, Math.ceil(W / stride), Math.ceil(H / stride), stride], n);
      const fw = Wp / stride;
      const fh = Hp / stride;
      for (let c = 0; c < C; c++)
        for (let y = 0; y < m.height; y++)
          for (let x = 0; x < m.width; x++)
            assert.equal(m.data[(c * m.height + y) * m.width + x], full[n].data[(c * fh + y) * fw + x], `${n} c${c} y${y} x${x}`);
    }
    // Zero padding is a different input: the border cells change, the result stays well formed.
    const zero = await new Backbone(onnx, { padding: 'zero' }).extractFeatures(f);
    assert.equal(zero.s16.width, feats.s16.width);
    assert.ok(maxAbsDiff(zero.s16.data, feats.s16.data) > 0, 'zero and replicate padding differ at the border');
  });

  test('maxSize shrinks the frame first; bad sizes and frames are rejected', async () => {
    const { frame } = await realFrame();
    const bb = new Backbone(onnx, { maxSize: 160 });
    const feats = await bb.extractFeatures(frame);
    const s = 160 / Math.max(frame.width, frame.height);
    const w = Math.round(frame.width * s);
    const h = Math.round(frame.height * s);
    assert.deepEqual([feats.inputWidth, feats.inputHeight], [w, h]);
    assert.deepEqual([feats.s16.width, feats.s16.height], [Math.ceil(w / 16), Math.ceil(h / 16)]);
    assert.ok(feats.s8.data.every(Number.isFinite));
    // A uniform frame shrinks to the same uniform frame: features equal those of the small frame.
    const grey = (W: number, H: number): RgbFrame => ({ width: W, height: H, data: new Uint8Array(W * H * 3).fill(97) });
    const a = await bb.extractFeatures(grey(400, 240));
    const b = await new Backbone(onnx).extractFeatures(grey(160, 96));
    assert.deepEqual([a.inputWidth, a.inputHeight], [160, 96]);
    assert.ok(maxAbsDiff(a.s16.data, b.s16.data) < 1e-5);
    assert.notEqual(bb.key, new Backbone(onnx).key);
    assert.throws(() => new Backbone(onnx, { maxSize: 8 }), /maxSize/);
    await assert.rejects(bb.extractFeatures({ width: 4, height: 4, data: new Uint8Array(5) }), /expected 4x4x3/);
  });

  test('cachedBackboneFeatures computes a frame once per store, shared by concurrent callers', async () => {
    const scene = createScene({ seed: 9, width: 96, height: 64, frames: 2, objects: 1 });
    const frame = scene.render(0).rgb;
    const bb = new Backbone(onnx);
    let runs = 0;
    const counted = Object.assign(Object.create(Object.getPrototypeOf(bb)) as Backbone, bb, {
      extractFeatures: (f: RgbFrame) => {
        runs++;
        return bb.extractFeatures(f);
      },
    });
    const store = new BoundedFeatureStore();
    const [x, y] = await Promise.all([cachedBackboneFeatures(store, 3, frame, counted), cachedBackboneFeatures(store, 3, frame, counted)]);
    const z = await cachedBackboneFeatures(store, 3, frame, counted);
    assert.equal(runs, 1);
    assert.equal(x, y);
    assert.equal(z, x);
    assert.ok(store.bytes >= x.s4.data.byteLength + x.s8.data.byteLength + x.s16.data.byteLength, 'the store counts the feature bytes');
    const other: BackboneFeatures = await cachedBackboneFeatures(store, 4, frame, counted);
    assert.equal(runs, 2);
    assert.deepEqual(other.s16.data, x.s16.data);
  });
});

describe('convert-backbone: the hand-written ONNX protobuf writer', () => {
  test('varints: unsigned, 64-bit negative (two\u2019s complement, 10 bytes)', () => {
    assert.deepEqual([...new ProtoWriter().varint(1, 300).finish()], [0x08, 0xac, 0x02]);
    assert.deepEqual([...new ProtoWriter().varint(1, -1).finish()], [0x08, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
  });

  test('a small graph (depthwise strided conv with one-sided pads, Clip, Pad, Add) runs in ONNX Runtime as computed by hand', async () => {
    // x: 1 x 2 x 5 x 6; depthwise 3x3, stride 2, pads [top 0, left 0, bottom 1, right 1] (Keras's
    // ZeroPadding2D ((0,1),(0,1)) + 'valid'), then Clip(0, 6); plus 6 x the same conv without
    // pads on the input zero-padded by a Pad node (int64 initializer).
    const C = 2;
    const H = 5;
    const W = 6;
    const x = Float32Array.from({ length: C * H * W }, (_, i) => Math.sin(i * 1.7) * 5 + 1);
    const k = Float32Array.from({ length: C * 9 }, (_, i) => Math.cos(i * 0.9));
    const bias = Float32Array.from([0.5, -0.25]);
    const bytes = encodeOnnxModel({
      graphName: 'roundtrip',
      producerName: 'test',
      metadata: { 'vprop.model': 'roundtrip-test', note: 'ünïcode ✓' },
      inputs: [{ name: 'x', dims: [1, C, 'H', 'W'] }],
      outputs: [{ name: 'y', dims: [1, C, 'h', 'w'] }],
      initializers: [
        { name: 'k', dims: [C, 1, 3, 3], data: k },
        { name: 'b', dims: [C], data: bias },
        { name: 'lo', dims: [], data: new Float32Array([0]) },
        { name: 'hi', dims: [], data: new Float32Array([6]) },
        { name: 'pads', dims: [8], data: new BigInt64Array([0n, 0n, 0n, 0n, 0n, 0n, 1n, 1n]) },
      ],
      nodes: [
        {
          opType: 'Conv',
          inputs: ['x', 'k', 'b'],
          outputs: ['c'],
          attributes: [
            { name: 'kernel_shape', ints: [3, 3] },
            { name: 'strides', ints: [2, 2] },
            { name: 'pads', ints: [0, 0, 1, 1] },
            { name: 'group', i: C },
          ],
        },
        { opType: 'Clip', inputs: ['c', 'lo', 'hi'], outputs: ['r'] },
        { opType: 'Pad', inputs: ['x', 'pads'], outputs: ['p'], attributes: [{ name: 'mode', s: 'constant' }] },
        {
          opType: 'Conv',
          inputs: ['p', 'k', 'b'],
          outputs: ['q'],
          attributes: [
            { name: 'kernel_shape', ints: [3, 3] },
            { name: 'strides', ints: [2, 2] },
            { name: 'group', i: C },
          ],
        },
        { opType: 'Mul', inputs: ['q', 'hi'], outputs: ['qa'] },
        { opType: 'Add', inputs: ['r', 'qa'], outputs: ['y'] },
      ],
    });
    const meta = readOnnxMetadata(bytes);
    assert.equal(meta.producerName, 'test');
    assert.deepEqual(meta.props, { 'vprop.model': 'roundtrip-test', note: 'ünïcode ✓' });
    const m = await loadModel(bytes, { name: 'roundtrip' });
    try {
      const out = await m.run({ x: { data: x, dims: [1, C, H, W] } });
      // Padded input 6 x 7 → output floor((6 - 3) / 2) + 1 = 2 rows, floor((7 - 3) / 2) + 1 = 3 cols.
      const oh = 2;
      const ow = 3;
      assert.deepEqual(out.y.dims, [1, C, oh, ow]);
      const at = (c: number, y: number, xx: number) => (y < H && xx < W ? x[(c * H + y) * W + xx] : 0);
      for (let c = 0; c < C; c++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++) {
            let s = bias[c];
            for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) s += k[c * 9 + dy * 3 + dx] * at(c, 2 * i + dy, 2 * j + dx);
            const expected = Math.min(6, Math.max(0, s)) + 6 * s;
            assert.ok(
              Math.abs(out.y.data[(c * oh + i) * ow + j] - expected) < 1e-5,
              `y[${c},${i},${j}] = ${out.y.data[(c * oh + i) * ow + j]}, expected ${expected}`,
            );
          }
    } finally {
      await m.release();
    }
  });
});
