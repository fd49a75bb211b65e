/**
 * OpenEXR container parsing and validation: everything short of decompressing pixels.
 *
 * File layout (all integers little-endian):
 *
 * ```
 * magic      u32 = 20000630
 * version    u32: bits 0-7 = 2; 0x200 single-part tiled; 0x400 long names (<= 255 bytes);
 *                 0x800 deep ("non-image") data; 0x1000 multi-part
 * header(s)  attributes `name\0 type\0 size:i32 value[size]`, closed by one `\0`;
 *            a multi-part file has one header per part and an extra `\0` after the last
 * offsets    per part, chunkCount u64 absolute file offsets, indexed by block (scanline files:
 *            block k holds lines yMin + k*linesPerBlock...; tiled: level-major, then ty, then tx)
 * chunks     [part:i32 if multi-part] y:i32 size:i32 data[size]                       (scanline)
 *            [part:i32 if multi-part] tx:i32 ty:i32 lx:i32 ly:i32 size:i32 data[size] (tiled)
 * ```
 *
 * Uncompressed block data is, for each line of the block, for each channel in sorted name order,
 * `width` values (uint: u32, half: u16 bit pattern, float: f32). A chunk whose stored size equals
 * the uncompressed size is stored raw whatever the compression (the writer found no gain).
 *
 * Everything read from the file is bounds-checked; every failure is an `InputError` naming the
 * file, so callers never see a RangeError from a DataView.
 */
import { Buffer } from 'node:buffer';
import { InputError } from '../core/errors.js';

export const EXR_MAGIC = 20000630;
const FLAG_TILED = 0x200;
const FLAG_LONG_NAMES = 0x400;
const FLAG_NON_IMAGE = 0x800;
const FLAG_MULTI_PART = 0x1000;

/** Compression names in OpenEXR id order (id = index). */
export const EXR_COMPRESSIONS = ['none', 'rle', 'zips', 'zip', 'piz', 'pxr24', 'b44', 'b44a', 'dwaa', 'dwab'] as const;
export type ExrCompression = (typeof EXR_COMPRESSIONS)[number];

/** Scanlines per chunk for each compression. */
export const LINES_PER_BLOCK: Record<ExrCompression, number> = {
  none: 1,
  rle: 1,
  zips: 1,
  zip: 16,
  piz: 32,
  pxr24: 16,
  b44: 32,
  b44a: 32,
  dwaa: 32,
  dwab: 256,
};

/**
 * Largest plausible ratio uncompressed / stored bytes per chunk, a generous upper bound per codec:
 * RLE emits at least 2 bytes per 128; deflate tops out near 1032:1 (PXR24 first drops float to 24
 * bits); B44 needs >= 3 bytes per 4x4 block of halves; PIZ's Huffman run codes need >= 9 bits per
 * 255 values. DWA has no useful bound below the absolute sample cap.
 */
const MAX_RATIO: Record<ExrCompression, number> = {
  none: 1,
  rle: 64,
  zips: 1100,
  zip: 1100,
  piz: 1024,
  pxr24: 1500,
  b44: 11,
  b44a: 11,
  dwaa: 1 << 16,
  dwab: 1 << 16,
};

/** Cap on width * height * channels of one part (2^28 samples = 1 GiB as float32). */
export const MAX_SAMPLES = 2 ** 28;

export type ExrPixelType = 'uint' | 'half' | 'float';
const PIXEL_TYPES: ExrPixelType[] = ['uint', 'half', 'float'];
export const PIXEL_BYTES: Record<ExrPixelType, number> = { uint: 4, half: 2, float: 4 };

export interface ExrChannelInfo {
  name: string;
  type: ExrPixelType;
  /** Perceptually linear hint (used by B44 for log-encoded channels). */
  pLinear: boolean;
  xSampling: number;
  ySampling: number;
}

/** Inclusive pixel box, as OpenEXR stores it. */
export interface ExrBox {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

export interface ExrTiles {
  xSize: number;
  ySize: number;
  levelMode: 'one' | 'mipmap' | 'ripmap';
  roundingMode: 'down' | 'up';
}

export type ExrPartType = 'scanlineimage' | 'tiledimage' | 'deepscanline' | 'deeptile';

export interface ExrPart {
  index: number;
  /** The `name` attribute (multi-part files), if any. */
  name?: string;
  type: ExrPartType;
  /** Channels in sorted name order, which is the order of their data in every block. */
  channels: ExrChannelInfo[];
  compression: ExrCompression;
  dataWindow: ExrBox;
  displayWindow: ExrBox;
  lineOrder: 'increasingY' | 'decreasingY' | 'randomY';
  tiles?: ExrTiles;
  width: number;
  height: number;
  /** Number of chunks (offset-table entries) of this part, all levels included. */
  chunkCount: number;
  /** Every attribute's name and type, in file order (values are kept only for the ones above). */
  attributes: { name: string; type: string; size: number }[];
}

export interface ExrStructure {
  file: string;
  bytes: Uint8Array;
  version: number;
  multiPart: boolean;
  deep: boolean;
  tiled: boolean;
  longNames: boolean;
  parts: ExrPart[];
  /** Per part, its offset table (absolute chunk offsets) as read. */
  offsets: Float64Array[];
  /** File offset just past the last offset table; no chunk may start before it. */
  dataStart: number;
}

/** One validated chunk of level (0,0): where its payload lies and which pixels it covers. */
export interface ExrChunk {
  /** Offset of the chunk's first header field (the part number in multi-part files). */
  start: number;
  /** Offset and length of the (possibly compressed) payload. */
  dataOffset: number;
  dataSize: number;
  /** Pixel rectangle covered, relative to the data window origin. */
  x: number;
  y: number;
  width: number;
  lines: number;
  /** Tile coordinates (tiled parts) or 0 and the block index (scanline parts). */
  tx: number;
  ty: number;
  /** Bytes of the block uncompressed. */
  rawSize: number;
}

/** Bounds-checked little-endian cursor over the file. */
class Cursor {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    public pos: number,
    readonly end: number = bytes.length,
    readonly what = 'header',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new InputError(
        this.file,
        `truncated ${this.what}: needs ${n} bytes at offset ${this.pos} but only ${Math.max(0, this.end - this.pos)} remain`,
      );
    }
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** u64 as a JavaScript number; anything above 2^53 is nonsense for a file offset anyway. */
  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * 2 ** 32 + lo;
  }
  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** NUL-terminated string of at most `max` bytes (the NUL excluded). */
  cstring(max: number, what: string): string {
    const limit = Math.min(this.end, this.pos + max + 1);
    let i = this.pos;
    while (i < limit && this.bytes[i] !== 0) i++;
    if (i >= limit) {
      if (limit === this.end) this.need(limit - this.pos + 1); // throws "truncated"
      throw new InputError(this.file, `${what} at offset ${this.pos} is longer than ${max} bytes or not NUL-terminated`);
    }
    const s = Buffer.from(this.bytes.subarray(this.pos, i)).toString('utf8');
    this.pos = i + 1;
    return s;
  }
}

function compareNames(a: string, b: string): number {
  // OpenEXR sorts channel names with strcmp, i.e. by UTF-8 bytes.
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function parseChlist(c: Cursor, file: string, maxName: number): ExrChannelInfo[] {
  const channels: ExrChannelInfo[] = [];
  for (;;) {
    const name = c.cstring(maxName, 'channel name');
    if (name === '') break;
    const typeId = c.i32();
    const pLinear = c.u8();
    c.need(3);
    c.pos += 3; // reserved
    const xSampling = c.i32();
    const ySampling = c.i32();
    const type = PIXEL_TYPES[typeId];
    if (type === undefined) throw new InputError(file, `channel "${name}" has unknown pixel type ${typeId}`);
    if (xSampling < 1 || ySampling < 1) {
      throw new InputError(file, `channel "${name}" has invalid sampling ${xSampling}x${ySampling}`);
    }
    channels.push({ name, type, pLinear: pLinear !== 0, xSampling, ySampling });
  }
  if (c.pos !== c.end) throw new InputError(file, 'channel list attribute size does not match its contents');
  return channels;
}

function parseBox(c: Cursor): ExrBox {
  return { xMin: c.i32(), yMin: c.i32(), xMax: c.i32(), yMax: c.i32() };
}

interface RawHeader {
  attrs: { name: string; type: string; size: number }[];
  values: Map<string, unknown>;
}

/** Attributes whose value we need; the types they must have. */
const KNOWN_ATTRS: Record<string, string> = {
  channels: 'chlist',
  compression: 'compression',
  dataWindow: 'box2i',
  displayWindow: 'box2i',
  lineOrder: 'lineOrder',
  tiles: 'tiledesc',
  name: 'string',
  type: 'string',
  chunkCount: 'int',
};

function parseHeader(c: Cursor, file: string, maxName: number): RawHeader | null {
  const attrs: RawHeader['attrs'] = [];
  const values = new Map<string, unknown>();
  for (;;) {
    const name = c.cstring(maxName, 'attribute name');
    if (name === '') break;
    const type = c.cstring(maxName, `type of attribute "${name}"`);
    const size = c.i32();
    if (size < 0) throw new InputError(file, `attribute "${name}" has negative size ${size}`);
    c.need(size);
    attrs.push({ name, type, size });
    const want = KNOWN_ATTRS[name];
    if (want !== undefined) {
      if (type !== want) throw new InputError(file, `attribute "${name}" has type "${type}", expected "${want}"`);
      const sub = new Cursor(c.bytes, file, c.pos, c.pos + size, `attribute "${name}"`);
      let v: unknown;
      switch (type) {
        case 'chlist':
          v = parseChlist(sub, file, maxName);
          break;
        case 'compression':
        case 'lineOrder':
          v = sub.u8();
          break;
        case 'box2i':
          v = parseBox(sub);
          break;
        case 'tiledesc':
          v = { xSize: sub.u32(), ySize: sub.u32(), mode: sub.u8() };
          break;
        case 'string':
          v = Buffer.from(c.bytes.subarray(c.pos, c.pos + size)).toString('utf8');
          break;
        case 'int':
          v = sub.i32();
          break;
      }
      values.set(name, v); // a repeated attribute overrides, as in OpenEXR
    }
    c.pos += size;
  }
  return attrs.length === 0 ? null : { attrs, values };
}

function floorLog2(x: number): number {
  let n = 0;
  while (x > 1) {
    x = Math.floor(x / 2);
    n++;
  }
  return n;
}

function ceilLog2(x: number): number {
  const f = floorLog2(x);
  return 2 ** f < x ? f + 1 : f;
}

function levelSize(full: number, level: number, up: boolean): number {
  const s = up ? Math.ceil(full / 2 ** level) : Math.floor(full / 2 ** level);
  return Math.max(1, s);
}

/** Chunks in a tiled part: all tiles of all levels (mip: (l,l); rip: every (lx,ly)). */
function tiledChunkCount(width: number, height: number, t: ExrTiles): number {
  const up = t.roundingMode === 'up';
  const levels = (n: number) => (up ? ceilLog2(n) : floorLog2(n)) + 1;
  const tilesX = (l: number) => Math.ceil(levelSize(width, l, up) / t.xSize);
  const tilesY = (l: number) => Math.ceil(levelSize(height, l, up) / t.ySize);
  if (t.levelMode === 'one') return tilesX(0) * tilesY(0);
  if (t.levelMode === 'mipmap') {
    let n = 0;
    for (let l = 0; l < levels(Math.max(width, height)); l++) n += tilesX(l) * tilesY(l);
    return n;
  }
  let nx = 0;
  let ny = 0;
  for (let l = 0; l < levels(width); l++) nx += tilesX(l);
  for (let l = 0; l < levels(height); l++) ny += tilesY(l);
  return nx * ny;
}

function buildPart(h: RawHeader, index: number, file: string, flags: number, multiPart: boolean): ExrPart {
  const where = multiPart ? `part ${index}: ` : '';
  const get = <T>(name: string): T | undefined => h.values.get(name) as T | undefined;
  const need = <T>(name: string): T => {
    const v = get<T>(name);
    if (v === undefined) throw new InputError(file, `${where}missing required attribute "${name}"`);
    return v;
  };
  let type: ExrPartType;
  const typeAttr = get<string>('type');
  if (typeAttr !== undefined) {
    if (!['scanlineimage', 'tiledimage', 'deepscanline', 'deeptile'].includes(typeAttr)) {
      throw new InputError(file, `${where}unknown part type "${typeAttr}"`);
    }
    type = typeAttr as ExrPartType;
  } else if (multiPart) {
    throw new InputError(file, `${where}missing required attribute "type"`);
  } else if (flags & FLAG_NON_IMAGE) {
    type = flags & FLAG_TILED ? 'deeptile' : 'deepscanline';
  } else {
    type = flags & FLAG_TILED ? 'tiledimage' : 'scanlineimage';
  }
  if (type === 'deepscanline' || type === 'deeptile') {
    throw new InputError(file, `${where}deep data (${type}) is not supported; only flat images can be read`);
  }
  if (!multiPart && (type === 'tiledimage') !== Boolean(flags & FLAG_TILED)) {
    throw new InputError(file, `part type "${type}" contradicts the version field's tiled flag`);
  }

  const unsorted = need<ExrChannelInfo[]>('channels');
  if (unsorted.length === 0) throw new InputError(file, `${where}channel list is empty`);
  const channels = [...unsorted].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < channels.length; i++) {
    if (channels[i].name === channels[i - 1].name) {
      throw new InputError(file, `${where}channel "${channels[i].name}" is listed twice`);
    }
  }
  const compressionId = need<number>('compression');
  const compression = EXR_COMPRESSIONS[compressionId];
  if (compression === undefined) throw new InputError(file, `${where}unknown compression id ${compressionId}`);
  const dataWindow = need<ExrBox>('dataWindow');
  const displayWindow = get<ExrBox>('displayWindow') ?? dataWindow;
  const lineOrderId = get<number>('lineOrder') ?? 0;
  const lineOrder = (['increasingY', 'decreasingY', 'randomY'] as const)[lineOrderId];
  if (lineOrder === undefined) throw new InputError(file, `${where}unknown line order ${lineOrderId}`);

  const width = dataWindow.xMax - dataWindow.xMin + 1;
  const height = dataWindow.yMax - dataWindow.yMin + 1;
  if (width < 1 || height < 1) {
    throw new InputError(
      file,
      `${where}empty or inverted data window (${dataWindow.xMin},${dataWindow.yMin})-(${dataWindow.xMax},${dataWindow.yMax})`,
    );
  }
  if (width * height * channels.length > MAX_SAMPLES) {
    throw new InputError(
      file,
      `${where}image too large: ${width}x${height}x${channels.length} samples exceeds the limit of ${MAX_SAMPLES}`,
    );
  }

  let tiles: ExrTiles | undefined;
  let chunkCount: number;
  if (type === 'tiledimage') {
    const t = need<{ xSize: number; ySize: number; mode: number }>('tiles');
    const levelMode = (['one', 'mipmap', 'ripmap'] as const)[t.mode & 0xf];
    const roundingMode = (['down', 'up'] as const)[t.mode >> 4];
    if (levelMode === undefined || roundingMode === undefined) {
      throw new InputError(file, `${where}invalid tile level/rounding mode byte ${t.mode}`);
    }
    if (t.xSize < 1 || t.ySize < 1 || t.xSize > 2 ** 31 - 1 || t.ySize > 2 ** 31 - 1) {
      throw new InputError(file, `${where}invalid tile size ${t.xSize}x${t.ySize}`);
    }
    tiles = { xSize: t.xSize, ySize: t.ySize, levelMode, roundingMode };
    chunkCount = tiledChunkCount(width, height, tiles);
  } else {
    chunkCount = Math.ceil(height / LINES_PER_BLOCK[compression]);
  }
  const declared = get<number>('chunkCount');
  if (multiPart && declared === undefined) throw new InputError(file, `${where}missing required attribute "chunkCount"`);
  if (declared !== undefined && declared !== chunkCount) {
    throw new InputError(file, `${where}chunkCount attribute says ${declared} but the image geometry needs ${chunkCount}`);
  }
  return {
    index,
    name: get<string>('name'),
    type,
    channels,
    compression,
    dataWindow,
    displayWindow,
    lineOrder,
    tiles,
    width,
    height,
    chunkCount,
    attributes: h.attrs,
  };
}

/** Parse and validate magic, version, headers and offset tables. */
export function parseExrStructure(bytes: Uint8Array, file: string): ExrStructure {
  const c = new Cursor(bytes, file, 0);
  if (bytes.length < 8) throw new InputError(file, `not an OpenEXR file: only ${bytes.length} bytes`);
  const magic = c.u32();
  if (magic !== EXR_MAGIC) throw new InputError(file, 'not an OpenEXR file (bad magic number)');
  const versionField = c.u32();
  const version = versionField & 0xff;
  if (version !== 2) throw new InputError(file, `unsupported OpenEXR version ${version} (expected 2)`);
  const unknownFlags = versionField & ~0xff & ~(FLAG_TILED | FLAG_LONG_NAMES | FLAG_NON_IMAGE | FLAG_MULTI_PART);
  if (unknownFlags !== 0) throw new InputError(file, `unknown version flags 0x${unknownFlags.toString(16)}`);
  const multiPart = (versionField & FLAG_MULTI_PART) !== 0;
  const tiled = (versionField & FLAG_TILED) !== 0;
  const deep = (versionField & FLAG_NON_IMAGE) !== 0;
  const longNames = (versionField & FLAG_LONG_NAMES) !== 0;
  if (multiPart && tiled) throw new InputError(file, 'version field sets both the multi-part and single-part tiled flags');
  // Deep data is refused up front: its chunks have a different layout we do not parse.
  if (deep) throw new InputError(file, 'deep data (non-image flag set) is not supported; only flat images can be read');
  const maxName = longNames ? 255 : 31;

  const headers: RawHeader[] = [];
  if (multiPart) {
    for (;;) {
      const h = parseHeader(c, file, maxName);
      if (h === null) break;
      headers.push(h);
    }
    if (headers.length === 0) throw new InputError(file, 'multi-part file has no part headers');
  } else {
    const h = parseHeader(c, file, maxName);
    if (h === null) throw new InputError(file, 'header has no attributes');
    headers.push(h);
  }
  const flags = versionField;
  const parts = headers.map((h, i) => buildPart(h, i, file, flags, multiPart));

  const totalChunks = parts.reduce((s, p) => s + p.chunkCount, 0);
  // Each chunk costs at least its 8-byte offset entry plus a 9-byte chunk (header + 1 data byte),
  // so a table this long cannot belong to a file this short.
  if (totalChunks * 17 > bytes.length - c.pos) {
    throw new InputError(
      file,
      `file too short: the header declares ${totalChunks} chunks but only ${bytes.length - c.pos} bytes follow it`,
    );
  }
  const offsets: Float64Array[] = [];
  for (const p of parts) {
    const table = new Float64Array(p.chunkCount);
    for (let i = 0; i < p.chunkCount; i++) table[i] = c.u64();
    offsets.push(table);
  }
  const dataStart = c.pos;
  for (let pi = 0; pi < parts.length; pi++) {
    const table = offsets[pi];
    for (let i = 0; i < table.length; i++) {
      const o = table[i];
      if (!(o >= dataStart && o < bytes.length)) {
        const where = multiPart ? `part ${pi} ` : '';
        throw new InputError(
          file,
          `${where}offset table entry ${i} (${o}) points outside the chunk area [${dataStart}, ${bytes.length}); the file is truncated or corrupt`,
        );
      }
    }
  }
  return { file, bytes, version, multiPart, deep, tiled, longNames, parts, offsets, dataStart };
}

/** Uncompressed bytes of one pixel across all channels (sampling is 1 in supported parts). */
export function bytesPerPixel(part: ExrPart): number {
  return part.channels.reduce((s, ch) => s + PIXEL_BYTES[ch.type], 0);
}

/**
 * Locate and validate the chunks of level (0,0) of `part`: each chunk header must agree with its
 * offset-table slot (part number, y or tile coordinates, level), its payload must lie inside the
 * file, must not exceed the uncompressed size, and must be plausible for the compression.
 * Returned in offset-table order (increasing y, then x).
 */
export function locateChunks(s: ExrStructure, partIndex: number): ExrChunk[] {
  const { file, bytes } = s;
  const part = s.parts[partIndex];
  const where = s.multiPart ? `part ${partIndex}: ` : '';
  for (const ch of part.channels) {
    if (ch.xSampling !== 1 || ch.ySampling !== 1) {
      // Subsampled channels appear in luminance/chroma images; neither our decoders nor three's
      // lay them out correctly, so refuse rather than return misplaced samples.
      throw new InputError(
        file,
        `${where}channel "${ch.name}" is subsampled (${ch.xSampling}x${ch.ySampling}); subsampled channels are not supported`,
      );
    }
  }
  const bpp = bytesPerPixel(part);
  const table = s.offsets[partIndex];
  const chunks: ExrChunk[] = [];
  const tiled = part.tiles !== undefined;
  const lpb = LINES_PER_BLOCK[part.compression];
  const tw = tiled ? Math.min(part.tiles!.xSize, part.width) : part.width;
  const th = tiled ? Math.min(part.tiles!.ySize, part.height) : lpb;
  const ntx = tiled ? Math.ceil(part.width / part.tiles!.xSize) : 1;
  const nty = tiled ? Math.ceil(part.height / part.tiles!.ySize) : part.chunkCount;
  for (let i = 0; i < ntx * nty; i++) {
    const start = table[i];
    const c = new Cursor(bytes, file, start, bytes.length, `chunk ${i}`);
    if (s.multiPart) {
      const p = c.i32();
      if (p !== partIndex) throw new InputError(file, `${where}chunk ${i} is labelled as part ${p}`);
    }
    const tx = i % ntx;
    const ty = Math.floor(i / ntx);
    let x = 0;
    let y: number;
    if (tiled) {
      const [ftx, fty, flx, fly] = [c.i32(), c.i32(), c.i32(), c.i32()];
      if (ftx !== tx || fty !== ty || flx !== 0 || fly !== 0) {
        throw new InputError(
          file,
          `${where}chunk ${i} holds tile (${ftx},${fty}) level (${flx},${fly}) but the offset table slot is tile (${tx},${ty}) level (0,0)`,
        );
      }
      x = tx * part.tiles!.xSize;
      y = ty * part.tiles!.ySize;
    } else {
      const fy = c.i32();
      const expect = part.dataWindow.yMin + i * lpb;
      if (fy !== expect) {
        throw new InputError(file, `${where}chunk ${i} starts at line ${fy} but its offset table slot is line ${expect}`);
      }
      y = i * lpb;
    }
    const dataSize = c.i32();
    const cw = Math.min(tw, part.width - x);
    const lines = Math.min(th, part.height - y);
    const rawSize = cw * lines * bpp;
    if (dataSize <= 0 || dataSize > rawSize) {
      throw new InputError(file, `${where}chunk ${i} declares ${dataSize} data bytes; expected 1..${rawSize}`);
    }
    if (part.compression === 'none' && dataSize !== rawSize) {
      throw new InputError(file, `${where}uncompressed chunk ${i} has ${dataSize} bytes, expected ${rawSize}`);
    }
    if (dataSize * MAX_RATIO[part.compression] < rawSize) {
      throw new InputError(
        file,
        `${where}chunk ${i} claims ${rawSize} pixel bytes from only ${dataSize} ${part.compression} bytes, more than the codec can achieve`,
      );
    }
    c.need(dataSize);
    chunks.push({ start, dataOffset: c.pos, dataSize, x, y, width: cw, lines, tx, ty, rawSize });
  }
  return chunks;
}
