/**
 * Host-side tensors. Every tensor that reaches the GPU is float32; integer tensors live on the host
 * only (shape arithmetic, indices, axes), where constant folding consumes them.
 */

/** Element types the loader understands. Integer types are held exactly in a Float64Array. */
export type DType =
  | 'float32' | 'float16' | 'float64' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

/** A tensor in host memory. Floats are widened to Float32Array; integers and bools to Float64Array. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'float64' || d === 'bfloat16';
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function hostTensor(dtype: DType, shape: readonly number[], data: ArrayLike<number>): HostTensor {
  const n = sizeOf(shape);
  if (data.length !== n) throw new Error(`tensor data has ${data.length} elements, shape [${shape.join(',')}] needs ${n}`);
  const arr = isFloatDType(dtype) ? Float32Array.from(data) : Float64Array.from(data);
  return { dtype: isFloatDType(dtype) ? 'float32' : dtype, shape: [...shape], data: arr };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]!; }
  return s;
}

/** Converts an IEEE half (as uint16 bits) to a JS number. */
export function halfToFloat(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
