import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeExr } from '../src/formats/exr.js';
import { encodeRgbPng, writeLabelPng } from '../src/formats/png.js';
import { createScene } from '../src/synth/index.js';
import { evaluateColor, evaluateHdr, evaluateLabels, evaluateMasks } from '../src/tasks/evaluate.js';

const scene = createScene({ seed: 21, width: 64, height: 48, frames: 6, objects: 2 });

function withDirs(fn: (root: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'vprop-eval-'));
    try {
      await fn(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test(
  'masks: multi-object palette ground truth selects the 2017 protocol; a prediction equal to it scores 1',
  withDirs(async (root) => {
    for (let t = 0; t < 6; t++) await writeLabelPng(join(root, 'gt', 'seq', `${String(t).padStart(5, '0')}.png`), scene.render(t).labels);
    for (let t = 0; t < 6; t++) await writeLabelPng(join(root, 'pred', 'seq', `${String(t).padStart(5, '0')}.png`), scene.render(t).labels);
    const r = await evaluateMasks(join(root, 'pred'), join(root, 'gt'));
    assert.equal(r.summary.protocol, 'davis2017');
    assert.equal(r.entries.length, 2, 'one entry per object');
    assert.equal(r.summary.JF, 1);
    // a prediction that is frame 0 everywhere scores below 1
    for (let t = 1; t < 6; t++) await writeLabelPng(join(root, 'pred', 'seq', `${String(t).padStart(5, '0')}.png`), scene.render(0).labels);
    assert.ok((await evaluateMasks(join(root, 'pred'), join(root, 'gt'))).summary.JF < 1, 'a stale prediction must lose');
  }),
);

test(
  'masks: a missing predicted frame is an error naming the sequence and frame',
  withDirs(async (root) => {
    for (let t = 0; t < 6; t++) await writeLabelPng(join(root, 'gt', 'seq', `${String(t).padStart(5, '0')}.png`), scene.render(t).labels);
    for (let t = 0; t < 3; t++) await writeLabelPng(join(root, 'pred', 'seq', `${String(t).padStart(5, '0')}.png`), scene.render(t).labels);
    await assert.rejects(evaluateMasks(join(root, 'pred'), join(root, 'gt')), /seq.*missing prediction for frame 00003/);
  }),
);

test(
  'color: PSNR per frame, a grey prediction scores lower than the truth',
  withDirs(async (root) => {
    mkdirSync(join(root, 'gt', 'clip'), { recursive: true });
    mkdirSync(join(root, 'pred', 'clip'), { recursive: true });
    for (let t = 0; t < 4; t++) {
      const f = scene.render(t).rgb;
      writeFileSync(join(root, 'gt', 'clip', `${t}.png`), encodeRgbPng(f));
      const grey = new Uint8Array(f.data.length);
      for (let i = 0; i < grey.length; i += 3) grey[i] = grey[i + 1] = grey[i + 2] = scene.render(t).grey.data[i / 3];
      writeFileSync(join(root, 'pred', 'clip', `${t}.png`), encodeRgbPng({ ...f, data: grey }));
    }
    const r = await evaluateColor(join(root, 'pred'), join(root, 'gt'), { maxFrames: 3 });
    assert.equal(r.sequences[0].frames.length, 3, 'maxFrames limits the frames');
    assert.ok(r.meanPsnr > 10 && r.meanPsnr < 40, `grey PSNR ${r.meanPsnr}`);
    const same = await evaluateColor(join(root, 'gt'), join(root, 'gt'));
    assert.ok(same.meanPsnr > 500, 'identical frames give the capped PSNR of the VPN formula');
  }),
);

test(
  'hdr: identical EXR frames give zero log error; scaled radiance gives a positive one',
  withDirs(async (root) => {
    const hdr = createScene({ seed: 2, width: 32, height: 24, frames: 2, objects: 1, hdr: true });
    mkdirSync(join(root, 'gt', 's'), { recursive: true });
    mkdirSync(join(root, 'pred', 's'), { recursive: true });
    for (let t = 0; t < 2; t++) {
      const r = hdr.render(t).radiance!;
      const n = 32 * 24;
      const planar = new Float32Array(3 * n);
      const doubled = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = r[i * 3 + c];
      for (let i = 0; i < 3 * n; i++) doubled[i] = planar[i] * 2;
      // channels stored in the EXR's alphabetical order B, G, R
      const bgr = (p: Float32Array) => Float32Array.from([...p.subarray(2 * n, 3 * n), ...p.subarray(n, 2 * n), ...p.subarray(0, n)]);
      writeFileSync(
        join(root, 'gt', 's', `${t}.exr`),
        encodeExr({ width: 32, height: 24, channels: ['B', 'G', 'R'], data: bgr(planar) }, { type: 'float' }),
      );
      writeFileSync(
        join(root, 'pred', 's', `${t}.exr`),
        encodeExr({ width: 32, height: 24, channels: ['B', 'G', 'R'], data: bgr(doubled) }, { type: 'float' }),
      );
    }
    const same = await evaluateHdr(join(root, 'gt'), join(root, 'gt'));
    assert.equal(same.meanLogRmse, 0);
    const off = await evaluateHdr(join(root, 'pred'), join(root, 'gt'));
    assert.ok(off.meanLogRmse > 0.3 && off.meanLogRmse < Math.log(2) + 1e-6, `log RMSE of a 2x radiance error: ${off.meanLogRmse}`);
  }),
);

test(
  'labels: mIoU over class maps, temporal consistency along supplied motion',
  withDirs(async (root) => {
    for (let t = 0; t < 6; t++) {
      const name = `${String(t).padStart(5, '0')}.png`;
      await writeLabelPng(join(root, 'gt', 'a', name), scene.render(t).classes);
      await writeLabelPng(join(root, 'pred', 'a', name), scene.render(t).classes);
    }
    const r = await evaluateLabels(join(root, 'pred'), join(root, 'gt'), { flow: async (_s, t) => scene.render(t).flow });
    assert.equal(r.meanIoU, 1);
    assert.ok(
      r.temporalConsistency !== undefined && r.temporalConsistency > 0.98,
      `TC of the exact labels along exact flow: ${r.temporalConsistency}`,
    );
  }),
);
