/**
 * The web app end to end in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; nothing is downloaded): open the DAVIS dev sequence `blackswan` as a folder of
 * frames, paint its key-frame with scripted strokes (polygon and brush, two objects), propagate,
 * export, and compare the exported masks with `vprop propagate` for the same key-frame — equal,
 * the engines being deterministic. Then a correction on a later frame, which recomputes only the
 * frames after it. The page is tested served by `vprop serve` (propagating in the browser and on
 * the server) and from a plain static file server (no API: everything in the browser).
 * Screenshots go to test-artifacts/web/ (git-ignored).
 *
 * Skipped with a message when chromium or ../shared/data/davis is absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { unzipSync } from 'fflate';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeLabelPng } from '../src/formats/png.js';
import { decodeRle } from '../src/formats/rle.js';
import { createServer } from '../src/server/app.js';
import { InProcessQueue } from '../src/server/queue.js';
import { Workspace } from '../src/server/workspace.js';
import { makeClip } from './helpers/server.js';
import { projectRoot, sharedPath } from './helpers/shared.js';

const CHROMIUM = '/usr/bin/chromium';
const davis = sharedPath('davis/JPEGImages/480p/blackswan');
const skip = !existsSync(CHROMIUM) ? `needs ${CHROMIUM} (Debian package chromium; scripts/setup.sh --test installs it)` : davis.skip;
const artifacts = join(projectRoot, 'test-artifacts', 'web');
const W = 854;
const H = 480;
const LAST = 9;
const WORK_SIZE = '427';

const root = mkdtempSync(join(tmpdir(), 'vprop-web-'));
const webRoot = join(root, 'web');
let browser: Browser | undefined;

function vprop(...args: string[]): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'test', 'helpers', 'run-cli.ts'), ...args], {
    cwd: projectRoot,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
}

async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // launch() gives the browser a fresh, empty profile directory of its own (removed on close).
  });
}

async function openPage(url: string): Promise<Page> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (process.env.VPROP_DEBUG_PAGE) {
    page.on('console', (m) => process.stderr.write(`page: ${m.text()}\n`));
    page.on('response', (r) => process.stderr.write(`page: ${r.status()} ${r.request().method()} ${r.url()}\n`));
  }
  (page as Page & { errors?: string[] }).errors = errors;
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
  return page;
}

async function loadBlackswan(page: Page): Promise<void> {
  const before = (await page.evaluate('window.vprop.loads')) as number;
  await page.setInputFiles('#open-folder', davis.path);
  await page.waitForFunction(`window.vprop.loads === ${before + 1}`, null, { timeout: 120_000 });
  assert.equal(await page.evaluate('window.vprop.frames'), 50);
}

/** Image coordinates to page coordinates on the painting canvas. */
async function toPage(page: Page): Promise<(x: number, y: number) => [number, number]> {
  const box = await page.locator('#overlay-canvas').boundingBox();
  assert.ok(box);
  return (x, y) => [box.x + (x * box.width) / W, box.y + (y * box.height) / H];
}

/** The swan (object 1: a polygon around the body, a brush stroke along the neck) and a patch of water (object 2). */
async function paintKeyframe(page: Page): Promise<void> {
  const at = await toPage(page);
  await page.check('input[name=tool][value=polygon]');
  const body: Array<[number, number]> = [
    [170, 300],
    [230, 240],
    [330, 235],
    [430, 270],
    [500, 330],
    [470, 385],
    [330, 400],
    [210, 370],
  ];
  for (const [x, y] of body) await page.mouse.click(...at(x, y));
  await page.keyboard.press('Enter');
  await page.check('input[name=tool][value=brush]');
  await page.fill('#brush-size', '24');
  await page.mouse.move(...at(455, 300));
  await page.mouse.down();
  for (let k = 0; k <= 10; k++) await page.mouse.move(...at(455 + k * 1.5, 300 - k * 16));
  await page.mouse.up();
  await page.click('#add-object');
  await page.mouse.move(...at(650, 420));
  await page.mouse.down();
  await page.mouse.move(...at(760, 430));
  await page.mouse.up();
}

async function propagate(page: Page): Promise<{ where: string; computed: number[]; changed: number[]; received: number }> {
  await page.click('#propagate');
  await page
    .waitForFunction("document.body.dataset.run === 'idle' || document.body.dataset.run === 'error'", null, { timeout: 300_000 })
    .catch(async (err) => {
      throw new Error(`${err.message}; the page says: ${await page.textContent('#run-status')} / ${await page.textContent('#message')}`);
    });
  assert.equal(await page.getAttribute('body', 'data-run'), 'idle', (await page.textContent('#run-status')) ?? '');
  return page.evaluate('window.vprop.lastRun');
}

async function exportZip(page: Page, name: string): Promise<Record<string, Uint8Array>> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-zip')]);
  const path = join(root, `${name}.zip`);
  await download.saveAs(path);
  return unzipSync(new Uint8Array(readFileSync(path)));
}

const stem = (i: number) => String(i).padStart(5, '0');
const masksOf = (zip: Record<string, Uint8Array>) =>
  Array.from({ length: LAST + 1 }, (_, i) => decodeLabelPng(zip[`masks/${stem(i)}.png`], `masks/${stem(i)}.png`).data);

function cliRun(name: string, keyframes: Array<[number, Uint8Array]>, extra: string[] = []): Uint8Array[] {
  const dir = join(root, `cli-${name}`);
  mkdirSync(dir, { recursive: true });
  const spec = keyframes.map(([i, png]) => {
    const file = join(dir, `kf-${stem(i)}.png`);
    writeFileSync(file, png);
    return `${i}:${file}`;
  });
  const out = join(dir, 'out');
  vprop(
    'propagate',
    davis.path,
    '--keyframes',
    spec.join(','),
    '--engine',
    'bilateral',
    '--max-internal-size',
    WORK_SIZE,
    '--to',
    String(LAST),
    '--no-video',
    '--quiet',
    '--out',
    out,
    ...extra,
  );
  return Array.from({ length: LAST + 1 }, (_, i) => decodeLabelPng(readFileSync(join(out, 'masks', `${stem(i)}.png`)), `cli ${i}`).data);
}

describe('web app in headless Chromium on DAVIS blackswan', { skip }, () => {
  let app: Awaited<ReturnType<typeof createServer>> | undefined;
  let served = '';
  let keyframe0: Uint8Array | undefined;
  let browserMasks: Uint8Array[] = [];

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    const b = spawnSync(process.execPath, [join(projectRoot, 'scripts', 'build-web.mjs'), '--out', webRoot], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    browser = await launch();
    const data = join(root, 'data');
    const queue = new InProcessQueue(new Workspace(data), 1, (id, err) => process.stderr.write(`job ${id} failed: ${String(err)}\n`));
    app = await createServer({ data, queue, webRoot });
    await app.listen({ host: '127.0.0.1', port: 0 });
    served = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('paint, propagate in the browser, export: the masks equal the CLI’s for the same key-frame; a correction recomputes only what follows it', async () => {
    const page = await openPage(served);
    assert.equal(await page.getAttribute('body', 'data-ready'), 'server');
    await loadBlackswan(page);
    await paintKeyframe(page);
    await page.fill('#max-internal-size', WORK_SIZE);
    await page.fill('#range-to', String(LAST));
    await page.selectOption('#direction', 'forward');
    const run = await propagate(page);
    assert.equal(run.where, 'browser');
    assert.deepEqual(run.computed, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await page.screenshot({ path: join(artifacts, 'browser-propagated.png') });
    const zip = await exportZip(page, 'browser');
    keyframe0 = zip[`masks/${stem(0)}.png`];
    const painted = decodeLabelPng(keyframe0, 'key-frame');
    const count = (id: number) => painted.data.filter((v) => v === id).length;
    assert.ok(count(1) > 20_000 && count(2) > 1_000, `the strokes painted both objects (${count(1)}, ${count(2)} pixels)`);
    browserMasks = masksOf(zip);
    const cli = cliRun('one', [[0, keyframe0]], ['--direction', 'forward']);
    for (let i = 0; i <= LAST; i++) assert.deepEqual(browserMasks[i], cli[i], `frame ${i}: browser equals CLI`);
    // Per-object PNGs and COCO RLE in the browser's zip describe the same masks.
    const coco = JSON.parse(new TextDecoder().decode(zip['coco.json']));
    for (const id of [1, 2]) {
      const obj = decodeLabelPng(zip[`objects/${String(id - 1).padStart(3, '0')}/${stem(LAST)}.png`], 'obj').data;
      assert.deepEqual(
        obj,
        browserMasks[LAST].map((v) => (v === id ? 1 : 0)),
      );
      const ann = coco.annotations.find((a: { image_id: number; object_id: number }) => a.image_id === LAST && a.object_id === id);
      if (obj.some((v) => v)) assert.deepEqual(decodeRle(ann.segmentation), obj);
      else assert.equal(ann, undefined, `object ${id} is absent from frame ${LAST}: no annotation`);
    }

    // Correction on frame 6: erase the water patch (object 2) there.
    await page.fill('#scrubber', '6');
    await page.dispatchEvent('#scrubber', 'input');
    const at = await toPage(page);
    await page.check('input[name=tool][value=eraser]');
    await page.fill('#brush-size', '60');
    await page.mouse.move(...at(600, 380));
    await page.mouse.down();
    for (let x = 600; x <= 820; x += 10) await page.mouse.move(...at(x, 430));
    await page.mouse.up();
    const again = await propagate(page);
    assert.deepEqual(again.computed, [7, 8, 9], 'only the frames after the correction are recomputed');
    assert.ok(again.changed.length > 0 && again.changed.every((i) => i >= 6));
    const cells = await page.$$eval('#strip .cell', (els) => els.slice(0, 10).map((e) => e.getAttribute('data-state') ?? ''));
    for (const i of [7, 8, 9]) assert.match(cells[i], /computed/, `strip marks frame ${i}`);
    for (const i of [1, 2, 3, 4, 5]) assert.doesNotMatch(cells[i], /computed/, `strip leaves frame ${i}`);
    await page.screenshot({ path: join(artifacts, 'browser-correction.png') });
    const zip2 = await exportZip(page, 'browser-corrected');
    const corrected = masksOf(zip2);
    for (let i = 0; i < 6; i++) assert.deepEqual(corrected[i], browserMasks[i], `frame ${i} unchanged`);
    const cli2 = cliRun(
      'two',
      [
        [0, keyframe0],
        [6, zip2[`masks/${stem(6)}.png`]],
      ],
      ['--direction', 'forward'],
    );
    for (let i = 0; i <= LAST; i++) assert.deepEqual(corrected[i], cli2[i], `frame ${i}: corrected browser run equals CLI`);
    assert.deepEqual((page as Page & { errors?: string[] }).errors, []);
    await page.close();
  });

  test('the same key-frame propagated on the server from the page gives the same masks', async () => {
    assert.ok(keyframe0, 'needs the first test');
    const page = await openPage(served);
    await loadBlackswan(page);
    const kf = join(root, 'kf0.png');
    writeFileSync(kf, keyframe0);
    await page.setInputFiles('#import-mask', kf);
    await page.waitForFunction('window.vprop.keyframes.length === 1');
    await page.selectOption('#run-on', 'server');
    await page.selectOption('#engine', 'bilateral');
    await page.fill('#max-internal-size', WORK_SIZE);
    await page.fill('#range-to', String(LAST));
    await page.selectOption('#direction', 'forward');
    const run = await propagate(page);
    assert.equal(run.where, 'server');
    assert.equal(run.received, LAST + 1);
    // The last propagated frame, as a person checks a run (and as README's screenshot shows it).
    await page.fill('#scrubber', String(LAST));
    await page.dispatchEvent('#scrubber', 'input');
    await page.screenshot({ path: join(artifacts, 'server-propagated.png') });
    const zip = await exportZip(page, 'server');
    const masks = masksOf(zip);
    for (let i = 0; i <= LAST; i++) assert.deepEqual(masks[i], browserMasks[i], `frame ${i}: server equals browser`);
    assert.deepEqual((page as Page & { errors?: string[] }).errors, []);
    await page.close();
  });

  test('video files: mp4 and webm decode to every frame, numbered as the server numbers them; mp4 export; cancel', async () => {
    const mp4 = await makeClip(join(root, 'clips'), { frames: 24 });
    const webm = await makeClip(join(root, 'clips'), { frames: 24, container: 'webm' });
    const kf = join(root, 'clip-kf.png');
    writeFileSync(kf, mp4.keyframePng);
    const page = await openPage(served);
    for (const [k, clip] of [mp4, webm].entries()) {
      await page.setInputFiles('#open-video', clip.mp4);
      await page.waitForFunction(`window.vprop.loads === ${k + 1} || /error/.test(document.getElementById("message").className)`, null, {
        timeout: 60_000,
      });
      assert.equal(await page.evaluate('window.vprop.frames'), 24, (await page.textContent('#message')) ?? '');
    }
    // On the server: the page refuses to run when the server's frame count differs from its own.
    await page.setInputFiles('#import-mask', kf);
    await page.waitForFunction('window.vprop.keyframes.length === 1');
    await page.selectOption('#run-on', 'server');
    await page.selectOption('#engine', 'bilateral');
    const remote = await propagate(page);
    assert.equal(remote.where, 'server');
    assert.equal(remote.received, 24);
    // In the browser, then an mp4 of the overlay encoded with WebCodecs.
    await page.selectOption('#run-on', 'browser');
    await page.selectOption('#engine', 'copy');
    await propagate(page);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.click('#export-video')]);
    const video = join(root, 'overlay.mp4');
    await download.saveAs(video);
    const probe = spawnSync(
      'ffprobe',
      ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', video],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(probe.stdout.trim(), '24', probe.stderr);
    // Cancel: a full-size bilateral run over the DAVIS clip stops when asked.
    await loadBlackswan(page);
    await page.setInputFiles('#import-mask', join(davis.path, '..', '..', '..', 'Annotations', '480p', 'blackswan', '00000.png'));
    await page.waitForFunction('window.vprop.keyframes.length === 1');
    await page.selectOption('#engine', 'bilateral');
    await page.click('#propagate');
    await page.waitForFunction(
      "Number(document.getElementById('progress').value) >= 1 && document.getElementById('progress').max > 1",
      null,
      {
        timeout: 120_000,
      },
    );
    await page.click('#cancel');
    await page.waitForFunction("document.body.dataset.run === 'idle'", null, { timeout: 120_000 });
    assert.match((await page.textContent('#run-status')) ?? '', /cancelled after \d+ frames/);
    assert.ok(((await page.evaluate('window.vprop.lastRun.received')) as number) < 50);
    assert.deepEqual((page as Page & { errors?: string[] }).errors, []);
    await page.close();
  });

  test('colour: a coloured key-frame propagated in the browser equals the CLI’s colour frames', async () => {
    const page = await openPage(served);
    await loadBlackswan(page);
    await page.selectOption('#task', 'color');
    const colourKey = join(davis.path, '00000.jpg');
    await page.setInputFiles('#import-color', colourKey);
    await page.waitForFunction('window.vprop.keyframes.length === 1');
    await page.fill('#max-internal-size', WORK_SIZE);
    await page.fill('#range-to', '3');
    await page.selectOption('#direction', 'forward');
    const run = await propagate(page);
    assert.deepEqual(run.computed, [1, 2, 3]);
    const zip = await exportZip(page, 'colour');
    const out = join(root, 'cli-colour');
    vprop(
      'propagate',
      davis.path,
      '--task',
      'color',
      '--keyframes',
      `0:${colourKey}`,
      '--engine',
      'bilateral',
      '--max-internal-size',
      WORK_SIZE,
      '--to',
      '3',
      '--direction',
      'forward',
      '--no-video',
      '--quiet',
      '--out',
      out,
    );
    for (let i = 1; i <= 3; i++) {
      const mine = await sharp(zip[`frames/${stem(i)}.png`])
        .raw()
        .toBuffer();
      const theirs = await sharp(join(out, 'frames', `${stem(i)}.png`))
        .raw()
        .toBuffer();
      assert.ok(mine.equals(theirs), `colour frame ${i}: browser equals CLI`);
    }
    await page.screenshot({ path: join(artifacts, 'browser-colour.png') });
    assert.deepEqual((page as Page & { errors?: string[] }).errors, []);
    await page.close();
  });

  test('from a static file server (no API) the page propagates in the browser alone', async () => {
    const server = await staticServer(webRoot);
    try {
      const address = server.address() as { port: number };
      const page = await openPage(`http://127.0.0.1:${address.port}/`);
      assert.equal(await page.getAttribute('body', 'data-ready'), 'browser');
      assert.deepEqual(await page.$$eval('#run-on option', (os) => os.map((o) => o.getAttribute('value'))), ['browser']);
      await loadBlackswan(page);
      await paintKeyframe(page);
      await page.selectOption('#engine', 'copy');
      await page.fill('#range-to', '4');
      const run = await propagate(page);
      assert.deepEqual(run.computed, [1, 2, 3, 4]);
      const zip = await exportZip(page, 'static');
      const key = decodeLabelPng(zip[`masks/${stem(0)}.png`], 'k').data;
      // The copy engine carries the key-frame unchanged to every frame.
      for (let i = 1; i <= 4; i++) assert.deepEqual(decodeLabelPng(zip[`masks/${stem(i)}.png`], 'm').data, key);
      await page.screenshot({ path: join(artifacts, 'static-propagated.png') });
      assert.deepEqual((page as Page & { errors?: string[] }).errors, []);
      await page.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

function staticServer(dir: string): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : (req.url ?? '').split('?')[0].slice(1);
    const path = join(dir, name);
    if (name.includes('..') || !existsSync(path)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
