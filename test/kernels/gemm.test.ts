import { describe, expect, it } from 'vitest';
import { gemmOpWith, matmulOpWith, chooseMatmulVariant, matmulCandidates, matmulVariantFits, describeMatmulVariant, gemmOp, matmulOp, type MatmulVariant } from '../../src/kernels/gemm.js';
import type { OpDef } from '../../src/kernels/types.js';
import type { AdapterTraits } from '../../src/kernels/types.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { gemmRef, matmulRef } from '../helpers/ref-gemm.js';
import { mulberry32, nonZeroTensor } from '../helpers/random.js';

const rand = mulberry32(1234);
const randT = (shape: number[]): HostTensor => nonZeroTensor(rand, shape);

function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol = 1e-4): void {
  expect(got.length).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!; const r = ref[i]!;
    if (!(Math.abs(g - r) <= tol * Math.max(1, Math.abs(r)))) throw new Error(`element ${i}: got ${g}, want ${r}`);
  }
}


const VARIANTS: (MatmulVariant | undefined)[] = [
  undefined,
  { variant: 'reg', rows: 1, cols4: 1 },
  { variant: 'reg', rows: 4, cols4: 2 },
  { variant: 'reg', rows: 8, cols4: 2 },
  { variant: 'tiled', rows: 4, cols4: 1 },
  // K split over the workgroup: skinny products (every case still has to come out right).
  { variant: 'dot', rows: 1, cols4: 1 },
  { variant: 'dot', rows: 4, cols4: 4 },
  { variant: 'dot', rows: 4, cols4: 2 },
];
const vname = (v: MatmulVariant | undefined) => (v ? `${v.variant}-${v.rows}x${v.cols4 * 4}` : 'auto');

describe('Gemm', () => {
  const cases: { M: number; K: number; N: number; tA: boolean; tB: boolean; alpha: number; beta: number; c?: number[]; bGpu?: boolean; cGpu?: boolean }[] = [
    { M: 3, K: 5, N: 7, tA: false, tB: false, alpha: 1, beta: 1 },
    { M: 5, K: 33, N: 10, tA: false, tB: true, alpha: 1, beta: 1, c: [10] },
    { M: 9, K: 17, N: 70, tA: true, tB: false, alpha: 0.5, beta: 2, c: [9, 1] },
    { M: 66, K: 20, N: 67, tA: true, tB: true, alpha: -1.5, beta: 0.25, c: [66, 67] },
    { M: 4, K: 6, N: 5, tA: false, tB: false, alpha: 1, beta: 1, c: [] },
    { M: 4, K: 6, N: 5, tA: false, tB: false, alpha: 1, beta: 3, c: [1, 5] },
    { M: 2, K: 19, N: 9, tA: false, tB: true, alpha: 1, beta: 1, c: [1], bGpu: true, cGpu: true },
    { M: 70, K: 9, N: 21, tA: true, tB: false, alpha: 2, beta: 1, c: [21], bGpu: true },
  ];
  for (const v of VARIANTS) {
    for (const [ci, c] of cases.entries()) {
      it(`case ${ci} (${c.M}x${c.K}x${c.N} tA=${c.tA} tB=${c.tB} C=${c.c ? `[${c.c}]` : 'none'}${c.bGpu ? ' B on GPU' : ''}) ${vname(v)}`, async () => {
        const a = randT(c.tA ? [c.K, c.M] : [c.M, c.K]);
        const b = randT(c.tB ? [c.N, c.K] : [c.K, c.N]);
        const cc = c.c ? randT(c.c) : undefined;
        const node = makeNode('Gemm', { transA: c.tA ? 1 : 0, transB: c.tB ? 1 : 0, alpha: c.alpha, beta: c.beta }, cc ? 3 : 2);
        const [y] = await runOp(gemmOpWith(v), node, cc ? [a, b, cc] : [a, b], [false, !c.bGpu, !c.cGpu]);
        expect(y!.shape).toEqual([c.M, c.N]);
        expectClose(y!.data, gemmRef(a, b, cc, c.tA, c.tB, c.alpha, c.beta));
      });
    }
  }

  it('fuses Relu and Clip, and adds a residual before the activation', async () => {
    for (const v of VARIANTS) {
      const a = randT([6, 11]); const b = randT([11, 13]); const c = randT([13]); const r = randT([6, 13]);
      const acts: [string, number[], (x: number) => number][] = [
        ['Relu', [], (x) => Math.max(0, x)],
        ['Clip', [-0.3, 0.4], (x) => Math.min(0.4, Math.max(-0.3, x))],
      ];
      for (const [act, params, f] of acts) {
        const attrs: Record<string, AttrValue> = { transB: 0, _activation: act, _activation_params: params };
        const node = makeNode('Gemm', attrs, 4);
        const [y] = await runOp(gemmOpWith(v), node, [a, b, c, r], [false, true, true, false]);
        const ref = gemmRef(a, b, c, false, false, 1, 1).map((x, i) => f(x + r.data[i]!));
        expectClose(y!.data, ref);
      }
    }
  });

  it('rejects mismatched shapes', () => {
    expect(() => gemmOp.inferShapes(makeNode('Gemm', {}, 2), [{ shape: [2, 3] }, { shape: [4, 5] }])).toThrow(/inner/);
    expect(() => gemmOp.inferShapes(makeNode('Gemm', {}, 3), [{ shape: [2, 3] }, { shape: [3, 5] }, { shape: [3, 5] }])).toThrow(/broadcast/);
  });
});

describe('MatMul', () => {
  const cases: { a: number[]; b: number[]; bGpu?: boolean }[] = [
    { a: [7, 9], b: [9, 11] },
    { a: [2, 3, 5, 6], b: [6, 10] },
    { a: [2, 1, 5, 6], b: [3, 6, 9], bGpu: true },
    { a: [2, 1, 5, 6], b: [3, 6, 9] },
    { a: [4, 6], b: [2, 6, 3], bGpu: true },
    { a: [9], b: [9, 5] },
    { a: [3, 4, 9], b: [9] },
    { a: [8], b: [8] },
    { a: [70, 40], b: [40, 68], bGpu: true },
  ];
  for (const v of VARIANTS) {
    for (const c of cases) {
      it(`[${c.a}] x [${c.b}]${c.bGpu ? ' (B on GPU)' : ''} ${vname(v)}`, async () => {
        const a = randT(c.a); const b = randT(c.b);
        const [y] = await runOp(matmulOpWith(v), makeNode('MatMul', {}, 2), [a, b], [false, !c.bGpu]);
        const want = matmulOp.inferShapes(makeNode('MatMul', {}, 2), [{ shape: c.a }, { shape: c.b }])[0]!;
        expect(y!.shape).toEqual(want);
        expectClose(y!.data, matmulRef(a, b));
      });
    }
  }

  it('computes numpy output shapes', () => {
    const s = (a: number[], b: number[]) => matmulOp.inferShapes(makeNode('MatMul', {}, 2), [{ shape: a }, { shape: b }])[0];
    expect(s([3], [3])).toEqual([]);
    expect(s([2, 1, 4, 3], [5, 3, 7])).toEqual([2, 5, 4, 7]);
    expect(s([3], [2, 3, 4])).toEqual([2, 4]);
    expect(() => s([2, 4, 3], [3, 3, 5])).toThrow(/broadcast/);
  });
});

describe('chooseMatmulVariant', () => {
  const soft: AdapterTraits = { isSoftware: true, vendor: 'mesa', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBuffersPerStage: 16, maxWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 1 << 27, hasF16: true };
  const gpu: AdapterTraits = { ...soft, isSoftware: false, vendor: 'nvidia' };
  it('register-blocks on software adapters', () => {
    expect(chooseMatmulVariant(soft, { M: 1024, N: 1024, K: 1024, batch: 1 }).variant).toBe('reg');
    expect(chooseMatmulVariant(soft, { M: 1, N: 1000, K: 512, batch: 1 })).toEqual({ variant: 'reg', rows: 1, cols4: 2 });
  });
  it('uses shared-memory tiles on real GPUs, except for skinny products', () => {
    expect(chooseMatmulVariant(gpu, { M: 1024, N: 1024, K: 1024, batch: 1 }).variant).toBe('tiled');
    expect(chooseMatmulVariant(gpu, { M: 1, N: 1000, K: 512, batch: 1 }).variant).toBe('reg');
  });
  it('falls back to registers when the tile does not fit the limits', () => {
    expect(chooseMatmulVariant({ ...gpu, maxWorkgroupInvocations: 128 }, { M: 512, N: 512, K: 512, batch: 1 }).variant).toBe('reg');
    expect(chooseMatmulVariant({ ...gpu, maxWorkgroupStorageBytes: 4096 }, { M: 512, N: 512, K: 512, batch: 1 }).variant).toBe('reg');
  });
});

describe('matmul tune spec', () => {
  const soft: AdapterTraits = { isSoftware: true, vendor: 'mesa', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBuffersPerStage: 16, maxWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 1 << 27, hasF16: true, fixedSubgroupSize: 8 };
  const gpu: AdapterTraits = { ...soft, isSoftware: false, vendor: 'nvidia', fixedSubgroupSize: 32, maxStorageBufferBindingSize: 2 ** 31 - 4 };
  const small: AdapterTraits = { ...gpu, maxWorkgroupInvocations: 256, maxWorkgroupSizeX: 256, maxWorkgroupStorageBytes: 16384 };
  const shapes = [
    { M: 1, N: 1000, K: 2048, batch: 1 }, { M: 8, N: 1000, K: 2048, batch: 1 }, { M: 32, N: 1000, K: 512, batch: 1 },
    { M: 1024, N: 1024, K: 1024, batch: 1 }, { M: 5, N: 7, K: 3, batch: 1 }, { M: 196, N: 64, K: 64, batch: 12 },
  ];
  it('lists the static choice first, no duplicates, everything fitting, <= 6 on software', () => {
    for (const t of [soft, gpu, small]) {
      for (const s of shapes) {
        const list = matmulCandidates(t, s);
        expect(list[0]).toEqual(chooseMatmulVariant(t, s));
        expect(new Set(list.map((v) => JSON.stringify(v))).size).toBe(list.length);
        for (const v of list) expect(matmulVariantFits(v, t, s)).toBe(true);
        if (t.isSoftware) expect(list.length).toBeLessThanOrEqual(6);
        // The dot kernel only for skinny products with a long reduction.
        expect(list.some((v) => v.variant === 'dot')).toBe(s.M <= 16 && s.K >= 128);
      }
    }
    expect(matmulCandidates(gpu, shapes[0]!).map(describeMatmulVariant)).toEqual(['reg 1x8', 'reg 1x4', 'tiled 64x64', 'dot 1x4', 'dot 1x16']);
  });
  it('keys products by what changes speed, only on unforced ops', () => {
    const key = (op: OpDef, a: number[], b: number[], attrs: Record<string, AttrValue> = {}, bConst = true, nIn = 2) => {
      const node = makeNode(op.opTypes[0]!, attrs, nIn);
      const args = [{ shape: a }, { shape: b, ...(bConst ? { constant: randT(b) } : {}) }, ...(nIn > 2 ? [{ shape: [b[b.length - 1]!], constant: randT([b[b.length - 1]!]) }] : [])];
      return op.tune!.key(node, args, [], gpu);
    };
    expect(key(matmulOp, [1, 2048], [2048, 1000])).toBe(key(matmulOp, [1, 2048], [2048, 1000]));
    const all = [
      key(matmulOp, [1, 2048], [2048, 1000]), key(matmulOp, [8, 2048], [2048, 1000]), key(matmulOp, [1, 2048], [2048, 1000], {}, false),
      key(matmulOp, [1, 2048], [2048, 1000], { _activation: 'Relu' }), key(gemmOp, [1, 2048], [2048, 1000]),
      key(gemmOp, [2, 2048], [2048, 1000]), key(gemmOp, [2048, 2], [2048, 1000], { transA: 1 }), key(gemmOp, [1, 2048], [2048, 1000], {}, true, 3),
    ];
    expect(new Set(all).size, all.join("\n")).toBe(all.length);
    expect(matmulOpWith({ variant: 'reg', rows: 1, cols4: 1 }).tune).toBeUndefined();
    expect(gemmOpWith({ variant: 'tiled', rows: 4, cols4: 1 }).tune).toBeUndefined();
  });
  it('builds and runs every real-GPU candidate of FC-like products through the tuner path', async () => {
    for (const [M, K, N, tB] of [[1, 512, 100, true], [8, 300, 70, false], [3, 130, 9, true]] as const) {
      const a = randT([M, K]); const b = randT(tB ? [N, K] : [K, N]); const c = randT([N]);
      const node = makeNode('Gemm', { transB: tB ? 1 : 0 }, 3);
      const args = [{ shape: a.shape }, { shape: b.shape, constant: b }, { shape: c.shape, constant: c }];
      const k = gemmOp.tune!.key(node, args, [[M, N]], gpu)!;
      const list = gemmOp.tune!.candidates(node, args, [[M, N]], gpu, { f16: false }) as MatmulVariant[];
      expect(list.some((v) => v.variant === 'dot')).toBe(true);
      for (const v of list) {
        const op: OpDef = { ...gemmOp, build: (n, i, o, ctx) => gemmOp.build!(n, i, o, { ...ctx, variant: (kk) => (kk === k ? v : undefined) }) };
        const [y] = await runOp(op, node, [a, b, c], [false, true, true]);
        expectClose(y!.data, gemmRef(a, b, c, false, tB, 1, 1));
      }
    }
  });
});
