/**
 * Shape helpers shared by the pointwise and normalisation kernels (unary, binary, batchnorm,
 * softmax, reduce, quantize): workgroup sizing, numpy broadcasting, dimension collapsing and the
 * [outer, C, inner] view of a per-channel operand.
 */
import type { AdapterTraits } from './types.js';
import { GraphError } from '../runtime/errors.js';
import { sizeOf, stridesOf } from '../runtime/tensor.js';

/**
 * Invocations per workgroup for 1-D pointwise jobs. 256 is the most SwiftShader allows; a device
 * reporting less gets its own limit (a rare extra pipeline, since the size is baked into WGSL).
 */
export function pointwiseWorkgroup(traits: AdapterTraits): number {
  return Math.max(1, Math.min(256, traits.maxWorkgroupInvocations, traits.maxWorkgroupSizeX));
}

/** Numpy (multidirectional) broadcast of several shapes; throws GraphError when they cannot match. */
export function broadcastShapes(shapes: readonly (readonly number[])[], what = 'operands'): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) { out[o] = d; continue; }
      throw new GraphError(`cannot broadcast ${what} of shapes ${shapes.map((x) => `[${x.join(',')}]`).join(' and ')}`);
    }
  }
  return out;
}

/**
 * Element strides of `shape` read as an operand of the broadcast `outShape`: leading missing dims
 * and size-1 dims get stride 0.
 */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  return outShape.map((_, o) => {
    const i = o - (outShape.length - shape.length);
    return i < 0 || shape[i] === 1 ? 0 : own[i]!;
  });
}

/**
 * Merges adjacent output dims over which every operand's strides stay linear (both broadcast, or
 * both contiguous), and drops size-1 dims. Most real broadcasts collapse to rank 1-3.
 */
export function collapseBroadcast(outShape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < outShape.length; d++) {
    const n = outShape[d]!;
    if (n === 1) continue;
    const last = shape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => st[k]![last] === s[d]! * n);
    if (mergeable) {
      shape[last] = shape[last]! * n;
      strides.forEach((s, k) => { st[k]![last] = s[d]!; });
    } else {
      shape.push(n);
      strides.forEach((s, k) => st[k]!.push(s[d]!));
    }
  }
  return { shape, strides: st };
}

/**
 * When `shape` broadcast to `outShape` varies along one contiguous run of dims only (a scalar, a
 * per-channel [C,1,1], a row [K] or a column [M,1]), its element at output index i is
 * `(i / inner) % C`. Returns that view, or undefined for any other broadcast.
 */
export function channelView(shape: readonly number[], outShape: readonly number[]): { C: number; inner: number } | undefined {
  const { shape: cs, strides } = collapseBroadcast(outShape, [broadcastStrides(shape, outShape)]);
  const s = strides[0]!;
  const live = s.map((v, i) => (v !== 0 ? i : -1)).filter((i) => i >= 0);
  if (live.length === 0) return { C: 1, inner: 1 };
  if (live.length > 1) return undefined;
  const d = live[0]!;
  if (s[d] !== 1) return undefined;
  return { C: cs[d]!, inner: sizeOf(cs.slice(d + 1)) };
}

/** Normalises a possibly negative axis for a tensor of `rank` dims. */
export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) throw new GraphError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Packs an f32 array into an ArrayBuffer for a `uniform` binding (16-byte padded). */
export function f32Uniform(values: readonly number[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(values.length / 4) * 16));
  new Float32Array(buf).set(values);
  return buf;
}
