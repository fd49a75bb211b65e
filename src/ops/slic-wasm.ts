/**
 * WebAssembly path of SLIC superpixels (issue 13): the Lab conversion, seeding, the (decimated)
 * assignments and centre updates, the multiscale final assignment and the connectivity pass. The
 * module is compiled from `assembly/slic.ts` (AssemblyScript) by `npm run build:wasm` into
 * `slic-wasm.generated.ts` (base64), so Node, bundlers and browsers load it without file-system
 * access or fetch. `slic.ts` computes the grid and the colour tables, dispatches here and keeps the
 * TypeScript kernels as the reference.
 *
 * Results: bit-identical to the TypeScript `slic` for the same options (labels, count, iterations):
 * every kernel does the same float64 operations in the same order on the same float32 / int32
 * values (test/ops-slic-wasm.test.ts). Lab is planar inside the module, an internal layout only.
 *
 * Backend: used when the engine validates the module (WebAssembly with SIMD: Node >= 16.4, current
 * browsers) unless `VPROP_WASM=0` is set in Node's environment or `setSlicBackend('typescript')` was
 * called. The module (about 5 KiB) is compiled synchronously on first use; where that is refused
 * (older Chrome main threads allowed only 4 KiB synchronously) it is compiled asynchronously and the
 * TypeScript kernels run until it is ready (`initSlicWasm()` waits for it).
 *
 * Memory: one instance and one linear memory per process (≈ 43 bytes a pixel: the frame, planar
 * Lab at full and half resolution, distances, labels and the connectivity pass's scratch), grown on
 * demand and reused by every call: frames of one size never grow it after the first. It does not
 * shrink (WebAssembly memories cannot); `releaseSlicWasm()` drops the instance. The caller's
 * `SlicWorkspace` is not used on this path (its size is still checked by `slic`).
 */
import { SLIC_WASM_BASE64 } from './slic-wasm.generated.js';

/** Which kernels `slic` runs. */
export type SlicBackend = 'wasm' | 'typescript';

interface Kernels {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  rgbToLab(rgb: number, n: number, lin: number, f: number, m: number, lab: number): void;
  seedCentres(lab: number, width: number, height: number, nx: number, ny: number, stepX: number, stepY: number, cv: number): void;
  gridLabels(
    labels: number,
    w: number,
    h: number,
    stride: number,
    nx: number,
    ny: number,
    stepX: number,
    stepY: number,
    colCell: number,
  ): void;
  decimateLab(lab: number, width: number, height: number, out: number): void;
  assign(
    lab: number,
    w: number,
    h: number,
    stride: number,
    cv: number,
    k: number,
    rx: number,
    ry: number,
    spatialWeight: number,
    dist: number,
    labels: number,
    dxTerm: number,
  ): void;
  updateCentres(
    labels: number,
    lab: number,
    w: number,
    h: number,
    stride: number,
    cv: number,
    k: number,
    sums: number,
    counts: number,
  ): number;
  refineAssign(lab: number, width: number, height: number, clabels: number, cv: number, w: number, labels: number): void;
  enforceConnectivity(
    labels: number,
    width: number,
    height: number,
    minSize: number,
    runStart: number,
    rowRun: number,
    parent: number,
    size: number,
    out: number,
  ): number;
  compactLabels(cluster: number, n: number, k: number, map: number, out: number): number;
}

/** The parts of the WebAssembly JS API used here (declared locally: Node's types lack it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  compile(bytes: Uint8Array): Promise<object>;
}

/** Thrown when the WebAssembly memory cannot grow; `slic` then runs the TypeScript kernels. */
class WasmOutOfMemory extends Error {}

const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

function envDisabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.VPROP_WASM === '0';
}

let preference: 'auto' | 'typescript' = envDisabled() ? 'typescript' : 'auto';
let K: Kernels | null = null;
/** idle: not tried; pending: compiling asynchronously; done: K is the result (null: unavailable). */
let loadState: 'idle' | 'pending' | 'done' = 'idle';
let pendingLoad: Promise<boolean> | null = null;

function moduleBytes(): Uint8Array {
  const bin = atob(SLIC_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function instantiate(api: WasmApi, module: object): Kernels {
  return new api.Instance(module, {}).exports as Kernels;
}

/** Loads the module on first use (synchronously where allowed); null when unavailable. */
function load(): Kernels | null {
  if (loadState !== 'idle') return K;
  loadState = 'done';
  const api = wasmApi;
  if (!api || typeof api.validate !== 'function') return null;
  const bytes = moduleBytes();
  // Fails where WebAssembly SIMD is not supported.
  if (!api.validate(bytes)) return null;
  try {
    K = instantiate(api, new api.Module(bytes));
  } catch {
    // Chrome's main thread refuses synchronous compilation of modules over 4 KiB.
    if (typeof api.compile === 'function') {
      loadState = 'pending';
      pendingLoad = api.compile(bytes).then(
        (m) => {
          K = instantiate(api, m);
          loadState = 'done';
          return true;
        },
        () => {
          loadState = 'done';
          return false;
        },
      );
    }
  }
  return K;
}

function wasmKernels(): Kernels | null {
  return preference === 'auto' ? load() : null;
}

/**
 * Chooses the SLIC kernels: 'auto' (the default) uses WebAssembly where available, else
 * TypeScript; 'typescript' forces the reference kernels. Env `VPROP_WASM=0` (Node) starts the
 * process with 'typescript'. Returns the previous choice.
 */
export function setSlicBackend(backend: 'auto' | 'typescript'): 'auto' | 'typescript' {
  if (backend !== 'auto' && backend !== 'typescript')
    throw new RangeError(`setSlicBackend: 'auto' or 'typescript', got ${String(backend)}`);
  const prev = preference;
  preference = backend;
  return prev;
}

/** The kernels `slic` runs now (loads the WebAssembly module if not yet tried). */
export function slicBackend(): SlicBackend {
  return wasmKernels() ? 'wasm' : 'typescript';
}

/**
 * Loads the WebAssembly module, asynchronously where synchronous compilation is refused (browser
 * main threads); resolves to whether the WebAssembly kernels are available.
 */
export function initSlicWasm(): Promise<boolean> {
  load();
  if (loadState === 'pending' && pendingLoad) return pendingLoad;
  return Promise.resolve(K !== null);
}

/** Current size of the SLIC WebAssembly memory in bytes (0 when not loaded): a diagnostic. */
export function slicWasmMemoryBytes(): number {
  return K ? K.memory.buffer.byteLength : 0;
}

/** Drops the SLIC WebAssembly instance and its memory (the next call loads a fresh one). */
export function releaseSlicWasm(): void {
  if (loadState === 'pending') return;
  K = null;
  loadState = 'idle';
}

/** Everything `slic` derives from its options before the kernels run (see slic.ts). */
export interface SlicPlan {
  width: number;
  height: number;
  /** Grid of nx x ny cells, of stepX x stepY pixels. */
  nx: number;
  ny: number;
  stepX: number;
  stepY: number;
  /** (compactness / S)². */
  spatialWeight: number;
  /** Window half-widths. */
  rx: number;
  ry: number;
  iterations: number;
  multiscale: boolean;
  stopWhenConverged: boolean;
  enforceConnectivity: boolean;
  /** Components below this many pixels are merged (connectivity pass). */
  minSize: number;
  /** Colour tables of the Lab conversion: 256 transfer values, f(t) samples, 9 matrix entries. */
  lin: Float64Array;
  f: Float64Array;
  m: Float64Array;
}

/** Regions start on 64-byte cache lines (arithmetic, not `& ~63`: offsets may pass 2^31). */
function align(x: number): number {
  return Math.ceil(x / 64) * 64;
}

/** Sequential allocation of one call's regions. */
class Arena {
  top: number;
  constructor(start: number) {
    this.top = align(start);
  }
  take(bytes: number): number {
    const p = this.top;
    this.top = align(p + bytes + 16);
    return p;
  }
}

/** Grows the memory so that bytes [0, end) exist. */
function reserve(k: Kernels, end: number): void {
  const have = k.memory.buffer.byteLength;
  if (end <= have) return;
  if (end > 2 ** 32 - 65536) throw new WasmOutOfMemory('slic wasm: more than 4 GiB needed');
  try {
    k.memory.grow(Math.ceil((end - have) / 65536));
  } catch {
    throw new WasmOutOfMemory(`slic wasm: cannot grow the memory to ${end} bytes`);
  }
}

/**
 * Runs SLIC on the WebAssembly kernels: the same steps as `slic` in slic.ts. Returns undefined
 * when the backend is 'typescript', the module is unavailable or its memory cannot grow far enough
 * (the caller then runs the TypeScript kernels).
 */
export function wasmSlic(
  rgb: Uint8Array | Uint8ClampedArray,
  plan: SlicPlan,
): { labels: Int32Array; count: number; iterations: number } | undefined {
  const kern = wasmKernels();
  if (!kern) return undefined;
  try {
    return run(kern, rgb, plan);
  } catch (e) {
    if (e instanceof WasmOutOfMemory) return undefined;
    throw e;
  }
}

function run(K: Kernels, rgb: Uint8Array | Uint8ClampedArray, p: SlicPlan): { labels: Int32Array; count: number; iterations: number } {
  const { width, height, nx, ny, stepX, stepY, spatialWeight, rx, ry, iterations } = p;
  const n = width * height;
  const k = nx * ny;
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const m = cw * ch;
  const a = new Arena(K.heapBase());
  const rgbP = a.take(n * 3);
  const linP = a.take(p.lin.length * 8);
  const fP = a.take(p.f.length * 8);
  const mP = a.take(p.m.length * 8);
  const lab = a.take(n * 12);
  const clab = a.take(m * 12);
  const dist = a.take(n * 4);
  const labels = a.take(n * 4);
  const clabels = a.take(m * 4);
  const colCell = a.take(width * 4);
  const dxTerm = a.take((width + 2) * 8);
  const cv = a.take(k * 40);
  const sums = a.take(k * 40);
  const counts = a.take(k * 4);
  const runStart = a.take((n + 1) * 4);
  const rowRun = a.take((height + 1) * 4);
  const parent = a.take(n * 4);
  const size = a.take(n * 4);
  const out = a.take(n * 4);
  const map = a.take(k * 4);
  reserve(K, a.top);
  const buf = K.memory.buffer;
  new Uint8Array(buf, rgbP, n * 3).set(rgb);
  new Float64Array(buf, linP, p.lin.length).set(p.lin);
  new Float64Array(buf, fP, p.f.length).set(p.f);
  new Float64Array(buf, mP, p.m.length).set(p.m);

  K.rgbToLab(rgbP, n, linP, fP, mP, lab);
  K.seedCentres(lab, width, height, nx, ny, stepX, stepY, cv);
  let done = 0;
  if (p.multiscale && iterations >= 2) {
    K.decimateLab(lab, width, height, clab);
    K.gridLabels(clabels, cw, ch, 2, nx, ny, stepX, stepY, colCell);
    for (let it = 0; it < iterations - 1; it++) {
      K.assign(clab, cw, ch, 2, cv, k, rx, ry, spatialWeight, dist, clabels, dxTerm);
      done++;
      if (!K.updateCentres(clabels, clab, cw, ch, 2, cv, k, sums, counts) && p.stopWhenConverged) break;
    }
    K.refineAssign(lab, width, height, clabels, cv, spatialWeight, labels);
    done++;
  } else {
    K.gridLabels(labels, width, height, 1, nx, ny, stepX, stepY, colCell);
    for (let it = 0; it < iterations; it++) {
      K.assign(lab, width, height, 1, cv, k, rx, ry, spatialWeight, dist, labels, dxTerm);
      done++;
      if (it === iterations - 1 || (!K.updateCentres(labels, lab, width, height, 1, cv, k, sums, counts) && p.stopWhenConverged)) break;
    }
  }
  const count = p.enforceConnectivity
    ? K.enforceConnectivity(labels, width, height, p.minSize, runStart, rowRun, parent, size, out)
    : K.compactLabels(labels, n, k, map, out);
  // new + set: slice() of a view on WebAssembly memory is several times slower in V8.
  const labelsOut = new Int32Array(n);
  labelsOut.set(new Int32Array(K.memory.buffer, out, n));
  return { labels: labelsOut, count, iterations: done };
}
