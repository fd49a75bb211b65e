/**
 * Bridge to three's EXRLoader for the codecs we do not implement (PIZ, PXR24, B44, B44A, DWAA,
 * DWAB).
 *
 * three never sees the caller's file. We hand it a normalised single-part file assembled from
 * validated pieces: a header we write (channels, compression, data window, line order, tile size,
 * nothing else), a matching offset table, and the part's level-0 chunks copied in table order with
 * part numbers stripped. That keeps three on its tested single-part paths, away from its unbounded
 * header string reader, and lets us read any part of a multi-part or mip-mapped file.
 *
 * three only outputs channels named R, G, B, A (RGBA mode) or Y (single-channel mode), with one
 * value getter per pass, and flips rows bottom-up. To read arbitrary channels we rename them in the
 * synthetic header: up to four channels of one pixel type become R, G, B, A; a lone channel becomes
 * Y; the others get inert names. PIZ, PXR24 and B44 ignore names, so this is exact. DWA matches its
 * coding rules on names, so DWA parts are passed through unrenamed and must consist of R, G, B, A
 * and Y only.
 */
import { FloatType, RedFormat, RGBAFormat } from 'three';
import { EXRLoader } from 'three/examples/jsm/loaders/EXRLoader.js';
import { EXR_COMPRESSIONS, EXR_MAGIC, type ExrChunk, type ExrPart } from './exr-header.js';

/** One decode pass: which part channels three outputs, and in which output slot. */
export interface ThreePass {
  mode: 'rgba' | 'y';
  /** Part channel name -> output slot (rgba: 0..3 = R,G,B,A; y: 0). */
  slots: Map<string, number>;
}

const PIXEL_TYPE_ID = { uint: 0, half: 1, float: 2 } as const;

/**
 * Plan the passes that decode `names` from `part`. Returns a problem string when three cannot
 * decode them exactly.
 */
export function planThreePasses(part: ExrPart, names: string[]): ThreePass[] | string {
  const byName = new Map(part.channels.map((c) => [c.name, c]));
  if (part.channels.some((c) => c.type === 'uint')) {
    return `uint channels cannot be decoded with ${part.compression} compression (three's decoder handles half and float only)`;
  }
  const types = new Set(part.channels.map((c) => c.type));
  const isDwa = part.compression === 'dwaa' || part.compression === 'dwab';
  if ((part.compression === 'piz' || isDwa) && types.size > 1) {
    // three sizes every PIZ/DWA channel by one pixel type, so mixed half/float parts misdecode.
    return `mixed half/float channels are not supported with ${part.compression} compression`;
  }
  if (isDwa) {
    const names5 = new Set(['R', 'G', 'B', 'A', 'Y']);
    const odd = part.channels.filter((c) => !names5.has(c.name));
    if (odd.length > 0) {
      return `${part.compression} parts may only hold channels R, G, B, A, Y (found ${odd.map((c) => c.name).join(', ')})`;
    }
    const has = (n: string) => byName.has(n);
    const passes: ThreePass[] = [];
    const rgba = names.filter((n) => n !== 'Y');
    if (rgba.length > 0) {
      if (!(has('R') && has('G') && has('B'))) {
        return `channels ${rgba.join(', ')} can only be decoded from a ${part.compression} part holding R, G and B`;
      }
      passes.push({ mode: 'rgba', slots: new Map([['R', 0], ['G', 1], ['B', 2], ...(has('A') ? [['A', 3] as [string, number]] : [])]) });
    }
    if (names.includes('Y')) {
      if (has('R') && has('G') && has('B')) return `Y cannot be decoded from a ${part.compression} part that also holds R, G, B`;
      passes.push({ mode: 'y', slots: new Map([['Y', 0]]) });
    }
    return passes;
  }
  const passes: ThreePass[] = [];
  for (const type of ['half', 'float'] as const) {
    const group = names.filter((n) => byName.get(n)?.type === type);
    let i = 0;
    while (group.length - i >= 3) {
      const take = group.slice(i, i + 4);
      passes.push({ mode: 'rgba', slots: new Map(take.map((n, k) => [n, k])) });
      i += take.length;
    }
    for (; i < group.length; i++) passes.push({ mode: 'y', slots: new Map([[group[i], 0]]) });
  }
  return passes;
}

const RGBA_NAMES = ['R', 'G', 'B', 'A'];

/** Assemble the normalised single-part file for one pass. */
function syntheticFile(part: ExrPart, chunks: ExrChunk[], payloads: Uint8Array[], pass: ThreePass): Uint8Array {
  const isDwa = part.compression === 'dwaa' || part.compression === 'dwab';
  const rename = (name: string, i: number): string => {
    if (isDwa) return name;
    const slot = pass.slots.get(name);
    if (slot === undefined) return `_${i}`; // inert: three decodes only R, G, B, A, Y, RY, BY
    return pass.mode === 'y' ? 'Y' : RGBA_NAMES[slot];
  };
  const enc = new TextEncoder();
  const head: number[] = [];
  const u8 = (v: number) => head.push(v & 0xff);
  const i32 = (v: number) => {
    u8(v);
    u8(v >> 8);
    u8(v >> 16);
    u8(v >> 24);
  };
  const f32 = (v: number) => {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) u8(x);
  };
  const str = (s: string) => {
    for (const x of enc.encode(s)) u8(x);
    u8(0);
  };
  const attr = (name: string, type: string, size: number, write: () => void) => {
    str(name);
    str(type);
    i32(size);
    const before = head.length;
    write();
    if (head.length - before !== size) throw new Error(`internal: attribute ${name} size mismatch`);
  };
  const tiled = part.tiles !== undefined;
  i32(EXR_MAGIC);
  i32(2 | (tiled ? 0x200 : 0));
  const chNames = part.channels.map((c, i) => rename(c.name, i));
  const chSize = chNames.reduce((s, n) => s + enc.encode(n).length + 1 + 16, 1);
  attr('channels', 'chlist', chSize, () => {
    part.channels.forEach((c, i) => {
      str(chNames[i]);
      i32(PIXEL_TYPE_ID[c.type]);
      u8(c.pLinear ? 1 : 0);
      u8(0);
      u8(0);
      u8(0);
      i32(1);
      i32(1);
    });
    u8(0);
  });
  attr('compression', 'compression', 1, () => u8(EXR_COMPRESSIONS.indexOf(part.compression)));
  const box = () => {
    const d = part.dataWindow;
    i32(d.xMin);
    i32(d.yMin);
    i32(d.xMax);
    i32(d.yMax);
  };
  attr('dataWindow', 'box2i', 16, box);
  attr('displayWindow', 'box2i', 16, box);
  attr('lineOrder', 'lineOrder', 1, () => u8(0));
  attr('pixelAspectRatio', 'float', 4, () => f32(1));
  attr('screenWindowCenter', 'v2f', 8, () => {
    f32(0);
    f32(0);
  });
  attr('screenWindowWidth', 'float', 4, () => f32(1));
  if (tiled) {
    attr('tiles', 'tiledesc', 9, () => {
      i32(part.tiles!.xSize);
      i32(part.tiles!.ySize);
      u8(0); // one level, round down: we pass level (0,0) only
    });
  }
  u8(0);
  const chunkHeader = tiled ? 20 : 8;
  const tableAt = head.length;
  let total = tableAt + 8 * chunks.length;
  for (const pl of payloads) total += chunkHeader + pl.length;
  const out = new Uint8Array(total);
  out.set(head, 0);
  const view = new DataView(out.buffer);
  let p = tableAt + 8 * chunks.length;
  chunks.forEach((c, i) => {
    view.setUint32(tableAt + 8 * i, p, true); // files we build stay far below 4 GiB
    if (tiled) {
      view.setInt32(p, c.tx, true);
      view.setInt32(p + 4, c.ty, true);
      view.setInt32(p + 8, 0, true);
      view.setInt32(p + 12, 0, true);
      view.setInt32(p + 16, payloads[i].length, true);
    } else {
      view.setInt32(p, part.dataWindow.yMin + c.y, true);
      view.setInt32(p + 4, payloads[i].length, true);
    }
    p += chunkHeader;
    out.set(payloads[i], p);
    p += payloads[i].length;
  });
  return out;
}

/**
 * Run one pass through three and scatter its output into `planes` (one H x W plane per entry of
 * `pass.slots`, top row first). `payloads[i]` is chunk i's data as checked by checkThreeChunk.
 * Throws whatever three throws; the caller turns it into InputError.
 */
export function runThreePass(
  part: ExrPart,
  chunks: ExrChunk[],
  payloads: Uint8Array[],
  pass: ThreePass,
  planes: Map<string, Float32Array>,
): void {
  const file = syntheticFile(part, chunks, payloads, pass);
  const loader = new EXRLoader().setDataType(FloatType).setOutputFormat(pass.mode === 'rgba' ? RGBAFormat : RedFormat);
  const tex = loader.parse(file.buffer as ArrayBuffer);
  const { width, height } = part;
  const stride = pass.mode === 'rgba' ? 4 : 1;
  const data = tex.data as Float32Array | null | undefined;
  if (tex.width !== width || tex.height !== height || !(data instanceof Float32Array) || data.length !== width * height * stride) {
    throw new Error(`decoder returned ${tex.width}x${tex.height} data of unexpected shape`);
  }
  for (const [name, slot] of pass.slots) {
    const plane = planes.get(name);
    if (!plane) continue;
    for (let y = 0; y < height; y++) {
      const src = (height - 1 - y) * width * stride + slot; // three stores rows bottom-up
      const dst = y * width;
      for (let x = 0; x < width; x++) plane[dst + x] = data[src + x * stride];
    }
  }
}
