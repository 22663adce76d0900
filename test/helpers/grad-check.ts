/**
 * Shared pieces of the backward-kernel tests: seeded inputs, float64 forward references written as
 * index maps, and a check of GPU gradients against central finite differences.
 */
import { expect } from 'vitest';
import type { OpDef } from '../../src/kernels/types.js';
import type { AttrValue, GraphNode } from '../../src/runtime/graph.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { makeNode } from './run-op.js';
import { numericGradient, runOpBackward } from './run-op-backward.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Uniform in [-2, 2), never exactly zero. */
export function randTensor(shape: number[], seed: number): HostTensor {
  const r = rng(seed);
  return hostTensor('float32', shape, Array.from({ length: size(shape) }, () => r() * 4 - 2 + 1e-3));
}

/** Distinct values 0.01 apart (finite differences never swap a max), shuffled. */
export function distinctTensor(shape: number[], seed: number): HostTensor {
  const r = rng(seed);
  const n = size(shape);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.01 + 0.003);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [v[i], v[j]] = [v[j]!, v[i]!]; }
  return hostTensor('float32', shape, v);
}

export const i64 = (v: number[]): HostTensor => hostTensor('int64', [v.length], v);
export const f32 = (v: number[]): HostTensor => hostTensor('float32', [v.length], v);

export function coordsOf(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) { c[k] = i % shape[k]!; i = Math.floor(i / shape[k]!); }
  return c;
}

export function flatOf(c: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let k = 0; k < shape.length; k++) i = i * shape[k]! + c[k]!;
  return i;
}

/**
 * A float64 forward reference from an index map: output element at coordinate c is
 * x[src(c)], or `fill` where src gives undefined.
 */
export function mapRef(outShape: readonly number[], src: (c: number[]) => number | undefined, fill = 0): (x: ArrayLike<number>) => Float64Array {
  const idx = Array.from({ length: size(outShape) }, (_, i) => src(coordsOf(i, outShape)));
  return (x) => Float64Array.from(idx, (j) => (j === undefined ? fill : x[j]!));
}

/** |gpu - ref| <= tol * max(1, max |ref|) for every element. */
export function expectGradClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-3): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol * scale)) throw new Error(`element ${i}: got ${a}, expected ${e}`);
  }
}

export interface GradCase {
  op: OpDef;
  node: GraphNode;
  inputs: (HostTensor | undefined)[];
  /** Float64 forward of output `k` (all outputs concatenated when `outputs` > 1) as a function of input `i`. */
  ref: (i: number, x: Float64Array) => ArrayLike<number>;
  /** Which inputs are differentiated. */
  wants: boolean[];
  seed: number;
}

/**
 * Runs the op's backward with random output gradients and checks each wanted input gradient
 * against central differences of `ref`. Returns the GPU gradients.
 */
export async function checkGrad(c: GradCase): Promise<(Float32Array | undefined)[]> {
  const { op, node, inputs } = c;
  const host = new Set(op.hostInputs?.(node) ?? []);
  const args = inputs.map((t, i) => t && { shape: t.shape, constant: host.has(i) ? t : undefined });
  const outShapes = op.inferShapes(node, args);
  const r = rng(c.seed);
  const gOuts = outShapes.map((s) => Float32Array.from({ length: size(s) }, () => r() * 2 - 1 + 1e-3));
  const flat = Float64Array.from(gOuts.flatMap((g) => Array.from(g)));
  const got = await runOpBackward(op, node, inputs, gOuts, c.wants);
  c.wants.forEach((w, i) => {
    if (!w) { expect(got[i]).toBeUndefined(); return; }
    const num = numericGradient((x) => c.ref(i, x), inputs[i]!.data, flat);
    expectGradClose(got[i]!, num);
  });
  return got;
}

export function node(opType: string, attrs: Record<string, AttrValue>, nIn = 1, nOut = 1): GraphNode {
  return makeNode(opType, attrs, nIn, nOut);
}
