/**
 * ONNX Runtime sessions behind a small runtime-agnostic interface.
 *
 * - Node: `loadModel(pathOrBytes)` imports `onnxruntime-node` lazily (on first use), so importing
 *   this module never loads a native binary and browser bundles never see `node:fs`.
 * - Browser: pass the runtime, `loadModel(bytes, { runtime: await import('onnxruntime-web') })`.
 *
 * Tensors are plain `{ data: Float32Array, dims }` (row-major, NCHW for images), so callers never
 * touch the runtime's Tensor class.
 */
import type * as Ort from 'onnxruntime-node';
import { type OnnxMetadata, readOnnxMetadata } from './metadata.js';

/** A float32 tensor: `data` row-major over `dims`. */
export interface TensorData {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface TensorInfo {
  readonly name: string;
  /** Symbolic dimensions are strings ('N', 'H'), fixed ones numbers; empty when unknown. */
  readonly shape: ReadonlyArray<number | string>;
}

export interface OnnxModel {
  /** Where it came from (path or a description), for messages. */
  readonly source: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly metadata: OnnxMetadata;
  /** Run with float32 feeds; returns every output (or those named in `fetch`). */
  run(feeds: Readonly<Record<string, TensorData>>, fetch?: readonly string[]): Promise<Record<string, TensorData>>;
  release(): Promise<void>;
}

/** The part of the `onnxruntime-node` / `onnxruntime-web` module that vprop uses. */
export type OrtRuntime = Pick<typeof Ort, 'InferenceSession' | 'Tensor'>;

export interface LoadModelOptions {
  /** An ONNX Runtime module; default `onnxruntime-node`, imported on first use. */
  readonly runtime?: OrtRuntime;
  /** Intra-op threads (default: the runtime's choice). */
  readonly threads?: number;
  /** Name used in messages when loading from bytes. */
  readonly name?: string;
}

let nodeRuntime: Promise<OrtRuntime> | undefined;

/** `onnxruntime-node`, imported once per process. */
export function nodeOrt(): Promise<OrtRuntime> {
  if (!nodeRuntime) {
    nodeRuntime = import('onnxruntime-node').then(
      (m) =>
        (m as { default?: OrtRuntime }).default?.InferenceSession ? (m as { default: OrtRuntime }).default : (m as unknown as OrtRuntime),
      (err: unknown) => {
        nodeRuntime = undefined;
        throw new Error(`onnxruntime-node could not be loaded: ${(err as Error).message}`);
      },
    );
  }
  return nodeRuntime;
}

async function readBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read the model file (${code === 'ENOENT' ? 'no such file' : (err as Error).message})`);
  }
}

/**
 * Load an ONNX model from a file path (Node) or bytes. Errors name the file and the problem.
 */
export async function loadModel(source: string | Uint8Array, opts: LoadModelOptions = {}): Promise<OnnxModel> {
  const name = typeof source === 'string' ? source : (opts.name ?? '<ONNX bytes>');
  const bytes = typeof source === 'string' ? await readBytes(source) : source;
  let metadata: OnnxMetadata;
  try {
    metadata = readOnnxMetadata(bytes, name);
  } catch (err) {
    throw new Error(`${name}: not an ONNX model (${(err as Error).message})`);
  }
  const ort = opts.runtime ?? (await nodeOrt());
  const sessionOptions: Ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (opts.threads !== undefined) (sessionOptions as { intraOpNumThreads?: number }).intraOpNumThreads = opts.threads;
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (err) {
    throw new Error(`${name}: ONNX Runtime cannot load the model: ${(err as Error).message}`);
  }
  const info = (list: readonly Ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): TensorInfo[] =>
    names.map((n) => {
      const m = list?.find((v) => v.name === n);
      return { name: n, shape: m?.isTensor ? [...m.shape] : [] };
    });
  const inputs = info(session.inputMetadata, session.inputNames);
  const outputs = info(session.outputMetadata, session.outputNames);
  return {
    source: name,
    inputs,
    outputs,
    metadata,
    async run(feeds, fetch) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const i of inputs) {
        const f = feeds[i.name];
        if (!f) throw new Error(`${name}: missing input "${i.name}" (inputs: ${inputs.map((x) => x.name).join(', ')})`);
        checkDims(name, i, f);
        ortFeeds[i.name] = new ort.Tensor('float32', f.data, [...f.dims]);
      }
      const res = fetch ? await session.run(ortFeeds, [...fetch]) : await session.run(ortFeeds);
      const out: Record<string, TensorData> = {};
      for (const [k, v] of Object.entries(res)) {
        const t = v as Ort.Tensor;
        if (t.type !== 'float32') throw new Error(`${name}: output "${k}" is ${t.type}, expected float32`);
        out[k] = { data: t.data as Float32Array, dims: [...t.dims] };
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}

function checkDims(model: string, info: TensorInfo, t: TensorData): void {
  let n = 1;
  for (const d of t.dims) n *= d;
  if (t.data.length !== n)
    throw new RangeError(`${model}: input "${info.name}" has ${t.data.length} values for dims [${t.dims.join(', ')}]`);
  if (info.shape.length === 0) return;
  if (info.shape.length !== t.dims.length) {
    throw new RangeError(
      `${model}: input "${info.name}" needs rank ${info.shape.length} [${info.shape.join(', ')}], got [${t.dims.join(', ')}]`,
    );
  }
  info.shape.forEach((d, i) => {
    if (typeof d === 'number' && d > 0 && d !== t.dims[i]) {
      throw new RangeError(
        `${model}: input "${info.name}" dimension ${i} must be ${d} (shape [${info.shape.join(', ')}]), got ${t.dims[i]}`,
      );
    }
  });
}
