/**
 * The command line as a new user meets it: version, flag validation, engine options, help, several
 * sources, key-frame modes, empty key-frames, damaged input, and Ctrl-C with resume.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { simulatePerFrame } from '../src/engines/flowgru/simulate.js';
import { engineNames } from '../src/engines/index.js';
import { readLabelPng, writeLabelPng } from '../src/formats/png.js';
import { confusion, meanIoU } from '../src/metrics/labels.js';
import { createScene, type SyntheticScene } from '../src/synth/index.js';
import { probabilitiesToLabels } from '../src/tasks/maps.js';
import { Mp4Sink, RgbFolderSink } from '../src/video/sinks.js';
import { projectRoot } from './helpers/shared.js';

const cli = join(projectRoot, 'test', 'helpers', 'run-cli.ts');

function vprop(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `vprop-${name}-`));
  dirs.push(d);
  return d;
}

async function writeFrames(dir: string, scene: SyntheticScene, frames: number, pattern = '%05d.png'): Promise<void> {
  const sink = new RgbFolderSink(dir, { pattern });
  for (let t = 0; t < frames; t++) await sink.write(t, scene.render(t).rgb);
  await sink.close();
}

describe('vprop command line', () => {
  test('--version prints the package version', () => {
    const r = vprop('--version');
    assert.equal(r.code, 0);
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));
    assert.equal(r.stdout.trim(), pkg.version);
  });

  test('numeric flags are validated and the error names the flag', () => {
    const frames = vprop('demo', '--frames', 'abc', '--out', join(tempDir('demo'), 'x'));
    assert.equal(frames.code, 2);
    assert.match(frames.stderr, /option '--frames <n>' argument 'abc' is invalid\. expected an integer in 2\.\.100000/);
    const size = vprop('demo', '--size', '320', '--out', join(tempDir('demo'), 'x'));
    assert.equal(size.code, 2);
    assert.match(size.stderr, /--size <WxH>.*expected WIDTHxHEIGHT/);
    const from = vprop('propagate', 'x', '--out', 'y', '--from', '-3');
    assert.equal(from.code, 2);
    assert.match(from.stderr, /--from <n>.*expected an integer >= 0/);
  });

  test('engine options: a typo or a wrong value is an error naming the option, before anything runs', async () => {
    const dir = tempDir('opts');
    const scene = createScene({ seed: 2, width: 48, height: 36, frames: 3, objects: 1 });
    await writeFrames(join(dir, 'frames'), scene, 3);
    await writeLabelPng(join(dir, 'k0.png'), scene.render(0).labels);
    const base = [
      'propagate',
      join(dir, 'frames'),
      '--keyframes',
      `0:${join(dir, 'k0.png')}`,
      '--out',
      join(dir, 'o'),
      '--engine',
      'bilateral',
    ];
    const wrong = vprop(...base, '--option', 'variant=pixels');
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /variant: engine bilateral: option variant must be one of superpixel, pixel \(did you mean "pixel"\?\), got "pixels"/,
    );
    const typo = vprop(...base, '--option', 'varient=pixel');
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /engine bilateral has no option "varient" \(did you mean "variant"\?\)/);
    const nan = vprop(...base, '--option', 'superpixels=many');
    assert.equal(nan.code, 1);
    assert.match(nan.stderr, /option superpixels must be an integer >= 16, got "many"/);
    assert.ok(!existsSync(join(dir, 'o')), 'nothing was written');
    const list = vprop(...base, '--option', 'scalesA=0.07,0.4,0.4,0.02,0.02', '--no-video');
    assert.match(list.stderr, /scalesA must be 6 comma-separated numbers/);
    const ok = vprop(...base, '--option', 'variant=pixel', '--option', 'pixelStride=2', '--no-video', '--json');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).framesWritten, 3);
  });

  test('--memory selected: misuse is an error naming the flag; a run with the bundled selector writes every frame', async () => {
    const dir = tempDir('msn');
    const scene = createScene({ seed: 5, width: 96, height: 64, frames: 6, objects: 1 });
    await writeFrames(join(dir, 'frames'), scene, 6);
    await writeLabelPng(join(dir, 'k0.png'), scene.render(0).labels);
    const base = ['propagate', join(dir, 'frames'), '--keyframes', `0:${join(dir, 'k0.png')}`, '--no-video', '--json'];
    const topK = vprop(...base, '--out', join(dir, 'a'), '--top-k', '3');
    assert.equal(topK.code, 1);
    assert.match(topK.stderr, /--top-k: only with --memory selected/);
    const cap = vprop(...base, '--out', join(dir, 'b'), '--memory', 'selected', '--top-k', '3', '--pool-cap', '2');
    assert.equal(cap.code, 1);
    assert.match(cap.stderr, /--pool-cap: 2 is below --top-k 3/);
    const missing = vprop(...base, '--out', join(dir, 'c'), '--memory', 'selected', '--selector', join(dir, 'nope'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--selector: .*nope-embed\.onnx does not exist/);
    const hdr = vprop(...base, '--out', join(dir, 'd'), '--task', 'hdr', '--memory', 'selected');
    assert.equal(hdr.code, 1);
    assert.match(hdr.stderr, /no bundled memory-selection model for the hdr task \(bundled: mask, color\)/);
    const withPrevious = vprop(...base, '--out', join(dir, 'f'), '--with-previous');
    assert.equal(withPrevious.code, 1);
    assert.match(withPrevious.stderr, /--with-previous: only with --memory selected/);
    for (const d of ['a', 'b', 'c', 'd', 'f']) assert.ok(!existsSync(join(dir, d, 'masks')), `nothing written for ${d}`);
    const ok = vprop(...base, '--out', join(dir, 'e'), '--memory', 'selected', '--top-k', '2', '--with-previous');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).framesWritten, 6);
    // Propagated from scored earlier frames, the object is still found on the last frame.
    const last = await readLabelPng(join(dir, 'e', 'masks', readdirSync(join(dir, 'e', 'masks')).sort()[5]));
    const truth = scene.render(5).labels;
    const iou = meanIoU(confusion(last.data, truth.data, 2), 2);
    assert.ok(iou > 0.5, `mean IoU on the last frame ${iou}`);
  });

  test('help lists every engine with its options and defaults', () => {
    const r = vprop('propagate', '--help');
    assert.equal(r.code, 0);
    const registered = engineNames();
    assert.ok(registered.includes('bilateral') && registered.includes('flowgru'), 'the CLI registers the ONNX engines too');
    for (const name of registered) assert.match(r.stdout, new RegExp(`^  ${name} \\[`, 'm'));
    assert.match(r.stdout, /variant \(superpixel\|pixel; default superpixel\)/);
    assert.match(r.stdout, /colorSamples \(integer >= 1; default 300000\)/);
    const engines = vprop('engines', '--json');
    assert.equal(engines.code, 0);
    assert.deepEqual(
      JSON.parse(engines.stdout).map((e: { name: string }) => e.name),
      registered,
    );
  });

  test('several sources and quoted globs write OUT/<name>/; the default engine is the best for the task', async () => {
    const dir = tempDir('multi');
    const keys = join(dir, 'keys');
    for (const [name, seed] of [
      ['alpha', 3],
      ['beta', 4],
    ] as const) {
      const scene = createScene({ seed, width: 64, height: 48, frames: 4, objects: 2 });
      await writeFrames(join(dir, 'clips', name), scene, 4);
      await writeLabelPng(join(keys, name, '00000.png'), scene.render(0).labels);
    }
    const r = vprop(
      'propagate',
      join(dir, 'clips', '*'),
      '--keyframes',
      keys,
      '--out',
      join(dir, 'out'),
      '--no-video',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Array<{ out: string; engine: string; framesWritten: number }>;
    assert.deepEqual(
      summary.map((s) => [s.out, s.engine, s.framesWritten]),
      [
        [join(dir, 'out', 'alpha'), 'bilateral', 4],
        [join(dir, 'out', 'beta'), 'bilateral', 4],
      ],
    );
    assert.equal(readdirSync(join(dir, 'out', 'beta', 'masks')).length, 4);
    const none = vprop('propagate', join(dir, 'clips', 'gamma*'), '--out', join(dir, 'o2'));
    assert.equal(none.code, 1);
    assert.match(none.stderr, /gamma\*: matches no file or folder/);
    const quiet = vprop('propagate', join(dir, 'clips', 'alpha'), '--keyframes', keys, '--out', join(dir, 'o3'), '--no-video', '--quiet');
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, '', '--quiet prints nothing on success');
  });

  test('--keyframe-mode add (default) keeps objects that a later key-frame leaves out; replace drops them', async () => {
    const dir = tempDir('modes');
    const T = 10;
    const scene = createScene({ seed: 11, width: 96, height: 72, frames: T, objects: 2, exitObjects: 0, speed: 0.5 });
    await writeFrames(join(dir, 'frames'), scene, T);
    // Frame 0 annotates object 1 only, frame 4 object 2 only.
    const only = (t: number, id: number) => ({ width: 96, height: 72, data: scene.render(t).labels.data.map((v) => (v === id ? id : 0)) });
    await writeLabelPng(join(dir, 'keys', '00000.png'), only(0, 1));
    await writeLabelPng(join(dir, 'keys', '00004.png'), only(4, 2));
    const ids = async (out: string) => new Set((await readLabelPng(join(out, 'masks', '00009.png'))).data);
    const add = vprop('propagate', join(dir, 'frames'), '--keyframes', join(dir, 'keys'), '--out', join(dir, 'add'), '--no-video');
    assert.equal(add.code, 0, add.stderr);
    assert.deepEqual([...(await ids(join(dir, 'add')))].sort(), [0, 1, 2]);
    const rep = vprop(
      'propagate',
      join(dir, 'frames'),
      '--keyframes',
      join(dir, 'keys'),
      '--keyframe-mode',
      'replace',
      '--out',
      join(dir, 'rep'),
      '--no-video',
    );
    assert.equal(rep.code, 0, rep.stderr);
    assert.deepEqual([...(await ids(join(dir, 'rep')))].sort(), [0, 2]);
    const removed = vprop(
      'propagate',
      join(dir, 'frames'),
      '--keyframes',
      join(dir, 'keys'),
      '--remove-object',
      '1:7',
      '--out',
      join(dir, 'rm'),
      '--no-video',
    );
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual([...(await ids(join(dir, 'rm')))].sort(), [0, 2]);
    assert.ok((await readLabelPng(join(dir, 'rm', 'masks', '00006.png'))).data.includes(1));
  });

  test("GRFP's protocol from the command line: per-frame labels, no key-frame, window 5", async () => {
    const dir = tempDir('grfp');
    const T = 10;
    const scene = createScene({ seed: 9001, width: 128, height: 96, frames: T, objects: 4, classes: 6 });
    await writeFrames(join(dir, 'frames'), scene, T);
    const gt = Array.from({ length: T }, (_, t) => scene.render(t).classes);
    for (let t = 0; t < T; t++) {
      const p = simulatePerFrame(gt[t], 6, t, { seed: 4 });
      await writeLabelPng(join(dir, 'per-frame', `${String(t).padStart(5, '0')}.png`), probabilitiesToLabels(p));
    }
    const args = [
      'propagate',
      join(dir, 'frames'),
      '--task',
      'labels',
      '--engine',
      'flowgru',
      '--per-frame',
      join(dir, 'per-frame'),
      '--out',
      join(dir, 'o'),
      '--no-video',
    ];
    const missing = vprop(...args);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no key-frames: say how many classes the per-frame input holds with --classes N/);
    const r = vprop(...args, '--classes', '6', '--option', 'window=5', '--option', 'model=grfp-labels-c6');
    assert.equal(r.code, 0, r.stderr);
    const miou = async (dirOf: (t: number) => string) => {
      const conf = new Float64Array(36);
      for (let t = 1; t < T; t++) confusion((await readLabelPng(dirOf(t))).data, gt[t].data, 6, 255, conf);
      return meanIoU(conf, 6);
    };
    const name = (t: number) => `${String(t).padStart(5, '0')}.png`;
    const input = await miou((t) => join(dir, 'per-frame', name(t)));
    const output = await miou((t) => join(dir, 'o', 'labels', name(t)));
    assert.ok(output > input, `fused mIoU ${output.toFixed(3)} vs per-frame input ${input.toFixed(3)}`);
  });

  test('an empty key-frame is an error naming the file, or accepted with --allow-empty', async () => {
    const dir = tempDir('empty');
    const scene = createScene({ seed: 1, width: 48, height: 36, frames: 3, objects: 1 });
    await writeFrames(join(dir, 'frames'), scene, 3);
    await writeLabelPng(join(dir, 'k.png'), { width: 48, height: 36, data: new Uint8Array(48 * 36) });
    const r = vprop('propagate', join(dir, 'frames'), '--keyframes', `0:${join(dir, 'k.png')}`, '--out', join(dir, 'o'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /k\.png: holds no object/);
    const ok = vprop(
      'propagate',
      join(dir, 'frames'),
      '--keyframes',
      `0:${join(dir, 'k.png')}`,
      '--out',
      join(dir, 'o'),
      '--allow-empty',
      '--no-video',
    );
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('damaged input: every frame before the break is written, then a non-zero exit naming the file and frame', async () => {
    const dir = tempDir('damaged');
    const T = 40;
    const scene = createScene({ seed: 3, width: 96, height: 72, frames: T, objects: 2 });
    const mp4 = new Mp4Sink(join(dir, 'clip.mp4'), { width: 96, height: 72, fps: 25 });
    for (let t = 0; t < T; t++) await mp4.write(t, scene.render(t).rgb);
    await mp4.close();
    await writeLabelPng(join(dir, 'k0.png'), scene.render(0).labels);
    // A truncated video: ffprobe still announces T frames.
    const size = readFileSync(join(dir, 'clip.mp4')).length;
    writeFileSync(join(dir, 'cut.mp4'), readFileSync(join(dir, 'clip.mp4')).subarray(0, Math.floor(size * 0.6)));
    const v = vprop(
      'propagate',
      join(dir, 'cut.mp4'),
      '--keyframes',
      `0:${join(dir, 'k0.png')}`,
      '--out',
      join(dir, 'v'),
      '--engine',
      'copy',
    );
    assert.equal(v.code, 1);
    const m = /cut\.mp4: frame (\d+) cannot be decoded/.exec(v.stderr);
    assert.ok(m, v.stderr);
    const broken = Number(m[1]);
    assert.ok(broken > 5 && broken < T, `breaks at ${broken}`);
    assert.equal(readdirSync(join(dir, 'v', 'masks')).length, broken, 'frames 0..N-1 are written');
    assert.ok(existsSync(join(dir, 'v', 'overlay.mp4')), 'the overlay video of the good part is finished');
    // A folder with a corrupt frame 20.
    await writeFrames(join(dir, 'frames'), scene, T, '%05d.jpg');
    truncateSync(join(dir, 'frames', '00020.jpg'), 200);
    const f = vprop(
      'propagate',
      join(dir, 'frames'),
      '--keyframes',
      `0:${join(dir, 'k0.png')}`,
      '--out',
      join(dir, 'f'),
      '--engine',
      'copy',
      '--no-video',
    );
    assert.equal(f.code, 1);
    assert.match(f.stderr, /00020\.jpg: \(frame 20\)/);
    assert.deepEqual(
      readdirSync(join(dir, 'f', 'masks')).sort(),
      Array.from({ length: 20 }, (_, t) => `${String(t).padStart(5, '0')}.png`),
    );
  });

  test('Ctrl-C stops cleanly, leaves only complete files, and the same command resumes to the same result', async () => {
    const dir = tempDir('sigint');
    const T = 120;
    const scene = createScene({ seed: 8, width: 192, height: 144, frames: T, objects: 2 });
    await writeFrames(join(dir, 'frames'), scene, T);
    await writeLabelPng(join(dir, 'k0.png'), scene.render(0).labels);
    const args = ['propagate', join(dir, 'frames'), '--keyframes', `0:${join(dir, 'k0.png')}`, '--engine', 'bilateral', '--out'];
    const out = join(dir, 'out');
    const masks = join(out, 'masks');
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args, out], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const started = Date.now();
    while (!(existsSync(masks) && readdirSync(masks).length >= 5)) {
      if (Date.now() - started > 120_000) throw new Error('no masks written within 2 minutes');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /interrupted after \d+ frames written to .*; run the same command again to resume/);
    const written = readdirSync(masks);
    assert.ok(written.length >= 5 && written.length < T, `${written.length} frames written before the stop`);
    for (const name of written) {
      assert.match(name, /^\d{5}\.png$/, 'no temporary file is left behind');
      await readLabelPng(join(masks, name)); // every file is complete
    }
    assert.ok(!readdirSync(out).some((n) => n.includes('overlay')), 'the unfinished video is removed');
    assert.ok(existsSync(join(out, '.vprop-cache')), 'the result cache stays for the resume');

    const resumed = vprop(...args, out, '--json');
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout);
    assert.equal(summary.framesWritten, T);
    assert.ok(summary.framesComputed <= T - 1 - (written.length - 1), `resumed run computed ${summary.framesComputed} frames`);
    const fresh = vprop(...args, join(dir, 'fresh'), '--no-video');
    assert.equal(fresh.code, 0, fresh.stderr);
    for (let t = 0; t < T; t++) {
      const name = `${String(t).padStart(5, '0')}.png`;
      assert.deepEqual(
        readFileSync(join(masks, name)),
        readFileSync(join(dir, 'fresh', 'masks', name)),
        `frame ${t} equals an uninterrupted run`,
      );
    }
  });
});
