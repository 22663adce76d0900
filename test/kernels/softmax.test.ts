import { describe, expect, it } from 'vitest';
import { softmaxOp, softmaxOpWith, softmaxVariant, softmaxView } from '../../src/kernels/softmax.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { hostTensor } from '../../src/runtime/tensor.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor, unravel } from './pointwise-ref.js';

/** Float64 softmax over the set of `axes` (one axis for opset 13, the trailing block before). */
function reference(x: HostTensor, axes: number[], log: boolean): number[] {
  const shape = x.shape;
  const n = x.data.length;
  const key = (i: number): string => unravel(i, shape).map((v, d) => (axes.includes(d) ? '*' : v)).join(',');
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const k = key(i);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(i);
  }
  const out = new Array<number>(n);
  for (const idx of groups.values()) {
    const m = Math.max(...idx.map((i) => x.data[i]!));
    const s = idx.reduce((a, i) => a + Math.exp(x.data[i]! - m), 0);
    for (const i of idx) out[i] = log ? x.data[i]! - m - Math.log(s) : Math.exp(x.data[i]! - m) / s;
  }
  return out;
}

describe('Softmax / LogSoftmax', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    const log = op === 'LogSoftmax';
    it(`${op} opset 13 over each axis`, async () => {
      const x = randTensor([2, 3, 4, 5], 42, -5, 5);
      for (const axis of [-1, 0, 1, 2, 3]) {
        const [y] = await runOp(softmaxOp, makeNode(op, { axis, _opset: 13 }), [x]);
        expectClose(y!.data, reference(x, [axis < 0 ? axis + 4 : axis], log), 1e-4, 1e-6);
      }
    });

    it(`${op} opset 11 coerces to 2-D (default axis 1)`, async () => {
      const x = randTensor([2, 3, 4, 5], 43, -5, 5);
      const [y] = await runOp(softmaxOp, makeNode(op, { _opset: 11 }), [x]);
      expectClose(y!.data, reference(x, [1, 2, 3], log), 1e-4, 1e-6);
      const [y2] = await runOp(softmaxOp, makeNode(op, { _opset: 11, axis: 2 }), [x]);
      expectClose(y2!.data, reference(x, [2, 3], log), 1e-4, 1e-6);
    });

    it(`${op} over long rows (workgroup per row) stays stable for large logits`, async () => {
      const x = randTensor([3, 1000], 44, -20, 20);
      const big = hostTensor('float32', [3, 1000], Array.from(x.data, (v, i) => (i < 1000 ? v + 1000 : v)));
      // Both kernels whatever the adapter would choose (software adapters pick 'strided').
      for (const v of ['rows', 'strided'] as const) {
        const [y] = await runOp(softmaxOpWith(v), makeNode(op, {}), [big]);
        expectClose(y!.data, reference(big, [1], log), 1e-4, 1e-7);
      }
      const x2 = randTensor([2, 2, 300], 45);
      const [y2] = await runOp(softmaxOpWith('rows'), makeNode(op, { _opset: 9 }), [x2]);
      expectClose(y2!.data, reference(x2, [1, 2], log), 1e-4, 1e-7);
    });
  }

  it('picks the variant and view from shapes', () => {
    expect(softmaxView(makeNode('Softmax', { _opset: 13, axis: 1 }), [2, 3, 4])).toEqual({ outer: 2, len: 3, inner: 4 });
    expect(softmaxView(makeNode('Softmax', { _opset: 12 }), [2, 3, 4])).toEqual({ outer: 2, len: 12, inner: 1 });
    expect(softmaxView(makeNode('Softmax'), [2, 3, 4])).toEqual({ outer: 6, len: 4, inner: 1 });
    expect(softmaxVariant({ len: 1000, inner: 1 })).toBe('rows');
    expect(softmaxVariant({ len: 10, inner: 1 })).toBe('strided');
    expect(softmaxVariant({ len: 1000, inner: 4 })).toBe('strided');
    expect(softmaxVariant({ len: 1000, inner: 1 }, { isSoftware: true })).toBe('strided');
    expect(softmaxVariant({ len: 1000, inner: 1 }, { isSoftware: false })).toBe('rows');
  });
});
