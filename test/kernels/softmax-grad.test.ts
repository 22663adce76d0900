import { describe, it } from 'vitest';
import { softmaxOp } from '../../src/kernels/softmax.js';
import { makeNode } from '../helpers/run-op.js';
import { randTensor } from './pointwise-ref.js';
import { checkGrads } from './grad-check.js';

/** Float64 (log-)softmax over an [outer, len, inner] view. */
function ref(log: boolean, outer: number, len: number, inner: number): (xs: readonly ArrayLike<number>[]) => number[] {
  return (xs) => {
    const x = xs[0]!;
    const y = new Array<number>(x.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const at = (k: number): number => (o * len + k) * inner + j;
        let m = -Infinity;
        for (let k = 0; k < len; k++) m = Math.max(m, x[at(k)]!);
        let s = 0;
        for (let k = 0; k < len; k++) s += Math.exp(x[at(k)]! - m);
        for (let k = 0; k < len; k++) y[at(k)] = log ? x[at(k)]! - m - Math.log(s) : Math.exp(x[at(k)]! - m) / s;
      }
    }
    return y;
  };
}

const CASES: { what: string; shape: number[]; attrs: Record<string, number>; view: [number, number, number] }[] = [
  { what: 'opset 13, last axis', shape: [2, 10], attrs: {}, view: [2, 10, 1] },
  { what: 'opset 13, axis 1 of 4-D (strided)', shape: [2, 3, 4, 5], attrs: { axis: 1 }, view: [2, 3, 20] },
  { what: 'opset 11, coerced 2-D at axis 1', shape: [2, 3, 4], attrs: { axis: 1, _opset: 11 }, view: [2, 12, 1] },
  { what: 'opset 11 default axis, long rows', shape: [2, 300], attrs: { _opset: 11 }, view: [2, 300, 1] },
];

describe('Softmax / LogSoftmax backward vs finite differences', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const c of CASES) {
      it(`${op}: ${c.what}`, async () => {
        const x = randTensor(c.shape, 7, -3, 3);
        await checkGrads(softmaxOp, makeNode(op, c.attrs, 1), [x], [true], ref(op === 'LogSoftmax', ...c.view));
      });
    }
  }
});
