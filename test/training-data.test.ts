import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeLabelPng } from '../src/formats/png.js';
import { createScene } from '../src/synth/index.js';
import { Mp4Sink } from '../src/video/sinks.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Training clips from a video file (scripts/export-grfp-data.ts video): frames decoded by ffmpeg,
 * labels from a PNG folder, flow, and per-frame estimates; then read by the Python loader when
 * torch is present.
 */
const PYTHON = process.env.VPROP_PYTHON ?? '/usr/bin/python3';
const torchOk = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

test('export-grfp-data video: a clip from an mp4 with label PNGs, readable by the training loader', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vprop-clip-'));
  try {
    const W = 64;
    const H = 48;
    const T = 7;
    const scene = createScene({ seed: 3, width: W, height: H, frames: T, objects: 2 });
    const video = new Mp4Sink(join(dir, 'clip.mp4'), { width: W, height: H, fps: 10, crf: 12 });
    for (let k = 0; k < T; k++) {
      await video.write(k, scene.render(k).rgb);
      await writeLabelPng(join(dir, 'labels', `${String(k).padStart(5, '0')}.png`), scene.render(k).labels);
    }
    await video.close();
    const script = join(projectRoot, 'scripts', 'export-grfp-data.ts');
    const cache = join(dir, 'cache');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', script, 'video', ...args, '--out', cache], { cwd: projectRoot, encoding: 'utf8' });
    const r = run(join(dir, 'clip.mp4'), '--labels', join(dir, 'labels'), '--flow', 'farneback');
    assert.equal(r.status, 0, r.stderr);
    const clip = join(cache, 'video', 'clip');
    const meta = JSON.parse(readFileSync(join(clip, 'meta.json'), 'utf8'));
    assert.equal(meta.frames, T);
    assert.equal(meta.channels, 3, 'background + 2 objects');
    assert.deepEqual(Object.keys(meta.estimates), ['sim']);
    assert.equal(statSync(join(clip, 'rgb.u8')).size, T * 3 * W * H);
    assert.equal(statSync(join(clip, 'objects.u8')).size, T * W * H);
    assert.equal(statSync(join(clip, 'flow.i16')).size, T * 2 * W * H * 2);
    assert.equal(statSync(join(clip, 'est-sim.u8')).size, T * 3 * W * H);
    // The labels are the scene's, frame for frame.
    const objects = readFileSync(join(clip, 'objects.u8'));
    assert.deepEqual(objects.subarray(4 * W * H, 5 * W * H), Buffer.from(scene.render(4).labels.data));
    // A second run finds the clip complete and leaves it alone; a missing label frame is an error naming the folder.
    assert.match(run(join(dir, 'clip.mp4'), '--labels', join(dir, 'labels')).stdout, /already exported/);
    rmSync(join(dir, 'labels', '00003.png'));
    const bad = run(join(dir, 'clip.mp4'), '--labels', join(dir, 'labels'), '--name', 'other');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /labels: no label PNG for frame\(s\) 3/);

    if (!torchOk) {
      t.skip(`${PYTHON} has no torch: loader check skipped`);
      return;
    }
    const py = [
      'import sys, numpy as np',
      `sys.path.insert(0, ${JSON.stringify(join(projectRoot, 'training'))})`,
      'from vprop_train.data import open_set, sample_batch',
      `clips = open_set(${JSON.stringify(join(cache, 'video'))}, 'masks', 'sim')`,
      'b = sample_batch(clips, np.random.default_rng(0), 2, 5, 32)',
      'print(len(clips), clips[0].channels, tuple(b["images"].shape), tuple(b["xs"].shape), int(b["target"].max()), sep="|")',
    ].join('\n');
    const p = spawnSync(PYTHON, ['-c', py], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    assert.equal(p.status, 0, p.stderr);
    const [n, C, images, xs, maxId] = p.stdout.trim().split('|');
    assert.equal(n, '1');
    assert.equal(C, '3');
    assert.equal(images, '(2, 5, 3, 32, 32)');
    assert.equal(xs, '(2, 5, 3, 32, 32)');
    assert.ok(Number(maxId) <= 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
