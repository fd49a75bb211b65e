/**
 * WebAssembly SIMD path of the permutohedral lattice's hot kernels (issue 13): the build (embedding,
 * ranks, vertex hash table), the neighbour table, splat, the Gaussian blur passes, slice and the
 * learned blur. The module is compiled from `assembly/lattice.ts` (AssemblyScript) by
 * `npm run build:wasm` into `lattice-wasm.generated.ts` (base64), so Node, bundlers and browsers load
 * it without file-system access or fetch. `lattice.ts` dispatches here and keeps the TypeScript
 * kernels as the reference; layouts are the ones documented there.
 *
 * Backend: the WebAssembly kernels are used when the engine validates the module (WebAssembly with
 * SIMD: Node >= 16.4, current browsers) unless `VPROP_WASM=0` is set in Node's environment or
 * `setLatticeBackend('typescript')` was called. The module (about 9 KiB) is compiled synchronously
 * on first use (checked in Node and in Chromium's main thread and workers); where that is refused
 * (older Chrome main threads allowed only 4 KiB synchronously) it is compiled asynchronously and the
 * TypeScript kernels run until it is ready (`initLatticeWasm()` waits for it).
 *
 * Memory: one linear memory per process, grown on demand and reused by every call; it does not
 * shrink (WebAssembly memories cannot), so it stays at the largest call's size until
 * `releaseLatticeWasm()` drops the instance. The vertex ids and barycentric weights (and keys,
 * hash table and neighbour table) of the most recently used lattice stay resident, so a filter
 * after a build, or repeated filters on one lattice, copy only their values in and out (the
 * filters stream them through a 1 MiB staging area, a chunk of points at a time). Inputs are
 * copied in and outputs out on every call; no kernel writes its inputs.
 *
 * Results: the build is bit-identical to the TypeScript one (same float64 embedding, same hash
 * table, ids in order of first appearance); splat, blur and slice compute in float32 where the
 * TypeScript kernels round float64 intermediates, so they agree to float32 rounding (relative
 * ~1e-6 of the values' magnitude), not bit for bit.
 */
import type { Lattice } from './lattice.js';
import { LATTICE_WASM_BASE64 } from './lattice-wasm.generated.js';

/** Which kernels the lattice functions run. */
export type LatticeBackend = 'wasm' | 'typescript';

interface Kernels {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  build(
    fin: number,
    nIn: number,
    fout: number,
    nOut: number,
    shared: number,
    d: number,
    scale: number,
    ids: number,
    bary: number,
    heap: number,
  ): number;
  resultKeys(): number;
  resultTable(): number;
  resultCap(): number;
  steps(keys: number, M: number, d: number, table: number, cap: number, out: number, scratch: number): void;
  splat(
    ids: number,
    bary: number,
    d1: number,
    start: number,
    n: number,
    vals: number,
    C: number,
    out: number,
    M: number,
    scratch: number,
  ): void;
  splatAdd(ids: number, bary: number, d1: number, start: number, n: number, vals: number, C: number, out: number, scratch: number): void;
  slice(
    ids: number,
    bary: number,
    d1: number,
    start: number,
    n: number,
    V: number,
    C: number,
    scale: number,
    out: number,
    scratch: number,
  ): void;
  blurPass(steps: number, M: number, src: number, dst: number, C: number): void;
  blurLearned(taps: number, F: number, M: number, S: number, C: number, Wt: number, O: number, B: number): void;
  scaleRows(y: number, O: number, n: number, norm: number): void;
}

/** The parts of the WebAssembly JS API used here (declared locally: Node's types lack it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  compile(bytes: Uint8Array): Promise<object>;
}

/** Thrown when the WebAssembly memory cannot grow; the callers fall back to TypeScript. */
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
  const bin = atob(LATTICE_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function instantiate(api: WasmApi, module: object): Kernels {
  const kernels = new api.Instance(module, {}).exports as Kernels;
  heapStart = align(kernels.heapBase());
  resident = null;
  return kernels;
}

function startAsync(api: WasmApi, bytes: Uint8Array): Promise<boolean> {
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
  return pendingLoad;
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
    if (typeof api.compile === 'function') void startAsync(api, bytes);
  }
  return K;
}

/** The kernels to use now, or null for the TypeScript ones. */
export function wasmKernels(): Kernels | null {
  return preference === 'auto' ? load() : null;
}

/**
 * Chooses the lattice kernels: 'auto' (the default) uses WebAssembly SIMD where available, else
 * TypeScript; 'typescript' forces the reference kernels. Env `VPROP_WASM=0` (Node) starts the
 * process with 'typescript'. Returns the previous choice.
 */
export function setLatticeBackend(backend: 'auto' | 'typescript'): 'auto' | 'typescript' {
  if (backend !== 'auto' && backend !== 'typescript')
    throw new RangeError(`setLatticeBackend: 'auto' or 'typescript', got ${String(backend)}`);
  const prev = preference;
  preference = backend;
  return prev;
}

/** The kernels the lattice functions run now (loads the WebAssembly module if not yet tried). */
export function latticeBackend(): LatticeBackend {
  return wasmKernels() ? 'wasm' : 'typescript';
}

/**
 * Loads the WebAssembly module, asynchronously where synchronous compilation is refused (browser
 * main threads); resolves to whether the WebAssembly kernels are available.
 */
export function initLatticeWasm(): Promise<boolean> {
  load();
  if (loadState === 'pending' && pendingLoad) return pendingLoad;
  return Promise.resolve(K !== null);
}

/** Current size of the WebAssembly memory in bytes (0 when not loaded): a diagnostic. */
export function latticeWasmMemoryBytes(): number {
  return K ? K.memory.buffer.byteLength : 0;
}

/** Drops the WebAssembly instance and its memory (the next call loads a fresh one). */
export function releaseLatticeWasm(): void {
  if (loadState === 'pending') return;
  K = null;
  resident = null;
  loadState = 'idle';
}

/**
 * Runs `f` with the kernels, or returns undefined (the caller then runs TypeScript) when the
 * backend is 'typescript', the module is unavailable or the memory cannot grow far enough.
 */
export function tryWasm<T>(f: (k: Kernels) => T): T | undefined {
  const k = wasmKernels();
  if (!k) return undefined;
  try {
    return f(k);
  } catch (e) {
    if (e instanceof WasmOutOfMemory) {
      resident = null;
      return undefined;
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: [static data][resident lattice][per-call scratch]
// ---------------------------------------------------------------------------------------------

let heapStart = 0;

/** Regions start on 64-byte cache lines (rows of 16k channels then never straddle an extra line). */
function align(x: number): number {
  // Arithmetic, not bitwise: offsets past 2^31 would turn negative under `& ~63`.
  return Math.ceil(x / 64) * 64;
}

/** Grows the memory so that bytes [0, end) exist. */
function reserve(k: Kernels, end: number): void {
  const have = k.memory.buffer.byteLength;
  if (end <= have) return;
  if (end > 2 ** 32 - 65536) throw new WasmOutOfMemory('lattice wasm: more than 4 GiB needed');
  try {
    k.memory.grow(Math.ceil((end - have) / 65536));
  } catch {
    throw new WasmOutOfMemory(`lattice wasm: cannot grow the memory to ${end} bytes`);
  }
}

/** Sequential allocation of scratch regions for one call, from `start`. */
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

/** Scratch bytes the splat and slice kernels need: four rows of C floats and d+1 row pointers. */
function kernelScratch(d1: number, C: number): number {
  return 16 * C + 4 * d1 + 64;
}

function f32View(k: Kernels, ptr: number, len: number): Float32Array {
  return new Float32Array(k.memory.buffer, ptr, len);
}
function i32View(k: Kernels, ptr: number, len: number): Int32Array {
  return new Int32Array(k.memory.buffer, ptr, len);
}

/** What of one lattice is in the WebAssembly memory, and where. */
interface Resident {
  /**
   * The lattice itself, held strongly (one lattice at a time): a WeakRef would keep every lattice
   * it ever pointed to alive until the current synchronous job ends (KeepDuringJob), so a
   * synchronous loop of builds and filters (DenseCRF over many frames) grew without bound.
   */
  readonly lat: Lattice;
  readonly vertexIds: Int32Array;
  readonly bary: Float32Array;
  readonly ids: number;
  readonly baryPtr: number;
  keysArr: Int32Array | null;
  tableArr: Int32Array | null;
  keys: number;
  table: number;
  stepsArr: Int32Array | null;
  steps: number;
  end: number;
}

let resident: Resident | null = null;

/** Makes `lat`'s vertex ids and weights resident (copying them in unless they are already). */
function residentFor(k: Kernels, lat: Lattice): Resident {
  const r = resident;
  if (r && r.lat === lat && r.vertexIds === lat.vertexIds && r.bary === lat.bary) return r;
  resident = null;
  const len = lat.nPoints * (lat.d + 1);
  const a = new Arena(heapStart);
  const ids = a.take(len * 4);
  const baryPtr = a.take(len * 4);
  reserve(k, a.top);
  i32View(k, ids, len).set(lat.vertexIds.subarray(0, len));
  f32View(k, baryPtr, len).set(lat.bary.subarray(0, len));
  resident = {
    lat,
    vertexIds: lat.vertexIds,
    bary: lat.bary,
    ids,
    baryPtr,
    keysArr: null,
    tableArr: null,
    keys: 0,
    table: 0,
    stepsArr: null,
    steps: 0,
    end: a.top,
  };
  return resident;
}

/** Appends `src` to the resident region; returns its pointer. */
function appendResident(k: Kernels, r: Resident, src: Int32Array): number {
  const a = new Arena(r.end);
  const p = a.take(src.length * 4);
  reserve(k, a.top);
  i32View(k, p, src.length).set(src);
  r.end = a.top;
  return p;
}

function residentSteps(k: Kernels, lat: Lattice, steps: Int32Array): Resident {
  const r = residentFor(k, lat);
  if (r.stepsArr !== steps) {
    r.steps = appendResident(k, r, steps);
    r.stepsArr = steps;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Kernels on lattices
// ---------------------------------------------------------------------------------------------

/** The parts of a lattice the build produces. */
export interface BuiltParts {
  M: number;
  vertexIds: Int32Array;
  bary: Float32Array;
  keys: Int32Array;
  table: Int32Array;
}

/**
 * Builds a lattice's parts (see `buildLattice`; the caller has validated the arguments) and hands
 * them to `make`, whose lattice becomes resident. Returns undefined when a feature is not finite or
 * too large (the caller's TypeScript build then reports it).
 */
export function wasmBuild(
  k: Kernels,
  inFeatures: Float32Array,
  nIn: number,
  outFeatures: Float32Array | null,
  nOut: number,
  d: number,
  scale: Float64Array,
  make: (parts: BuiltParts) => Lattice,
): Lattice | undefined {
  resident = null;
  const shared = outFeatures === null;
  const nPoints = shared ? nIn : nIn + nOut;
  const len = nPoints * (d + 1);
  const a = new Arena(heapStart);
  const ids = a.take(len * 4);
  const bary = a.take(len * 4);
  const fin = a.take(d * nIn * 4);
  const fout = shared ? 0 : a.take(d * nOut * 4);
  const sc = a.take(d * 8);
  reserve(k, a.top + 65536);
  f32View(k, fin, d * nIn).set(inFeatures.subarray(0, d * nIn));
  if (!shared) f32View(k, fout, d * nOut).set(outFeatures.subarray(0, d * nOut));
  new Float64Array(k.memory.buffer, sc, d).set(scale);
  const M = k.build(fin, nIn, fout, nOut, shared ? 1 : 0, d, sc, ids, bary, a.top);
  if (M === -2) throw new WasmOutOfMemory('lattice wasm: build out of memory');
  if (M < 0) return undefined;
  const cap = k.resultCap();
  const keys = i32View(k, k.resultKeys(), M * d).slice();
  const table = i32View(k, k.resultTable(), cap).slice();
  const lat = make({ M, vertexIds: i32View(k, ids, len).slice(), bary: f32View(k, bary, len).slice(), keys, table });
  // Keep ids, weights, keys and table resident: [ids][bary][keys][table].
  const b = new Arena(bary + len * 4);
  const keysPtr = b.take(keys.length * 4);
  const tablePtr = b.take(cap * 4);
  i32View(k, keysPtr, keys.length).set(keys);
  i32View(k, tablePtr, cap).set(table);
  resident = {
    lat,
    vertexIds: lat.vertexIds,
    bary: lat.bary,
    ids,
    baryPtr: bary,
    keysArr: lat.keys,
    tableArr: table,
    keys: keysPtr,
    table: tablePtr,
    stepsArr: null,
    steps: 0,
    end: b.top,
  };
  return lat;
}

/** The neighbour table of `latticeSteps`, from the lattice's keys and their lookup `table`. */
export function wasmSteps(k: Kernels, lat: Lattice, table: Int32Array): Int32Array {
  const r = residentFor(k, lat);
  if (r.keysArr !== lat.keys || r.tableArr !== table) {
    r.keys = appendResident(k, r, lat.keys.subarray(0, lat.M * lat.d));
    r.keysArr = lat.keys;
    r.table = appendResident(k, r, table);
    r.tableArr = table;
  }
  const len = (lat.d + 1) * lat.M * 2;
  const a = new Arena(r.end);
  const out = a.take(len * 4);
  const scratch = a.take((lat.d + 1) * 8);
  reserve(k, a.top);
  k.steps(r.keys, lat.M, lat.d, r.table, table.length, out, scratch);
  const steps = i32View(k, out, len).slice();
  // The steps stay resident for the blurs.
  r.end = align(out + len * 4 + 16);
  r.steps = out;
  r.stepsArr = steps;
  return steps;
}

/** Splat of points [start, start+n) (planar `C x n`) into `out`, `(M+1) x C`. */
export function wasmSplat(k: Kernels, lat: Lattice, start: number, n: number, values: Float32Array, C: number, out: Float32Array): void {
  const r = residentFor(k, lat);
  const a = new Arena(r.end);
  const vals = a.take(C * n * 4);
  const S = a.take((lat.M + 1) * C * 4);
  const scratch = a.take(kernelScratch(lat.d + 1, C));
  reserve(k, a.top);
  f32View(k, vals, C * n).set(values.subarray(0, C * n));
  k.splat(r.ids, r.baryPtr, lat.d + 1, start, n, vals, C, S, lat.M, scratch);
  out.set(f32View(k, S, (lat.M + 1) * C));
}

/** Slice at points [start, start+n) of `V` (`(M+1) x C`) into planar `out`, times `scale`. */
export function wasmSlice(
  k: Kernels,
  lat: Lattice,
  start: number,
  n: number,
  V: Float32Array,
  C: number,
  scale: number,
  out: Float32Array,
): void {
  const r = residentFor(k, lat);
  const a = new Arena(r.end);
  const len = (lat.M + 1) * C;
  const Vp = a.take(len * 4);
  const y = a.take(C * n * 4);
  const scratch = a.take(kernelScratch(lat.d + 1, C));
  reserve(k, a.top);
  const v = f32View(k, Vp, len);
  v.set(V.subarray(0, len));
  // Slot 0 is read as zero whatever the input holds there.
  v.fill(0, 0, C);
  k.slice(r.ids, r.baryPtr, lat.d + 1, start, n, Vp, C, scale, y, scratch);
  out.set(f32View(k, y, C * n));
}

/** d+1 Gaussian passes between buffers p and q (p holds the input); returns the result's pointer. */
function passes(k: Kernels, lat: Lattice, r: Resident, C: number, reverse: boolean, p: number, q: number): number {
  const { d, M } = lat;
  let src = p;
  let dst = q;
  for (let s = 0; s <= d; s++) {
    const j = reverse ? d - s : s;
    k.blurPass(r.steps + j * M * 2 * 4, M, src, dst, C);
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/** Gaussian blur (`blurGaussian`, or its adjoint with `reverse`) of `V` into `out`, both `(M+1) x C`. */
export function wasmBlurGaussian(
  k: Kernels,
  lat: Lattice,
  steps: Int32Array,
  V: Float32Array,
  C: number,
  reverse: boolean,
  out: Float32Array,
): void {
  const r = residentSteps(k, lat, steps);
  const len = (lat.M + 1) * C;
  const a = new Arena(r.end);
  const p = a.take(len * 4);
  const q = a.take(len * 4);
  reserve(k, a.top);
  const v = f32View(k, p, len);
  v.set(V.subarray(0, len));
  v.fill(0, 0, C);
  const res = passes(k, lat, r, C, reverse, p, q);
  out.set(f32View(k, res, len));
}

/** What `wasmFilter` runs between splat and slice. */
export type WasmBlur =
  | { kind: 'none' }
  | { kind: 'gaussian'; steps: Int32Array }
  | { kind: 'learned'; taps: Int32Array; F: number; Wt: Float32Array; O: number };

/** Learned blur (`blurLearned`) of S (`(M+1) x C`) into `out` (`(M+1) x O`), Wt re-laid `F x O x C`. */
export function wasmBlurLearned(
  k: Kernels,
  lat: Lattice,
  taps: Int32Array,
  F: number,
  S: Float32Array,
  C: number,
  Wt: Float32Array,
  O: number,
  out: Float32Array,
): void {
  const a = new Arena(residentFor(k, lat).end);
  const M = lat.M;
  const Sp = a.take((M + 1) * C * 4);
  const Bp = a.take((M + 1) * O * 4);
  const tp = a.take(M * F * 4);
  const wp = a.take(F * O * C * 4);
  reserve(k, a.top);
  const s = f32View(k, Sp, (M + 1) * C);
  s.set(S.subarray(0, (M + 1) * C));
  s.fill(0, 0, C);
  i32View(k, tp, M * F).set(taps.subarray(0, M * F));
  f32View(k, wp, F * O * C).set(Wt.subarray(0, F * O * C));
  k.blurLearned(tp, F, M, Sp, C, wp, O, Bp);
  out.set(f32View(k, Bp, (M + 1) * O));
}

/**
 * slice(blur(splat(values))) at the output points, times `scale`, times `norm[p]` per output point
 * when given: `gaussianFilter`, `filterAfter` and `afterNormaliser` in one pass through the
 * WebAssembly memory. `values` planar `C x nIn`; `out` planar `O x nOut` (O = C unless learned).
 */
export function wasmFilter(
  k: Kernels,
  lat: Lattice,
  values: Float32Array | null,
  C: number,
  blur: WasmBlur,
  scale: number,
  norm: Float32Array | null,
  out: Float32Array,
): void {
  const r = blur.kind === 'gaussian' ? residentSteps(k, lat, blur.steps) : residentFor(k, lat);
  const { M, nIn, nOut } = lat;
  const d1 = lat.d + 1;
  const O = blur.kind === 'learned' ? blur.O : C;
  // Values go in and results come out through a staging area of at most STAGE_BYTES, a chunk of
  // points at a time (all channels), so that they pass through the cache once instead of being
  // written to and read back from a full-size copy in main memory.
  const pIn = chunkPoints(C, nIn);
  const pOut = chunkPoints(O, nOut);
  const a = new Arena(r.end);
  const stage = a.take(Math.max(C * pIn, O * pOut) * 4);
  const S = a.take((M + 1) * C * 4);
  const B = blur.kind === 'none' ? S : a.take((M + 1) * O * 4);
  const np = norm ? a.take(nOut * 4) : 0;
  const tp = blur.kind === 'learned' ? a.take(M * blur.F * 4) : 0;
  const wp = blur.kind === 'learned' ? a.take(blur.F * O * C * 4) : 0;
  const scratch = a.take(kernelScratch(d1, Math.max(C, O)));
  reserve(k, a.top);
  const buf = k.memory.buffer;
  f32View(k, S, (M + 1) * C).fill(0);
  for (let k0 = 0; k0 < nIn; k0 += pIn) {
    const p = Math.min(pIn, nIn - k0);
    const st = new Float32Array(buf, stage, C * p);
    // values === null: all ones (the AFTER normaliser's splat).
    if (values) for (let c = 0; c < C; c++) st.set(values.subarray(c * nIn + k0, c * nIn + k0 + p), c * p);
    else st.fill(1);
    k.splatAdd(r.ids, r.baryPtr, d1, k0, p, stage, C, S, scratch);
  }
  if (norm) f32View(k, np, nOut).set(norm.subarray(0, nOut));
  let V = S;
  if (blur.kind === 'gaussian') V = passes(k, lat, r, C, false, S, B);
  else if (blur.kind === 'learned') {
    i32View(k, tp, M * blur.F).set(blur.taps.subarray(0, M * blur.F));
    f32View(k, wp, blur.F * O * C).set(blur.Wt.subarray(0, blur.F * O * C));
    k.blurLearned(tp, blur.F, M, S, C, wp, O, B);
    V = B;
  }
  for (let k0 = 0; k0 < nOut; k0 += pOut) {
    const p = Math.min(pOut, nOut - k0);
    k.slice(r.ids, r.baryPtr, d1, lat.outStart + k0, p, V, O, scale, stage, scratch);
    if (norm) k.scaleRows(stage, O, p, np + k0 * 4);
    const st = new Float32Array(buf, stage, O * p);
    for (let o = 0; o < O; o++) out.set(st.subarray(o * p, (o + 1) * p), o * nOut + k0);
  }
}

/** Staging area of `wasmFilter`: large enough to amortise the per-chunk calls, small enough for L2/L3. */
const STAGE_BYTES = 1 << 20;

/**
 * Points per staged chunk for C channels (all n when they fit): a multiple of 4, at least 64, and
 * not a multiple of 1024, so that the C planar rows of a chunk (p floats apart) do not all map to
 * the same cache sets, which made a power-of-two chunk 25 % slower than none at C = 32.
 */
function chunkPoints(C: number, n: number): number {
  if (C * n * 4 <= STAGE_BYTES) return Math.max(n, 1);
  return Math.max(64, (Math.floor(STAGE_BYTES / (4 * C)) & ~3) - 12);
}
