/**
 * Reads the `metadata_props` (key/value strings) and producer of an ONNX file without a runtime:
 * a minimal protobuf walk over the top-level `ModelProto` fields (no dependency, works in the
 * browser). ONNX Runtime's JS API does not expose custom metadata, and vprop's exported models
 * describe themselves there (`vprop.*` keys, see training/README.md).
 *
 * ModelProto fields read: 2 producer_name, 3 producer_version, 14 metadata_props
 * (StringStringEntryProto: 1 key, 2 value). Other fields are skipped by wire type.
 */
export interface OnnxMetadata {
  readonly producerName: string;
  readonly producerVersion: string;
  readonly props: Readonly<Record<string, string>>;
}

const utf8 = new TextDecoder('utf-8');

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
    readonly what = 'ONNX model',
  ) {}
  done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error(`${this.what}: truncated protobuf varint`);
      const b = this.buf[this.pos++];
      // Values above 2^53 are not needed here (lengths, tags); keep them approximate.
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error(`${this.what}: malformed protobuf varint`);
    }
  }
  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error(`${this.what}: length-delimited field runs past the end (${len} bytes)`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`${this.what}: unsupported protobuf wire type ${wire} (not an ONNX file?)`);
    }
    if (this.pos > this.end) throw new Error(`${this.what}: truncated protobuf field`);
  }
}

/** Parse the metadata of ONNX model bytes. Throws on bytes that are not a protobuf message. */
export function readOnnxMetadata(bytes: Uint8Array, what = 'ONNX model'): OnnxMetadata {
  const r = new Reader(bytes, bytes.length, what);
  let producerName = '';
  let producerVersion = '';
  const props: Record<string, string> = {};
  while (!r.done()) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new Error(`${what}: invalid protobuf field number 0 (not an ONNX file?)`);
    if (wire === 2 && (field === 2 || field === 3 || field === 14)) {
      const b = r.bytes();
      if (field === 2) producerName = utf8.decode(b);
      else if (field === 3) producerVersion = utf8.decode(b);
      else {
        const e = new Reader(b, b.length, what);
        let key = '';
        let value = '';
        while (!e.done()) {
          const t = e.varint();
          if ((t & 7) === 2 && t >> 3 === 1) key = utf8.decode(e.bytes());
          else if ((t & 7) === 2 && t >> 3 === 2) value = utf8.decode(e.bytes());
          else e.skip(t & 7);
        }
        props[key] = value;
      }
    } else {
      r.skip(wire);
    }
  }
  return { producerName, producerVersion, props };
}
