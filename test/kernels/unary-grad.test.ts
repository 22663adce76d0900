import { describe, it } from 'vitest';
import { unaryOp } from '../../src/kernels/unary.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode } from '../helpers/run-op.js';
import { randTensor } from './pointwise-ref.js';
import { awayFrom, checkGrads } from './grad-check.js';
import { runOpBackward } from '../helpers/run-op-backward.js';

/** erf by its Taylor series: exact to ~1e-12 for |x| <= 3 in float64. */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= -x * x / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);

interface Case { op: string; f: (v: number) => number; lo?: number; hi?: number; kinks?: number[]; attrs?: Record<string, AttrValue> }

const CASES: Case[] = [
  { op: 'Relu', f: (v) => Math.max(v, 0), kinks: [0] },
  { op: 'LeakyRelu', f: (v) => (v >= 0 ? v : 0.1 * v), kinks: [0], attrs: { alpha: 0.1 } },
  { op: 'Sigmoid', f: sig },
  { op: 'HardSigmoid', f: (v) => clamp(0.3 * v + 0.4, 0, 1), lo: -4, hi: 4, kinks: [-4 / 3, 2], attrs: { alpha: 0.3, beta: 0.4 } },
  { op: 'HardSwish', f: (v) => v * clamp(v / 6 + 0.5, 0, 1), lo: -5, hi: 5, kinks: [-3, 3] },
  { op: 'Tanh', f: Math.tanh },
  { op: 'Elu', f: (v) => (v >= 0 ? v : 0.7 * (Math.exp(v) - 1)), kinks: [0], attrs: { alpha: 0.7 } },
  { op: 'Neg', f: (v) => -v },
  { op: 'Exp', f: Math.exp },
  { op: 'Log', f: Math.log, lo: 0.2, hi: 3 },
  { op: 'Sqrt', f: Math.sqrt, lo: 0.2, hi: 3 },
  { op: 'Abs', f: Math.abs, kinks: [0] },
  { op: 'Reciprocal', f: (v) => 1 / v, lo: 0.3, hi: 2 },
  { op: 'Floor', f: Math.floor, kinks: [-2, -1, 0, 1, 2] },
  { op: 'Ceil', f: Math.ceil, kinks: [-2, -1, 0, 1, 2] },
  { op: 'Round', f: Math.round, kinks: [-1.5, -0.5, 0.5, 1.5] },
  { op: 'Sign', f: Math.sign, kinks: [0] },
  { op: 'Erf', f: erf },
  { op: 'Softplus', f: (v) => Math.log1p(Math.exp(v)), lo: -4, hi: 4 },
  { op: 'Softsign', f: (v) => v / (1 + Math.abs(v)), kinks: [0] },
  { op: 'Gelu', f: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)) },
  { op: 'Gelu', f: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), attrs: { approximate: 'tanh' } },
];

function check(op: string, attrs: Record<string, AttrValue>, x: HostTensor, f: (v: number) => number, extra: HostTensor[] = []): Promise<unknown> {
  return checkGrads(unaryOp, makeNode(op, attrs, 1 + extra.length), [x, ...extra], [true, ...extra.map(() => false)],
    (xs) => Array.from(xs[0]!, f));
}

describe('unary backward vs finite differences', () => {
  CASES.forEach((c, k) => {
    it(`${c.op}${c.attrs?.['approximate'] ? ' (tanh)' : ''}`, async () => {
      const x = awayFrom(randTensor([2, 3, 4, 5], 10 + k, c.lo ?? -2, c.hi ?? 2), c.kinks ?? []);
      await check(c.op, c.attrs ?? {}, x, c.f);
    });
  });

  it('Clip with constant inputs (opset 11+), odd size; passes where min <= x <= max', async () => {
    const x = awayFrom(randTensor([3, 7], 3), [-0.5, 0.7]);
    await check('Clip', {}, x, (v) => clamp(v, -0.5, 0.7), [hostTensor('float32', [], [-0.5]), hostTensor('float32', [], [0.7])]);
  });

  it('Clip with attributes (opset 6)', async () => {
    const x = awayFrom(randTensor([2, 5], 4), [-1, 1]);
    await check('Clip', { min: -1, max: 1 }, x, (v) => clamp(v, -1, 1));
  });

  it('Clip exactly at the bounds passes the gradient (PyTorch convention)', async () => {
    const x = hostTensor('float32', [4], [-0.5, 0.7, -0.6, 0.8]);
    const got = await checkGradsAt(x);
    if (got[0] !== 1 || got[1] !== 1 || got[2] !== 0 || got[3] !== 0) throw new Error(`got ${Array.from(got)}`);
  });
});

async function checkGradsAt(x: HostTensor): Promise<Float32Array> {
  const [g] = await runOpBackward(unaryOp, makeNode('Clip', {}, 3), [x, hostTensor('float32', [], [-0.5]), hostTensor('float32', [], [0.7])], [new Float32Array([1, 1, 1, 1])], [true, false, false]);
  return g!;
}
