/** Seeded random draws for kernel tests (the same sequence for a seed on every machine). */
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';

/** mulberry32: uniform in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` draws uniform in [-1, 1) from `rand`, never exactly zero, so unwritten or mis-indexed elements cannot hide. */
export function nonZeroUniform(rand: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) || 0.5);
}

/** A float32 tensor of `shape` filled by nonZeroUniform. */
export function nonZeroTensor(rand: () => number, shape: readonly number[]): HostTensor {
  return hostTensor('float32', [...shape], nonZeroUniform(rand, shape.reduce((a, b) => a * b, 1)));
}
