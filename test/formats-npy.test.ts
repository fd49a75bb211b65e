import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeNpy, encodeNpy, readNpy } from '../src/formats/npy.js';

/** A version-1.0 .npy file built by hand from the format description (header padded to 64 bytes). */
function handmade(descr: string, shape: string, fortran: boolean, payload: Uint8Array): Uint8Array {
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = `${dict.padEnd(total - 11, ' ')}\n`;
  const out = new Uint8Array(total + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, total - 10, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(payload, total);
  return out;
}

const python = '/usr/bin/python3';
const hasNumpy = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('.npy arrays', () => {
  test('float32 and float16 round trips keep shape and values', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i - 7) / 8);
    const a = decodeNpy(encodeNpy(data, [2, 3, 4]), 'mem');
    assert.deepEqual(a.shape, [2, 3, 4]);
    assert.equal(a.dtype, '<f4');
    assert.deepEqual(Array.from(a.data), Array.from(data));
    // Multiples of 1/8 in this range are exact in half precision.
    const h = decodeNpy(encodeNpy(data, [24], '<f2'), 'mem');
    assert.equal(h.dtype, '<f2');
    assert.deepEqual(h.shape, [24]);
    assert.deepEqual(Array.from(h.data), Array.from(data));
    assert.equal((encodeNpy(data, [2, 3, 4]).length - 24 * 4) % 64, 0, 'header padded to 64 bytes');
    assert.throws(() => encodeNpy(data, [5, 5]), /does not hold 24 values/);
  });

  test('Fortran order and big-endian data come back in C order', () => {
    // A 2x3 int16 array [[1,2,3],[4,5,6]] stored column-major, big-endian: 1,4,2,5,3,6.
    const payload = new Uint8Array(12);
    const view = new DataView(payload.buffer);
    for (const [i, v] of [1, 4, 2, 5, 3, 6].entries()) view.setInt16(2 * i, v, false);
    const a = decodeNpy(handmade('>i2', '(2, 3)', true, payload), 'f.npy');
    assert.deepEqual(a.shape, [2, 3]);
    assert.ok(a.data instanceof Int16Array);
    assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
    const i64 = new Uint8Array(16);
    new DataView(i64.buffer).setBigInt64(8, -5n, true);
    assert.deepEqual(Array.from(decodeNpy(handmade('<i8', '(2,)', false, i64), 'g.npy').data), [0, -5]);
  });

  test('bad input names the file and the problem', () => {
    assert.throws(() => decodeNpy(new Uint8Array(20), 'x.npy'), /x\.npy: not a NumPy \.npy file/);
    assert.throws(() => decodeNpy(handmade('<c8', '(1,)', false, new Uint8Array(8)), 'c.npy'), /c\.npy: unsupported \.npy dtype '<c8'/);
    assert.throws(() => decodeNpy(handmade('<f4', '(10,)', false, new Uint8Array(8)), 't.npy'), /t\.npy: truncated \.npy data/);
    assert.throws(() => decodeNpy(handmade('<f4', 'nonsense', false, new Uint8Array(0)), 'h.npy'), /h\.npy: not a valid \.npy header/);
  });

  test('NumPy reads what we write and we read what NumPy writes', { skip: hasNumpy ? false : `${python} has no numpy` }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vprop-npy-'));
    try {
      const ours = join(dir, 'ours.npy');
      const data = Float32Array.from({ length: 3 * 5 * 7 }, (_, i) => Math.sin(i) * 3);
      writeFileSync(ours, encodeNpy(data, [3, 5, 7]));
      const script = [
        'import numpy as np, sys',
        `a = np.load(${JSON.stringify(ours)})`,
        'print(a.shape, a.dtype, float(a[2, 4, 6]), float(a[1, 0, 3]))',
        `np.save(${JSON.stringify(join(dir, 'f16.npy'))}, np.arange(12, dtype=np.float16).reshape(3, 4) / 4)`,
        `np.save(${JSON.stringify(join(dir, 'fortran.npy'))}, np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)))`,
        `np.save(${JSON.stringify(join(dir, 'u8.npy'))}, np.arange(6, dtype=np.uint8).reshape(2, 3))`,
      ].join('\n');
      const r = spawnSync(python, ['-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), `(3, 5, 7) float32 ${data[2 * 35 + 4 * 7 + 6]} ${data[35 + 3]}`);
      const f16 = await readNpy(join(dir, 'f16.npy'));
      assert.deepEqual(f16.shape, [3, 4]);
      assert.deepEqual(
        Array.from(f16.data),
        Array.from({ length: 12 }, (_, i) => i / 4),
      );
      const fortran = await readNpy(join(dir, 'fortran.npy'));
      assert.deepEqual(fortran.shape, [2, 3, 4]);
      assert.deepEqual(
        Array.from(fortran.data),
        Array.from({ length: 24 }, (_, i) => i),
      );
      const u8 = await readNpy(join(dir, 'u8.npy'));
      assert.ok(u8.data instanceof Uint8Array);
      assert.deepEqual(Array.from(u8.data), [0, 1, 2, 3, 4, 5]);
      assert.equal(readFileSync(ours).subarray(0, 6).toString('latin1'), '\x93NUMPY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
