/**
 * I/O throughput and memory:
 * - decode throughput: a DAVIS JPEG folder, ../shared/data/video/vtest.avi, a generated mp4 — each
 *   beside a reference measured in the same run (sharp decoding the same JPEGs directly; ffmpeg
 *   decoding the same file to /dev/null);
 * - palette PNG write throughput (our writer vs sharp's PNG encoder on the same pixels as RGB);
 * - RSS while streaming a generated 10,000-frame video (sampled every 1,000 frames: must stay flat).
 * Median of `--runs` runs (default 3).
 *
 *   node --import tsx bench/io.ts [--runs 3] [--long-frames 10000]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodePalettePng } from '../src/formats/png.js';
import { openDavis } from '../src/video/davis.js';
import { openVideoFile } from '../src/video/ffmpeg.js';
import { argValue, davisRoot, machine, median, sharedData } from './common.js';

const runs = Number(argValue('runs', '3'));
const longFrames = Number(argValue('long-frames', '10000'));
const tmp = mkdtempSync(join(tmpdir(), 'vprop-bench-io-'));
const rows: string[] = [];
const report = (name: string, value: number, unit: string, ref?: { name: string; value: number }) => {
  const line = `${name.padEnd(44)} ${value.toFixed(1).padStart(8)} ${unit}${ref ? `   (reference ${ref.name}: ${ref.value.toFixed(1)} ${unit}, ratio ${(value / ref.value).toFixed(2)})` : ''}`;
  rows.push(line);
  console.log(line);
};

async function timeIt(fn: () => Promise<number>): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const n = await fn();
    v.push((n * 1000) / (performance.now() - t0));
  }
  return median(v);
}

function ffmpegNullFps(path: string, frames?: number): number {
  const v: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const args = [
      '-v',
      'error',
      '-i',
      path,
      ...(frames ? ['-frames:v', String(frames)] : []),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-y',
      '/dev/null',
    ];
    spawnSync('ffmpeg', args);
    v.push(((frames ?? 0) * 1000) / (performance.now() - t0));
  }
  return median(v);
}

console.log(`# I/O benchmark, ${machine()}, ${new Date().toISOString()}, median of ${runs}`);

// 1. DAVIS JPEG folder
const seqDir = join(davisRoot, 'JPEGImages', '480p', 'blackswan');
try {
  const files = (await readdir(seqDir)).filter((f) => f.endsWith('.jpg')).sort();
  const ours = await timeIt(async () => {
    const d = await openDavis(davisRoot, 'blackswan');
    let n = 0;
    for await (const _ of d.frames) n++;
    await d.frames.close();
    return n;
  });
  const ref = await timeIt(async () => {
    for (const f of files) await sharp(join(seqDir, f)).removeAlpha().raw().toBuffer();
    return files.length;
  });
  report('decode DAVIS JPEG folder 854x480 (frames/s)', ours, 'fps', { name: 'sharp direct', value: ref });
} catch {
  console.log('skipped DAVIS decode: ../shared/data/davis absent');
}

// 2. vtest.avi (first 300 frames)
const avi = join(sharedData, 'video', 'vtest.avi');
try {
  const frames = 300;
  const ours = await timeIt(async () => {
    const v = await openVideoFile(avi);
    let n = 0;
    for await (const _ of v.frames(0, frames)) n++;
    await v.close();
    return n;
  });
  report('decode vtest.avi 768x576 msmpeg4 (frames/s)', ours, 'fps', { name: 'ffmpeg to /dev/null', value: ffmpegNullFps(avi, frames) });
} catch (e) {
  console.log(`skipped vtest.avi: ${(e as Error).message}`);
}

// 3. generated mp4 854x480 (H.264)
const mp4 = join(tmp, 'gen.mp4');
execFileSync('ffmpeg', [
  '-v',
  'error',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=854x480:rate=25',
  '-frames:v',
  '300',
  '-pix_fmt',
  'yuv420p',
  '-c:v',
  'libx264',
  '-preset',
  'fast',
  mp4,
]);
{
  const ours = await timeIt(async () => {
    const v = await openVideoFile(mp4);
    let n = 0;
    for await (const _ of v) n++;
    await v.close();
    return n;
  });
  report('decode generated mp4 854x480 H.264 (frames/s)', ours, 'fps', { name: 'ffmpeg to /dev/null', value: ffmpegNullFps(mp4, 300) });
}

// 4. palette PNG write
try {
  const d = await openDavis(davisRoot, 'bmx-trees');
  const masks: import('../src/core/types.js').LabelImage[] = [];
  for (const i of d.annotations.indices.slice(0, 40)) masks.push(await d.annotations.read(i));
  const ours = await timeIt(async () => {
    for (const m of masks) encodePalettePng(m);
    return masks.length;
  });
  const rgb = masks.map((m) => {
    const out = Buffer.alloc(m.data.length * 3);
    for (let i = 0; i < m.data.length; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = m.data[i] * 255;
    return out;
  });
  const ref = await timeIt(async () => {
    for (const b of rgb)
      await sharp(b, { raw: { width: masks[0].width, height: masks[0].height, channels: 3 } })
        .png()
        .toBuffer();
    return rgb.length;
  });
  report('palette PNG encode 854x480 (frames/s)', ours, 'fps', { name: 'sharp RGB PNG', value: ref });
} catch {
  console.log('skipped palette PNG write: ../shared/data/davis absent');
}

// 5. RSS while streaming a long generated video
{
  const long = join(tmp, 'long.mp4');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=25',
    '-frames:v',
    String(longFrames),
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    long,
  ]);
  const v = await openVideoFile(long);
  const samples: string[] = [];
  let n = 0;
  let peak = 0;
  let atFirstSample = 0;
  const t0 = performance.now();
  for await (const _ of v) {
    n++;
    if (n % 1000 === 0) {
      const rss = process.memoryUsage().rss / 2 ** 20;
      if (!atFirstSample) atFirstSample = rss;
      peak = Math.max(peak, rss);
      samples.push(`${n}: ${rss.toFixed(0)}`);
    }
  }
  await v.close();
  const secs = (performance.now() - t0) / 1000;
  console.log(`stream ${n} frames 640x360 in ${secs.toFixed(1)} s; RSS MiB at frame ${samples.join(', ')}`);
  report(`RSS growth frame 1000 -> ${n} (MiB)`, peak - atFirstSample, 'MiB');
}
rmSync(tmp, { recursive: true, force: true });
