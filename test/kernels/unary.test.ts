import { describe, expect, it } from 'vitest';
import { unaryOp, identityOp, dropoutOp, unaryOps } from '../../src/kernels/unary.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { expectClose, randTensor } from './pointwise-ref.js';

const erf = (x: number): number => {
  // Maclaurin series, converges fast for |x| <= 3 (inputs here are within [-3, 3]).
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};

interface Case { op: string; attrs?: Record<string, AttrValue>; ref: (x: number) => number; lo?: number; hi?: number }
const CASES: Case[] = [
  { op: 'Relu', ref: (x) => (x > 0 ? x : 0) },
  { op: 'LeakyRelu', ref: (x) => (x > 0 ? x : 0.01 * x) },
  { op: 'LeakyRelu', attrs: { alpha: 0.3 }, ref: (x) => (x > 0 ? x : 0.3 * x) },
  { op: 'Clip', attrs: { min: -0.5, max: 1.25 }, ref: (x) => (x < -0.5 ? -0.5 : x > 1.25 ? 1.25 : x) },
  { op: 'Sigmoid', ref: (x) => Math.exp(x) / (1 + Math.exp(x)), lo: -8, hi: 8 },
  { op: 'HardSigmoid', ref: (x) => Math.max(0, Math.min(1, 0.2 * x + 0.5)), lo: -4, hi: 4 },
  { op: 'HardSigmoid', attrs: { alpha: 0.5, beta: 0.6 }, ref: (x) => Math.max(0, Math.min(1, 0.5 * x + 0.6)) },
  { op: 'HardSwish', ref: (x) => (x * Math.max(0, Math.min(6, x + 3))) / 6, lo: -5, hi: 5 },
  { op: 'Tanh', ref: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1), lo: -5, hi: 5 },
  { op: 'Elu', ref: (x) => (x > 0 ? x : Math.expm1(x)) },
  { op: 'Elu', attrs: { alpha: 2 }, ref: (x) => (x > 0 ? x : 2 * Math.expm1(x)) },
  { op: 'Neg', ref: (x) => -x },
  { op: 'Exp', ref: Math.exp },
  { op: 'Log', ref: Math.log, lo: 0.05, hi: 5 },
  { op: 'Sqrt', ref: Math.sqrt, lo: 0.01, hi: 9 },
  { op: 'Abs', ref: Math.abs },
  { op: 'Reciprocal', ref: (x) => 1 / x, lo: 0.2, hi: 3 },
  { op: 'Floor', ref: Math.floor, lo: -4, hi: 4 },
  { op: 'Ceil', ref: Math.ceil, lo: -4, hi: 4 },
  { op: 'Sign', ref: Math.sign },
  { op: 'Erf', ref: erf, lo: -3, hi: 3 },
  { op: 'Softplus', ref: (x) => Math.log(1 + Math.exp(x)), lo: -10, hi: 10 },
  { op: 'Softsign', ref: (x) => x / (1 + Math.abs(x)) },
  { op: 'Gelu', ref: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), lo: -3, hi: 3 },
];

const SHAPES = [[2, 3, 5, 4], [3, 7]];

describe('unary kernels vs float64 reference', () => {
  CASES.forEach((c, ci) => {
    it(`${c.op} ${JSON.stringify(c.attrs ?? {})}`, async () => {
      for (const [si, shape] of SHAPES.entries()) {
        const x = randTensor(shape, 100 + ci * 7 + si, c.lo ?? -3, c.hi ?? 3);
        const [y] = await runOp(unaryOp, makeNode(c.op, c.attrs ?? {}), [x]);
        expect(y!.shape).toEqual(shape);
        // Erf is a 1.5e-7-accurate approximation on the GPU, so an absolute slack covers its zeros.
        expectClose(y!.data, Array.from(x.data, c.ref), 1e-4, 2e-6);
      }
    });
  });

  it('Round rounds half to even', async () => {
    const x = hostTensor('float32', [8], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6, 3.5]);
    const [y] = await runOp(unaryOp, makeNode('Round'), [x]);
    expect(Array.from(y!.data)).toEqual([0, 2, 2, -0, -2, 2, -3, 4]);
  });

  it('Clip (opset >= 11) reads min/max from constant inputs, each optional', async () => {
    const x = randTensor([4, 6], 7);
    const lo = hostTensor('float32', [], [-0.3]);
    const hi = hostTensor('float32', [], [0.7]);
    const both = makeNode('Clip', {}, 3);
    const [y] = await runOp(unaryOp, both, [x, lo, hi]);
    expectClose(y!.data, Array.from(x.data, (v) => Math.min(0.7, Math.max(-0.3, v))));
    const onlyMax = makeNode('Clip', {}, 3);
    onlyMax.inputs[1] = '';
    const [y2] = await runOp(unaryOp, onlyMax, [x, undefined, hi]);
    expectClose(y2!.data, Array.from(x.data, (v) => Math.min(0.7, v)));
    expect(unaryOp.hostInputs!(both)).toEqual([1, 2]);
  });

  it('folds constants on the host, keeping integer dtypes', () => {
    const x = hostTensor('int64', [4], [3, -2, 0, 5]);
    const neg = unaryOp.evalHost!(makeNode('Neg'), [{ shape: x.shape, constant: x }])!;
    expect(neg[0]!.dtype).toBe('int64');
    expect(Array.from(neg[0]!.data)).toEqual([-3, 2, -0, -5]);
    const abs = unaryOp.evalHost!(makeNode('Abs'), [{ shape: x.shape, constant: x }])!;
    expect(Array.from(abs[0]!.data)).toEqual([3, 2, 0, 5]);
    expect(unaryOp.evalHost!(makeNode('Relu'), [{ shape: [4] }])).toBeUndefined();
    const f = hostTensor('float32', [3], [-1, 0.5, 2]);
    const relu = unaryOp.evalHost!(makeNode('Relu'), [{ shape: f.shape, constant: f }])!;
    expect(Array.from(relu[0]!.data)).toEqual([0, 0.5, 2]);
  });

  it('Identity and Dropout alias their input; Dropout rejects training mode', async () => {
    const x: HostTensor = randTensor([2, 5], 3);
    expect(identityOp.alias).toBe(true);
    expect(dropoutOp.alias).toBe(true);
    const [y] = await runOp(identityOp, makeNode('Identity'), [x]);
    expect(Array.from(y!.data)).toEqual(Array.from(x.data));
    const d = makeNode('Dropout', { ratio: 0.5 }, 1, 2);
    expect(dropoutOp.inferShapes(d, [{ shape: [2, 5] }])).toEqual([[2, 5]]);
    const train = makeNode('Dropout', {}, 3);
    const t = hostTensor('bool', [], [1]);
    expect(() => dropoutOp.inferShapes(train, [{ shape: [2, 5] }, undefined, { shape: [], constant: t }])).toThrow(GraphError);
    expect(unaryOps.map((o) => o.opTypes[0])).toContain('Identity');
  });
});

describe('dispatch limits (pointwise family)', () => {
  it('splits jobs over a 2-D grid and honours a small workgroup limit', async () => {
    const { testGpu } = await import('../helpers/gpu.js');
    const { binaryOp } = await import('../../src/kernels/binary.js');
    const { softmaxOp } = await import('../../src/kernels/softmax.js');
    const { reduceOp } = await import('../../src/kernels/reduce.js');
    const traits = (await testGpu()).traits;
    const saved = { ...traits };
    // Pretend to be a device with 5 workgroups per dimension and 32 invocations per workgroup.
    traits.maxWorkgroupsPerDimension = 5;
    traits.maxWorkgroupInvocations = 32;
    try {
      const x = randTensor([5, 7, 11], 77);
      const [y] = await runOp(unaryOp, makeNode('Neg'), [x]);
      expectClose(y!.data, Array.from(x.data, (v) => -v));
      const x4 = randTensor([4, 8, 32], 78);
      const [y4] = await runOp(unaryOp, makeNode('Relu'), [x4]);
      expectClose(y4!.data, Array.from(x4.data, (v) => Math.max(v, 0)));
      const b = randTensor([5, 1, 11], 79);
      const [s] = await runOp(binaryOp, makeNode('Sub', {}, 2), [x, b]);
      expectClose(s!.data, Array.from(x.data, (v, i) => v - b.data[Math.floor(i / 77) * 11 + (i % 11)]!));
      const rows = randTensor([20, 300], 80);
      const [sm] = await runOp(softmaxOp, makeNode('Softmax'), [rows]);
      for (let r = 0; r < 20; r++) {
        const row = Array.from(rows.data.slice(r * 300, r * 300 + 300));
        const m = Math.max(...row);
        const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
        expectClose(sm!.data.slice(r * 300, r * 300 + 300), row.map((v) => Math.exp(v - m) / z), 1e-4, 1e-7);
      }
      const [red] = await runOp(reduceOp, makeNode('ReduceSum', { axes: [1], keepdims: 0 }), [x]);
      const want = Array.from({ length: 55 }, (_, o) => {
        let acc = 0;
        for (let j = 0; j < 7; j++) acc += x.data[Math.floor(o / 11) * 77 + j * 11 + (o % 11)]!;
        return acc;
      });
      expectClose(red!.data, want);
    } finally {
      Object.assign(traits, saved);
    }
  });
});
