import { describe, expect, it } from 'vitest';
import { binaryOp, planBinary } from '../../src/kernels/binary.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor, ravelBroadcast, unravel } from './pointwise-ref.js';

const REF: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => Math.pow(a, b),
  Max: (a, b) => (a > b ? a : b),
  Min: (a, b) => (a < b ? a : b),
  Sum: (a, b) => a + b,
  PRelu: (a, b) => (a < 0 ? a * b : a),
};

function bshape(shapes: (readonly number[])[]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(...shapes.map((s) => s[s.length - r + i] ?? 1)));
}

/** Float64 numpy-style reference over any number of operands (folded left). */
function reference(op: string, ins: HostTensor[]): { shape: number[]; data: number[] } {
  const shape = bshape(ins.map((t) => t.shape));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, (_, i) => {
    const idx = unravel(i, shape);
    return ins.map((t) => t.data[ravelBroadcast(idx, t.shape)]!).reduce((a, b) => REF[op]!(a, b));
  });
  return { shape, data };
}

async function check(op: string, ins: HostTensor[]): Promise<void> {
  const [y] = await runOp(binaryOp, makeNode(op, {}, ins.length), ins);
  const ref = reference(op, ins);
  expect(y!.shape).toEqual(ref.shape);
  expectClose(y!.data, ref.data);
}

const PAIRS: [number[], number[], string][] = [
  [[2, 3, 4, 5], [2, 3, 4, 5], 'same, vec4'],
  [[3, 7], [3, 7], 'same, scalar'],
  [[2, 3, 4, 4], [3, 1, 1], 'per-channel, vec4'],
  [[2, 3, 5, 5], [3, 1, 1], 'per-channel, scalar'],
  [[3, 1, 1], [2, 3, 4, 4], 'per-channel on the left'],
  [[2, 8], [], 'scalar operand'],
  [[], [3, 5], 'scalar on the left'],
  [[3, 4], [4], 'row vector'],
  [[3, 5], [3, 1], 'column vector'],
  [[2, 1, 4], [3, 1], 'both broadcast'],
  [[1, 3, 1, 5], [2, 1, 4, 1], 'rank-4 outer product'],
  [[2, 3, 1, 2, 1, 3], [1, 3, 2, 1, 2, 1], 'rank 6'],
];

describe('binary kernels vs float64 reference', () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min']) {
    it(`${op} over broadcast layouts`, async () => {
      for (const [k, [sa, sb]] of PAIRS.entries()) {
        const b = randTensor(sb, 500 + k, 0.5, 2);
        // Flip signs so Div never divides by a value near zero but operands are not all positive.
        const bb = hostTensor('float32', b.shape, Array.from(b.data, (v, i) => (i % 3 === 0 ? -v : v)));
        await check(op, [randTensor(sa, 300 + k), bb]);
      }
    });
  }

  it('Pow keeps the sign of negative bases with integral exponents', async () => {
    const x = randTensor([4, 6], 11, -3, 3);
    for (const e of [2, 3, -1, 0, 1]) await check('Pow', [x, hostTensor('float32', [], [e])]);
    await check('Pow', [randTensor([4, 6], 12, 0.1, 3), randTensor([6], 13, -2, 2)]);
  });

  it('PRelu broadcasts its slope to X only', async () => {
    await check('PRelu', [randTensor([2, 3, 4, 4], 21), randTensor([3, 1, 1], 22, 0.05, 0.5)]);
    await check('PRelu', [randTensor([3, 4, 5], 23), randTensor([5], 24, 0.05, 0.5)]);
    expect(() => binaryOp.inferShapes(makeNode('PRelu', {}, 2), [{ shape: [3, 1] }, { shape: [3, 4] }])).toThrow(GraphError);
  });

  it('variadic Sum / Max / Min fold left with broadcasting', async () => {
    await check('Sum', [randTensor([2, 3, 4], 31), randTensor([3, 1], 32), randTensor([4], 33)]);
    await check('Max', [randTensor([3, 4], 34), randTensor([4], 35), randTensor([3, 1], 36), randTensor([3, 4], 37)]);
    await check('Min', [randTensor([5], 38)]);
    await check('Sum', [randTensor([2, 2, 2], 39)]);
  });

  it('rejects shapes that do not broadcast', () => {
    expect(() => binaryOp.inferShapes(makeNode('Add', {}, 2), [{ shape: [2, 3] }, { shape: [4] }])).toThrow(GraphError);
  });

  it('chooses the layout from shapes alone', () => {
    expect(planBinary([2, 3, 4, 4], [2, 3, 4, 4], [2, 3, 4, 4])).toMatchObject({ layout: 'same', vec4: true, items: 24 });
    expect(planBinary([2, 3, 4, 4], [3, 1, 1], [2, 3, 4, 4])).toMatchObject({ layout: 'chan', vec4: true, smallFirst: false, uniform: [24, 3, 16, 0] });
    expect(planBinary([1, 3, 1, 1], [2, 3, 5, 5], [2, 3, 5, 5])).toMatchObject({ layout: 'chan', vec4: false, smallFirst: true, uniform: [150, 3, 25, 0] });
    expect(planBinary([6, 4], [1], [6, 4])).toMatchObject({ layout: 'chan', vec4: true, uniform: [6, 1, 1, 0] });
    expect(planBinary([3, 1], [1, 4], [3, 4]).layout).toBe('general');
  });

  it('folds integer shape arithmetic on the host', () => {
    const c = (dtype: 'int64' | 'float32', shape: number[], data: number[]) => ({ shape, constant: hostTensor(dtype, shape, data) });
    const div = binaryOp.evalHost!(makeNode('Div', {}, 2), [c('int64', [4], [7, -7, 9, 1]), c('int64', [], [2])])!;
    expect(div[0]!.dtype).toBe('int64');
    expect(Array.from(div[0]!.data)).toEqual([3, -3, 4, 0]);
    const mul = binaryOp.evalHost!(makeNode('Mul', {}, 2), [c('int64', [2, 1], [2, 3]), c('int64', [3], [1, 10, 100])])!;
    expect(mul[0]!.shape).toEqual([2, 3]);
    expect(Array.from(mul[0]!.data)).toEqual([2, 20, 200, 3, 30, 300]);
    const fdiv = binaryOp.evalHost!(makeNode('Div', {}, 2), [c('float32', [2], [1, -3]), c('float32', [], [2])])!;
    expect(Array.from(fdiv[0]!.data)).toEqual([0.5, -1.5]);
    const sum = binaryOp.evalHost!(makeNode('Sum', {}, 3), [c('int64', [1], [1]), c('int64', [1], [2]), c('int64', [1], [3])])!;
    expect(Array.from(sum[0]!.data)).toEqual([6]);
    expect(binaryOp.evalHost!(makeNode('Add', {}, 2), [c('int64', [1], [1]), { shape: [1] }])).toBeUndefined();
  });
});
