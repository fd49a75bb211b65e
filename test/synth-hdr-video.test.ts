import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { RadianceImage } from '../src/core/types.js';
import { BLENDER_WORLDS_DIR, HDR_BENCH_CLIPS, HDR_SPLIT, hdrSourceEntry, loadHdrStill, locateHdrSource } from '../src/synth/hdr-sources.js';
import {
  type CameraPose,
  cameraResponse,
  createHdrClip,
  EXPOSURE_FRAME_STRIDE,
  type HdrStill,
  hdrCameraPath,
  normalizeMedianLuminance,
  type PanoramaPose,
  type PhotoPose,
  progressCurve,
  renderHdrView,
  sanitizeRadiance,
} from '../src/synth/index.js';
import { rng } from './helpers/random.js';
import { sharedPath } from './helpers/shared.js';

/** A random HDR image, values spread over about 6 decades. */
function randomImage(width: number, height: number, seed: number): RadianceImage {
  const r = rng(seed);
  return { width, height, data: Float32Array.from({ length: width * height * 3 }, () => 10 ** (6 * r() - 3)) };
}

const panorama = (w = 64, h = 32, seed = 1): HdrStill => ({ kind: 'panorama', name: 'test/pano', image: randomImage(w, h, seed) });
const photo = (w = 96, h = 64, seed = 2): HdrStill => ({ kind: 'photo', name: 'test/photo', image: randomImage(w, h, seed) });

function maxAbsRelDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  return m;
}

describe('HDR video: rendering', () => {
  test('a still camera gives identical frames (panorama and photo)', () => {
    const pano: PanoramaPose = { kind: 'panorama', yaw: 0.3, pitch: 0.1, roll: 0.02, hfov: 1.1 };
    const crop: PhotoPose = { kind: 'photo', cx: 40.3, cy: 30.7, scale: 0.8 };
    for (const [still, pose] of [
      [panorama(), pano],
      [photo(), crop],
    ] as const) {
      const clip = createHdrClip(still, { width: 32, height: 18, frames: 4, path: Array(4).fill(pose) });
      for (let t = 1; t < 4; t++) {
        assert.deepEqual(clip.frame(t).radiance.data, clip.frame(0).radiance.data);
        assert.deepEqual(clip.frame(t).ldr.data, clip.frame(0).ldr.data);
      }
    }
  });

  test('panning a panorama by one column of yaw equals rendering the panorama shifted by one column', () => {
    const still = panorama(64, 32);
    const { width: sw, height: sh, data } = still.image;
    const shifted = new Float32Array(data.length);
    for (let y = 0; y < sh; y++)
      for (let x = 0; x < sw; x++) for (let c = 0; c < 3; c++) shifted[(y * sw + x) * 3 + c] = data[(y * sw + ((x + 1) % sw)) * 3 + c];
    const pose = { kind: 'panorama' as const, pitch: 0.2, roll: 0.05, hfov: 1.2 };
    // Yaw turns the world about the vertical axis: longitude moves by exactly the yaw, latitude stays.
    const panned = renderHdrView(still, { ...pose, yaw: (2 * Math.PI) / sw }, 40, 24, 2);
    const reference = renderHdrView({ ...still, image: { width: sw, height: sh, data: shifted } }, { ...pose, yaw: 0 }, 40, 24, 2);
    assert.ok(maxAbsRelDiff(panned.data, reference.data) < 1e-5, 'same radiance up to float rounding');
  });

  test('a view inside a constant-radiance region of a panorama is that constant, across a pan', () => {
    // Radiance 0.25 at longitudes within ±90° of the centre, 1000 behind the camera.
    const sw = 128;
    const sh = 64;
    const data = new Float32Array(sw * sh * 3);
    for (let y = 0; y < sh; y++)
      for (let x = 0; x < sw; x++) data.fill(Math.abs((x + 0.5) / sw - 0.5) < 0.25 ? 0.25 : 1000, (y * sw + x) * 3, (y * sw + x) * 3 + 3);
    const still: HdrStill = { kind: 'panorama', name: 'test/band', image: { width: sw, height: sh, data } };
    for (const yaw of [-0.3, 0, 0.2]) {
      // hfov 60°: the view spans ±30° (±35° at the corners) around the yaw, inside the ±90° band
      const view = renderHdrView(still, { kind: 'panorama', yaw, pitch: 0, roll: 0, hfov: Math.PI / 3 }, 32, 18, 1);
      for (const v of view.data) assert.ok(Math.abs(v - 0.25) <= 1e-6, `${v} at yaw ${yaw}`);
    }
  });

  test('a photo crop at scale 1 reads source pixels exactly, and an integer pan shifts the frame by as many pixels', () => {
    const still = photo(96, 64);
    const { width: sw, data } = still.image;
    const W = 40;
    const H = 20;
    const a = renderHdrView(still, { kind: 'photo', cx: 48, cy: 32, scale: 1 }, W, H, 1);
    const b = renderHdrView(still, { kind: 'photo', cx: 51, cy: 32, scale: 1 }, W, H, 1);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) {
          const src = data[((32 - H / 2 + y) * sw + (48 - W / 2 + x)) * 3 + c];
          assert.equal(a.data[(y * W + x) * 3 + c], src);
          if (x + 3 < W) assert.equal(b.data[(y * W + x) * 3 + c], a.data[(y * W + x + 3) * 3 + c]);
        }
      }
    }
  });

  test('n x n supersampling of a photo crop at scale n is the mean of the n x n source pixels', () => {
    const still = photo(96, 64);
    const { width: sw, data } = still.image;
    const view = renderHdrView(still, { kind: 'photo', cx: 48, cy: 32, scale: 2 }, 10, 8, 2);
    // Output pixel (x, y) covers source [38 + 2x, 40 + 2x) x [24 + 2y, 26 + 2y); its 2 x 2 samples
    // fall on those pixels' centres.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 10; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (const [dx, dy] of [
            [0, 0],
            [1, 0],
            [0, 1],
            [1, 1],
          ])
            s += data[((24 + 2 * y + dy) * sw + 38 + 2 * x + dx) * 3 + c];
          assert.ok(Math.abs(view.data[(y * 10 + x) * 3 + c] - s / 4) <= 1e-6 * (s / 4));
        }
      }
    }
  });

  test('a pose of the wrong kind is refused', () => {
    assert.throws(() => renderHdrView(photo(), { kind: 'panorama', yaw: 0, pitch: 0, roll: 0, hfov: 1 }, 8, 8), /is a photo/);
  });
});

describe('HDR video: camera and exposure', () => {
  test('the LDR frame is the camera curve of exposure x radiance, clipped', () => {
    const clip = createHdrClip(panorama(), { width: 48, height: 27, frames: 10, seed: 3 });
    let clipped = 0;
    for (const t of [0, 5, 9]) {
      const { radiance, ldr } = clip.frame(t);
      for (let i = 0; i < ldr.data.length; i++) {
        assert.equal(ldr.data[i], Math.round(255 * cameraResponse(radiance.data[i], clip.exposure)));
        if (clip.exposure * radiance.data[i] >= 1) {
          assert.equal(ldr.data[i], 255);
          clipped++;
        }
      }
    }
    assert.ok(clipped > 0, 'some highlights clip');
  });

  test('the exposure maps the 0.98 quantile of max(R,G,B) over frames 0, 8, 16, ... to white', () => {
    const clip = createHdrClip(photo(), { width: 40, height: 24, frames: 20, seed: 5 });
    const values: number[] = [];
    for (let t = 0; t < 20; t += EXPOSURE_FRAME_STRIDE) {
      const d = clip.frame(t).radiance.data;
      for (let i = 0; i < d.length; i += 3) values.push(Math.max(d[i], d[i + 1], d[i + 2]));
    }
    values.sort((a, b) => a - b);
    const q = values[Math.floor(0.98 * (values.length - 1))];
    assert.equal(clip.exposure, 1 / q);
    // Every value at or above the quantile clips: at least 2 % of the sampled pixels.
    const clippedShare = values.filter((v) => clip.exposure * v >= 1).length / values.length;
    assert.ok(clippedShare >= 0.02, `${clippedShare}`);
    // A given exposure overrides the rule.
    assert.equal(createHdrClip(photo(), { width: 40, height: 24, frames: 20, seed: 5, exposure: 3 }).exposure, 3);
  });

  test('the same seed gives the same path and frames, another seed another path', () => {
    for (const still of [panorama(), photo()]) {
      const a = createHdrClip(still, { width: 32, height: 18, frames: 12, seed: 11 });
      const b = createHdrClip(still, { width: 32, height: 18, frames: 12, seed: 11 });
      const c = createHdrClip(still, { width: 32, height: 18, frames: 12, seed: 12 });
      assert.deepEqual(a.path, b.path);
      assert.notDeepEqual(a.path, c.path);
      for (const t of [0, 7, 11]) {
        assert.deepEqual(a.frame(t).radiance.data, b.frame(t).radiance.data);
        assert.deepEqual(a.frame(t).ldr.data, b.frame(t).ldr.data);
      }
    }
  });

  test('the progress curve rises strictly from 0 to 1 with a varying speed', () => {
    const w = progressCurve(0.4, 1.3, 0.2, 4);
    assert.equal(w(0), 0);
    assert.ok(Math.abs(w(1) - 1) < 1e-15);
    const steps: number[] = [];
    for (let i = 1; i <= 100; i++) steps.push(w(i / 100) - w((i - 1) / 100));
    assert.ok(steps.every((s) => s > 0));
    // s(u) = 1 + 0.4 sin(2πu + 1.3) + 0.2 sin(4πu + 4) is not constant, so neither is the speed.
    assert.ok(Math.max(...steps) > 1.5 * Math.min(...steps));
    assert.throws(() => progressCurve(0.7, 0, 0.3, 0), /a1 \+ a2 < 1/);
  });

  test('seeded paths stay within their stated ranges; photo crops stay inside the photo', () => {
    const pano = panorama();
    const pic = photo(300, 200);
    for (let seed = 0; seed < 30; seed++) {
      const pp = hdrCameraPath(pano, { frames: 40, seed, width: 64, height: 36 }) as PanoramaPose[];
      for (const p of pp) {
        assert.ok(p.hfov >= 60 * (Math.PI / 180) * Math.exp(-0.3) - 1e-12 && p.hfov <= 80 * (Math.PI / 180) * Math.exp(0.3) + 1e-12);
        assert.ok(Math.abs(p.roll) <= 0.3 * (Math.PI / 180));
      }
      const yawTravel = Math.abs(pp[39].yaw - pp[0].yaw);
      assert.ok(yawTravel > (25 - 0.6) * (Math.PI / 180) && yawTravel < (60 + 0.6) * (Math.PI / 180), `${yawTravel}`);
      const cp = hdrCameraPath(pic, { frames: 40, seed, width: 64, height: 36 }) as PhotoPose[];
      for (const p of cp) {
        assert.ok(p.cx - 32 * p.scale >= 0 && p.cx + 32 * p.scale <= 300, `x ${p.cx} ± ${32 * p.scale}`);
        assert.ok(p.cy - 18 * p.scale >= 0 && p.cy + 18 * p.scale <= 200, `y ${p.cy} ± ${18 * p.scale}`);
      }
    }
  });

  test('the frame source serves the LDR frames', async () => {
    const clip = createHdrClip(photo(), { width: 32, height: 18, frames: 5, seed: 1 });
    const src = clip.frameSource();
    assert.equal(src.info.frameCount, 5);
    assert.equal(src.info.width, 32);
    let t = 0;
    for await (const f of src) {
      assert.equal(f.index, t);
      assert.deepEqual(f.data, clip.frame(t).ldr.data);
      t++;
    }
    assert.equal(t, 5);
  });

  test('normalizeMedianLuminance scales to a median luminance of 0.18 and reports the factor', () => {
    // Luminances 1, 2, 3 (grey pixels) and a bright one: median (2 + 3) / 2 = 2.5.
    const image = { width: 4, height: 1, data: Float32Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 100, 100, 100]) };
    const { image: out, scale } = normalizeMedianLuminance(image);
    assert.ok(Math.abs(scale - 0.18 / 2.5) < 1e-7);
    for (let i = 0; i < 12; i++) assert.equal(out.data[i], Math.fround(image.data[i] * scale));
    const black = { width: 1, height: 1, data: new Float32Array(3) };
    assert.equal(normalizeMedianLuminance(black).scale, 1);
  });

  test('sanitizeRadiance: negatives and NaN to 0, infinity to the half-float maximum', () => {
    const s = sanitizeRadiance({ width: 2, height: 1, data: Float32Array.from([-1, Number.NaN, Number.POSITIVE_INFINITY, 0.5, 0, 7e4]) });
    assert.deepEqual([...s.data], [0, 0, 65504, 0.5, 0, 65504]);
  });

  test('a path of the wrong length or kind is refused', () => {
    const pose: CameraPose = { kind: 'photo', cx: 40, cy: 30, scale: 1 };
    assert.throws(() => createHdrClip(photo(), { width: 8, height: 8, frames: 3, path: [pose] }), /1 poses for 3 frames/);
    assert.throws(() => createHdrClip(panorama(), { width: 8, height: 8, frames: 1, path: [pose] }), /is a panorama/);
  });
});

describe('HDR sources: the train / held-out split', () => {
  test('no source is on both sides, and the benchmark uses held-out sources only', () => {
    const train = new Set(HDR_SPLIT.train.map((s) => s.id));
    const held = new Set(HDR_SPLIT.heldOut.map((s) => s.id));
    assert.equal(train.size, HDR_SPLIT.train.length, 'no duplicate in train');
    assert.equal(held.size, HDR_SPLIT.heldOut.length, 'no duplicate in held-out');
    for (const id of held) assert.ok(!train.has(id), `${id} on both sides`);
    for (const c of HDR_BENCH_CLIPS) assert.ok(held.has(c.source), `bench clip ${c.source} is not held out`);
    // Every held-out source is benchmarked.
    for (const id of held)
      assert.ok(
        HDR_BENCH_CLIPS.some((c) => c.source === id),
        `${id} has no clip`,
      );
    assert.throws(() => hdrSourceEntry('blender/nowhere'), /unknown HDR source/);
  });

  const blenderSkip = existsSync(BLENDER_WORLDS_DIR)
    ? false
    : `needs Debian's blender-data (${BLENDER_WORLDS_DIR}; scripts/setup.sh --test installs it)`;
  const photos = sharedPath('hdr/photos');

  test('every Blender panorama of the split is in blender-data, and there are no others', { skip: blenderSkip }, async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(BLENDER_WORLDS_DIR).filter((f) => f.endsWith('.exr'));
    const listed = [...HDR_SPLIT.train, ...HDR_SPLIT.heldOut].filter((s) => s.collection === 'blender').map((s) => s.file);
    assert.deepEqual([...listed].sort(), [...files].sort());
  });

  test('every ILM photograph of the split is in ../shared/data/hdr/photos, and there are no others', { skip: photos.skip }, async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(photos.path).filter((f) => f.endsWith('.exr'));
    const listed = [...HDR_SPLIT.train, ...HDR_SPLIT.heldOut].filter((s) => s.collection === 'ilm').map((s) => s.file);
    assert.deepEqual([...listed].sort(), [...files].sort());
  });

  test('a held-out panorama makes a clip whose highlights clip', { skip: blenderSkip }, async () => {
    const still = await loadHdrStill(hdrSourceEntry('blender/courtyard'));
    assert.equal(still.image.width, 1024);
    assert.equal(still.image.height, 512);
    for (const v of still.image.data) assert.ok(v >= 0 && Number.isFinite(v));
    const raw = await loadHdrStill(hdrSourceEntry('blender/courtyard'), {}, { normalize: false });
    assert.equal(raw.scale, 1);
    assert.ok(still.scale !== undefined && still.scale !== 1);
    assert.equal(still.image.data[12345], Math.fround(raw.image.data[12345] * still.scale));
    const clip = createHdrClip(still, { width: 64, height: 36, frames: 9, seed: 1 });
    const sampled = [clip.frame(0), clip.frame(8)];
    let clipped = 0;
    let n = 0;
    for (const f of sampled) {
      const d = f.ldr.data;
      for (let i = 0; i < d.length; i += 3, n++) if (Math.max(d[i], d[i + 1], d[i + 2]) === 255) clipped++;
    }
    assert.ok(clipped / n >= 0.02, `${clipped}/${n}`);
  });

  test('the pmndrs panoramas are located (and read) only when the optional package is installed', async () => {
    const entry = hdrSourceEntry('pmndrs/city');
    const where = locateHdrSource(entry);
    if ('missing' in where) {
      assert.match(where.missing, /@pmndrs\/assets/);
      await assert.rejects(loadHdrStill(entry), /@pmndrs\/assets/);
      return;
    }
    assert.match(where.path, /hdri[\\/]city\.exr\.js$/);
    const still = await loadHdrStill(entry);
    assert.deepEqual([still.image.width, still.image.height, still.kind], [512, 256, 'panorama']);
  });
});
