/**
 * Farnebäck optical flow through OpenCV.js (`@techstark/opencv-js`, WebAssembly). The fallback
 * flow backend: slower than native DIS but needs no compiler and also runs in the browser.
 */

/** The subset of the OpenCV.js API used here (its bundled typings do not type the module object). */
export interface OpenCvMat {
  data: Uint8Array;
  data32F: Float32Array;
  rows: number;
  cols: number;
  type(): number;
  delete(): void;
}

export interface OpenCvModule {
  Mat: new (rows?: number, cols?: number, type?: number) => OpenCvMat;
  CV_8UC1: number;
  CV_32FC2: number;
  calcOpticalFlowFarneback(
    prev: OpenCvMat,
    next: OpenCvMat,
    flow: OpenCvMat,
    pyrScale: number,
    levels: number,
    winsize: number,
    iterations: number,
    polyN: number,
    polySigma: number,
    flags: number,
  ): void;
  getBuildInformation(): string;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  calledRun?: boolean;
  then?: (cb: (m: OpenCvModule) => void) => unknown;
}

/**
 * Farnebäck parameters from the GRFP reference (ANCHORS §8.2): pyr_scale 0.5, levels 3,
 * winsize 15, iterations 3, poly_n 5, poly_sigma 1.2, flags 0.
 */
export const FARNEBACK_PARAMS = {
  pyrScale: 0.5,
  levels: 3,
  winsize: 15,
  iterations: 3,
  polyN: 5,
  polySigma: 1.2,
  flags: 0,
} as const;

// Boxed so that no promise ever resolves *to* the module: it has an Emscripten `then` that
// calls back with itself, which makes `await module` recurse forever.
let loading: Promise<{ cv: OpenCvModule }> | undefined;

/**
 * Loads OpenCV.js once per process (about 0.5 s) and waits for its WebAssembly runtime. Returns
 * the module inside a box (see above). A failed load is not cached, so it can be retried.
 */
export function loadOpenCv(): Promise<{ cv: OpenCvModule }> {
  loading ??= importOpenCv().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

type Listener = (...args: unknown[]) => void;
interface ListenerHost {
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): unknown;
}

async function importOpenCv(): Promise<{ cv: OpenCvModule }> {
  const host = typeof process === 'object' && typeof process.listeners === 'function' ? (process as unknown as ListenerHost) : undefined;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = host ? events.map((e) => new Set(host.listeners(e))) : [];
  const mod = (await import('@techstark/opencv-js')) as unknown as { default?: unknown };
  // The Emscripten glue registers process-wide handlers in Node that rethrow any uncaught
  // exception and abort on any unhandled rejection; they would hijack the host's own error
  // handling, so remove exactly the listeners the import added.
  if (host) {
    events.forEach((e, i) => {
      for (const l of host.listeners(e)) if (!before[i].has(l)) host.removeListener(e, l);
    });
  }
  const raw: unknown = mod.default ?? mod;
  // Newer OpenCV.js builds export a real promise of a then-less module.
  const cv = (raw instanceof Promise ? await raw : raw) as OpenCvModule;
  if (!cv.calledRun) {
    await new Promise<void>((resolveReady, reject) => {
      // An aborted WebAssembly start never calls back; fail loudly instead of hanging forever.
      const timer = setTimeout(() => reject(new Error('OpenCV.js runtime did not initialise within 60 s')), 60_000);
      const ready = () => {
        clearTimeout(timer);
        resolveReady();
      };
      // 4.12's Emscripten `then(cb)` chains onto onRuntimeInitialized, or calls back at once.
      if (typeof cv.then === 'function') cv.then(ready);
      else {
        const m = cv as { onRuntimeInitialized?: () => void };
        const prev = m.onRuntimeInitialized;
        m.onRuntimeInitialized = () => {
          prev?.();
          ready();
        };
      }
    });
  }
  if (typeof cv.calcOpticalFlowFarneback !== 'function') {
    throw new Error('the installed OpenCV.js build has no calcOpticalFlowFarneback');
  }
  return { cv };
}

/**
 * Farnebäck flow from `curGray` to `prevGray` (8-bit, row-major `height x width`).
 * @returns OpenCV's interleaved `(dx, dy)` per pixel, `out[2 * (y * width + x) + {0: dx, 1: dy}]`
 */
export function farnebackFlow(cv: OpenCvModule, curGray: Uint8Array, prevGray: Uint8Array, width: number, height: number): Float32Array {
  const mats: OpenCvMat[] = [];
  try {
    // Every Mat lives on the WebAssembly heap and is freed only by delete(), hence the finally.
    const cur = new cv.Mat(height, width, cv.CV_8UC1);
    mats.push(cur);
    cur.data.set(curGray);
    const prev = new cv.Mat(height, width, cv.CV_8UC1);
    mats.push(prev);
    prev.data.set(prevGray);
    const flow = new cv.Mat();
    mats.push(flow);
    const p = FARNEBACK_PARAMS;
    cv.calcOpticalFlowFarneback(cur, prev, flow, p.pyrScale, p.levels, p.winsize, p.iterations, p.polyN, p.polySigma, p.flags);
    if (flow.rows !== height || flow.cols !== width || flow.type() !== cv.CV_32FC2) {
      throw new Error(`OpenCV.js returned a ${flow.cols}x${flow.rows} flow of type ${flow.type()}`);
    }
    // Copy out: data32F is a view of the heap that dies with the Mat (and moves if the heap grows).
    return new Float32Array(flow.data32F);
  } finally {
    for (const m of mats) m.delete();
  }
}
