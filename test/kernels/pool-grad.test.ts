import { describe, expect, it } from 'vitest';
import { poolOps } from '../../src/kernels/pool.js';
import type { OpDef } from '../../src/kernels/types.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { checkGrad, distinctTensor, expectGradClose, node, randTensor } from '../helpers/grad-check.js';
import { runOpBackward } from '../helpers/run-op-backward.js';

function op(type: string): OpDef {
  const d = poolOps.find((o) => o.opTypes.includes(type));
  if (!d) throw new Error(type);
  return d;
}

interface Geo { k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[]; out: number[]; countPad?: boolean }

/** Float64 max / average pooling over N x C x spatial (1 or 2 spatial dims), from the ONNX definition. */
function refPool(kind: 'max' | 'avg', shape: readonly number[], g: Geo): (x: ArrayLike<number>) => number[] {
  const [N, C] = shape as [number, number];
  const sp = shape.slice(2);
  const two = sp.length === 2;
  const p2 = (a: number[], one: number): [number, number] => (two ? [a[0]!, a[1]!] : [one, a[0]!]);
  const H = two ? sp[0]! : 1, W = sp[sp.length - 1]!;
  const [kH, kW] = p2(g.k, 1), [sH, sW] = p2(g.s, 1), [dH, dW] = p2(g.d, 1);
  const [pT, pL] = p2(g.pb, 0), [pB, pR] = p2(g.pe, 0), [OH, OW] = p2(g.out, 1);
  return (x) => {
    const y: number[] = [];
    for (let p = 0; p < N * C; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let mx = -Infinity, sum = 0, cnt = 0, cntAll = 0;
      for (let a = 0; a < kH; a++) for (let b = 0; b < kW; b++) {
        const h = oh * sH - pT + a * dH, w = ow * sW - pL + b * dW;
        if (h >= -pT && h < H + pB && w >= -pL && w < W + pR) cntAll++;
        if (h < 0 || h >= H || w < 0 || w >= W) continue;
        const v = x[(p * H + h) * W + w]!;
        mx = Math.max(mx, v); sum += v; cnt++;
      }
      y.push(kind === 'max' ? mx : sum / (g.countPad ? cntAll : cnt));
    }
    return y;
  };
}

const G = (k: number[], s: number[], pb: number[], pe: number[], out: number[], d = k.map(() => 1), countPad = false): Geo => ({ k, s, d, pb, pe, out, countPad });

describe('MaxPool / AveragePool backward', () => {
  const cases: { name: string; type: 'MaxPool' | 'AveragePool'; shape: number[]; attrs: Record<string, AttrValue>; g: Geo }[] = [
    { name: 'max 3x3 s2 pad1 (overlapping), batch 2', type: 'MaxPool', shape: [2, 3, 9, 11], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, g: G([3, 3], [2, 2], [1, 1], [1, 1], [5, 6]) },
    { name: 'max 2x2 s2 (disjoint windows), batch 2', type: 'MaxPool', shape: [2, 2, 6, 8], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, g: G([2, 2], [2, 2], [0, 0], [0, 0], [3, 4]) },
    { name: 'max 3x3 s2 ceil_mode', type: 'MaxPool', shape: [1, 2, 8, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, g: G([3, 3], [2, 2], [0, 0], [0, 0], [4, 3]) },
    { name: 'max 2x2 s2 ceil_mode (disjoint, ragged edge)', type: 'MaxPool', shape: [2, 1, 5, 7], attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, g: G([2, 2], [2, 2], [0, 0], [0, 0], [3, 4]) },
    { name: 'max dilation 2, asymmetric pads', type: 'MaxPool', shape: [1, 2, 10, 9], attrs: { kernel_shape: [2, 3], dilations: [2, 2], pads: [0, 1, 2, 0] }, g: G([2, 3], [1, 1], [0, 1], [2, 0], [10, 6], [2, 2]) },
    { name: 'max 1-D', type: 'MaxPool', shape: [2, 3, 17], attrs: { kernel_shape: [3], strides: [2], pads: [1, 0] }, g: G([3], [2], [1], [0], [8]) },
    { name: 'avg 3x3 s2 pad1, batch 2', type: 'AveragePool', shape: [2, 3, 9, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, g: G([3, 3], [2, 2], [1, 1], [1, 1], [5, 4]) },
    { name: 'avg count_include_pad, asymmetric pads', type: 'AveragePool', shape: [2, 2, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 1], pads: [2, 1, 1, 0], count_include_pad: 1 }, g: G([3, 2], [2, 1], [2, 1], [1, 0], [4, 6], [1, 1], true) },
    { name: 'avg ceil_mode with pads (count_include_pad)', type: 'AveragePool', shape: [1, 2, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }, g: G([3, 3], [2, 2], [1, 1], [1, 1], [5, 5], [1, 1], true) },
    { name: 'avg ceil_mode', type: 'AveragePool', shape: [2, 1, 7, 6], attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, g: G([2, 2], [2, 2], [0, 0], [0, 0], [4, 3]) },
    { name: 'avg 1-D dilated', type: 'AveragePool', shape: [2, 2, 12], attrs: { kernel_shape: [3], dilations: [2], pads: [1, 2] }, g: G([3], [1], [1], [2], [11], [2]) },
  ];
  cases.forEach((c, k) => it(c.name, async () => {
    const x = c.type === 'MaxPool' ? distinctTensor(c.shape, 100 + k) : randTensor(c.shape, 100 + k);
    const f = refPool(c.type === 'MaxPool' ? 'max' : 'avg', c.shape, c.g);
    const n = node(c.type, c.attrs);
    expect(op(c.type).inferShapes(n, [{ shape: c.shape }])[0]!.slice(2)).toEqual(c.g.out);
    await checkGrad({ op: op(c.type), node: n, inputs: [x], ref: (_i, v) => f(v), wants: [true], seed: 200 + k });
  }));

  it('ties go to the first maximum in window order', async () => {
    // Plane [[1, 3], [3, 3]] pooled 2x2: only element (0, 1) gets the gradient.
    const x: HostTensor = { dtype: 'float32', shape: [1, 1, 2, 2], data: new Float64Array([1, 3, 3, 3]) };
    const [g] = await runOpBackward(op('MaxPool'), node('MaxPool', { kernel_shape: [2, 2] }), [x], [new Float32Array([0.5])], [true]);
    expect(Array.from(g!)).toEqual([0, 0.5, 0, 0]);
    // Overlapping windows (gather path) with a tie across them.
    const y: HostTensor = { dtype: 'float32', shape: [1, 1, 1, 4], data: new Float64Array([2, 5, 5, 1]) };
    const [h] = await runOpBackward(op('MaxPool'), node('MaxPool', { kernel_shape: [1, 2] }), [y], [new Float32Array([1, 2, 4])], [true]);
    expect(Array.from(h!)).toEqual([0, 3, 4, 0]);
  });
});

describe('Global pooling backward', () => {
  it('GlobalAveragePool, batch 2', async () => {
    const shape = [2, 3, 5, 4];
    const x = randTensor(shape, 300);
    const f = (v: ArrayLike<number>): number[] => Array.from({ length: 6 }, (_, p) => { let s = 0; for (let i = 0; i < 20; i++) s += v[p * 20 + i]!; return s / 20; });
    await checkGrad({ op: op('GlobalAveragePool'), node: node('GlobalAveragePool', {}), inputs: [x], ref: (_i, v) => f(v), wants: [true], seed: 301 });
  });
  it('GlobalMaxPool, batch 2, 1-D and 2-D', async () => {
    for (const shape of [[2, 3, 5, 4], [2, 2, 9]]) {
      const x = distinctTensor(shape, 302);
      const S = shape.slice(2).reduce((a, b) => a * b, 1), P = shape[0]! * shape[1]!;
      const f = (v: ArrayLike<number>): number[] => Array.from({ length: P }, (_, p) => { let m = -Infinity; for (let i = 0; i < S; i++) m = Math.max(m, v[p * S + i]!); return m; });
      await checkGrad({ op: op('GlobalMaxPool'), node: node('GlobalMaxPool', {}), inputs: [x], ref: (_i, v) => f(v), wants: [true], seed: 303 });
    }
  });
});

describe('LRN backward', () => {
  function refLrn(shape: readonly number[], size: number, alpha: number, beta: number, bias: number): (x: ArrayLike<number>) => number[] {
    const [N, C] = shape as [number, number];
    const hw = shape.slice(2).reduce((a, b) => a * b, 1);
    return (x) => {
      const out: number[] = [];
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) {
        let sq = 0;
        for (let k = c - Math.floor((size - 1) / 2); k <= c + Math.ceil((size - 1) / 2); k++) {
          if (k >= 0 && k < C) sq += x[(n * C + k) * hw + i]! ** 2;
        }
        out.push(x[(n * C + c) * hw + i]! / (bias + (alpha / size) * sq) ** beta);
      }
      return out;
    };
  }
  const cases = [
    { size: 3, alpha: 1e-4, beta: 0.75, bias: 1, shape: [2, 5, 3, 3] },
    { size: 4, alpha: 0.5, beta: 0.6, bias: 2, shape: [1, 9, 5, 2] },
    { size: 5, alpha: 0.3, beta: 0.75, bias: 1.5, shape: [2, 7, 2, 3] },
  ];
  cases.forEach((c, k) => it(`size ${c.size}, alpha ${c.alpha}, beta ${c.beta}, bias ${c.bias}`, async () => {
    const x = randTensor(c.shape, 400 + k);
    const f = refLrn(c.shape, c.size, c.alpha, c.beta, c.bias);
    await checkGrad({ op: op('LRN'), node: node('LRN', { size: c.size, alpha: c.alpha, beta: c.beta, bias: c.bias }), inputs: [x], ref: (_i, v) => f(v), wants: [true], seed: 410 + k });
  }));
});

it('expectGradClose catches a wrong gradient', () => {
  expect(() => expectGradClose([1, 2.01], [1, 2])).toThrow();
});
