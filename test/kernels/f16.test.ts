import { describe, expect, it } from 'vitest';
import { f16Bits, f16Value, packF16, packF16AsF32 } from '../../src/kernels/f16.js';

describe('float32 -> float16', () => {
  it('converts known values', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
      [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00], [Infinity, 0x7c00],
      [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66], [Math.fround(0.1), 0x2e66], [1 / 3, 0x3555],
      [2 ** -14 - 2 ** -25, 0x0400], [-(2 ** -24) * 0.75, 0x8001],
    ];
    for (const [v, bits] of cases) expect([v, f16Bits(v).toString(16)]).toEqual([v, bits.toString(16)]);
    expect(f16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('round-trips every finite half and rounds every midpoint to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const e = (h >> 10) & 0x1f;
      if (e === 0x1f) continue;
      const v = f16Value(h);
      if (f16Bits(v) !== h) throw new Error(`${h.toString(16)} -> ${v} -> ${f16Bits(v).toString(16)}`);
      // The midpoint to the next half away from zero (within the finite range).
      const next = h + 1;
      if (((next >> 10) & 0x1f) === 0x1f) continue;
      const mid = (v + f16Value(next)) / 2;
      const even = (h & 1) === 0 ? h : next;
      if (f16Bits(mid) !== even) throw new Error(`midpoint ${mid} of ${h.toString(16)}: got ${f16Bits(mid).toString(16)}, want ${even.toString(16)}`);
      // Just below and above the midpoint go to the nearer neighbour.
      const ulp = Math.abs(f16Value(next) - v);
      if (f16Bits(mid - Math.sign(mid || 1) * ulp / 8) !== h && v !== 0) throw new Error(`below midpoint of ${h.toString(16)}`);
      if (f16Bits(mid + Math.sign(mid || 1) * ulp / 8) !== next) throw new Error(`above midpoint of ${h.toString(16)}`);
    }
  });

  it('packs pairs little-endian, low half first', () => {
    expect([...packF16([1, -2, 0.5])]).toEqual([(0x3c00 | (0xc000 << 16)) >>> 0, 0x3800]);
    const f = packF16AsF32([1, -2, 0.5, 65504]);
    expect(f.length).toBe(2);
    expect([...new Uint32Array(f.buffer)]).toEqual([(0x3c00 | (0xc000 << 16)) >>> 0, (0x3800 | (0x7bff << 16)) >>> 0]);
  });
});
