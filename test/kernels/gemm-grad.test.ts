import { describe, expect, it } from 'vitest';
import { gemmOpWith, matmulOpWith, type MatmulVariant } from '../../src/kernels/gemm.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode } from '../helpers/run-op.js';
import { runOpBackward, numericGradient } from '../helpers/run-op-backward.js';
import { gemmRef, matmulRef, type Tensorish } from '../helpers/ref-gemm.js';
import { mulberry32, nonZeroUniform, nonZeroTensor } from '../helpers/random.js';

const rand = mulberry32(9876);
const randArr = (n: number): Float32Array => nonZeroUniform(rand, n);
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
];
const vname = (v: MatmulVariant | undefined) => (!v ? 'auto' : v.variant === 'reg' ? `reg-${v.rows}x${v.cols4 * 4}` : 'tiled');

/** Checks every wanted gradient against central differences of `ref` with respect to that input. */
async function check(run: (wants: boolean[]) => Promise<(Float32Array | undefined)[]>, ref: (ins: Tensorish[]) => number[], ins: HostTensor[], wants: boolean[], gy: Float32Array): Promise<void> {
  const got = await run(wants);
  for (let i = 0; i < ins.length; i++) {
    if (!wants[i]) { expect(got[i]).toBeUndefined(); continue; }
    const num = numericGradient((x) => ref(ins.map((t, j) => (j === i ? { shape: t.shape, data: x } : t))), ins[i]!.data, gy);
    expectClose(got[i]!, num);
  }
}

interface GemmCase { name: string; a: number[]; b: number[]; c?: number[]; transA?: boolean; transB?: boolean; alpha?: number; beta?: number; constB?: boolean; constC?: boolean }

const GEMM_CASES: GemmCase[] = [
  { name: 'plain, C [M,N]', a: [5, 7], b: [7, 9], c: [5, 9], alpha: 0.7, beta: 1.3 },
  { name: 'transA, C [N]', a: [7, 5], b: [7, 9], c: [9], transA: true, alpha: 1.5 },
  { name: 'transB, C [M,1]', a: [5, 7], b: [9, 7], c: [5, 1], transB: true, beta: 0.5 },
  { name: 'transA transB, scalar C', a: [7, 5], b: [9, 7], c: [], transA: true, transB: true, alpha: -0.8, beta: 2 },
  { name: 'C [1]', a: [3, 6], b: [6, 4], c: [1], beta: 0.25 },
  { name: 'no C', a: [4, 6], b: [6, 3] },
  { name: 'FC layer: constant transposed B, constant C', a: [3, 20], b: [10, 20], c: [10], transB: true, constB: true, constC: true },
  { name: 'constant B, batch 1 skinny', a: [1, 33], b: [33, 18], constB: true, alpha: 0.5 },
  { name: 'several tiles', a: [67, 9], b: [9, 70], c: [70], alpha: 1.1, beta: 0.9 },
  { name: 'several tiles transA transB', a: [9, 67], b: [70, 9], transA: true, transB: true },
];

describe('Gemm backward', () => {
  for (const v of VARIANTS) {
    for (const c of GEMM_CASES) {
      it(`${c.name} (${vname(v)})`, async () => {
        const attrs: Record<string, AttrValue> = {};
        if (c.transA) attrs['transA'] = 1;
        if (c.transB) attrs['transB'] = 1;
        if (c.alpha !== undefined) attrs['alpha'] = c.alpha;
        if (c.beta !== undefined) attrs['beta'] = c.beta;
        const ins = [randT(c.a), randT(c.b), ...(c.c ? [randT(c.c)] : [])];
        const node = makeNode('Gemm', attrs, ins.length);
        const ref = (t: Tensorish[]) => gemmRef(t[0]!, t[1]!, t[2], !!c.transA, !!c.transB, c.alpha ?? 1, c.beta ?? 1);
        const wants = [true, !c.constB, !!c.c && !c.constC];
        const gy = randArr(ref(ins).length);
        await check((w) => runOpBackward(gemmOpWith(v), node, ins, [gy], w, [false, !!c.constB, !!c.constC]), ref, ins, wants, gy);
      });
    }
  }
  it('only the wanted gradients', async () => {
    const ins = [randT([4, 5]), randT([5, 6]), randT([6])];
    const ref = (t: Tensorish[]) => gemmRef(t[0]!, t[1]!, t[2], false, false, 1, 1);
    const gy = randArr(24);
    for (const wants of [[false, true, false], [false, false, true], [true, false, false]]) {
      await check((w) => runOpBackward(gemmOpWith(), makeNode('Gemm', {}, 3), ins, [gy], w), ref, ins, wants, gy);
    }
  });
});

interface MatMulCase { name: string; a: number[]; b: number[]; constB?: boolean }

const MATMUL_CASES: MatMulCase[] = [
  { name: '2-D', a: [5, 6], b: [6, 7] },
  { name: 'batched, batch 2 x 3', a: [2, 3, 4, 5], b: [2, 3, 5, 6] },
  { name: 'both broadcast', a: [2, 1, 3, 4], b: [3, 4, 5] },
  { name: 'A broadcast over B batch', a: [3, 4], b: [2, 4, 5] },
  { name: 'B broadcast over A batch', a: [3, 2, 4], b: [4, 5] },
  { name: '1-D A', a: [4], b: [2, 4, 5] },
  { name: '1-D B', a: [2, 3, 4], b: [4] },
  { name: '1-D dot', a: [6], b: [6] },
  { name: 'constant batched B', a: [2, 3, 4], b: [2, 4, 5], constB: true },
  { name: 'constant broadcast B', a: [2, 3, 4], b: [4, 5], constB: true },
  { name: 'several tiles, batch 2', a: [2, 66, 5], b: [5, 67] },
];

describe('MatMul backward', () => {
  for (const v of VARIANTS) {
    for (const c of MATMUL_CASES) {
      it(`${c.name} (${vname(v)})`, async () => {
        const ins = [randT(c.a), randT(c.b)];
        const ref = (t: Tensorish[]) => matmulRef(t[0]!, t[1]!);
        const gy = randArr(ref(ins).length);
        await check((w) => runOpBackward(matmulOpWith(v), makeNode('MatMul', {}, 2), ins, [gy], w, [false, !!c.constB]), ref, ins, [true, !c.constB], gy);
      });
    }
  }
});
