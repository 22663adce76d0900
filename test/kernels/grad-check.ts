/** Shared gradient checks for the *-grad tests: GPU backward vs finite differences of a float64 reference. */
import type { GraphNode } from '../../src/runtime/graph.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import type { OpDef } from '../../src/kernels/types.js';
import { numericGradient, runOpBackward } from '../helpers/run-op-backward.js';
import { expectClose, rng } from './pointwise-ref.js';

/** Moves values within `eps` of any kink to `eps` past it (so finite differences stay on one side). */
export function awayFrom(t: HostTensor, kinks: readonly number[], eps = 2e-2): HostTensor {
  const data = Array.from(t.data, (v) => {
    for (const k of kinks) if (Math.abs(v - k) < eps) return k + (v >= k ? eps : -eps);
    return v;
  });
  return hostTensor('float32', t.shape, data);
}

/** Seeded output gradient in [-1, 1), rounded to f32. */
export function randGrad(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/**
 * Runs `op.backward` with a random output gradient and compares every wanted input's gradient with
 * central differences of `ref` (float64 forward over all inputs' data, returning output 0).
 */
export async function checkGrads(op: OpDef, node: GraphNode, inputs: readonly (HostTensor | undefined)[], wants: readonly boolean[],
  ref: (xs: readonly ArrayLike<number>[]) => ArrayLike<number>, opts: { seed?: number; constant?: boolean[]; rtol?: number; atol?: number; h?: number } = {}): Promise<(Float32Array | undefined)[]> {
  const datas = inputs.map((t) => (t ? t.data : new Float64Array(0)));
  const nOut = ref(datas).length;
  const g = randGrad(nOut, opts.seed ?? 99);
  const got = await runOpBackward(op, node, inputs, [g], wants, opts.constant);
  inputs.forEach((t, k) => {
    if (!wants[k] || !t) { expect0(got[k]); return; }
    const num = numericGradient((x) => ref(datas.map((d, j) => (j === k ? x : d))), t.data, g, opts.h);
    expectClose(got[k]!, num, opts.rtol ?? 1e-3, opts.atol ?? 1e-3);
  });
  return got;
}

function expect0(g: Float32Array | undefined): void {
  if (g !== undefined) throw new Error('a gradient came back for an input that was not wanted');
}
