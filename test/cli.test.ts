import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readNpy } from '../src/formats/npy.js';
import { readLabelPng, writeLabelPng } from '../src/formats/png.js';
import { jaccard } from '../src/metrics/davis.js';
import { createScene, type SyntheticScene } from '../src/synth/index.js';
import { RgbFolderSink } from '../src/video/sinks.js';
import { projectRoot, sharedPath } from './helpers/shared.js';

function vprop(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'test', 'helpers', 'run-cli.ts'), ...args], {
    cwd: projectRoot,
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A synthetic scene as `DIR/frames/` (PNG frames) plus `DIR/key<t>.png` label key-frames. */
async function writeSceneFolder(dir: string, scene: SyntheticScene, frames: number, keys: number[]): Promise<void> {
  const sink = new RgbFolderSink(join(dir, 'frames'));
  for (let t = 0; t < frames; t++) await sink.write(t, scene.render(t).rgb);
  await sink.close();
  for (const k of keys) await writeLabelPng(join(dir, `key${k}.png`), scene.render(k).labels);
}

const davis = sharedPath('davis');
const damaged = sharedPath('hdr/damaged');

test('vprop eval with ground truth as prediction gives J = F = 1 on the DAVIS data', { skip: davis.skip }, () => {
  const gt = join(davis.path, 'Annotations', '480p', 'blackswan');
  const r = vprop('eval', '--task', 'mask', '--pred', gt, '--gt', davis.path, '--json');
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.summary.protocol, 'davis2016');
  assert.equal(res.entries.length, 1);
  assert.equal(res.summary.J.mean, 1);
  assert.equal(res.summary.F.mean, 1);
  for (const v of res.entries[0].J.perFrame) assert.equal(v, 1);
});

test('vprop info rejects a damaged EXR with a non-zero exit and a message naming the file', { skip: damaged.skip }, () => {
  const files = readdirSync(damaged.path).filter((f) => !f.includes('5539187979845632') && !f.includes('5099738956038144'));
  for (const f of files.slice(0, 5)) {
    const r = vprop('info', join(damaged.path, f));
    assert.notEqual(r.code, 0, `${f} was accepted`);
    assert.match(r.stderr, new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  }
});

test('vprop info on a missing file exits 1 and says so', () => {
  const r = vprop('info', '/nonexistent/clip.mp4');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nonexistent\/clip\.mp4.*does not exist/);
});

test('vprop demo writes masks, ground truth and an overlay video, and prints the J&F table', () => {
  const out = mkdtempSync(join(tmpdir(), 'vprop-demo-'));
  try {
    const r = vprop('demo', '--out', out, '--frames', '8', '--size', '96x72', '--json');
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.engine, 'bilateral');
    assert.ok(res.summary.JF > res.copyBaseline.JF, 'the engine beats the copy floor');
    assert.equal(readdirSync(join(out, 'masks')).filter((f) => f.endsWith('.png')).length, 8);
    assert.equal(readdirSync(join(out, 'ground-truth')).filter((f) => f.endsWith('.png')).length, 8);
    assert.ok(existsSync(join(out, 'overlay.mp4')));
    const ev = vprop('eval', '--pred', join(out, 'masks'), '--gt', join(out, 'ground-truth'), '--json');
    assert.equal(ev.code, 0, ev.stderr);
    assert.ok(Math.abs(JSON.parse(ev.stdout).summary.JF - res.summary.JF) < 1e-9, 'eval of the written PNGs reproduces the demo score');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('vprop propagate on an image folder with a palette key-frame writes one mask per frame', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vprop-prop-'));
  try {
    await writeSceneFolder(dir, createScene({ seed: 4, width: 80, height: 60, frames: 10, objects: 2 }), 10, [0, 9]);
    const out = join(dir, 'out');
    const r = vprop(
      'propagate',
      join(dir, 'frames'),
      '--engine',
      'bilateral',
      '--keyframes',
      `0:${join(dir, 'key0.png')},9:${join(dir, 'key9.png')}`,
      '--out',
      out,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.framesWritten, 10);
    assert.deepEqual(summary.keyframes, [0, 9]);
    assert.equal(readdirSync(join(out, 'masks')).length, 10);
    assert.ok(existsSync(join(out, 'overlay.mp4')));
    assert.ok(!existsSync(join(out, '.vprop-cache')), 'the resume cache is removed after a complete run');
    const bad = vprop('propagate', join(dir, 'frames'), '--keyframes', `0:${join(dir, 'missing.png')}`, '--out', out);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /missing\.png/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one engine feeds another: bilateral --probabilities as flowgru --per-frame', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vprop-chain-'));
  try {
    const T = 8;
    const scene = createScene({ seed: 11, width: 80, height: 60, frames: T, objects: 2 });
    await writeSceneFolder(dir, scene, T, [0]);
    const key = `0:${join(dir, 'key0.png')}`;
    const first = join(dir, 'bilateral');
    const a = vprop(
      'propagate',
      join(dir, 'frames'),
      '--engine',
      'bilateral',
      '--keyframes',
      key,
      '--out',
      first,
      '--probabilities',
      '--no-video',
    );
    assert.equal(a.code, 0, a.stderr);
    const files = readdirSync(join(first, 'probabilities')).sort();
    assert.equal(files.length, T);
    const p = await readNpy(join(first, 'probabilities', files[3]));
    assert.deepEqual(p.shape, [3, 60, 80], 'K+1 channels, then rows, then columns');
    assert.equal(p.dtype, '<f2');
    const second = join(dir, 'flowgru');
    const b = vprop(
      'propagate',
      join(dir, 'frames'),
      '--engine',
      'flowgru',
      '--keyframes',
      key,
      '--per-frame',
      join(first, 'probabilities'),
      '--out',
      second,
      '--no-video',
    );
    assert.equal(b.code, 0, b.stderr);
    const masks = readdirSync(join(second, 'masks')).sort();
    assert.equal(masks.length, T);
    // The chained result is a segmentation of the scene, not noise: its J against the exact
    // labels of the last frame is well above what a wrong channel or axis order would give.
    const last = await readLabelPng(join(second, 'masks', masks[T - 1]));
    const gt = scene.render(T - 1).labels;
    let jSum = 0;
    for (let o = 1; o <= 2; o++) {
      jSum += jaccard(
        last.data.map((v) => (v === o ? 1 : 0)),
        gt.data.map((v) => (v === o ? 1 : 0)),
        80,
        60,
      );
    }
    assert.ok(jSum / 2 > 0.6, `mean J of the last frame ${jSum / 2}`);
    const bad = vprop('propagate', join(dir, 'frames'), '--task', 'color', '--keyframes', key, '--out', join(dir, 'c'), '--probabilities');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--probabilities: only for the mask and labels tasks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
