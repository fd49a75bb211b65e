/**
 * The vprop web app: open a video or a folder of frames, paint key-frames, propagate (in a Web
 * Worker with the library's browser entry, or on `vprop serve` when the page came from it),
 * scrub through the results as they stream in, correct any frame and run again (only the frames
 * the correction affects are recomputed; the strip shows which were recomputed and which changed),
 * export.
 *
 * All propagation logic is the library's: the worker opens a session (src/browser.ts) and the
 * server runs jobs through the same session API; this file is only the surface.
 */
import { DAVIS_PALETTE, decodeLabelPng, encodePalettePng, encodeRgbPng, engineRegistrations } from '../../src/browser.js';
import { cssColor, fillPolygon, idsOf, type Labels, overlayImage, paintSegment, sameLabels } from './annotate.js';
import { download, type ExportFrame, resultsVideo, resultsZip } from './export.js';
import { type LoadedVideo, loadFrameFiles, loadVideoFile } from './frames.js';
import type { FromWorker, KeyframeAnnotation, RunSettings, ToWorker } from './protocol.js';
import { ServerClient, type ServerEngine } from './remote.js';

type Task = 'mask' | 'color' | 'hdr';
type Tool = 'brush' | 'eraser' | 'polygon';

interface Keyframe {
  mode: 'add' | 'replace';
  labels?: Uint8Array;
  rgb?: Uint8Array;
  /** HDR key-frames are sent to the server as the file itself. */
  file?: File;
  /** Bumped on every edit: the server copy is re-sent when it differs. */
  version: number;
}

interface RunInfo {
  readonly id: number;
  readonly where: 'browser' | 'server';
  readonly computed: Set<number>;
  readonly changed: Set<number>;
  readonly received: Set<number>;
  jobId?: string;
  events?: EventSource;
  started: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  openVideo: $<HTMLInputElement>('open-video'),
  openFolder: $<HTMLInputElement>('open-folder'),
  sourceName: $('source-name'),
  serverBadge: $('server-badge'),
  task: $<HTMLSelectElement>('task'),
  objects: $<HTMLUListElement>('objects'),
  addObject: $<HTMLButtonElement>('add-object'),
  brushSize: $<HTMLInputElement>('brush-size'),
  brushSizeValue: $('brush-size-value'),
  keyframeMode: $<HTMLSelectElement>('keyframe-mode'),
  importMask: $<HTMLInputElement>('import-mask'),
  importMaskLabel: $('import-mask-label'),
  importColor: $<HTMLInputElement>('import-color'),
  importColorLabel: $('import-color-label'),
  importExr: $<HTMLInputElement>('import-exr'),
  importExrLabel: $('import-exr-label'),
  clearFrame: $<HTMLButtonElement>('clear-frame'),
  removeKeyframe: $<HTMLButtonElement>('remove-keyframe'),
  runOn: $<HTMLSelectElement>('run-on'),
  engine: $<HTMLSelectElement>('engine'),
  direction: $<HTMLSelectElement>('direction'),
  maxInternalSize: $<HTMLInputElement>('max-internal-size'),
  rangeFrom: $<HTMLInputElement>('range-from'),
  rangeTo: $<HTMLInputElement>('range-to'),
  propagate: $<HTMLButtonElement>('propagate'),
  cancel: $<HTMLButtonElement>('cancel'),
  progress: $<HTMLProgressElement>('progress'),
  runStatus: $('run-status'),
  exportZip: $<HTMLButtonElement>('export-zip'),
  exportVideo: $<HTMLButtonElement>('export-video'),
  frameCanvas: $<HTMLCanvasElement>('frame-canvas'),
  overlayCanvas: $<HTMLCanvasElement>('overlay-canvas'),
  scrubber: $<HTMLInputElement>('scrubber'),
  prev: $<HTMLButtonElement>('prev'),
  next: $<HTMLButtonElement>('next'),
  frameLabel: $('frame-label'),
  strip: $('strip'),
  message: $('message'),
};

const token = new URLSearchParams(location.search).get('token') ?? undefined;

const state = {
  video: undefined as LoadedVideo | undefined,
  task: 'mask' as Task,
  objects: [1] as number[],
  current: 1,
  tool: 'brush' as Tool,
  frame: 0,
  keyframes: new Map<number, Keyframe>(),
  results: new Map<number, ExportFrame>(),
  objectIds: [] as number[],
  /** Labels being edited on the shown frame (a key-frame's own, or a copy of its result). */
  editing: undefined as Labels | undefined,
  polygon: [] as Array<[number, number]>,
  run: undefined as RunInfo | undefined,
  lastRun: undefined as RunInfo | undefined,
  runSeq: 0,
  server: undefined as ServerClient | undefined,
  serverEngines: [] as ServerEngine[],
  serverVideo: undefined as { id: string; of: LoadedVideo } | undefined,
  serverKeyframes: new Map<string, number>(),
  lastServerJob: undefined as { id: string; key: string } | undefined,
  lastSummary: undefined as undefined | { where: string; frames: number; computed: number; changed: number; seconds: number },
  /** Videos opened so far (tests wait for the next one). */
  loads: 0,
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

function say(text: string, error = false): void {
  ui.message.textContent = text;
  ui.message.className = error ? 'error' : '';
}

// ---------------------------------------------------------------------------------------------
// Loading

async function openLoaded(load: () => Promise<LoadedVideo>): Promise<void> {
  try {
    say('decoding…');
    const video = await load();
    state.video = video;
    state.keyframes.clear();
    state.results.clear();
    state.objects = [1];
    state.current = 1;
    state.frame = 0;
    state.serverVideo = undefined;
    state.serverKeyframes.clear();
    state.lastServerJob = undefined;
    state.lastRun = undefined;
    state.editing = undefined;
    // The worker gets the RGB frames (transferred: this page keeps only the bitmaps).
    send(
      { type: 'open', width: video.width, height: video.height, fps: video.fps, frames: video.rgb },
      video.rgb.map((f) => f.buffer),
    );
    for (const c of [ui.frameCanvas, ui.overlayCanvas]) {
      c.width = video.width;
      c.height = video.height;
    }
    ui.scrubber.max = String(video.bitmaps.length - 1);
    ui.sourceName.textContent = `${video.name}: ${video.bitmaps.length} frames, ${video.width}x${video.height}, ${video.fps.toFixed(2)} fps`;
    ui.propagate.disabled = false;
    buildStrip();
    renderObjects();
    show(0);
    state.loads++;
    say(`opened ${video.name}: paint the objects on a frame, then propagate`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), true);
  }
}

ui.openVideo.addEventListener('change', () => {
  const f = ui.openVideo.files?.[0];
  if (f) void openLoaded(() => loadVideoFile(f, (d, t) => say(`decoding frame ${d}${t ? ` of about ${t}` : ''}…`)));
});
ui.openFolder.addEventListener('change', () => {
  const files = ui.openFolder.files;
  if (files?.length) void openLoaded(() => loadFrameFiles(files, (d, t) => say(`decoding frame ${d} of ${t}…`)));
});

// ---------------------------------------------------------------------------------------------
// Display

function buildStrip(): void {
  ui.strip.replaceChildren();
  const n = state.video?.bitmaps.length ?? 0;
  for (let i = 0; i < n; i++) {
    const cell = document.createElement('span');
    cell.className = 'cell';
    cell.dataset.index = String(i);
    cell.title = `frame ${i}`;
    cell.addEventListener('click', () => show(i));
    ui.strip.append(cell);
  }
}

function updateCell(i: number): void {
  const cell = ui.strip.children[i] as HTMLElement | undefined;
  if (!cell) return;
  const run = state.run ?? state.lastRun;
  cell.className = 'cell';
  if (state.results.has(i)) cell.classList.add('result');
  if (run?.computed.has(i)) cell.classList.add('computed');
  if (run?.changed.has(i)) cell.classList.add('changed');
  if (state.keyframes.has(i)) cell.classList.add('keyframe');
  if (i === state.frame) cell.classList.add('current');
  cell.dataset.state = [...cell.classList].filter((c) => c !== 'cell' && c !== 'current').join(' ');
}

function updateStrip(): void {
  const n = state.video?.bitmaps.length ?? 0;
  for (let i = 0; i < n; i++) updateCell(i);
}

function show(i: number): void {
  const v = state.video;
  if (!v) return;
  const prev = state.frame;
  state.frame = Math.max(0, Math.min(v.bitmaps.length - 1, i));
  state.polygon = [];
  const kf = state.keyframes.get(state.frame);
  const res = state.results.get(state.frame);
  state.editing = kf?.labels ? { width: v.width, height: v.height, data: kf.labels } : undefined;
  ui.scrubber.value = String(state.frame);
  const what = kf
    ? 'key-frame'
    : res
      ? state.run?.computed.has(state.frame) || state.lastRun?.computed.has(state.frame)
        ? 'recomputed'
        : 'result'
      : 'no result';
  ui.frameLabel.textContent = `frame ${state.frame} / ${v.bitmaps.length - 1} — ${what}`;
  updateCell(prev);
  updateCell(state.frame);
  draw();
}

function draw(): void {
  const v = state.video;
  if (!v) return;
  const fctx = ui.frameCanvas.getContext('2d') as CanvasRenderingContext2D;
  const kf = state.keyframes.get(state.frame);
  const res = state.results.get(state.frame);
  const rgb = kf?.rgb ?? res?.rgb;
  if (rgb) fctx.putImageData(rgbImage(rgb, v.width, v.height), 0, 0);
  else fctx.drawImage(v.bitmaps[state.frame], 0, 0);
  const octx = ui.overlayCanvas.getContext('2d') as CanvasRenderingContext2D;
  octx.clearRect(0, 0, v.width, v.height);
  const labels = state.editing?.data ?? res?.labels;
  if (labels) octx.putImageData(overlayImage({ width: v.width, height: v.height, data: labels }), 0, 0);
  if (state.polygon.length > 0) {
    octx.strokeStyle = cssColor(state.current);
    octx.lineWidth = 2;
    octx.beginPath();
    for (const [k, [x, y]] of state.polygon.entries()) {
      if (k === 0) octx.moveTo(x, y);
      else octx.lineTo(x, y);
    }
    octx.stroke();
  }
}

function rgbImage(rgb: Uint8Array, width: number, height: number): ImageData {
  const img = new ImageData(width, height);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    img.data[q] = rgb[p];
    img.data[q + 1] = rgb[p + 1];
    img.data[q + 2] = rgb[p + 2];
    img.data[q + 3] = 255;
  }
  return img;
}

ui.scrubber.addEventListener('input', () => show(Number(ui.scrubber.value)));
ui.prev.addEventListener('click', () => show(state.frame - 1));
ui.next.addEventListener('click', () => show(state.frame + 1));

// ---------------------------------------------------------------------------------------------
// Objects and tools

function renderObjects(): void {
  ui.objects.replaceChildren();
  for (const id of state.objects) {
    const li = document.createElement('li');
    li.dataset.id = String(id);
    li.className = id === state.current ? 'current' : '';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = cssColor(id);
    li.append(sw, document.createTextNode(`object ${id}`));
    li.addEventListener('click', () => {
      state.current = id;
      renderObjects();
    });
    ui.objects.append(li);
  }
}

ui.addObject.addEventListener('click', () => {
  const next = Math.max(0, ...state.objects) + 1;
  if (next > 255) return say('at most 255 objects', true);
  state.objects.push(next);
  state.current = next;
  renderObjects();
});

for (const r of document.querySelectorAll<HTMLInputElement>('input[name=tool]')) {
  r.addEventListener('change', () => {
    state.tool = r.value as Tool;
    state.polygon = [];
    draw();
  });
}
ui.brushSize.addEventListener('input', () => {
  ui.brushSizeValue.textContent = ui.brushSize.value;
});

/** The labels to paint into on the shown frame: its key-frame's, or a copy of its result (a correction). */
function editable(): Labels | undefined {
  const v = state.video;
  if (!v || state.task !== 'mask') return undefined;
  if (!state.editing) {
    const res = state.results.get(state.frame)?.labels;
    state.editing = { width: v.width, height: v.height, data: res ? new Uint8Array(res) : new Uint8Array(v.width * v.height) };
  }
  return state.editing;
}

function commitKeyframe(): void {
  const v = state.video;
  const l = state.editing;
  if (!v || !l) return;
  const old = state.keyframes.get(state.frame);
  const kf: Keyframe = { mode: ui.keyframeMode.value as 'add' | 'replace', labels: l.data, version: (old?.version ?? 0) + 1 };
  state.keyframes.set(state.frame, kf);
  for (const id of idsOf(l)) if (!state.objects.includes(id)) state.objects.push(id);
  state.objects.sort((a, b) => a - b);
  renderObjects();
  send({
    type: 'keyframe',
    index: state.frame,
    mode: kf.mode,
    annotation: { kind: 'mask', labels: { width: v.width, height: v.height, data: l.data } },
  });
  show(state.frame);
}

function imagePoint(e: PointerEvent | MouseEvent): [number, number] {
  const rect = ui.overlayCanvas.getBoundingClientRect();
  return [
    ((e.clientX - rect.left) * ui.overlayCanvas.width) / rect.width,
    ((e.clientY - rect.top) * ui.overlayCanvas.height) / rect.height,
  ];
}

let stroke: [number, number] | undefined;
ui.overlayCanvas.addEventListener('pointerdown', (e) => {
  if (!state.video || state.run) return;
  if (state.task !== 'mask') return say('painting is for masks; for colour, import a coloured key-frame', true);
  const p = imagePoint(e);
  if (state.tool === 'polygon') {
    state.polygon.push(p);
    draw();
    return;
  }
  const l = editable();
  if (!l) return;
  ui.overlayCanvas.setPointerCapture(e.pointerId);
  stroke = p;
  paintSegment(l, p[0], p[1], p[0], p[1], Number(ui.brushSize.value) / 2, state.tool === 'eraser' ? 0 : state.current);
  draw();
});
ui.overlayCanvas.addEventListener('pointermove', (e) => {
  if (!stroke || !state.editing) return;
  const p = imagePoint(e);
  paintSegment(
    state.editing,
    stroke[0],
    stroke[1],
    p[0],
    p[1],
    Number(ui.brushSize.value) / 2,
    state.tool === 'eraser' ? 0 : state.current,
  );
  stroke = p;
  draw();
});
const endStroke = () => {
  if (!stroke) return;
  stroke = undefined;
  commitKeyframe();
};
ui.overlayCanvas.addEventListener('pointerup', endStroke);
ui.overlayCanvas.addEventListener('pointercancel', endStroke);

function closePolygon(): void {
  const l = state.polygon.length >= 3 ? editable() : undefined;
  if (l) {
    fillPolygon(l, state.polygon, state.current);
    state.polygon = [];
    commitKeyframe();
  } else {
    state.polygon = [];
    draw();
  }
}
ui.overlayCanvas.addEventListener('dblclick', () => {
  // The double-click's own clicks added two corners at the same spot: drop the duplicate.
  if (state.polygon.length > 1) state.polygon.pop();
  closePolygon();
});
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== 'range') return;
  if (e.key === 'Enter' && state.polygon.length) closePolygon();
  else if (e.key === 'Escape') {
    state.polygon = [];
    draw();
  } else if (e.key === 'ArrowLeft') show(state.frame - 1);
  else if (e.key === 'ArrowRight') show(state.frame + 1);
});

ui.clearFrame.addEventListener('click', () => {
  const v = state.video;
  if (!v || state.task !== 'mask') return;
  state.editing = { width: v.width, height: v.height, data: new Uint8Array(v.width * v.height) };
  draw();
});

ui.removeKeyframe.addEventListener('click', () => {
  if (!state.keyframes.delete(state.frame)) return say(`frame ${state.frame} is not a key-frame`, true);
  send({ type: 'removeKeyframe', index: state.frame });
  state.editing = undefined;
  show(state.frame);
});

ui.importMask.addEventListener('change', async () => {
  const f = ui.importMask.files?.[0];
  ui.importMask.value = '';
  const v = state.video;
  if (!f || !v) return;
  try {
    const labels = decodeLabelPng(new Uint8Array(await f.arrayBuffer()), f.name, { grayscale: 'binary', rgbPalette: DAVIS_PALETTE });
    if (labels.width !== v.width || labels.height !== v.height)
      throw new Error(`${f.name} is ${labels.width}x${labels.height}; the frames are ${v.width}x${v.height}`);
    state.editing = { width: v.width, height: v.height, data: new Uint8Array(labels.data) };
    commitKeyframe();
    say(`${f.name}: objects ${idsOf(state.editing).join(', ') || 'none'} on frame ${state.frame}`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), true);
  }
});

ui.importColor.addEventListener('change', async () => {
  const f = ui.importColor.files?.[0];
  ui.importColor.value = '';
  const v = state.video;
  if (!f || !v) return;
  try {
    const bitmap = await createImageBitmap(f, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    if (bitmap.width !== v.width || bitmap.height !== v.height)
      throw new Error(`${f.name} is ${bitmap.width}x${bitmap.height}; the frames are ${v.width}x${v.height}`);
    const c = new OffscreenCanvas(v.width, v.height).getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
    c.drawImage(bitmap, 0, 0);
    const rgba = c.getImageData(0, 0, v.width, v.height).data;
    const rgb = new Uint8Array(v.width * v.height * 3);
    for (let p = 0, q = 0; q < rgba.length; p += 3, q += 4) {
      rgb[p] = rgba[q];
      rgb[p + 1] = rgba[q + 1];
      rgb[p + 2] = rgba[q + 2];
    }
    const old = state.keyframes.get(state.frame);
    state.keyframes.set(state.frame, { mode: 'replace', rgb, version: (old?.version ?? 0) + 1 });
    const annotation: KeyframeAnnotation = { kind: 'color', rgb: { width: v.width, height: v.height, data: rgb } };
    send({ type: 'keyframe', index: state.frame, mode: 'replace', annotation });
    show(state.frame);
    say(`colour key-frame on frame ${state.frame}`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), true);
  }
});

ui.importExr.addEventListener('change', () => {
  const f = ui.importExr.files?.[0];
  ui.importExr.value = '';
  if (!f || !state.video) return;
  const old = state.keyframes.get(state.frame);
  state.keyframes.set(state.frame, { mode: 'replace', file: f, version: (old?.version ?? 0) + 1 });
  show(state.frame);
  say(`HDR key-frame ${f.name} on frame ${state.frame} (sent to the server when you propagate; the page cannot show HDR)`);
});

ui.task.addEventListener('change', () => {
  state.task = ui.task.value as Task;
  state.keyframes.clear();
  state.results.clear();
  state.editing = undefined;
  state.lastRun = undefined;
  state.lastServerJob = undefined;
  // Key-frames of the other task mean nothing now.
  send({ type: 'reset' });
  ui.importMaskLabel.hidden = state.task !== 'mask';
  ui.importColorLabel.hidden = state.task !== 'color';
  ui.importExrLabel.hidden = state.task !== 'hdr';
  ($('objects-section') as HTMLElement).hidden = state.task !== 'mask';
  ($('tools-section') as HTMLElement).hidden = state.task !== 'mask';
  ($('keyframe-mode-row') as HTMLElement).hidden = state.task !== 'mask';
  ui.clearFrame.hidden = state.task !== 'mask';
  fillEngines();
  updateStrip();
  if (state.video) show(state.frame);
});

// ---------------------------------------------------------------------------------------------
// Propagation

function fillEngines(): void {
  const where = ui.runOn.value;
  // The browser has the engines of the library's browser entry (pure TypeScript kernels), best first.
  const local = engineRegistrations()
    .filter((r) => r.tasks.includes(state.task) && r.needsKeyframes !== false)
    .sort((a, b) => (b.preference?.[state.task] ?? 0) - (a.preference?.[state.task] ?? 0));
  const names: string[] =
    where === 'server'
      ? state.serverEngines.filter((e) => e.tasks.includes(state.task) && e.needsKeyframes).map((e) => e.name)
      : local.map((r) => r.name);
  const before = ui.engine.value;
  ui.engine.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(before)) ui.engine.value = before;
}
ui.runOn.addEventListener('change', fillEngines);

function settings(): RunSettings {
  const num = (el: HTMLInputElement) => (el.value === '' ? undefined : Number(el.value));
  return {
    task: state.task === 'hdr' ? 'hdr' : state.task,
    engine: ui.engine.value,
    engineOptions: {},
    direction: ui.direction.value as RunSettings['direction'],
    from: num(ui.rangeFrom),
    to: num(ui.rangeTo),
    maxInternalSize: num(ui.maxInternalSize),
  };
}

function startRun(where: 'browser' | 'server'): RunInfo {
  const run: RunInfo = {
    id: ++state.runSeq,
    where,
    computed: new Set(),
    changed: new Set(),
    received: new Set(),
    started: performance.now(),
  };
  state.run = run;
  ui.propagate.disabled = true;
  ui.cancel.disabled = false;
  ui.exportZip.disabled = true;
  ui.exportVideo.disabled = true;
  ui.progress.value = 0;
  ui.runStatus.textContent = `propagating on ${where === 'browser' ? 'this browser' : 'the server'}…`;
  updateStrip();
  return run;
}

function endRun(run: RunInfo, text: string, error = false): void {
  if (state.run !== run) return;
  state.run = undefined;
  state.lastRun = run;
  run.events?.close();
  ui.propagate.disabled = false;
  ui.cancel.disabled = true;
  ui.exportZip.disabled = state.results.size === 0;
  ui.exportVideo.disabled = state.results.size === 0;
  ui.runStatus.textContent = text;
  document.body.dataset.run = error ? 'error' : 'idle';
  if (error) say(text, true);
  updateStrip();
  show(state.frame);
}

function acceptResult(run: RunInfo, index: number, labels: Uint8Array | undefined, rgb: Uint8Array | undefined, computed: boolean): void {
  const before = state.results.get(index);
  const changed = before ? (labels ? !sameLabels(before.labels, labels) : !sameLabels(before.rgb, rgb)) : false;
  state.results.set(index, { index, labels, rgb });
  run.received.add(index);
  if (computed) run.computed.add(index);
  if (changed) run.changed.add(index);
  updateCell(index);
  if (index === state.frame && !state.keyframes.has(index)) {
    state.editing = undefined;
    draw();
  }
}

ui.propagate.addEventListener('click', () => {
  if (!state.video || state.run) return;
  if (state.keyframes.size === 0) {
    document.body.dataset.run = 'error';
    say('no key-frame yet: paint or import one first', true);
    return;
  }
  // An edit in progress on a result frame becomes a key-frame (a correction) before running.
  document.body.dataset.run = 'running';
  if (ui.runOn.value === 'server') void runOnServer();
  else runInBrowser();
});

function runInBrowser(): void {
  const s = settings();
  if (s.task === 'hdr') {
    say('HDR runs on the server (the page cannot read EXR files)', true);
    return;
  }
  const run = startRun('browser');
  send({ type: 'propagate', runId: run.id, settings: s });
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  const run = state.run;
  if (m.type === 'error' && m.runId === undefined) return say(m.message, true);
  if (!('runId' in m) || !run || run.where !== 'browser' || m.runId !== run.id) return;
  if (m.type === 'progress') {
    ui.progress.max = m.total;
    ui.progress.value = m.done;
    ui.runStatus.textContent = `frame ${m.frame}: ${m.done} of ${m.total} computed, ${m.fps.toFixed(1)} fps`;
  } else if (m.type === 'result') {
    acceptResult(run, m.index, m.labels, m.rgb, m.computed);
  } else if (m.type === 'done') {
    state.objectIds = m.objectIds;
    summarize(run, m.seconds);
  } else if (m.type === 'cancelled') {
    endRun(run, `cancelled after ${run.received.size} frames`);
  } else if (m.type === 'error') {
    endRun(run, m.message, true);
  }
};

function summarize(run: RunInfo, seconds: number): void {
  ui.progress.max = 1;
  ui.progress.value = 1;
  state.lastSummary = { where: run.where, frames: run.received.size, computed: run.computed.size, changed: run.changed.size, seconds };
  const keys = [...run.received].filter((i) => state.keyframes.has(i)).length;
  const cached = run.received.size - run.computed.size - keys;
  endRun(
    run,
    `${run.received.size} frames in ${seconds.toFixed(1)} s: ${run.computed.size} computed (${run.changed.size} changed), ${keys} key-frame${keys === 1 ? '' : 's'}, ${cached} unchanged from the cache`,
  );
}

ui.cancel.addEventListener('click', () => {
  const run = state.run;
  if (!run) return;
  if (run.where === 'browser') send({ type: 'cancel', runId: run.id });
  else if (run.jobId && state.server) void state.server.cancel(run.jobId).catch((err) => say(String(err), true));
});

async function runOnServer(): Promise<void> {
  const server = state.server;
  const v = state.video;
  if (!server || !v) return;
  const s = settings();
  const run = startRun('server');
  try {
    if (!state.serverVideo || state.serverVideo.of !== v) {
      ui.runStatus.textContent = 'uploading the video…';
      const up = await server.upload(v.files, v.kind);
      if (up.frameCount !== v.bitmaps.length)
        throw new Error(`the server decoded ${up.frameCount} frames, this page ${v.bitmaps.length}: frame numbers would not match`);
      state.serverVideo = { id: up.id, of: v };
      state.serverKeyframes.clear();
    }
    const videoId = state.serverVideo.id;
    ui.runStatus.textContent = 'sending key-frames…';
    for (const [key, _] of state.serverKeyframes) {
      const [task, index] = key.split(':');
      if (task === s.task && !state.keyframes.has(Number(index))) {
        await server.deleteKeyframe(videoId, Number(index), task);
        state.serverKeyframes.delete(key);
      }
    }
    for (const [index, kf] of state.keyframes) {
      const key = `${s.task}:${index}`;
      if (state.serverKeyframes.get(key) === kf.version) continue;
      const bytes = kf.labels
        ? encodePalettePng({ width: v.width, height: v.height, data: kf.labels })
        : kf.rgb
          ? encodeRgbPng({ width: v.width, height: v.height, data: kf.rgb })
          : new Uint8Array(await (kf.file as File).arrayBuffer());
      await server.putKeyframe(videoId, index, s.task, kf.mode, bytes);
      state.serverKeyframes.set(key, kf.version);
    }
    const jobKey = JSON.stringify([videoId, s.task, s.engine, s.maxInternalSize ?? null]);
    const basedOn = state.lastServerJob?.key === jobKey ? state.lastServerJob.id : undefined;
    const job = await server.createJob({
      videoId,
      task: s.task,
      engine: s.engine,
      direction: s.direction,
      from: s.from,
      to: s.to,
      maxInternalSize: s.maxInternalSize,
      basedOn,
    });
    run.jobId = job.id;
    state.lastServerJob = { id: job.id, key: jobKey };
    ui.runStatus.textContent = `job ${job.id.slice(0, 8)} queued`;
    await followJob(server, run, job.id, v);
  } catch (err) {
    endRun(run, err instanceof Error ? err.message : String(err), true);
  }
}

function followJob(server: ServerClient, run: RunInfo, jobId: string, v: LoadedVideo): Promise<void> {
  return new Promise((resolve) => {
    const events = server.events(jobId);
    run.events = events;
    let fetching: Promise<void> = Promise.resolve();
    const fetchFrame = (index: number, computed: boolean) => {
      fetching = fetching.then(async () => {
        const bytes = await server.frame(jobId, index);
        if (state.task === 'mask') acceptResult(run, index, decodeLabelPng(bytes, `frame ${index}`).data, undefined, computed);
        else if (state.task === 'color') acceptResult(run, index, undefined, await pngToRgb(bytes, v), computed);
        else acceptResult(run, index, undefined, undefined, computed);
      });
    };
    events.addEventListener('progress', (e) => {
      const p = JSON.parse((e as MessageEvent).data) as { done: number; total: number; fps: number; frame: number };
      ui.progress.max = p.total;
      ui.progress.value = p.done;
      ui.runStatus.textContent = `server, frame ${p.frame}: ${p.done} of ${p.total} computed, ${p.fps.toFixed(1)} fps`;
    });
    events.addEventListener('frame', (e) => {
      const f = JSON.parse((e as MessageEvent).data) as { index: number; computed: boolean };
      if (state.task !== 'hdr') fetchFrame(f.index, f.computed);
    });
    let finished = false;
    // The event stream is the fast path; a status poll makes the page finish even when a proxy or
    // a network hiccup swallowed the stream's last events.
    const poll = setInterval(() => {
      void server
        .job(jobId)
        .then((view) => {
          const s = view.status.state;
          if (s === 'done' || s === 'failed' || s === 'cancelled') void finish(view.status);
        })
        .catch(() => {});
    }, 3000);
    const finish = async (final: { state: string; error?: string }) => {
      if (finished) return;
      finished = true;
      clearInterval(poll);
      events.close();
      await fetching.catch((err) => say(String(err), true));
      if (final.state === 'done') {
        const view = await server.job(jobId);
        state.objectIds = view.status.objectIds ?? [];
        // Frames whose events were lost are fetched now: the results are complete either way.
        if (state.task !== 'hdr') {
          const s = settings();
          const last = Math.min(v.bitmaps.length - 1, s.to ?? v.bitmaps.length - 1);
          for (let i = s.from ?? 0; i <= last; i++) {
            if (run.received.has(i)) continue;
            const bytes = await server.frame(jobId, i).catch(() => undefined);
            if (!bytes) continue; // not a result of this run (e.g. before the first key-frame forward)
            if (state.task === 'mask')
              acceptResult(run, i, decodeLabelPng(bytes, `frame ${i}`).data, undefined, !!view.status.computedFrames?.includes(i));
            else acceptResult(run, i, undefined, await pngToRgb(bytes, v), !!view.status.computedFrames?.includes(i));
          }
        }
        summarize(run, (performance.now() - run.started) / 1000);
      } else
        endRun(
          run,
          final.state === 'cancelled' ? `cancelled after ${run.received.size} frames` : `job ${final.state}: ${final.error ?? ''}`,
          final.state !== 'cancelled',
        );
      resolve();
    };
    const onState = (e: Event) => {
      const s = JSON.parse((e as MessageEvent).data) as { state: string; error?: string };
      if (s.state === 'done' || s.state === 'failed' || s.state === 'cancelled') void finish(s);
    };
    events.addEventListener('state', onState);
    events.addEventListener('status', onState);
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) void finish({ state: 'failed', error: 'lost the connection to the server' });
    };
  });
}

async function pngToRgb(bytes: Uint8Array, v: LoadedVideo): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(new Blob([bytes as BlobPart], { type: 'image/png' }), { colorSpaceConversion: 'none' });
  const c = new OffscreenCanvas(v.width, v.height).getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
  c.drawImage(bitmap, 0, 0);
  const rgba = c.getImageData(0, 0, v.width, v.height).data;
  const rgb = new Uint8Array(v.width * v.height * 3);
  for (let p = 0, q = 0; q < rgba.length; p += 3, q += 4) {
    rgb[p] = rgba[q];
    rgb[p + 1] = rgba[q + 1];
    rgb[p + 2] = rgba[q + 2];
  }
  return rgb;
}

// ---------------------------------------------------------------------------------------------
// Export

ui.exportZip.addEventListener('click', () => {
  const v = state.video;
  if (!v) return;
  const last = state.lastRun;
  if (last?.where === 'server' && last.jobId && state.server) {
    location.assign(state.server.url(`api/jobs/${last.jobId}/result.zip`));
    return;
  }
  const objectIds = state.objectIds.length ? state.objectIds : state.objects;
  download(resultsZip([...state.results.values()], v.width, v.height, objectIds), `vprop-${v.name}.zip`, 'application/zip');
});

ui.exportVideo.addEventListener('click', async () => {
  const v = state.video;
  if (!v) return;
  const last = state.lastRun;
  if (last?.where === 'server' && last.jobId && state.server) {
    location.assign(state.server.url(`api/jobs/${last.jobId}/video`));
    return;
  }
  try {
    ui.exportVideo.disabled = true;
    const mp4 = await resultsVideo(v.bitmaps, state.results, v.width, v.height, v.fps, (d, t) => say(`encoding frame ${d} of ${t}…`));
    download(mp4, `vprop-${v.name}.mp4`, 'video/mp4');
    say(`wrote vprop-${v.name}.mp4 (${(mp4.length / 1e6).toFixed(1)} MB)`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), true);
  } finally {
    ui.exportVideo.disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// Start: is there a server behind this page?

async function start(): Promise<void> {
  renderObjects();
  fillEngines();
  const server = await ServerClient.detect(token);
  if (server) {
    state.server = server;
    try {
      state.serverEngines = await server.engines();
    } catch (err) {
      say(String(err), true);
    }
    ui.runOn.append(new Option('the server', 'server'));
    ui.task.append(new Option('HDR (server)', 'hdr'));
    ui.serverBadge.textContent = `server ${server.info.version ?? ''} (${server.info.queue} queue)`;
    ui.serverBadge.classList.add('server');
  }
  document.body.dataset.ready = server ? 'server' : 'browser';
}

/** Read-only view for tests and benchmarks (no behaviour depends on it). */
(window as unknown as { vprop: unknown }).vprop = {
  get frames() {
    return state.video?.bitmaps.length ?? 0;
  },
  get loads() {
    return state.loads;
  },
  get keyframes() {
    return [...state.keyframes.keys()].sort((a, b) => a - b);
  },
  get results() {
    return state.results.size;
  },
  get lastRun() {
    const r = state.lastRun;
    return (
      r && {
        where: r.where,
        computed: [...r.computed].sort((a, b) => a - b),
        changed: [...r.changed].sort((a, b) => a - b),
        received: r.received.size,
        jobId: r.jobId,
      }
    );
  },
  get summary() {
    return state.lastSummary;
  },
};

void start();
