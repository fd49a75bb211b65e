/**
 * Converts the frozen ImageNet trunk of nsfwjs's MobileNetV2 (npm `nsfwjs@4.4.0`, MIT; a Keras
 * 2.2.4 MobileNetV2, alpha 1.0) into the bundled ONNX model `src/models/weights/mobilenetv2-s16.onnx`
 * that `src/models/backbone.ts` runs.
 *
 *   node --import tsx scripts/convert-backbone.ts [--from DIR] [--out FILE]
 *     --from  the nsfwjs model folder (default node_modules/nsfwjs/dist/models/mobilenet_v2)
 *     --out   default src/models/weights/mobilenetv2-s16.onnx (written atomically)
 *
 * What it does:
 * - reads `model.min.js` (UMD: { modelTopology, weightsManifest }) and `group1-shard1of1.min.js`
 *   (UMD: the weight bytes in base64) and dequantizes (`w = min + scale * q`);
 * - keeps the layers up to `block_10_project_BN` (every one `trainable: false` in the topology,
 *   checked): outputs `s4` = block_2_add (24 ch, stride 4), `s8` = block_5_add (32 ch, stride 8),
 *   `s16` = block_10_project_BN (96 ch, stride 16);
 * - folds each BatchNormalization (its own epsilon) into the conv before it, Keras HWIO kernels to
 *   ONNX OIHW (depthwise [kh,kw,C,m] → [C*m,1,kh,kw], group C), ZeroPadding2D into the next conv's
 *   pads, Keras 'same' to symmetric pads (stride 1) or SAME_UPPER (TensorFlow's rule: the extra
 *   row/column at the bottom/right), ReLU(max_value 6) to Clip(0, 6), Add to Add;
 * - preprocessing is in the graph: input `image` is [1, 3, H, W] RGB in 0..255; the model was used
 *   and fine-tuned on x/255 (nsfwjs's `infer` divides by 255, and the frozen layers' batch-norm
 *   moving statistics match x/255 on DAVIS frames, not MobileNet's usual x/127.5-1: see
 *   training/README.md), and x/255 is folded into Conv1's kernel (exact: the zero padding is 0 in
 *   both units);
 * - writes the ONNX protobuf with the small encoder below (opset 13, IR version 8).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';

// ---------------------------------------------------------------------------------------------
// A minimal protobuf / ONNX writer (the subset of onnx.proto needed for a static CNN graph).
// ---------------------------------------------------------------------------------------------

/** Protobuf wire format: appends fields to a growing byte buffer. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private rawVarint(v: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement (10 bytes), as protobuf does.
    let x = BigInt.asUintN(64, v);
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt(field * 8 + wire));
  }

  /** Varint field (int32, int64, enum, bool). */
  varint(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.rawVarint(BigInt(value));
    return this;
  }

  /** 32-bit float field (wire type 5). */
  float(field: number, value: number): this {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  /** Length-delimited field: bytes, a UTF-8 string or an embedded message. */
  bytes(field: number, value: Uint8Array | string | ProtoWriter): this {
    const b = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof ProtoWriter ? value.finish() : value;
    this.tag(field, 2);
    this.rawVarint(BigInt(b.length));
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

export type OnnxAttribute =
  | { readonly name: string; readonly f: number }
  | { readonly name: string; readonly i: number }
  | { readonly name: string; readonly ints: readonly number[] }
  | { readonly name: string; readonly s: string };

export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly attributes?: readonly OnnxAttribute[];
}

/** An initializer: float32 (raw little-endian data) or int64. */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

/** A graph input or output: float32 with fixed (number) or symbolic (string) dimensions. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dims: ReadonlyArray<number | string>;
}

export interface OnnxModelSpec {
  readonly graphName: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
}

// onnx.proto field numbers and enums.
const ONNX = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5 },
  attr: { name: 1, f: 2, i: 3, s: 4, ints: 8, type: 20 },
  attrType: { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 },
  tensor: { dims: 1, dataType: 2, int64Data: 7, name: 8, rawData: 9 },
  dataType: { FLOAT: 1, INT64: 7 },
  valueInfo: { name: 1, type: 2 },
  typeProto: { tensorType: 1 },
  typeTensor: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;
export const IR_VERSION = 8;
export const OPSET = 13;

function encodeTensor(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(ONNX.tensor.dims, d);
  if (t.data instanceof Float32Array) {
    w.varint(ONNX.tensor.dataType, ONNX.dataType.FLOAT);
    w.bytes(ONNX.tensor.name, t.name);
    // raw_data is little-endian; copy so a subarray view or a big-endian host cannot leak through.
    const raw = new Uint8Array(4 * t.data.length);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setFloat32(4 * i, t.data[i], true);
    w.bytes(ONNX.tensor.rawData, raw);
  } else {
    w.varint(ONNX.tensor.dataType, ONNX.dataType.INT64);
    w.bytes(ONNX.tensor.name, t.name);
    for (const v of t.data) w.varint(ONNX.tensor.int64Data, v);
  }
  return w;
}

function encodeAttribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().bytes(ONNX.attr.name, a.name);
  if ('f' in a) w.float(ONNX.attr.f, a.f).varint(ONNX.attr.type, ONNX.attrType.FLOAT);
  else if ('i' in a) w.varint(ONNX.attr.i, a.i).varint(ONNX.attr.type, ONNX.attrType.INT);
  else if ('s' in a) w.bytes(ONNX.attr.s, a.s).varint(ONNX.attr.type, ONNX.attrType.STRING);
  else {
    for (const v of a.ints) w.varint(ONNX.attr.ints, v);
    w.varint(ONNX.attr.type, ONNX.attrType.INTS);
  }
  return w;
}

function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    shape.bytes(
      ONNX.shape.dim,
      typeof d === 'number' ? new ProtoWriter().varint(ONNX.dim.value, d) : new ProtoWriter().bytes(ONNX.dim.param, d),
    );
  }
  const tensorType = new ProtoWriter().varint(ONNX.typeTensor.elemType, ONNX.dataType.FLOAT).bytes(ONNX.typeTensor.shape, shape);
  return new ProtoWriter()
    .bytes(ONNX.valueInfo.name, v.name)
    .bytes(ONNX.valueInfo.type, new ProtoWriter().bytes(ONNX.typeProto.tensorType, tensorType));
}

/** Serialise a model (ModelProto bytes, opset 13 of the default domain, IR version 8). */
export function encodeOnnxModel(spec: OnnxModelSpec): Uint8Array {
  const g = new ProtoWriter();
  for (const n of spec.nodes) {
    const nw = new ProtoWriter();
    for (const i of n.inputs) nw.bytes(ONNX.node.input, i);
    for (const o of n.outputs) nw.bytes(ONNX.node.output, o);
    if (n.name) nw.bytes(ONNX.node.name, n.name);
    nw.bytes(ONNX.node.opType, n.opType);
    for (const a of n.attributes ?? []) nw.bytes(ONNX.node.attribute, encodeAttribute(a));
    g.bytes(ONNX.graph.node, nw);
  }
  g.bytes(ONNX.graph.name, spec.graphName);
  for (const t of spec.initializers) g.bytes(ONNX.graph.initializer, encodeTensor(t));
  for (const v of spec.inputs) g.bytes(ONNX.graph.input, encodeValueInfo(v));
  for (const v of spec.outputs) g.bytes(ONNX.graph.output, encodeValueInfo(v));

  const m = new ProtoWriter().varint(ONNX.model.irVersion, IR_VERSION);
  m.bytes(ONNX.model.producerName, spec.producerName ?? 'vprop');
  if (spec.producerVersion) m.bytes(ONNX.model.producerVersion, spec.producerVersion);
  if (spec.docString) m.bytes(ONNX.model.docString, spec.docString);
  m.bytes(ONNX.model.graph, g);
  m.bytes(ONNX.model.opsetImport, new ProtoWriter().bytes(ONNX.opset.domain, '').varint(ONNX.opset.version, OPSET));
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    m.bytes(ONNX.model.metadataProps, new ProtoWriter().bytes(1, key).bytes(2, value));
  }
  return m.finish();
}

// ---------------------------------------------------------------------------------------------
// The nsfwjs model files.
// ---------------------------------------------------------------------------------------------

export interface KerasLayer {
  readonly name: string;
  readonly class_name: string;
  readonly config: Record<string, unknown>;
  /** `[[[inboundLayer, nodeIndex, tensorIndex, kwargs], ...]]` (one call of the layer). */
  readonly inbound_nodes: ReadonlyArray<ReadonlyArray<readonly [string, number, number, unknown]>>;
}

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: { readonly min: number; readonly scale: number; readonly dtype: string };
}

export interface NsfwjsModelFiles {
  /** The Keras topology (`model.json`'s `modelTopology`). */
  readonly modelTopology: { keras_version?: string; model_config: { config: { layers: KerasLayer[] } } };
  readonly weightSpecs: readonly WeightSpec[];
  /** The weight bytes, still quantized, in manifest order. */
  readonly weightData: Uint8Array;
  readonly version: string;
}

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_NSFWJS_DIR = join(projectRoot, 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
export const DEFAULT_OUT = join(projectRoot, 'src', 'models', 'weights', 'mobilenetv2-s16.onnx');
/** The layers whose outputs the ONNX model returns, by output name. */
export const BACKBONE_OUTPUTS = { s4: 'block_2_add', s8: 'block_5_add', s16: 'block_10_project_BN' } as const;
export const NSFWJS_VERSION = '4.4.0';

/** Read nsfwjs's UMD model files (CommonJS under dist/models) from `dir`. */
export function readNsfwjsModel(dir = DEFAULT_NSFWJS_DIR): NsfwjsModelFiles {
  const require = createRequire(import.meta.url);
  const load = (file: string): unknown => {
    try {
      return require(join(dir, file));
    } catch (err) {
      throw new Error(`${join(dir, file)}: cannot load (${(err as Error).message}); install the devDependency nsfwjs@${NSFWJS_VERSION}`);
    }
  };
  const model = load('model.min.js') as {
    modelTopology?: NsfwjsModelFiles['modelTopology'];
    weightsManifest?: Array<{ paths: string[]; weights: WeightSpec[] }>;
  };
  if (!model.modelTopology || !model.weightsManifest) throw new Error(`${join(dir, 'model.min.js')}: no modelTopology / weightsManifest`);
  const manifest = model.weightsManifest;
  const paths = manifest.flatMap((g) => g.paths);
  if (paths.length !== 1 || paths[0] !== 'group1-shard1of1')
    throw new Error(`${dir}: expected one weight shard, the manifest lists ${paths.join(', ')}`);
  const shard = load('group1-shard1of1.min.js');
  if (typeof shard !== 'string') throw new Error(`${join(dir, 'group1-shard1of1.min.js')}: expected a base64 string`);
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(dir, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // A copied model folder without its package: the version stays unknown.
  }
  return {
    modelTopology: model.modelTopology,
    weightSpecs: manifest.flatMap((g) => g.weights),
    weightData: new Uint8Array(Buffer.from(shard, 'base64')),
    version,
  };
}

export interface Weight {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Dequantize every weight (tfjs's rule: `w = min + scale * q`, uint8 or uint16; float32 as is). */
export function dequantizeWeights(specs: readonly WeightSpec[], bytes: Uint8Array): Map<string, Weight> {
  const out = new Map<string, Weight>();
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const q = s.quantization;
    if (s.dtype !== 'float32') throw new Error(`weight ${s.name}: dtype ${s.dtype} not supported`);
    if (!q) {
      if (offset + 4 * n > bytes.length) throw new Error(`weight ${s.name} runs past the shard`);
      data.set(new Float32Array(bytes.slice(offset, offset + 4 * n).buffer));
      offset += 4 * n;
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const size = q.dtype === 'uint8' ? 1 : 2;
      if (offset + size * n > bytes.length) throw new Error(`weight ${s.name} runs past the shard`);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, size * n);
      for (let i = 0; i < n; i++) data[i] = (size === 1 ? dv.getUint8(i) : dv.getUint16(2 * i, true)) * q.scale + q.min;
      offset += size * n;
    } else {
      throw new Error(`weight ${s.name}: quantization ${q.dtype} not supported`);
    }
    out.set(s.name, { shape: s.shape, data });
  }
  if (offset !== bytes.length) throw new Error(`the weight shard has ${bytes.length} bytes, the manifest describes ${offset}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keras layers → ONNX graph.
// ---------------------------------------------------------------------------------------------

interface ConvDesc {
  readonly layer: string;
  readonly input: string;
  /** OIHW kernel and per-output-channel bias, float64 until BN is folded in. */
  readonly kernel: Float64Array;
  readonly bias: Float64Array;
  readonly dims: readonly [number, number, number, number];
  readonly group: number;
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  /** Explicit [top, left, bottom, right], or SAME_UPPER. */
  readonly pads: readonly number[] | 'SAME_UPPER';
}

export interface BackboneGraph {
  readonly nodes: OnnxNode[];
  readonly initializers: OnnxTensor[];
  /** Output name → channels. */
  readonly channels: Record<string, number>;
  /** The Keras layers translated, in order. */
  readonly layers: string[];
}

/**
 * Translate the Keras layers needed for `outputs` (output name → layer name). `inputScale`
 * multiplies the input before the first layer (folded into the convs that read the input).
 */
export function buildBackboneGraph(
  layers: readonly KerasLayer[],
  weights: ReadonlyMap<string, Weight>,
  outputs: Readonly<Record<string, string>>,
  inputScale: number,
): BackboneGraph {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inbound = (l: KerasLayer): string[] => {
    if (l.inbound_nodes.length > 1) throw new Error(`layer ${l.name} is called more than once (shared layers are not supported)`);
    return (l.inbound_nodes[0] ?? []).map((n) => n[0]);
  };
  const consumers = new Map<string, string[]>();
  for (const l of layers) for (const i of inbound(l)) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);

  // The ancestors of the outputs, in file order (Keras saves layers topologically sorted).
  const needed = new Set<string>();
  const stack = Object.values(outputs);
  while (stack.length) {
    const n = stack.pop() as string;
    if (needed.has(n)) continue;
    const l = byName.get(n);
    if (!l) throw new Error(`no layer "${n}" in the topology`);
    needed.add(n);
    stack.push(...inbound(l));
  }
  const order = layers.filter((l) => needed.has(l.name));
  const outputOf = new Map(Object.entries(outputs).map(([k, v]) => [v, k]));

  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const tensorOf = new Map<string, string>();
  const channelsOf = new Map<string, number>();
  const pendingPad = new Map<string, { input: string; pads: readonly number[] }>();
  const pendingConv = new Map<string, ConvDesc>();
  let inputTensor = '';
  const weight = (name: string): Weight => {
    const w = weights.get(name);
    if (!w) throw new Error(`weight ${name} missing from the manifest`);
    return w;
  };
  const tensorName = (layer: string): string => outputOf.get(layer) ?? layer;
  const only = (layer: string): string | undefined => {
    const c = consumers.get(layer) ?? [];
    return c.length === 1 && !outputOf.has(layer) ? c[0] : undefined;
  };
  const pairs = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v) || v.length !== 2) throw new Error(`${what}: expected a pair, got ${JSON.stringify(v)}`);
    return v.map(Number);
  };

  const emitConv = (c: ConvDesc, out: string): void => {
    const k = new Float32Array(c.kernel);
    const b = new Float32Array(c.bias);
    initializers.push({ name: `${c.layer}.weight`, dims: c.dims, data: k }, { name: `${c.layer}.bias`, dims: [c.dims[0]], data: b });
    const attributes: OnnxAttribute[] = [
      { name: 'kernel_shape', ints: [c.dims[2], c.dims[3]] },
      { name: 'strides', ints: [...c.strides] },
      { name: 'dilations', ints: [...c.dilations] },
      { name: 'group', i: c.group },
      c.pads === 'SAME_UPPER' ? { name: 'auto_pad', s: 'SAME_UPPER' } : { name: 'pads', ints: [...c.pads] },
    ];
    nodes.push({ opType: 'Conv', name: c.layer, inputs: [c.input, `${c.layer}.weight`, `${c.layer}.bias`], outputs: [out], attributes });
    channelsOf.set(out, c.dims[0]);
  };

  for (const l of order) {
    const cfg = l.config;
    if (l.class_name !== 'InputLayer' && cfg.trainable !== false) {
      throw new Error(`layer ${l.name} is trainable in the source (fine-tuned for NSFW, not the frozen ImageNet trunk)`);
    }
    const ins = (): string[] =>
      inbound(l).map((i) => {
        const t = tensorOf.get(i);
        if (t === undefined) throw new Error(`layer ${l.name}: its input ${i} was folded into another layer`);
        return t;
      });
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = cfg.batch_input_shape as number[];
        if (shape?.[3] !== 3 || cfg.dtype !== 'float32') throw new Error(`input ${l.name}: expected float32 [N, H, W, 3]`);
        inputTensor = 'image';
        tensorOf.set(l.name, inputTensor);
        channelsOf.set(inputTensor, 3);
        break;
      }
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = (cfg.padding as number[][]).map((p, i) => pairs(p, `${l.name} padding ${i}`));
        const input = ins()[0];
        const next = only(l.name);
        const nextLayer = next ? byName.get(next) : undefined;
        if (nextLayer && /^(Conv2D|DepthwiseConv2D)$/.test(nextLayer.class_name) && nextLayer.config.padding === 'valid') {
          // Zero padding then a 'valid' conv is the conv with these pads.
          pendingPad.set(l.name, { input, pads: [top, left, bottom, right] });
        } else {
          const pads = new BigInt64Array([0, 0, top, left, 0, 0, bottom, right].map(BigInt));
          initializers.push({ name: `${l.name}.pads`, dims: [8], data: pads });
          nodes.push({ opType: 'Pad', name: l.name, inputs: [input, `${l.name}.pads`], outputs: [tensorName(l.name)] });
          tensorOf.set(l.name, tensorName(l.name));
          channelsOf.set(tensorName(l.name), channelsOf.get(input) as number);
        }
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        if (cfg.data_format !== 'channels_last') throw new Error(`${l.name}: data_format ${cfg.data_format}`);
        if (cfg.activation !== 'linear') throw new Error(`${l.name}: fused activation ${cfg.activation} not supported`);
        const src = inbound(l)[0];
        const pad = pendingPad.get(src);
        const input = pad ? pad.input : ins()[0];
        const cin = channelsOf.get(input) as number;
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const kw8 = weight(`${l.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`);
        const [kh, kw, kc, km] = kw8.shape;
        if (kc !== cin) throw new Error(`${l.name}: kernel expects ${kc} input channels, the input has ${cin}`);
        const cout = depthwise ? kc * km : km;
        const icPerGroup = depthwise ? 1 : kc;
        const kernel = new Float64Array(cout * icPerGroup * kh * kw);
        // Scale folded in when the conv reads the (unscaled) model input.
        const s = input === inputTensor ? inputScale : 1;
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let c = 0; c < kc; c++)
              for (let m = 0; m < km; m++) {
                const v = kw8.data[((y * kw + x) * kc + c) * km + m] * s;
                // HWIO → OIHW; depthwise HW,C,m → (C*m),1,H,W.
                if (depthwise) kernel[((c * km + m) * kh + y) * kw + x] = v;
                else kernel[((m * kc + c) * kh + y) * kw + x] = v;
              }
        const bias = new Float64Array(cout);
        if (cfg.use_bias) bias.set(weight(`${l.name}/${depthwise ? 'depthwise_bias' : 'bias'}`).data);
        const strides = pairs(cfg.strides, `${l.name} strides`);
        const dilations = pairs(cfg.dilation_rate, `${l.name} dilation_rate`);
        let pads: readonly number[] | 'SAME_UPPER';
        if (cfg.padding === 'valid') pads = pad ? pad.pads : [0, 0, 0, 0];
        else if (cfg.padding === 'same') {
          if (pad) throw new Error(`${l.name}: explicit padding before a 'same' conv`);
          const ek = [(kh - 1) * dilations[0], (kw - 1) * dilations[1]];
          // Stride 1 with an odd kernel pads the same on both sides; otherwise TensorFlow's rule
          // (depends on the input size; the extra row/column bottom/right) is ONNX's SAME_UPPER.
          pads =
            strides[0] === 1 && strides[1] === 1 && ek[0] % 2 === 0 && ek[1] % 2 === 0
              ? [ek[0] / 2, ek[1] / 2, ek[0] / 2, ek[1] / 2]
              : 'SAME_UPPER';
        } else throw new Error(`${l.name}: padding ${cfg.padding}`);
        const desc: ConvDesc = {
          layer: l.name,
          input,
          kernel,
          bias,
          dims: [cout, icPerGroup, kh, kw],
          group: depthwise ? kc : 1,
          strides,
          dilations,
          pads,
        };
        const next = only(l.name);
        if (next && byName.get(next)?.class_name === 'BatchNormalization' && needed.has(next)) pendingConv.set(l.name, desc);
        else {
          emitConv(desc, tensorName(l.name));
          tensorOf.set(l.name, tensorName(l.name));
        }
        break;
      }
      case 'BatchNormalization': {
        const src = inbound(l)[0];
        const conv = pendingConv.get(src);
        if (!conv) throw new Error(`${l.name}: batch norm not after a conv (not supported)`);
        const axis = cfg.axis;
        if (!(axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3)))) {
          throw new Error(`${l.name}: batch norm over axis ${JSON.stringify(axis)}`);
        }
        const eps = Number(cfg.epsilon);
        if (!(eps > 0)) throw new Error(`${l.name}: epsilon ${cfg.epsilon}`);
        const cout = conv.dims[0];
        const mean = weight(`${l.name}/moving_mean`).data;
        const variance = weight(`${l.name}/moving_variance`).data;
        const gamma = cfg.scale === false ? undefined : weight(`${l.name}/gamma`).data;
        const beta = cfg.center === false ? undefined : weight(`${l.name}/beta`).data;
        const per = conv.kernel.length / cout;
        for (let o = 0; o < cout; o++) {
          // y = gamma (x - mean) / sqrt(var + eps) + beta, with x = W * in + b.
          const s = (gamma ? gamma[o] : 1) / Math.sqrt(variance[o] + eps);
          for (let j = 0; j < per; j++) conv.kernel[o * per + j] *= s;
          conv.bias[o] = (conv.bias[o] - mean[o]) * s + (beta ? beta[o] : 0);
        }
        pendingConv.delete(src);
        emitConv(conv, tensorName(l.name));
        tensorOf.set(l.name, tensorName(l.name));
        break;
      }
      case 'ReLU': {
        const max = cfg.max_value === null || cfg.max_value === undefined ? undefined : Number(cfg.max_value);
        if (Number(cfg.negative_slope ?? 0) !== 0 || Number(cfg.threshold ?? 0) !== 0)
          throw new Error(`${l.name}: leaky / thresholded ReLU not supported`);
        const out = tensorName(l.name);
        const input = ins()[0];
        if (max === undefined) nodes.push({ opType: 'Relu', name: l.name, inputs: [input], outputs: [out] });
        else {
          initializers.push(
            { name: `${l.name}.min`, dims: [], data: new Float32Array([0]) },
            { name: `${l.name}.max`, dims: [], data: new Float32Array([max]) },
          );
          nodes.push({ opType: 'Clip', name: l.name, inputs: [input, `${l.name}.min`, `${l.name}.max`], outputs: [out] });
        }
        tensorOf.set(l.name, out);
        channelsOf.set(out, channelsOf.get(input) as number);
        break;
      }
      case 'Add': {
        const inputs = ins();
        if (inputs.length !== 2) throw new Error(`${l.name}: Add of ${inputs.length} inputs`);
        const out = tensorName(l.name);
        nodes.push({ opType: 'Add', name: l.name, inputs, outputs: [out] });
        tensorOf.set(l.name, out);
        channelsOf.set(out, channelsOf.get(inputs[0]) as number);
        break;
      }
      default:
        throw new Error(`layer ${l.name}: ${l.class_name} is not supported by this converter`);
    }
  }
  const channels: Record<string, number> = {};
  for (const [name, layer] of Object.entries(outputs)) {
    if (tensorOf.get(layer) !== name) throw new Error(`output ${name} (${layer}) was not produced`);
    channels[name] = channelsOf.get(name) as number;
  }
  return { nodes, initializers, channels, layers: order.map((l) => l.name) };
}

/** The complete conversion: nsfwjs files → ONNX bytes of the backbone. */
export function convertBackbone(files: NsfwjsModelFiles): Uint8Array {
  const weights = dequantizeWeights(files.weightSpecs, files.weightData);
  const layers = files.modelTopology.model_config.config.layers;
  const g = buildBackboneGraph(layers, weights, BACKBONE_OUTPUTS, 1 / 255);
  const strides: Record<string, number> = { s4: 4, s8: 8, s16: 16 };
  return encodeOnnxModel({
    graphName: 'mobilenetv2-backbone',
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: 'image', dims: [1, 3, 'H', 'W'] }],
    outputs: Object.keys(BACKBONE_OUTPUTS).map((name) => ({
      name,
      dims: [1, g.channels[name], `H/${strides[name]}`, `W/${strides[name]}`],
    })),
    producerName: 'vprop scripts/convert-backbone.ts',
    producerVersion: '1',
    docString: 'MobileNetV2 (alpha 1.0) ImageNet trunk from nsfwjs, layers input_1..block_10_project_BN',
    metadata: {
      'vprop.model': 'mobilenetv2-backbone',
      'vprop.source': `nsfwjs@${files.version} dist/models/mobilenet_v2 (Keras ${files.modelTopology.keras_version ?? '?'} MobileNetV2, alpha 1.0, 224x224 training input)`,
      'vprop.licence': 'MIT (nsfwjs, Infinite Red); the frozen trunk holds the Keras Applications MobileNetV2 ImageNet weights',
      'vprop.layers': `${g.layers[0]}..${BACKBONE_OUTPUTS.s16} (${g.layers.length} Keras layers, all trainable: false in the source)`,
      'vprop.outputs': Object.entries(BACKBONE_OUTPUTS)
        .map(([k, v]) => `${k}=${v} (${g.channels[k]} ch, stride ${strides[k]})`)
        .join('; '),
      'vprop.image_units': 'rgb-0-255',
      'vprop.preprocessing': 'x/255 (as nsfwjs feeds the model), folded into Conv1',
      'vprop.padding':
        'Keras ZeroPadding2D ((0,1),(0,1)) before each stride-2 conv kept as is: exact Keras outputs for any H, W; H, W multiples of 16 give H/4, H/8, H/16',
      'vprop.weights': 'uint8-quantized in nsfwjs (w = min + scale*q), dequantized; batch norm folded into the convs',
      'vprop.converter': 'scripts/convert-backbone.ts',
    },
  });
}

async function main(argv: readonly string[]): Promise<void> {
  let from = DEFAULT_NSFWJS_DIR;
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--from') from = resolve(argv[++i]);
    else if (a === '--out') out = resolve(argv[++i]);
    else throw new Error(`unknown argument ${a} (usage: convert-backbone.ts [--from DIR] [--out FILE])`);
  }
  const files = readNsfwjsModel(from);
  if (files.version !== NSFWJS_VERSION) console.warn(`warning: nsfwjs ${files.version}, the converter was checked with ${NSFWJS_VERSION}`);
  const bytes = convertBackbone(files);
  await writeFileAtomic(out, bytes);
  console.log(`${out}: ${(bytes.length / 2 ** 20).toFixed(2)} MiB`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
