import { describe, expect, it } from 'vitest';
import { reduceOp, reduceGroups } from '../../src/kernels/reduce.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor, unravel } from './pointwise-ref.js';

const REF: Record<string, (v: number[]) => number> = {
  ReduceSum: (v) => v.reduce((a, b) => a + b, 0),
  ReduceMean: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  ReduceMax: (v) => Math.max(...v),
  ReduceMin: (v) => Math.min(...v),
  ReduceProd: (v) => v.reduce((a, b) => a * b, 1),
  ReduceSumSquare: (v) => v.reduce((a, b) => a + b * b, 0),
  ReduceL1: (v) => v.reduce((a, b) => a + Math.abs(b), 0),
  ReduceL2: (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0)),
  ReduceLogSum: (v) => Math.log(v.reduce((a, b) => a + b, 0)),
  ReduceLogSumExp: (v) => Math.log(v.reduce((a, b) => a + Math.exp(b), 0)),
};

/** Groups elements by their kept coordinates; output order is the kept coordinates' row-major order. */
function reference(op: string, x: HostTensor, axes: number[], keep: boolean): { shape: number[]; data: number[] } {
  const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  const groups = new Map<number, number[]>();
  const keptDims = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    let o = 0;
    for (const d of keptDims) o = o * x.shape[d]! + idx[d]!;
    if (!groups.has(o)) groups.set(o, []);
    groups.get(o)!.push(x.data[i]!);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Array.from({ length: n }, (_, o) => REF[op]!(groups.get(o)!)) };
}

const AXES: { axes: number[] | undefined; keep: boolean }[] = [
  { axes: [2, 3], keep: true },
  { axes: [1], keep: false },
  { axes: [0, 2], keep: true },
  { axes: [-1], keep: false },
  { axes: [1, 3], keep: false },
  { axes: undefined, keep: true },
];

describe('reduce kernels vs float64 reference', () => {
  for (const op of Object.keys(REF)) {
    it(`${op} (axes attribute)`, async () => {
      const positive = op === 'ReduceLogSum' || op === 'ReduceProd';
      const x = randTensor([2, 3, 4, 5], op.length * 17, positive ? 0.6 : -2, positive ? 1.5 : 2);
      for (const { axes, keep } of AXES) {
        const attrs: Record<string, AttrValue> = { keepdims: keep ? 1 : 0 };
        if (axes) attrs['axes'] = axes;
        const [y] = await runOp(reduceOp, makeNode(op, attrs), [x]);
        const norm = (axes ?? [0, 1, 2, 3]).map((a) => (a < 0 ? a + 4 : a));
        const ref = reference(op, x, norm, keep);
        expect(y!.shape).toEqual(ref.shape);
        expectClose(y!.data, ref.data, 1e-4, 1e-5);
      }
    });
  }

  it('reads axes from input 1 (opset 18) and honours noop_with_empty_axes', async () => {
    const x = randTensor([3, 4, 6], 5);
    const axes = hostTensor('int64', [2], [0, -1]);
    const [y] = await runOp(reduceOp, makeNode('ReduceMean', { keepdims: 0, _opset: 18 }, 2), [x, axes]);
    expectClose(y!.data, reference('ReduceMean', x, [0, 2], false).data);
    const empty = hostTensor('int64', [0], []);
    const [all] = await runOp(reduceOp, makeNode('ReduceSum', { keepdims: 1 }, 2), [x, empty]);
    expect(all!.shape).toEqual([1, 1, 1]);
    expectClose(all!.data, reference('ReduceSum', x, [0, 1, 2], true).data);
    const [same] = await runOp(reduceOp, makeNode('ReduceSum', { noop_with_empty_axes: 1 }, 2), [x, empty]);
    expect(same!.shape).toEqual([3, 4, 6]);
    expectClose(same!.data, Array.from(x.data));
  });

  it('collapses shapes into kept / reduced groups', () => {
    expect(reduceGroups([2, 3, 4, 5], [2, 3])).toEqual({ kept: [[6, 20]], reduced: [[20, 1]] });
    expect(reduceGroups([2, 1, 3, 4], [0, 1])).toEqual({ kept: [[12, 1]], reduced: [[2, 12]] });
    expect(reduceGroups([2, 3, 4, 5], [1, 3])).toEqual({ kept: [[2, 60], [4, 5]], reduced: [[3, 20], [5, 1]] });
  });

  it('folds integer constants on the host and rejects bad axes', () => {
    const shape = hostTensor('int64', [4], [2, 3, 4, 5]);
    const prod = reduceOp.evalHost!(makeNode('ReduceProd', { keepdims: 0 }), [{ shape: [4], constant: shape }])!;
    expect(prod[0]!.dtype).toBe('int64');
    expect(prod[0]!.shape).toEqual([]);
    expect(Array.from(prod[0]!.data)).toEqual([120]);
    expect(() => reduceOp.inferShapes(makeNode('ReduceSum', { axes: [4] }), [{ shape: [2, 3] }])).toThrow(GraphError);
  });
});
