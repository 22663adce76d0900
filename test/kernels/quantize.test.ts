import { describe, expect, it } from 'vitest';
import { quantizeLinearOp, dequantizeLinearOp } from '../../src/kernels/quantize.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor } from './pointwise-ref.js';

/** Banker's rounding written directly from its definition. */
function rint(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function channels(shape: readonly number[], axis: number | undefined): (i: number) => number {
  if (axis === undefined) return () => 0;
  const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(i / stride) % shape[axis]!;
}

function qref(x: HostTensor, s: number[], z: number[], lo: number, hi: number, axis?: number): number[] {
  const ch = channels(x.shape, axis);
  return Array.from(x.data, (v, i) => Math.min(hi, Math.max(lo, rint(Math.fround(v / s[ch(i)]!)) + z[ch(i)]!)));
}

describe('QuantizeLinear / DequantizeLinear (fake quantisation)', () => {
  it('quantises per tensor to uint8 (default) and int8, rounding half to even', async () => {
    const x = hostTensor('float32', [8], [0, 1, 2.5, 3, 5, -1, 1000, -1000]);
    const scale = hostTensor('float32', [], [2]);
    const [u8] = await runOp(quantizeLinearOp, makeNode('QuantizeLinear', {}, 3), [x, scale, hostTensor('uint8', [], [128])]);
    expect(Array.from(u8!.data)).toEqual([128, 128, 129, 130, 130, 128, 255, 0]);
    const [i8] = await runOp(quantizeLinearOp, makeNode('QuantizeLinear', {}, 3), [x, scale, hostTensor('int8', [], [-1])]);
    expect(Array.from(i8!.data)).toEqual([-1, -1, 0, 1, 1, -1, 127, -128]);
    const [noZp] = await runOp(quantizeLinearOp, makeNode('QuantizeLinear', {}, 2), [x, scale]);
    expect(Array.from(noZp!.data)).toEqual([0, 0, 1, 2, 2, 0, 255, 0]);
  });

  it('matches the reference on random data, per tensor and per axis', async () => {
    const x = randTensor([2, 3, 4, 4], 9, -3, 3);
    const s = [0.02, 0.05, 0.013];
    const z = [3, -7, 0];
    const node = makeNode('QuantizeLinear', { axis: 1 }, 3);
    const [q] = await runOp(quantizeLinearOp, node, [x, hostTensor('float32', [3], s), hostTensor('int8', [3], z)]);
    expect(Array.from(q!.data)).toEqual(qref(x, s, z, -128, 127, 1));
    const [dq] = await runOp(dequantizeLinearOp, makeNode('DequantizeLinear', { axis: 1 }, 3), [q!, hostTensor('float32', [3], s), hostTensor('int8', [3], z)]);
    const ch = channels(x.shape, 1);
    expectClose(dq!.data, Array.from(q!.data, (v, i) => (v - z[ch(i)]!) * s[ch(i)]!), 1e-6, 1e-7);
    // Fake quantisation error is at most half a step where nothing saturates.
    Array.from(x.data).forEach((v, i) => {
      const step = s[ch(i)]!;
      if (q!.data[i]! > -128 && q!.data[i]! < 127) expect(Math.abs(dq!.data[i]! - v)).toBeLessThanOrEqual(step / 2 + 1e-6);
    });
    const x2 = randTensor([3, 7], 10, -1, 1);
    const [q2] = await runOp(quantizeLinearOp, makeNode('QuantizeLinear', {}, 3), [x2, hostTensor('float32', [], [0.01]), hostTensor('uint8', [], [100])]);
    expect(Array.from(q2!.data)).toEqual(qref(x2, [0.01], [100], 0, 255));
    // axis 0 on a [C, K] weight: inner = K (not a multiple of 4: scalar path).
    const w = randTensor([3, 5], 11, -1, 1);
    const [qw] = await runOp(quantizeLinearOp, makeNode('QuantizeLinear', { axis: 0 }, 3), [w, hostTensor('float32', [3], s), hostTensor('uint8', [3], [128, 120, 130])]);
    expect(Array.from(qw!.data)).toEqual(qref(w, s, [128, 120, 130], 0, 255, 0));
  });

  it('folds DequantizeLinear of constant weights (and QuantizeLinear) on the host', () => {
    const w = hostTensor('int8', [2, 2], [-128, 0, 5, 127]);
    const c = (t: HostTensor) => ({ shape: t.shape, constant: t });
    const out = dequantizeLinearOp.evalHost!(makeNode('DequantizeLinear', { axis: 0 }, 3), [c(w), c(hostTensor('float32', [2], [0.5, 0.25])), c(hostTensor('int8', [2], [1, -3]))])!;
    expect(out[0]!.dtype).toBe('float32');
    expect(Array.from(out[0]!.data)).toEqual([-64.5, -0.5, 2, 32.5]);
    const bias = hostTensor('int32', [3], [100, -50, 7]);
    const b = dequantizeLinearOp.evalHost!(makeNode('DequantizeLinear', {}, 2), [c(bias), c(hostTensor('float32', [], [0.5]))])!;
    expect(Array.from(b[0]!.data)).toEqual([50, -25, 3.5]);
    const q = quantizeLinearOp.evalHost!(makeNode('QuantizeLinear', {}, 3), [c(hostTensor('float32', [3], [0.5, 1.5, -300])), c(hostTensor('float32', [], [1])), c(hostTensor('int8', [], [0]))])!;
    expect(q[0]!.dtype).toBe('int8');
    expect(Array.from(q[0]!.data)).toEqual([0, 2, -128]);
    expect(dequantizeLinearOp.evalHost!(makeNode('DequantizeLinear', {}, 2), [{ shape: [2] }, c(hostTensor('float32', [], [1]))])).toBeUndefined();
  });

  it('rejects scales that do not match the axis', () => {
    const c = (t: HostTensor) => ({ shape: t.shape, constant: t });
    expect(() => quantizeLinearOp.inferShapes(makeNode('QuantizeLinear', { axis: 1 }, 2), [{ shape: [2, 3] }, c(hostTensor('float32', [2], [1, 1]))])).toThrow(GraphError);
    expect(() => quantizeLinearOp.inferShapes(makeNode('QuantizeLinear', {}, 2), [{ shape: [2, 3] }, undefined])).toThrow(GraphError);
  });
});
