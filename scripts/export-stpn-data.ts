/**
 * Training data for the STPN models that DAVIS does not give: frame pairs made from still
 * photographs, each viewed through two random similarity transforms (scale 0.9–1.1, rotation
 * ±15°, shift ±10 % of the view; issue 9), with the optical flow between the two views computed
 * the way the engine computes it at run time (DIS, target → key), so training sees the flow
 * errors inference will see.
 *
 *   node --import tsx scripts/export-stpn-data.ts stills [--out DIR] [--pairs 16] [--size 256]
 *        [--photos FILE,...] [--seed 1]
 *   node --import tsx scripts/export-stpn-data.ts hdr [--out DIR] [--clips 2] [--frames 40] [--size 320x180]
 *
 * Default photos: the photographs among Debian's `plasma-workspace-wallpapers` and
 * `mate-backgrounds` (GPL-2+ per their Debian copyright files; illustrations and abstract art
 * left out), listed in STILL_PHOTOS; training/README.md records the licences. Layout per photo
 * (`DIR/stills/<name>/`): key.u8 and target.u8 (P, 3, S, S) RGB, flow.i16 (P, 2, S, S) target →
 * key as (dy, dx) × 64, meta.json. Resumable: finished photos are skipped.
 *
 * `hdr`: HDR clips from the TRAIN side of `HDR_SPLIT` only (src/synth/hdr-sources.ts; the held-out
 * sources are the benchmark's), each rendered by the benchmark's virtual camera (`createHdrClip`,
 * seeds 101, 102, …). Layout per clip (`DIR/hdr/<source>-<seed>/`): rgb.u8 (T, 3, H, W) the LDR
 * frames, logh.f32 (T, 3, H, W) log(H + 0.01) of the radiance, flow.i16 (T, 2, H, W) DIS flow
 * t → t−1 between the LDR frames (flow[0] zero), meta.json (with the clip's exposure).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RgbFrame } from '../src/core/types.js';
import { computeFlow } from '../src/ops/flow.js';
import { Rng } from '../src/util/rng.js';
import { decodeImageRgb } from '../src/video/folder.js';
import { Chunks, finish, planar, quantFlow } from './training-dump.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback?: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};

/** Photographs (not illustrations) in Debian's wallpaper packages; checked by eye on a contact sheet. */
export const STILL_PHOTOS = [
  ...['BytheWater', 'ColdRipple', 'ColorfulCups', 'DarkestHour', 'EveningGlow', 'FallenLeaf', 'Grey', 'Kite', 'OneStandsOut', 'Path', 'Volna', 'summer_1am'].map(
    (n) => `/usr/share/wallpapers/${n}`,
  ),
  ...['Aqua', 'Blinds', 'Dune', 'FreshFlower', 'Garden', 'GreenMeadow', 'LadyBird', 'RainDrops', 'Storm', 'TwoWings', 'Wood', 'YellowFlower'].map(
    (n) => `/usr/share/backgrounds/mate/nature/${n}.jpg`,
  ),
];

/** A plasma wallpaper folder holds several sizes: the one closest to 1280 px wide. */
function photoFile(entry: string): string {
  if (entry.endsWith('.jpg') || entry.endsWith('.png')) return entry;
  const dir = join(entry, 'contents', 'images');
  const sizes = readdirSync(dir)
    .map((f) => ({ f, w: Number(/^(\d+)x/.exec(f)?.[1] ?? 0) }))
    .filter((s) => s.w > 0)
    .sort((a, b) => Math.abs(a.w - 1280) - Math.abs(b.w - 1280));
  if (sizes.length === 0) throw new Error(`${dir}: no sized images`);
  return join(dir, sizes[0].f);
}

/** 2x3 affine mapping view pixels (x, y) to photo pixels. */
type Affine = [number, number, number, number, number, number];

function randomView(rng: Rng, photoW: number, photoH: number, size: number, base: number): Affine {
  const s = base * (0.9 + 0.2 * rng.next());
  const a = ((rng.next() * 2 - 1) * 15 * Math.PI) / 180;
  const cx = photoW / 2 + (rng.next() * 2 - 1) * 0.1 * size * base;
  const cy = photoH / 2 + (rng.next() * 2 - 1) * 0.1 * size * base;
  const c = Math.cos(a) * s;
  const sn = Math.sin(a) * s;
  // photo = centre + R·s·(view − size/2)
  return [c, -sn, cx - c * (size / 2) + sn * (size / 2), sn, c, cy - sn * (size / 2) - c * (size / 2)];
}

/** The view of the photo through `m` (bilinear, replicate border), interleaved RGB. */
function render(photo: RgbFrame, m: Affine, size: number): RgbFrame {
  const { width: W, height: H } = photo;
  const planarPhoto = new Float32Array(3 * W * H);
  for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) planarPhoto[c * W * H + i] = photo.data[3 * i + c];
  const out = new Uint8Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sx = Math.min(W - 1, Math.max(0, m[0] * x + m[1] * y + m[2]));
      const sy = Math.min(H - 1, Math.max(0, m[3] * x + m[4] * y + m[5]));
      const x0 = Math.min(W - 2, Math.floor(sx));
      const y0 = Math.min(H - 2, Math.floor(sy));
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const p = planarPhoto.subarray(c * W * H);
        const v =
          (1 - fy) * ((1 - fx) * p[y0 * W + x0] + fx * p[y0 * W + x0 + 1]) + fy * ((1 - fx) * p[(y0 + 1) * W + x0] + fx * p[(y0 + 1) * W + x0 + 1]);
        out[3 * (y * size + x) + c] = Math.round(v);
      }
    }
  }
  return { width: size, height: size, data: out };
}

async function stills(): Promise<void> {
  const out = resolve(arg('out', join(projectRoot, 'training', 'data-cache')) as string, 'stills');
  const pairs = Number(arg('pairs', '16'));
  const size = Number(arg('size', '256'));
  const seed = Number(arg('seed', '1'));
  const photos = (arg('photos') ?? STILL_PHOTOS.join(',')).split(',');
  mkdirSync(out, { recursive: true });
  for (const entry of photos) {
    if (!existsSync(entry)) {
      console.error(`${entry}: missing (apt-get install plasma-workspace-wallpapers mate-backgrounds)`);
      process.exitCode = 1;
      continue;
    }
    const name = basename(entry).replace(/\.(jpg|png)$/, '');
    const dir = join(out, name);
    if (existsSync(join(dir, 'meta.json'))) continue;
    const started = performance.now();
    const file = photoFile(entry);
    const photo = await decodeImageRgb(file);
    const rng = new Rng(seed * 7919 + [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0));
    // The view covers about 80 % of the photo's short side.
    const base = (0.8 * Math.min(photo.width, photo.height)) / size;
    const key = new Chunks();
    const target = new Chunks();
    const flow = new Chunks();
    for (let p = 0; p < pairs; p++) {
      const a = randomView(rng, photo.width, photo.height, size, base);
      const b = randomView(rng, photo.width, photo.height, size, base);
      const kv = render(photo, a, size);
      const tv = render(photo, b, size);
      key.push(planar(kv));
      target.push(planar(tv));
      flow.push(quantFlow((await computeFlow(kv, tv, { backend: 'dis', direction: 'backward' })).flow));
    }
    const tmp = `${dir}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    key.write(join(tmp, 'key.u8'));
    target.write(join(tmp, 'target.u8'));
    flow.write(join(tmp, 'flow.i16'));
    finish(tmp, dir, { source: 'still', file, pairs, size, flow: 'dis-backward target->key (dy, dx) x 64', seed });
    console.log(`${name}: ${pairs} pairs, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function hdr(): Promise<void> {
  const { HDR_SPLIT, loadHdrStill } = await import('../src/synth/hdr-sources.js');
  const { createHdrClip } = await import('../src/synth/hdr-video.js');
  const out = resolve(arg('out', join(projectRoot, 'training', 'data-cache')) as string, 'hdr');
  const clips = Number(arg('clips', '2'));
  const frames = Number(arg('frames', '40'));
  const [width, height] = (arg('size', '320x180') as string).split('x').map(Number);
  mkdirSync(out, { recursive: true });
  for (const entry of HDR_SPLIT.train) {
    let still: Awaited<ReturnType<typeof loadHdrStill>> | undefined;
    for (let k = 0; k < clips; k++) {
      const seed = 101 + k;
      const name = `${entry.id.replace('/', '-')}-${seed}`;
      const dir = join(out, name);
      if (existsSync(join(dir, 'meta.json'))) continue;
      try {
        still ??= await loadHdrStill(entry);
      } catch (err) {
        console.error(`${entry.id}: skipped (${(err as Error).message})`);
        break;
      }
      const started = performance.now();
      const clip = createHdrClip(still, { width, height, frames, seed });
      const rgb = new Chunks();
      const logh = new Chunks();
      const flow = new Chunks();
      let prev: RgbFrame | undefined;
      for (let t = 0; t < frames; t++) {
        const f = clip.frame(t);
        rgb.push(planar(f.ldr));
        const n = width * height;
        const l = new Float32Array(3 * n);
        for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) l[c * n + i] = Math.log(Math.max(0, f.radiance.data[3 * i + c]) + 0.01);
        logh.push(l);
        flow.push(prev ? quantFlow((await computeFlow(prev, f.ldr, { backend: 'dis', direction: 'backward' })).flow) : new Int16Array(2 * n));
        prev = f.ldr;
      }
      const tmp = `${dir}.partial`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      rgb.write(join(tmp, 'rgb.u8'));
      logh.write(join(tmp, 'logh.f32'));
      flow.write(join(tmp, 'flow.i16'));
      finish(tmp, dir, { source: entry.id, seed, width, height, frames, exposure: clip.exposure, scale: still.scale, flow: 'dis t->t-1 (dy, dx) x 64' });
      console.log(`${name}: ${frames} frames, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
}

const mode = process.argv[2];
if (mode === 'stills') await stills();
else if (mode === 'hdr') await hdr();
else {
  console.error('usage: export-stpn-data.ts stills|hdr [options] (see the file header)');
  process.exitCode = 2;
}
