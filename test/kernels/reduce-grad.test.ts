import { describe, expect, it } from 'vitest';
import { reduceOp } from '../../src/kernels/reduce.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode } from '../helpers/run-op.js';
import { runOpBackward } from '../helpers/run-op-backward.js';
import { randTensor, rng, unravel } from './pointwise-ref.js';
import { awayFrom, checkGrads } from './grad-check.js';

const ACC: Record<string, { init: number; acc: (a: number, x: number) => number; fin: (a: number, n: number) => number }> = {
  ReduceSum: { init: 0, acc: (a, x) => a + x, fin: (a) => a },
  ReduceMean: { init: 0, acc: (a, x) => a + x, fin: (a, n) => a / n },
  ReduceMax: { init: -Infinity, acc: Math.max, fin: (a) => a },
  ReduceMin: { init: Infinity, acc: Math.min, fin: (a) => a },
  ReduceProd: { init: 1, acc: (a, x) => a * x, fin: (a) => a },
  ReduceSumSquare: { init: 0, acc: (a, x) => a + x * x, fin: (a) => a },
  ReduceL1: { init: 0, acc: (a, x) => a + Math.abs(x), fin: (a) => a },
  ReduceL2: { init: 0, acc: (a, x) => a + x * x, fin: (a) => Math.sqrt(a) },
  ReduceLogSum: { init: 0, acc: (a, x) => a + x, fin: (a) => Math.log(a) },
  ReduceLogSumExp: { init: 0, acc: (a, x) => a + Math.exp(x), fin: (a) => Math.log(a) },
};

/** Float64 reduction over `axes` (all when empty); output order is row-major over the kept dims. */
function ref(op: string, shape: number[], axes: number[]): (xs: readonly ArrayLike<number>[]) => number[] {
  const red = axes.length ? axes : shape.map((_, i) => i);
  const keptDims = shape.map((_, i) => i).filter((i) => !red.includes(i));
  const outShape = keptDims.map((d) => shape[d]!);
  const nOut = outShape.reduce((a, b) => a * b, 1);
  const count = red.reduce((a, d) => a * shape[d]!, 1);
  return (xs) => {
    const x = xs[0]!;
    const acc = new Array<number>(nOut).fill(ACC[op]!.init);
    for (let i = 0; i < x.length; i++) {
      const idx = unravel(i, shape);
      let o = 0;
      for (const d of keptDims) o = o * shape[d]! + idx[d]!;
      acc[o] = ACC[op]!.acc(acc[o]!, x[i]!);
    }
    return acc.map((a) => ACC[op]!.fin(a, count));
  };
}

/** Distinct values 0.05 apart in random order: no ties for Max/Min. */
function distinct(shape: number[], seed: number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05 + 0.013);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [v[i], v[j]] = [v[j]!, v[i]!]; }
  return hostTensor('float32', shape, v);
}

function input(op: string, shape: number[], seed: number): HostTensor {
  switch (op) {
    case 'ReduceMax': case 'ReduceMin': return distinct(shape, seed);
    case 'ReduceLogSum': return randTensor(shape, seed, 0.1, 2);
    case 'ReduceProd': return randTensor(shape, seed, 0.5, 1.5);
    case 'ReduceL1': return awayFrom(randTensor(shape, seed), [0]);
    default: return randTensor(shape, seed);
  }
}

const AXES: { shape: number[]; axes: number[]; keep: number }[] = [
  { shape: [2, 3, 4, 5], axes: [2, 3], keep: 1 },
  { shape: [2, 3, 4, 5], axes: [1], keep: 0 },
  { shape: [2, 3, 4, 5], axes: [0, 2], keep: 1 },
  { shape: [3, 4, 5], axes: [], keep: 0 },
  { shape: [2, 1, 6], axes: [1], keep: 1 },
];

describe('reduce backward vs finite differences', () => {
  for (const op of Object.keys(ACC)) {
    it(`${op} over several axis sets (attribute form)`, async () => {
      let seed = 3;
      for (const c of AXES) {
        const attrs: Record<string, AttrValue> = { keepdims: c.keep };
        if (c.axes.length) attrs['axes'] = c.axes;
        try {
          await checkGrads(reduceOp, makeNode(op, attrs, 1), [input(op, c.shape, seed++)], [true], ref(op, c.shape, c.axes));
        } catch (e) { throw new Error(`[${c.shape}] axes [${c.axes}]: ${(e as Error).message}`); }
      }
    });
  }

  it('ReduceMean with axes as an input (opset 18), negative axis', async () => {
    const x = randTensor([2, 3, 4], 9);
    await checkGrads(reduceOp, makeNode('ReduceMean', {}, 2), [x, hostTensor('int64', [1], [-1])], [true, false], ref('ReduceMean', [2, 3, 4], [2]));
  });

  it('ReduceProd with a zero element: the zero gets the product of the others', async () => {
    const x = randTensor([2, 6], 11, 0.5, 1.5);
    (x.data as Float32Array)[3] = 0;
    await checkGrads(reduceOp, makeNode('ReduceProd', { axes: [1], keepdims: 0 }, 1), [x], [true], ref('ReduceProd', [2, 6], [1]));
  });

  it('ReduceMax / ReduceMin ties: only the first extreme gets the gradient', async () => {
    const x = hostTensor('float32', [2, 4], [1, 3, 3, 2, -1, -1, 0, -1]);
    const [gMax] = await runOpBackward(reduceOp, makeNode('ReduceMax', { axes: [1] }, 1), [x], [new Float32Array([1, 1])], [true]);
    expect(Array.from(gMax!)).toEqual([0, 1, 0, 0, 0, 0, 1, 0]);
    const [gMin] = await runOpBackward(reduceOp, makeNode('ReduceMin', { axes: [1] }, 1), [x], [new Float32Array([1, 1])], [true]);
    expect(Array.from(gMin!)).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
  });
});
