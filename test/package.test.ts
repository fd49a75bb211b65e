/**
 * The package as a user installs it: `npm pack` (which builds through `prepack`), install the
 * tarball into an empty project, import it from plain Node ESM, and run the README's library
 * example, word for word, on a synthetic clip. Also: the browser entry bundles for a browser
 * (esbuild, platform 'browser': any Node built-in would fail the build) and runs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { build } from 'esbuild';
import { readLabelPng, writeLabelPng } from '../src/formats/png.js';
import { jaccard } from '../src/metrics/davis.js';
import { createScene } from '../src/synth/index.js';
import { Mp4Sink } from '../src/video/sinks.js';
import { projectRoot } from './helpers/shared.js';

/** The first ```js block after the README's "## Library" heading. */
export function readmeLibraryExample(): string {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md has no ```js block under "## Library"');
  return m[1];
}

const work = mkdtempSync(join(tmpdir(), 'vprop-package-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  test('pack, install into an empty project, import from plain ESM, run the README example', { timeout: 600_000 }, async () => {
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
    const packed = execFileSync('npm', ['pack', '--pack-destination', work, '--json'], {
      cwd: projectRoot,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const info = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info[0].files.map((f) => f.path);
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/vprop.js',
      'dist/index.js',
      'dist/browser.js',
      'dist/index.d.ts',
      'dist/models/weights/grfp-mask-shared.onnx',
    ])
      assert.ok(files.includes(f), `the tarball holds ${f}`);
    assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests in the tarball');

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, info[0].filename)], {
      cwd: app,
      env,
      stdio: 'pipe',
    });

    // The README's inputs: a clip and its first frame's masks.
    const T = 24;
    const scene = createScene({ seed: 21, width: 160, height: 120, frames: T, objects: 2 });
    const mp4 = new Mp4Sink(join(app, 'clip.mp4'), { width: 160, height: 120, fps: 24 });
    for (let t = 0; t < T; t++) await mp4.write(t, scene.render(t).rgb);
    await mp4.close();
    await writeLabelPng(join(app, 'first-frame.png'), scene.render(0).labels);
    writeFileSync(join(app, 'example.mjs'), readmeLibraryExample());
    execFileSync(process.execPath, ['example.mjs'], { cwd: app, stdio: 'pipe', timeout: 300_000 });

    const masks = readdirSync(join(app, 'masks')).sort();
    assert.equal(masks.length, T, 'one mask per frame');
    // Propagated, not copied: mean J over the objects and frames beats keeping frame 0's masks.
    let jProp = 0;
    let jCopy = 0;
    let n = 0;
    for (let t = 1; t < T; t++) {
      const pred = await readLabelPng(join(app, 'masks', masks[t]));
      const gt = scene.render(t).labels.data;
      for (let o = 1; o <= 2; o++) {
        const g = gt.map((v) => (v === o ? 1 : 0));
        jProp += jaccard(
          pred.data.map((v) => (v === o ? 1 : 0)),
          g,
          160,
          120,
        );
        jCopy += jaccard(
          scene.render(0).labels.data.map((v) => (v === o ? 1 : 0)),
          g,
          160,
          120,
        );
        n++;
      }
    }
    assert.ok(jProp / n > jCopy / n + 0.1, `README example J ${(jProp / n).toFixed(3)} vs copy ${(jCopy / n).toFixed(3)}`);

    // The bin, the bundled weights (flowgru loads them), and the browser condition.
    assert.equal(execFileSync('npx', ['vprop', '--version'], { cwd: app, encoding: 'utf8', env }).trim(), '0.1.0');
    const probe = `
      import { openVideo, bundledModelPath, loadModel } from 'vprop';
      const m = await loadModel(await bundledModelPath('grfp-mask'));
      console.log(JSON.stringify({ inputs: m.inputs.map((i) => i.name), openVideo: typeof openVideo }));
      await m.release();`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: app, encoding: 'utf8' }));
    assert.deepEqual(out, { inputs: ['image', 'prev_warped', 'h_warped', 'x'], openVideo: 'function' });
    const browser = execFileSync(
      process.execPath,
      [
        '--conditions=browser',
        '--input-type=module',
        '-e',
        "const m = await import('vprop'); console.log(typeof m.openVideo, typeof m.openSession)",
      ],
      { cwd: app, encoding: 'utf8' },
    );
    assert.equal(browser.trim(), 'undefined function', 'the browser condition selects the entry without Node modules');
  });

  test('the browser entry bundles for a browser and propagates there', async () => {
    const entry = join(work, 'browser-probe.ts');
    writeFileSync(
      entry,
      `import { createScene, openSession, TASKS } from ${JSON.stringify(join(projectRoot, 'src', 'browser.ts'))};
       export async function run() {
         const scene = createScene({ seed: 3, width: 64, height: 48, frames: 6, objects: 1 });
         const frames = Array.from({ length: 6 }, (_, t) => scene.render(t).rgb);
         const s = await openSession(frames, { task: 'mask', engine: 'bilateral' });
         s.addKeyframe(0, { mask: scene.render(0).labels });
         let n = 0;
         for await (const r of s.propagate({ direction: 'forward' })) n += r.labels ? 1 : 0;
         await s.dispose();
         return { n, tasks: TASKS };
       }`,
    );
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0].text;
    assert.ok(!/\bfrom\s*["']node:/.test(code), 'no node: import survives in the bundle');
    const mod = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
    assert.deepEqual(await mod.run(), { n: 6, tasks: ['mask', 'labels', 'color', 'hdr'] });
    assert.ok(existsSync(entry));
  });
});
