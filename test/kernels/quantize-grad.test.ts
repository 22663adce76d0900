import { describe, it } from 'vitest';
import { dequantizeLinearOp, quantizeLinearOp } from '../../src/kernels/quantize.js';
import { hostTensor } from '../../src/runtime/tensor.js';
import { makeNode } from '../helpers/run-op.js';
import { runOpBackward } from '../helpers/run-op-backward.js';
import { expectClose, randTensor, unravel } from './pointwise-ref.js';
import { checkGrads, randGrad } from './grad-check.js';

describe('QuantizeLinear / DequantizeLinear backward', () => {
  it('DequantizeLinear per tensor and per axis vs finite differences', async () => {
    const x = randTensor([2, 3, 4], 1, 0, 255);
    await checkGrads(dequantizeLinearOp, makeNode('DequantizeLinear', {}, 3), [x, hostTensor('float32', [], [0.05]), hostTensor('uint8', [], [128])],
      [true, false, false], (xs) => Array.from(xs[0]!, (v) => (v - 128) * Math.fround(0.05)));
    const scales = [0.1, 0.02, 0.3];
    await checkGrads(dequantizeLinearOp, makeNode('DequantizeLinear', { axis: 1 }, 3), [x, hostTensor('float32', [3], scales), hostTensor('int8', [3], [1, -2, 3])],
      [true, false, false], (xs) => Array.from(xs[0]!, (v, i) => { const c = unravel(i, [2, 3, 4])[1]!; return (v - [1, -2, 3][c]!) * Math.fround(scales[c]!); }));
  });

  it('QuantizeLinear straight-through: gy / scale inside the range, 0 where clamped', async () => {
    for (const [dtype, zp, lo, hi] of [['uint8', 10, 0, 255], ['int8', -3, -128, 127]] as const) {
      for (const perAxis of [false, true]) {
        const shape = [2, 3, 5];
        const x = randTensor(shape, 2, -40, 40);
        const scales = perAxis ? [0.1, 0.25, 0.5] : [0.2];
        const scale = hostTensor('float32', perAxis ? [3] : [], scales);
        const zpT = hostTensor(dtype, perAxis ? [3] : [], perAxis ? [zp, zp, zp] : [zp]);
        const g = randGrad(x.data.length, 3);
        const node = makeNode('QuantizeLinear', perAxis ? { axis: 1 } : {}, 3);
        const [gx] = await runOpBackward(quantizeLinearOp, node, [x, scale, zpT], [g], [true, false, false]);
        const expected = Array.from(x.data, (v, i) => {
          const s = Math.fround(scales[perAxis ? unravel(i, shape)[1]! : 0]!);
          const q = Math.round(Math.fround(v / s)) + zp;
          return q >= lo && q <= hi ? g[i]! / s : 0;
        });
        if (!expected.some((e) => e === 0) || expected.every((e) => e === 0)) throw new Error('test data should hit both the range and the clamp');
        expectClose(gx!, expected, 1e-5, 1e-6);
      }
    }
  });
});
