import { describe, expect, it } from 'vitest';
import { batchNormOp } from '../../src/kernels/batchnorm.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor } from './pointwise-ref.js';

function reference(x: HostTensor, scale: HostTensor, b: HostTensor, mean: HostTensor, v: HostTensor, eps: number): number[] {
  const C = x.shape[1]!;
  const inner = x.shape.slice(2).reduce((p, q) => p * q, 1);
  return Array.from(x.data, (xv, i) => {
    const c = Math.floor(i / inner) % C;
    return ((xv - mean.data[c]!) / Math.sqrt(v.data[c]! + eps)) * scale.data[c]! + b.data[c]!;
  });
}

describe('BatchNormalization (inference)', () => {
  for (const shape of [[2, 3, 4, 4], [2, 5, 3, 3], [3, 6], [1, 4, 2, 3, 2]]) {
    it(`matches the float64 reference for X [${shape.join(',')}]`, async () => {
      const C = shape[1]!;
      const x = randTensor(shape, shape.length * 10 + C, -3, 3);
      const scale = randTensor([C], 2, 0.5, 2);
      const b = randTensor([C], 3);
      const mean = randTensor([C], 4, -1, 1);
      const v = randTensor([C], 5, 0.1, 2);
      for (const eps of [1e-5, 0.01]) {
        const [y] = await runOp(batchNormOp, makeNode('BatchNormalization', { epsilon: eps }, 5), [x, scale, b, mean, v]);
        expect(y!.shape).toEqual(shape);
        expectClose(y!.data, reference(x, scale, b, mean, v, Math.fround(eps)), 1e-4, 1e-5);
      }
    });
  }

  it('rejects training mode and mismatched statistics', () => {
    const c = (n: number) => ({ shape: [n], constant: hostTensor('float32', [n], new Array<number>(n).fill(1)) });
    expect(() => batchNormOp.inferShapes(makeNode('BatchNormalization', { training_mode: 1 }, 5), [{ shape: [1, 3, 2, 2] }, c(3), c(3), c(3), c(3)])).toThrow(GraphError);
    expect(() => batchNormOp.build!(makeNode('BatchNormalization', {}, 5), [{ shape: [1, 3, 2, 2] }, c(3), c(4), c(3), c(3)], [[1, 3, 2, 2]], undefined as never)).toThrow(GraphError);
    expect(batchNormOp.hostInputs!(makeNode('BatchNormalization', {}, 5))).toEqual([1, 2, 3, 4]);
  });
});
