/**
 * A dry run of three's OpenEXR Huffman decoder (`hufUncompress` in EXRLoader.js, used by PIZ and
 * by DWA's AC data), counting outputs instead of storing them, to refuse the inputs on which the
 * real decoder would never finish:
 *
 * - more decoded values than the block holds: three ignores its `getCode` "output full" result
 *   and re-reads the same symbol forever (an infinite loop on a 30 KB fuzzed file);
 * - many codes longer than 14 bits behind one 14-bit prefix: three copies that list once per code
 *   while building its table (quadratic) and scans it once per decoded symbol.
 *
 * Everything else (bit reads, shifts, table layout) follows three's code operation for operation,
 * including its JavaScript int32 shift semantics, so the counts match what three would do. Reads
 * past the chunk are refused here: three would be reading a neighbouring chunk's bytes.
 *
 * Huffman block layout: im u32, iM u32, tableLength u32, nBits u32, reserved u32, then the code
 * length table (6-bit lengths; 59..62 = short zero runs, 63 + 8 bits = long zero run) and the
 * bit stream of `nBits` bits; symbol `iM` is the run-length code (8-bit repeat count follows).
 */

const HUF_ENCBITS = 16;
const HUF_DECBITS = 14;
const HUF_ENCSIZE = (1 << HUF_ENCBITS) + 1;
const HUF_DECSIZE = 1 << HUF_DECBITS;
const HUF_DECMASK = HUF_DECSIZE - 1;
const SHORT_ZEROCODE_RUN = 59;
const LONG_ZEROCODE_RUN = 63;
const SHORTEST_LONG_RUN = 2 + LONG_ZEROCODE_RUN - SHORT_ZEROCODE_RUN;

/** Work allowed for long-code lists: table-building copies, and scan steps per output value. */
const MAX_TABLE_COPIES = 5e7;
const SCAN_STEPS_PER_VALUE = 64;

class PastEnd extends Error {}

/**
 * Returns a problem description, or undefined when three's decoder will finish normally on the
 * Huffman block at `bytes[start .. start + nCompressed)` with an output of `nRaw` values.
 */
export function checkThreeHuffman(bytes: Uint8Array, start: number, nCompressed: number, nRaw: number): string | undefined {
  const end = start + nCompressed;
  if (nCompressed < 20 || end > bytes.length) return 'Huffman block is shorter than its header';
  const byte = (pos: number): number => {
    if (pos >= end) throw new PastEnd();
    return bytes[pos];
  };
  const u32 = (pos: number) => (byte(pos) | (byte(pos + 1) << 8) | (byte(pos + 2) << 16) | (byte(pos + 3) << 24)) >>> 0;
  try {
    const im0 = u32(start);
    const iM = u32(start + 4);
    const nBits = u32(start + 12);
    if (im0 >= HUF_ENCSIZE || iM >= HUF_ENCSIZE) return `Huffman code range ${im0}..${iM} is invalid`;
    let pos = start + 20;

    // hufUnpackEncTable: 6-bit code lengths with zero runs.
    const hcode = new Int32Array(HUF_ENCSIZE);
    let c = 0;
    let lc = 0;
    const getBits = (n: number): number => {
      while (lc < n) {
        c = (c << 8) | byte(pos++);
        lc += 8;
      }
      lc -= n;
      return (c >> lc) & ((1 << n) - 1);
    };
    for (let im = im0; im <= iM; im++) {
      const l = getBits(6);
      hcode[im] = l;
      if (l === LONG_ZEROCODE_RUN) {
        let zerun = getBits(8) + SHORTEST_LONG_RUN;
        if (im + zerun > iM + 1) return 'Huffman code table has a zero run past its end';
        while (zerun--) hcode[im++] = 0;
        im--;
      } else if (l >= SHORT_ZEROCODE_RUN) {
        let zerun = l - SHORT_ZEROCODE_RUN + 2;
        if (im + zerun > iM + 1) return 'Huffman code table has a zero run past its end';
        while (zerun--) hcode[im++] = 0;
        im--;
      }
    }
    // hufCanonicalCodeTable
    const count = new Array<number>(59).fill(0);
    for (let i = 0; i < HUF_ENCSIZE; i++) count[hcode[i]] += 1;
    let cc = 0;
    for (let i = 58; i > 0; --i) {
      const nc = (cc + count[i]) >> 1;
      count[i] = cc;
      cc = nc;
    }
    for (let i = 0; i < HUF_ENCSIZE; i++) {
      const l = hcode[i];
      if (l > 0) hcode[i] = l | (count[l]++ << 6);
    }
    if (nBits > 8 * (end - pos)) return `Huffman bit count ${nBits} exceeds the ${end - pos} data bytes`;

    // hufBuildDecTable: short codes fill 2^(14-l) slots; longer codes go to per-prefix lists.
    const decLen = new Uint8Array(HUF_DECSIZE);
    const decLit = new Int32Array(HUF_DECSIZE);
    const decLong: (number[] | undefined)[] = new Array(HUF_DECSIZE);
    let copies = 0;
    for (let im = im0; im <= iM; im++) {
      const code = hcode[im] >> 6;
      const l = hcode[im] & 63;
      if (code >> l) return 'Huffman code table has an invalid entry';
      if (l > HUF_DECBITS) {
        const idx = code >> (l - HUF_DECBITS);
        if (idx < 0 || idx >= HUF_DECSIZE || decLen[idx]) return 'Huffman code table has an invalid entry';
        const list = decLong[idx] ?? (decLong[idx] = []);
        copies += list.length;
        list.push(im);
        decLit[idx] = list.length;
      } else if (l) {
        const base = code << (HUF_DECBITS - l);
        for (let i = 1 << (HUF_DECBITS - l), k = 0; i > 0; i--, k++) {
          const idx = base + k;
          if (idx < 0 || idx >= HUF_DECSIZE || decLen[idx] || decLong[idx]) return 'Huffman code table has an invalid entry';
          decLen[idx] = l;
          decLit[idx] = im;
        }
      }
    }
    if (copies > MAX_TABLE_COPIES) return 'Huffman code table has too many long codes behind one prefix';

    // hufDecode, counting outputs.
    let out = 0;
    let steps = 0;
    const maxSteps = SCAN_STEPS_PER_VALUE * nRaw + 1e6;
    c = 0;
    lc = 0;
    const inEnd = Math.trunc(pos + (nBits + 7) / 8);
    /** getCode; false where three's would report "output full" (and then spin). */
    const getCode = (po: number): boolean => {
      if (po === iM) {
        if (lc < 8) {
          c = (c << 8) | byte(pos++);
          lc += 8;
        }
        lc -= 8;
        const cs = (c >> lc) & 0xff;
        if (out + cs > nRaw) return false;
        out += cs;
      } else if (out < nRaw) {
        out++;
      } else {
        return false;
      }
      return true;
    };
    const overflow = `Huffman data decodes to more than the block's ${nRaw} values`;
    while (pos < inEnd) {
      c = (c << 8) | byte(pos++);
      lc += 8;
      while (lc >= HUF_DECBITS) {
        const index = (c >> (lc - HUF_DECBITS)) & HUF_DECMASK;
        if (decLen[index]) {
          lc -= decLen[index];
          if (!getCode(decLit[index])) return overflow;
        } else {
          const list = decLong[index];
          if (!list) return 'Huffman data holds an undefined code';
          let j: number;
          for (j = 0; j < list.length; j++) {
            if (++steps > maxSteps) return 'Huffman data needs too many long-code lookups';
            const l = hcode[list[j]] & 63;
            while (lc < l && pos < inEnd) {
              c = (c << 8) | byte(pos++);
              lc += 8;
            }
            if (lc >= l && hcode[list[j]] >> 6 === ((c >> (lc - l)) & ((1 << l) - 1))) {
              lc -= l;
              if (!getCode(list[j])) return overflow;
              break;
            }
          }
          if (j === list.length) return 'Huffman data holds an undefined code';
        }
      }
    }
    const i = (8 - nBits) & 7;
    c >>= i;
    lc -= i;
    while (lc > 0) {
      const index = (c << (HUF_DECBITS - lc)) & HUF_DECMASK;
      if (!decLen[index]) return 'Huffman data holds an undefined code';
      lc -= decLen[index];
      if (!getCode(decLit[index])) return overflow;
    }
    return undefined;
  } catch (err) {
    if (err instanceof PastEnd) return 'Huffman data reads past the end of its chunk';
    throw err;
  }
}
