import { describe, expect, it } from 'vitest';
import { poolOps, globalPoolVariant, poolGeometry } from '../../src/kernels/pool.js';
import type { OpDef } from '../../src/kernels/types.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { GraphError } from '../../src/runtime/errors.js';
import { makeNode, runOp } from '../helpers/run-op.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randTensor(shape: number[], seed: number): HostTensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return hostTensor('float32', shape, Array.from({ length: n }, () => r() * 4 - 2 + 1e-3));
}

function op(type: string): OpDef {
  const d = poolOps.find((o) => o.opTypes.includes(type));
  if (!d) throw new Error(type);
  return d;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      throw new Error(`element ${i}: got ${a}, expected ${e}`);
    }
  }
}

interface RefPool {
  kind: 'max' | 'avg';
  k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[]; out: number[];
  countPad?: boolean;
}

/** Direct float64 pooling over an N x C x spatial tensor (1 or 2 spatial dims). */
function refPool(x: HostTensor, p: RefPool): number[] {
  const [N, C] = x.shape as [number, number];
  const sp = x.shape.slice(2);
  const H = sp.length === 2 ? sp[0]! : 1, W = sp[sp.length - 1]!;
  const g = (a: number[], one: number): [number, number] => (sp.length === 2 ? [a[0]!, a[1]!] : [one, a[0]!]);
  const [kH, kW] = g(p.k, 1), [sH, sW] = g(p.s, 1), [dH, dW] = g(p.d, 1);
  const [pT, pL] = g(p.pb, 0), [pB, pR] = g(p.pe, 0), [OH, OW] = g(p.out, 1);
  const y: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let mx = -Infinity, sum = 0, cnt = 0, cntAll = 0;
    for (let a = 0; a < kH; a++) for (let b = 0; b < kW; b++) {
      const h = oh * sH - pT + a * dH, w = ow * sW - pL + b * dW;
      if (h >= -pT && h < H + pB && w >= -pL && w < W + pR) cntAll++;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      const v = x.data[((n * C + c) * H + h) * W + w]!;
      mx = Math.max(mx, v); sum += v; cnt++;
    }
    y.push(p.kind === 'max' ? mx : sum / (p.countPad ? cntAll : cnt));
  }
  return y;
}

describe('MaxPool / AveragePool', () => {
  const cases: { name: string; type: string; shape: number[]; attrs: Record<string, AttrValue>; ref: Omit<RefPool, 'kind'> }[] = [
    { name: 'max 3x3 s2 pad1', type: 'MaxPool', shape: [2, 3, 9, 11], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [1, 1], pe: [1, 1], out: [5, 6] } },
    { name: 'max asymmetric pads, dilation 2', type: 'MaxPool', shape: [1, 2, 10, 9], attrs: { kernel_shape: [2, 3], dilations: [2, 2], pads: [0, 1, 2, 0] },
      ref: { k: [2, 3], s: [1, 1], d: [2, 2], pb: [0, 1], pe: [2, 0], out: [10, 6] } },
    { name: 'max ceil_mode', type: 'MaxPool', shape: [1, 2, 8, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [0, 0], pe: [0, 0], out: [4, 3] } },
    { name: 'max SAME_UPPER', type: 'MaxPool', shape: [1, 3, 7, 8], attrs: { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' },
      ref: { k: [2, 2], s: [2, 2], d: [1, 1], pb: [0, 0], pe: [1, 0], out: [4, 4] } },
    { name: 'max SAME_LOWER', type: 'MaxPool', shape: [1, 3, 6, 6], attrs: { kernel_shape: [4, 4], auto_pad: 'SAME_LOWER' },
      ref: { k: [4, 4], s: [1, 1], d: [1, 1], pb: [2, 2], pe: [1, 1], out: [6, 6] } },
    { name: 'max 1-D', type: 'MaxPool', shape: [2, 3, 17], attrs: { kernel_shape: [3], strides: [2], pads: [1, 0] },
      ref: { k: [3], s: [2], d: [1], pb: [1], pe: [0], out: [8] } },
    { name: 'avg pads exclude', type: 'AveragePool', shape: [2, 3, 9, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [1, 1], pe: [1, 1], out: [5, 4] } },
    { name: 'avg pads count_include_pad', type: 'AveragePool', shape: [2, 3, 9, 8], attrs: { kernel_shape: [3, 2], pads: [2, 1, 1, 0], count_include_pad: 1 },
      ref: { k: [3, 2], s: [1, 1], d: [1, 1], pb: [2, 1], pe: [1, 0], out: [10, 8], countPad: true } },
    { name: 'avg ceil_mode', type: 'AveragePool', shape: [1, 2, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [0, 0], pe: [0, 0], out: [4, 4] } },
    { name: 'avg ceil_mode count_include_pad', type: 'AveragePool', shape: [1, 2, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [1, 1], pe: [1, 1], out: [5, 5], countPad: true } },
    { name: 'avg SAME_UPPER', type: 'AveragePool', shape: [1, 2, 5, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' },
      ref: { k: [3, 3], s: [2, 2], d: [1, 1], pb: [1, 1], pe: [1, 1], out: [3, 4] } },
    { name: 'avg 1-D', type: 'AveragePool', shape: [1, 4, 12], attrs: { kernel_shape: [4], strides: [3] },
      ref: { k: [4], s: [3], d: [1], pb: [0], pe: [0], out: [3] } },
  ];
  cases.forEach((c, idx) => it(c.name, async () => {
    const x = randTensor(c.shape, 100 + idx);
    const node = makeNode(c.type, c.attrs);
    const [y] = await runOp(op(c.type), node, [x]);
    expect(y!.shape).toEqual([c.shape[0], c.shape[1], ...c.ref.out]);
    expectClose(y!.data, refPool(x, { kind: c.type === 'MaxPool' ? 'max' : 'avg', ...c.ref }));
  }));

  it('pool geometry drops a ceil_mode window that would start in the padding', () => {
    // 5 + 1 pad, k2 s2: floor gives 3, ceil gives 4, but the 4th window would start at index 6 >= 5 + 1.
    const g = poolGeometry(makeNode('MaxPool', { kernel_shape: [2], strides: [2], pads: [1, 1], ceil_mode: 1 }), [5]);
    expect(g.out).toEqual([3]);
  });

  it('rejects the Indices output and 3-D pooling', () => {
    const idx = makeNode('MaxPool', { kernel_shape: [2, 2] }, 1, 2);
    expect(() => op('MaxPool').inferShapes(idx, [{ shape: [1, 1, 4, 4] }])).toThrow(GraphError);
    const p3 = makeNode('MaxPool', { kernel_shape: [2, 2, 2] });
    expect(() => op('MaxPool').inferShapes(p3, [{ shape: [1, 1, 4, 4, 4] }])).toThrow(GraphError);
  });
});

describe('GlobalAveragePool / GlobalMaxPool', () => {
  function refGlobal(x: HostTensor, kind: 'max' | 'avg'): number[] {
    const planes = x.shape[0]! * x.shape[1]!;
    const size = x.data.length / planes;
    const out: number[] = [];
    for (let p = 0; p < planes; p++) {
      const v = Array.from(x.data.subarray(p * size, (p + 1) * size));
      out.push(kind === 'max' ? Math.max(...v) : v.reduce((a, b) => a + b, 0) / size);
    }
    return out;
  }
  for (const type of ['GlobalAveragePool', 'GlobalMaxPool']) {
    for (const shape of [[3, 5, 7, 7], [1, 2, 70, 70], [2, 3, 9]]) {
      it(`${type} [${shape}]`, async () => {
        const x = randTensor(shape, shape.reduce((a, b) => a + b, 7));
        const [y] = await runOp(op(type), makeNode(type), [x]);
        expect(y!.shape).toEqual([shape[0], shape[1], ...shape.slice(2).map(() => 1)]);
        expectClose(y!.data, refGlobal(x, type === 'GlobalMaxPool' ? 'max' : 'avg'));
      });
    }
  }
  it('variant choice is a pure function of the job and the adapter', () => {
    expect(globalPoolVariant(49, 512, { isSoftware: true })).toBe('thread');
    expect(globalPoolVariant(4900, 2, { isSoftware: true })).toBe('workgroup');
    expect(globalPoolVariant(4900, 2, { isSoftware: false })).toBe('workgroup');
    expect(globalPoolVariant(1024, 64, { isSoftware: true })).toBe('thread');
    expect(globalPoolVariant(1024, 64, { isSoftware: false })).toBe('workgroup');
  });
});

describe('LRN', () => {
  function refLrn(x: HostTensor, size: number, alpha: number, beta: number, bias: number): number[] {
    const [N, C] = x.shape as [number, number];
    const hw = x.data.length / (N * C);
    const out: number[] = [];
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) {
      let sq = 0;
      for (let k = c - Math.floor((size - 1) / 2); k <= c + Math.ceil((size - 1) / 2); k++) {
        if (k < 0 || k >= C) continue;
        sq += x.data[(n * C + k) * hw + i]! ** 2;
      }
      out.push(x.data[(n * C + c) * hw + i]! / (bias + (alpha / size) * sq) ** beta);
    }
    return out;
  }
  it('size 3, defaults', async () => {
    const x = randTensor([2, 7, 3, 4], 11);
    const [y] = await runOp(op('LRN'), makeNode('LRN', { size: 3 }), [x]);
    expectClose(y!.data, refLrn(x, 3, 1e-4, 0.75, 1));
  });
  it('even size, custom alpha/beta/bias', async () => {
    const x = randTensor([1, 9, 5, 2], 12);
    const [y] = await runOp(op('LRN'), makeNode('LRN', { size: 4, alpha: 0.5, beta: 0.6, bias: 2 }), [x]);
    expectClose(y!.data, refLrn(x, 4, 0.5, 0.6, 2));
  });
});
