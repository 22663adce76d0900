/**
 * IEEE 754 binary16 on the host, for kernels that store constants in half precision (shader-f16).
 * Node 20 has no Float16Array, and `Math.f16round` is not everywhere yet, so the conversion is
 * written out: round to nearest, ties to even, straight from the float64 value (rounding through
 * float32 first could round twice), with subnormals, overflow to infinity and NaN.
 */

const TWO_POW_24 = 2 ** 24;
const MIN_NORMAL = 2 ** -14;
/** Half of the last finite half's ulp above 65504: from here on values round to infinity. */
const OVERFLOW = 65520;

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The binary16 bit pattern (0..0xffff) nearest to `v`. */
export function f16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= OVERFLOW) return sign | 0x7c00;
  // Subnormal range in units of 2^-24; 1024 units is the smallest normal, whose bits are 0x400.
  if (a < MIN_NORMAL) return sign | roundHalfEven(a * TWO_POW_24);
  let e = Math.floor(Math.log2(a));
  // log2 can be off by one next to powers of two.
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a / 2^e is exact, so is the scaled mantissa; a carry out of the mantissa lands in the exponent.
  const q = roundHalfEven((a / 2 ** e - 1) * 1024);
  return sign | (((e + 15) << 10) + q);
}

/** The value of a binary16 bit pattern. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Packs values as binary16 pairs, little-endian (element 2i in the low half of word i), the layout
 * of a WGSL `array<f16>` / `array<vec4<f16>>`. Odd lengths get a zero high half in the last word.
 */
export function packF16(data: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i += 2) {
    const lo = f16Bits(data[i]!);
    const hi = i + 1 < data.length ? f16Bits(data[i + 1]!) : 0;
    out[i >> 1] = (lo | (hi << 16)) >>> 0;
  }
  return out;
}

/**
 * The same words as a Float32Array view, for `BuildContext.constBuffer` (which copies bytes: a
 * same-type TypedArray copy keeps every bit pattern, NaN payloads included).
 */
export function packF16AsF32(data: ArrayLike<number>): Float32Array {
  const words = packF16(data);
  return new Float32Array(words.buffer, words.byteOffset, words.length);
}
