/**
 * HDR propagation benchmark: HDR videos made by a virtual camera over held-out HDR panoramas and
 * photographs (src/synth/hdr-video.ts, HDR_BENCH_CLIPS of src/synth/hdr-sources.ts; each image
 * scaled to a median luminance of 0.18 so that the metrics' offset 0.01 means the same on all), recorded as
 * 8-bit LDR through the clipping sRGB camera; HDR key-frames every K frames (0, K, 2K, …), given
 * as radiance, propagated in both directions through a session (task 'hdr'). Scored on the
 * non-key frames with log-radiance RMSE (natural log of H + 0.01) and log-luminance PSNR
 * (src/metrics/hdr.ts): per frame, averaged per clip, then over clips.
 *
 * Methods:
 * - `itm-e1`: per-frame inverse tone mapping, no key-frame: H = srgbToLinear(code/255) with the
 *   camera's nominal exposure 1 (the LDR value read as linear light; clipped codes give 1);
 * - `itm-key`: the same, divided by the exposure estimated at the nearest key-frame from its LDR
 *   frame and its HDR ground truth (estimateExposure: median log ratio over well-exposed pixels);
 * - every engine of `--engines` registered for 'hdr' (others are skipped with a message); with
 *   `+blend` the same engine's output blended with the LDR frame where it is well exposed
 *   (blendLdrIntoRadiance), with `+constrain` clamped into the radiance interval each LDR code
 *   allows (constrainRadianceToLdr); both estimate the exposure against the engine's own output.
 *
 * A third table scores only the clipped pixels (any channel of the LDR frame at 255): the
 * highlights, which only the key-frames can tell.
 *
 *   node --import tsx bench/hdr-video.ts [--engines copy,bilateral,stpn,stpn:network=false] [--keyframes 10,20,40]
 *        [--size 320x180] [--frames 81] [--clips 0,1,...] [--no-ldr] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { RadianceImage } from '../src/core/types.js';
import { engineNames, getEngineRegistration } from '../src/engines/index.js';
import { logLuminancePsnr, logRadianceRmse } from '../src/metrics/hdr.js';
import { openVideo } from '../src/session/open.js';
import { HDR_BENCH_CLIPS, type HdrBenchClip, hdrSourceEntry, loadHdrStill, locateHdrSource } from '../src/synth/hdr-sources.js';
import { createHdrClip, DEFAULT_EXPOSURE_PERCENTILE, type HdrClip, type HdrStill } from '../src/synth/hdr-video.js';
import { blendLdrIntoRadiance, constrainRadianceToLdr, estimateExposure, ldrToRadiance } from '../src/tasks/index.js';
import { argValue, hasFlag, machine, parseEngineSpec, sharedData } from './common.js';

const requested = (argValue('engines', 'copy,bilateral') as string).split(',').filter(Boolean);
const intervals = (argValue('keyframes', '10,20,40') as string).split(',').filter(Boolean).map(Number);
const [width, height] = (argValue('size', '320x180') as string).split('x').map(Number);
const frameCount = Number(argValue('frames', '81'));
const clipIndices = argValue('clips');
const withLdr = !hasFlag('no-ldr');
const command = `node --import tsx bench/hdr-video.ts ${process.argv.slice(2).join(' ')}`.trim();

// `ENGINE:key=value:...` passes engine options (e.g. `stpn:network=false`); the spec is the row label.
const engines: string[] = [];
for (const spec of requested) {
  const { name } = parseEngineSpec(spec);
  if (!engineNames().includes(name)) {
    console.error(`skipped engine ${name}: not registered (registered: ${engineNames().join(', ')})`);
    continue;
  }
  if (!getEngineRegistration(name).tasks.includes('hdr')) {
    console.error(`skipped engine ${name}: it does not do the hdr task`);
    continue;
  }
  engines.push(spec);
}
const methods = ['itm-e1', 'itm-key', ...engines.flatMap((e) => (withLdr ? [e, `${e}+blend`, `${e}+constrain`] : [e]))];

const clipSpecs: HdrBenchClip[] = clipIndices ? clipIndices.split(',').map((i) => HDR_BENCH_CLIPS[Number(i)]) : [...HDR_BENCH_CLIPS];
const roots = { sharedData };
const stills = new Map<string, HdrStill>();
const clips: HdrClip[] = [];
for (const spec of clipSpecs) {
  const entry = hdrSourceEntry(spec.source);
  const where = locateHdrSource(entry, roots);
  if ('missing' in where) {
    console.error(`skipped clip ${spec.source}: ${where.missing}`);
    continue;
  }
  let still = stills.get(spec.source);
  if (!still) {
    try {
      still = await loadHdrStill(entry, roots);
    } catch (err) {
      console.error(
        `skipped clip ${spec.source}: ${(err as Error).message} (Blender's panoramas: scripts/setup.sh --test; photos: ../shared/data)`,
      );
      continue;
    }
    stills.set(spec.source, still);
  }
  clips.push(createHdrClip(still, { width, height, frames: frameCount, seed: spec.seed }));
}
if (clips.length === 0) {
  console.error('skipped: no held-out clip could be made');
  process.exit(0);
}

const load = loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
console.log(`# HDR video benchmark: ${command}`);
console.log(`# ${machine()}; ${new Date().toISOString()}; load average at start ${load}`);
console.log(`# ${clips.length} held-out clips, ${width}x${height}, ${frameCount} frames; methods ${methods.join(', ')}`);
for (const c of clips)
  console.log(
    `#   ${c.name}: file radiance x ${c.still.scale?.toPrecision(4)} (median luminance 0.18), exposure ${c.exposure.toPrecision(4)} (${DEFAULT_EXPOSURE_PERCENTILE} quantile of max(R,G,B) -> white), ${c.supersample}x${c.supersample} samples/pixel`,
  );

interface Score {
  rmse: number;
  psnr: number;
  /** log-radiance RMSE over the clipped pixels only (NaN in a frame without any). */
  clippedRmse: number;
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const finiteMean = (v: number[]) => mean(v.filter(Number.isFinite));
const meanScore = (v: Score[]): Score => ({
  rmse: mean(v.map((s) => s.rmse)),
  psnr: mean(v.map((s) => s.psnr)),
  clippedRmse: finiteMean(v.map((s) => s.clippedRmse)),
});
/** The pixels with a channel at 255, as a list of interleaved RGB offsets. */
function clippedPixels(ldr: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < ldr.length; i += 3) if (ldr[i] === 255 || ldr[i + 1] === 255 || ldr[i + 2] === 255) out.push(i);
  return out;
}
function score(pred: RadianceImage, gt: RadianceImage, clipped: number[]): Score {
  let clippedRmse = Number.NaN;
  if (clipped.length > 0) {
    const p = new Float32Array(3 * clipped.length);
    const g = new Float32Array(3 * clipped.length);
    clipped.forEach((o, k) => {
      for (let c = 0; c < 3; c++) {
        p[3 * k + c] = pred.data[o + c];
        g[3 * k + c] = gt.data[o + c];
      }
    });
    clippedRmse = logRadianceRmse(p, g);
  }
  return { rmse: logRadianceRmse(pred.data, gt.data), psnr: logLuminancePsnr(pred.data, gt.data), clippedRmse };
}

const results: Record<string, unknown> = {
  command,
  machine: machine(),
  date: new Date().toISOString(),
  loadAverage: loadavg(),
  width,
  height,
  frames: frameCount,
  methods,
};

for (const K of intervals) {
  const started = Date.now();
  const perClip: Record<string, Record<string, Score>> = {};
  for (const clip of clips) {
    const keys: number[] = [];
    for (let k = 0; k < clip.frames; k += K) keys.push(k);
    const isKey = new Set(keys);
    const nearestKey = (t: number) => keys.reduce((b, k) => (Math.abs(k - t) < Math.abs(b - t) ? k : b), keys[0]);
    const keyExposure = new Map(keys.map((k) => [k, estimateExposure(clip.frame(k).ldr, clip.frame(k).radiance)]));
    const scores: Record<string, Score[]> = Object.fromEntries(methods.map((m) => [m, []]));
    for (let t = 0; t < clip.frames; t++) {
      if (isKey.has(t)) continue;
      const f = clip.frame(t);
      const clipped = clippedPixels(f.ldr.data);
      scores['itm-e1'].push(score(ldrToRadiance(f.ldr, 1), f.radiance, clipped));
      const e = keyExposure.get(nearestKey(t));
      if (e === undefined) throw new Error(`${clip.name}: key-frame ${nearestKey(t)} has no well-exposed pixel`);
      scores['itm-key'].push(score(ldrToRadiance(f.ldr, e), f.radiance, clipped));
    }
    for (const name of engines) {
      const { name: engine, options: engineOptions } = parseEngineSpec(name);
      const session = await openVideo(clip.frameSource(), { task: 'hdr', engine, engineOptions, memoryFrames: 4 });
      for (const k of keys) session.addKeyframe(k, { radiance: clip.frame(k).radiance });
      for await (const r of session.propagate({ direction: 'both' })) {
        if (r.isKeyframe) continue;
        if (!r.radiance) throw new Error(`${name}: result ${r.index} has no radiance`);
        const f = clip.frame(r.index);
        const clipped = clippedPixels(f.ldr.data);
        scores[name].push(score(r.radiance, f.radiance, clipped));
        if (withLdr) {
          scores[`${name}+blend`].push(score(blendLdrIntoRadiance(r.radiance, f.ldr).result, f.radiance, clipped));
          scores[`${name}+constrain`].push(score(constrainRadianceToLdr(r.radiance, f.ldr).result, f.radiance, clipped));
        }
      }
      await session.dispose();
    }
    perClip[clip.name] = Object.fromEntries(methods.map((m) => [m, meanScore(scores[m])]));
  }
  const meanRow = Object.fromEntries(methods.map((m) => [m, meanScore(Object.values(perClip).map((r) => r[m]))]));
  // Issue 9 states its criterion on panoramas: their mean separately.
  const panoramaRows = clips.filter((c) => c.still.kind === 'panorama').map((c) => perClip[c.name]);
  const panoramaMean = Object.fromEntries(methods.map((m) => [m, meanScore(panoramaRows.map((r) => r[m]))]));
  const table = (what: keyof Score, title: string, digits: number) => {
    console.log(`\n## K = ${K}: ${title} (non-key frames; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(`| clip | ${methods.join(' | ')} |`);
    console.log(`|---|${methods.map(() => '---').join('|')}|`);
    for (const [name, row] of Object.entries(perClip))
      console.log(`| ${name} | ${methods.map((m) => row[m][what].toFixed(digits)).join(' | ')} |`);
    console.log(`| **mean (${clips.length})** | ${methods.map((m) => `**${meanRow[m][what].toFixed(digits)}**`).join(' | ')} |`);
    if (panoramaRows.length > 0 && panoramaRows.length < clips.length)
      console.log(
        `| mean (${panoramaRows.length} panorama clips) | ${methods.map((m) => panoramaMean[m][what].toFixed(digits)).join(' | ')} |`,
      );
  };
  table('rmse', 'log-radiance RMSE (lower is better)', 3);
  table('psnr', 'log-luminance PSNR, dB (higher is better)', 2);
  table('clippedRmse', 'log-radiance RMSE on the clipped pixels only', 3);
  results[`K${K}`] = { perClip, mean: meanRow, meanPanoramas: panoramaMean };
}
const jsonOut = argValue('json');
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
