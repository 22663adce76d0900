import { describe, it } from 'vitest';
import { batchNormOp } from '../../src/kernels/batchnorm.js';
import { makeNode } from '../helpers/run-op.js';
import { randTensor, unravel } from './pointwise-ref.js';
import { checkGrads } from './grad-check.js';

describe('BatchNormalization backward vs finite differences', () => {
  for (const shape of [[2, 3, 4, 5], [3, 4], [2, 5, 3, 2, 2]]) {
    it(`X [${shape.join(',')}]`, async () => {
      const C = shape[1]!;
      const scale = randTensor([C], 1);
      const bias = randTensor([C], 2);
      const mean = randTensor([C], 3);
      const variance = randTensor([C], 4, 0.2, 2);
      const eps = 1e-3;
      const x = randTensor(shape, 5);
      const ref = (xs: readonly ArrayLike<number>[]): number[] => Array.from(xs[0]!, (v, i) => {
        const c = unravel(i, shape)[1]!;
        return ((v - mean.data[c]!) / Math.sqrt(variance.data[c]! + eps)) * scale.data[c]! + bias.data[c]!;
      });
      await checkGrads(batchNormOp, makeNode('BatchNormalization', { epsilon: eps }, 5), [x, scale, bias, mean, variance], [true, false, false, false, false], ref);
    });
  }
});
