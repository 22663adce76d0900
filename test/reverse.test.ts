/**
 * Reverse mode against central finite differences: the directional derivative ∇Ψ·v of the class
 * score along a random input direction, with the forward passes of the differences computed by
 * onnxruntime-node (an oracle no one here wrote). Intermediate gradients are checked by the chain
 * rule: ∇_A Ψ · dA must equal ∇_x Ψ · v, where dA is A's finite-difference change.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, Rng, randNormal } from '../tools/onnx-writer.js';
import { Model } from '../src/runtime/model.js';
import { scoreHost, type ScoreMode } from '../src/kernels/score.js';
import { runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

async function checkGradients(bytes: Uint8Array, inputName: string, shape: number[], taps: string[], mode: ScoreMode, opts: { h?: number; tol?: number; seed?: number; endsInSoftmax?: boolean } = {}) {
  const gpu = await testGpu();
  const model = await Model.load(bytes, { gpu });
  try {
    const rng = new Rng(opts.seed ?? 3);
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randNormal(rng, n);
    const v = randNormal(rng, n);
    const c = 1;
    const batch = shape[0]!;
    // The backward pass differentiates the sum of every row's score (rows are independent).
    const r = await model.gradients({ [inputName]: { dtype: 'float32', shape, data: x } }, { wrt: [inputName, ...taps], classes: new Array<number>(batch).fill(c), mode });
    const gx = r.grads[inputName]!.data;
    const psi = async (xx: Float32Array) => {
      const [out] = await runOrt(bytes, { [inputName]: { dims: shape, data: xx } });
      const k = out!.data.length / batch;
      let sum = 0;
      for (let b = 0; b < batch; b++) {
        const row = out!.data.subarray(b * k, (b + 1) * k);
        sum += opts.endsInSoftmax && mode === 'softmax' ? row[c]! : scoreHost(mode, row, c);
      }
      return sum;
    };
    const h = opts.h ?? 1e-2;
    const plus = x.map((xi, i) => xi + h * v[i]!), minus = x.map((xi, i) => xi - h * v[i]!);
    const fd = ((await psi(plus)) - (await psi(minus))) / (2 * h);
    const analytic = dot(gx, v);
    const tol = opts.tol ?? 2e-2;
    expect(Math.abs(analytic - fd), `input: analytic ${analytic} vs finite difference ${fd}`).toBeLessThan(tol * Math.max(1e-3, Math.abs(fd)));
    const total = Array.from(r.scores).reduce((a, b) => a + b, 0);
    expect(Math.abs(total - (await psi(x)))).toBeLessThan(1e-3 * Math.max(1, Math.abs(total)));
    for (const t of taps) {
      const fwd = async (xx: Float32Array) => (await model.run({ [inputName]: { dtype: 'float32', shape, data: xx } }, { keep: [t] })).kept[t]!.data;
      const aP = await fwd(plus), aM = await fwd(minus);
      const dA = aP.map((p, i) => (p - aM[i]!) / (2 * h));
      const viaTap = dot(r.grads[t]!.data, dA);
      expect(Math.abs(viaTap - analytic), `tap ${t}: ${viaTap} vs ${analytic}`).toBeLessThan(tol * Math.max(1e-3, Math.abs(analytic)));
    }
  } finally {
    model.destroy();
  }
}

function w(rng: Rng, shape: number[], scale = 0.4): Float32Array {
  return randNormal(rng, shape.reduce((a, b) => a * b, 1), scale);
}

describe('reverse mode against finite differences', () => {
  it('conv (groups, stride, dilation), BatchNorm, Relu, MaxPool, Concat, residual Add, GlobalAveragePool, Gemm', async () => {
    const rng = new Rng(10);
    const g = new GraphBuilder('grad-a', 13);
    g.input('x', [2, 4, 12, 12]);
    const c1 = g.op('Conv', ['x', g.initializer('w1', [8, 2, 3, 3], w(rng, [8, 2, 3, 3])), g.initializer('b1', [8], w(rng, [8], 0.1))], { pads: [1, 1, 1, 1], group: 2 });
    const bn = g.op('BatchNormalization', [c1, g.initializer('s', [8], w(rng, [8], 0.3).map((v) => 1 + v)), g.initializer('bb', [8], w(rng, [8], 0.1)), g.initializer('m', [8], w(rng, [8], 0.1)), g.initializer('var', [8], w(rng, [8], 0.1).map((v) => 1 + Math.abs(v)))]);
    g.node('Relu', [bn], ['a1']);
    const c2 = g.op('Conv', ['a1', g.initializer('w2', [8, 8, 3, 3], w(rng, [8, 8, 3, 3], 0.2))], { pads: [2, 2, 2, 2], dilations: [2, 2] });
    const add = g.op('Add', [c2, 'a1']);
    const r2 = g.op('Relu', [add]);
    const mp = g.op('MaxPool', [r2], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    const c3 = g.op('Conv', ['x', g.initializer('w3', [4, 4, 2, 2], w(rng, [4, 4, 2, 2]))], { strides: [2, 2] });
    g.node('Concat', [mp, c3], ['cat'], { axis: 1 });
    const gap = g.op('GlobalAveragePool', ['cat']);
    const f = g.op('Flatten', [gap]);
    g.node('Gemm', [f, g.initializer('w4', [5, 12], w(rng, [5, 12], 0.8)), g.initializer('b4', [5], w(rng, [5], 0.1))], ['y'], { transB: 1 });
    g.output('y');
    // Taps must lie on every path from the input (the chain-rule check needs it): 'cat' does, 'a1' not.
    await checkGradients(g.toBytes(), 'x', [2, 4, 12, 12], ['cat'], 'log-softmax');
  });

  it('depthwise conv, Clip, AveragePool, Resize, Pad, Transpose, Reshape, Sigmoid, Mul broadcast, MatMul, Softmax in the model', async () => {
    const rng = new Rng(11);
    const g = new GraphBuilder('grad-b', 13);
    g.input('x', [1, 3, 10, 10]);
    const dw = g.op('Conv', ['x', g.initializer('w1', [6, 1, 3, 3], w(rng, [6, 1, 3, 3]))], { pads: [1, 1, 1, 1], group: 3 });
    const clip = g.op('Clip', [dw, g.initializer('lo', [], Float32Array.of(-0.5)), g.initializer('hi', [], Float32Array.of(0.8))]);
    g.node('AveragePool', [clip], ['a'], { kernel_shape: [2, 2], strides: [2, 2] });
    const up = g.op('Resize', ['a', '', g.initializer('sc', [4], Float32Array.of(1, 1, 2, 2))], { mode: 'linear' });
    const pad = g.op('Pad', [up, g.int64Initializer('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'reflect' });
    const sig = g.op('Sigmoid', [pad]);
    const se = g.op('Mul', [sig, g.initializer('chs', [1, 6, 1, 1], w(rng, [6]).map((v) => 1 + v))]);
    const tr = g.op('Transpose', [se], { perm: [0, 2, 3, 1] });
    const rs = g.op('Reshape', [tr, g.int64Initializer('shape', [2], [1, 12 * 12 * 6])]);
    const mm = g.op('MatMul', [rs, g.initializer('w2', [864, 4], w(rng, [864, 4], 0.05))]);
    g.node('Softmax', [mm], ['p'], { axis: 1 });
    g.output('p');
    await checkGradients(g.toBytes(), 'x', [1, 3, 10, 10], ['a'], 'softmax', { endsInSoftmax: true, h: 1e-3 });
  });

  it('Split, Sub, Div, LeakyRelu, ReduceMean, GlobalMaxPool, HardSwish, Tanh', async () => {
    const rng = new Rng(12);
    const g = new GraphBuilder('grad-c', 14);
    g.input('x', [1, 4, 6, 6]);
    const [s1, s2] = g.node('Split', ['x', g.int64Initializer('sp', [2], [2, 2])], 2, { axis: 1 }) as [string, string];
    const d = g.op('Div', [g.op('Sub', [s1, s2]), g.initializer('den', [1, 2, 1, 1], Float32Array.of(1.5, 2.5))]);
    const lr = g.op('LeakyRelu', [d], { alpha: 0.1 });
    const hs = g.op('HardSwish', [g.op('Mul', [s2, lr])]);
    const c = g.op('Conv', [hs, g.initializer('w', [3, 2, 3, 3], w(rng, [3, 2, 3, 3]))]);
    g.node('Tanh', [c], ['t']);
    const rm = g.op('ReduceMean', ['t'], { axes: [3], keepdims: 0 });
    const gm = g.op('GlobalMaxPool', [g.op('Unsqueeze', [rm, g.int64Initializer('ax', [1], [3])])]);
    g.node('Flatten', [gm], ['y']);
    g.output('y');
    await checkGradients(g.toBytes(), 'x', [1, 4, 6, 6], ['t'], 'logit');
  });

  const squeeze = join(__dirname, '..', '..', 'shared', 'models', 'squeezenet1.1-fp32.onnx');
  it('a requantised Softmax output (Softmax, QuantizeLinear, DequantizeLinear) is read as probabilities, not softmaxed again', async () => {
    const rng = new Rng(12);
    const g = new GraphBuilder('requantised-softmax', 13);
    g.input('x', [2, 3, 6, 6]);
    const c = g.op('Conv', ['x', g.initializer('w', [4, 3, 3, 3], w(rng, [4, 3, 3, 3]))], { pads: [1, 1, 1, 1] });
    const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [g.op('Relu', [c])])]);
    const logits = g.op('Gemm', [pooled, g.initializer('fc', [4, 5], w(rng, [4, 5], 2))]);
    const p = g.op('Softmax', [logits], { axis: 1 });
    const scale = g.initializer('s', [], Float32Array.of(1 / 255)), zero = g.initializer('z', [], Uint8Array.of(0));
    g.node('DequantizeLinear', [g.op('QuantizeLinear', [p, scale, zero]), scale, zero], ['prob']);
    g.output('prob');
    const bytes = g.toBytes();
    const x = randNormal(rng, 2 * 3 * 6 * 6);
    const [ref] = await runOrt(bytes, { x: { dims: [2, 3, 6, 6], data: x } });
    const model = await Model.load(bytes, { gpu: await testGpu() });
    try {
      // Each row's most probable class, so the probabilities compared are far from 0.
      const top = [0, 1].map((b) => { const row = Array.from(ref!.data.subarray(b * 5, b * 5 + 5)); return row.indexOf(Math.max(...row)); });
      const r = await model.gradients({ x: { dtype: 'float32', shape: [2, 3, 6, 6], data: x } }, { wrt: ['x'], classes: top, mode: 'softmax' });
      // The score of each row is the model's own (quantised) probability of its class.
      expect(ref!.data[top[0]!]!).toBeGreaterThan(0.25);
      expect(r.scores[0]).toBeCloseTo(ref!.data[top[0]!]!, 5);
      expect(r.scores[1]).toBeCloseTo(ref!.data[5 + top[1]!]!, 5);
    } finally {
      model.destroy();
    }
  });

  it.skipIf(!existsSync(squeeze))('the real SqueezeNet (ends in Softmax): input and block gradients', async () => {
    const bytes = new Uint8Array(readFileSync(squeeze));
    await checkGradients(bytes, 'data_0', [1, 3, 224, 224], ['fire5/concat_1'], 'softmax', { endsInSoftmax: true, h: 0.1, seed: 4, tol: 5e-2 });
  });
});
