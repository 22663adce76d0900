import { describe, expect, it } from 'vitest';
import { layoutOps } from '../../src/kernels/layout.js';
import { compileAdjoint } from '../../src/kernels/layout-grad.js';
import type { OpDef } from '../../src/kernels/types.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { hostTensor } from '../../src/runtime/tensor.js';
import { checkGrad, flatOf, i64, mapRef, node, randTensor, size } from '../helpers/grad-check.js';

function op(type: string): OpDef {
  const d = layoutOps.find((o) => o.opTypes.includes(type));
  if (!d) throw new Error(type);
  return d;
}

/** Forward of a single-input op given as an index map, for input 0. */
function single(outShape: number[], inShape: readonly number[], src: (c: number[]) => number[] | undefined, fill = 0): (i: number, x: Float64Array) => Float64Array {
  const f = mapRef(outShape, (c) => { const s = src(c); return s && flatOf(s, inShape); }, fill);
  return (_i, x) => f(x);
}

describe('Concat backward', () => {
  it('three inputs on axis 1, batch 2', async () => {
    const xs = [randTensor([2, 3, 4, 5], 1), randTensor([2, 1, 4, 5], 2), randTensor([2, 4, 4, 5], 3)];
    const out = [2, 8, 4, 5];
    const ref = (i: number, x: Float64Array): number[] => {
      const data = xs.map((t, k) => (k === i ? x : t.data));
      return Array.from({ length: size(out) }, (_, j) => {
        const w = j % 5, h = Math.floor(j / 5) % 4, c = Math.floor(j / 20) % 8, n = Math.floor(j / 160);
        const [k, cc] = c < 3 ? [0, c] : c < 4 ? [1, c - 3] : [2, c - 4];
        return data[k]![flatOf([n, cc, h, w], xs[k]!.shape)]!;
      });
    };
    await checkGrad({ op: op('Concat'), node: node('Concat', { axis: 1 }, 3), inputs: xs, ref, wants: [true, true, true], seed: 10 });
  });
  it('last axis, only the second input wanted', async () => {
    const xs = [randTensor([3, 2], 4), randTensor([3, 5], 5)];
    const ref = (_i: number, x: Float64Array): number[] =>
      Array.from({ length: 21 }, (_, j) => { const r = Math.floor(j / 7), c = j % 7; return c < 2 ? xs[0]!.data[r * 2 + c]! : x[r * 5 + c - 2]!; });
    await checkGrad({ op: op('Concat'), node: node('Concat', { axis: -1 }, 2), inputs: xs, ref, wants: [false, true], seed: 11 });
  });
});

describe('Split backward', () => {
  it('into 3 uneven parts on axis 1 (all outputs concatenated)', async () => {
    const x = randTensor([2, 6, 3, 2], 20);
    const sizes = [1, 3, 2];
    const ref = (_i: number, v: Float64Array): number[] => {
      const out: number[] = [];
      let off = 0;
      for (const s of sizes) {
        for (let n = 0; n < 2; n++) for (let c = 0; c < s; c++) for (let k = 0; k < 6; k++) out.push(v[(n * 6 + off + c) * 6 + k]!);
        off += s;
      }
      return out;
    };
    await checkGrad({ op: op('Split'), node: node('Split', { axis: 1, split: sizes }, 1, 3), inputs: [x], ref, wants: [true], seed: 21 });
  });
  it('into 3 equal parts on the last axis (num_outputs)', async () => {
    const x = randTensor([2, 3, 9], 22);
    const ref = (_i: number, v: Float64Array): number[] => {
      const out: number[] = [];
      for (let p = 0; p < 3; p++) for (let r = 0; r < 6; r++) for (let k = 0; k < 3; k++) out.push(v[r * 9 + p * 3 + k]!);
      return out;
    };
    await checkGrad({ op: op('Split'), node: node('Split', { axis: -1, num_outputs: 3 }, 1, 3), inputs: [x], ref, wants: [true], seed: 23 });
  });
});

describe('Transpose backward', () => {
  it('NCHW -> NHWC, batch 2', async () => {
    const x = randTensor([2, 3, 4, 5], 30);
    await checkGrad({ op: op('Transpose'), node: node('Transpose', { perm: [0, 2, 3, 1] }), inputs: [x],
      ref: single([2, 4, 5, 3], x.shape, ([n, h, w, c]) => [n!, c!, h!, w!]), wants: [true], seed: 31 });
  });
  it('default perm (reverse)', async () => {
    const x = randTensor([3, 2, 5], 32);
    await checkGrad({ op: op('Transpose'), node: node('Transpose', {}), inputs: [x],
      ref: single([5, 2, 3], x.shape, ([a, b, c]) => [c!, b!, a!]), wants: [true], seed: 33 });
  });
});

/** ONNX Slice indices along one axis. */
function sliceIdx(n: number, start: number, end: number, step: number): number[] {
  let s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
  const out: number[] = [];
  if (step > 0) { s = Math.min(Math.max(s, 0), n); e = Math.min(Math.max(e, 0), n); for (let i = s; i < e; i += step) out.push(i); }
  else { s = Math.min(Math.max(s, 0), n - 1); e = Math.min(Math.max(e, -1), n - 1); for (let i = s; i > e; i += step) out.push(i); }
  return out;
}

describe('Slice backward', () => {
  it('steps 2 and 3 on two axes, batch 2', async () => {
    const x = randTensor([2, 3, 9, 10], 40);
    const ih = sliceIdx(9, 1, 8, 2), iw = sliceIdx(10, 0, 100, 3);
    const inputs = [x, i64([1, 0]), i64([8, 100]), i64([2, 3]), i64([2, 3])];
    await checkGrad({ op: op('Slice'), node: node('Slice', {}, 5), inputs,
      ref: single([2, 3, ih.length, iw.length], x.shape, ([n, c, h, w]) => [n!, c!, ih[h!]!, iw[w!]!]), wants: [true, false, false, false, false], seed: 41 });
  });
  it('negative steps (reverse and stride -2) with an INT64_MIN-like end', async () => {
    const x = randTensor([2, 5, 7], 42);
    const ia = sliceIdx(5, -1, -1e19, -1), ib = sliceIdx(7, 5, 0, -2);
    const inputs = [x, i64([-1, 5]), i64([-1e19, 0]), i64([1, -1]), i64([-1, -2])];
    await checkGrad({ op: op('Slice'), node: node('Slice', {}, 5), inputs,
      ref: single([2, ia.length, ib.length], x.shape, ([n, a, b]) => [n!, ia[a!]!, ib[b!]!]), wants: [true, false, false, false, false], seed: 43 });
  });
});

function padSrc(ci: number, n: number, mode: string): number | undefined {
  if (ci >= 0 && ci < n) return ci;
  if (mode === 'constant') return undefined;
  if (mode === 'edge') return Math.min(Math.max(ci, 0), n - 1);
  if (mode === 'wrap') return ((ci % n) + n) % n;
  while (ci < 0 || ci >= n) { if (ci < 0) ci = -ci; if (ci >= n) ci = 2 * (n - 1) - ci; }
  return ci;
}

describe('Pad backward', () => {
  const cases: { mode: string; shape: number[]; pads: number[] }[] = [
    { mode: 'constant', shape: [2, 3, 4, 5], pads: [0, 0, 1, 2, 0, 0, 2, 1] },
    { mode: 'constant', shape: [2, 3, 6, 5], pads: [0, 1, -2, 1, 0, 0, 1, -1] },
    { mode: 'reflect', shape: [2, 2, 4, 5], pads: [0, 0, 3, 2, 0, 0, 2, 4] },
    { mode: 'edge', shape: [2, 2, 3, 4], pads: [0, 0, 2, 1, 0, 0, 3, 2] },
    { mode: 'wrap', shape: [1, 2, 3, 4], pads: [0, 0, 2, 5, 0, 0, 4, 1] },
  ];
  cases.forEach((c, k) => it(`${c.mode} pads [${c.pads}]`, async () => {
    const x = randTensor(c.shape, 50 + k);
    const r = c.shape.length;
    const out = c.shape.map((d, i) => d + c.pads[i]! + c.pads[i + r]!);
    const inputs: HostTensor[] = [x, i64(c.pads), hostTensor('float32', [], [0.5])];
    const ref = single(out, c.shape, (oc) => {
      const s = oc.map((o, i) => padSrc(o - c.pads[i]!, c.shape[i]!, c.mode));
      return s.some((v) => v === undefined) ? undefined : (s as number[]);
    }, 0.5);
    await checkGrad({ op: op('Pad'), node: node('Pad', { mode: c.mode }, 3), inputs, ref, wants: [true, false, false], seed: 60 + k });
  }));
});

describe('Expand / Tile / Gather backward', () => {
  it('Expand [3,1,4] -> [2,3,5,4] (new leading dim and a broadcast dim)', async () => {
    const x = randTensor([3, 1, 4], 70);
    await checkGrad({ op: op('Expand'), node: node('Expand', {}, 2), inputs: [x, i64([2, 1, 5, 4])],
      ref: single([2, 3, 5, 4], x.shape, ([, c, , w]) => [c!, 0, w!]), wants: [true, false], seed: 71 });
  });
  it('Tile [2,3,2] x [2,1,3]', async () => {
    const x = randTensor([2, 3, 2], 72);
    await checkGrad({ op: op('Tile'), node: node('Tile', {}, 2), inputs: [x, i64([2, 1, 3])],
      ref: single([4, 3, 6], x.shape, ([a, b, c]) => [a! % 2, b!, c! % 2]), wants: [true, false], seed: 73 });
  });
  it('Gather axis 1 with repeated and negative 2-D indices', async () => {
    const x = randTensor([2, 5, 3], 74);
    const idx = [4, 0, -1, 2, 0, 0];
    const norm = idx.map((v) => (v < 0 ? v + 5 : v));
    const inputs = [x, hostTensor('int64', [2, 3], idx)];
    await checkGrad({ op: op('Gather'), node: node('Gather', { axis: 1 }, 2), inputs,
      ref: single([2, 2, 3, 3], x.shape, ([n, p, q, k]) => [n!, norm[p! * 3 + q!]!, k!]), wants: [true, false], seed: 75 });
  });
  it('Gather axis 0', async () => {
    const x = randTensor([4, 6], 76);
    const idx = [3, 1, 3];
    await checkGrad({ op: op('Gather'), node: node('Gather', { axis: 0 }, 2), inputs: [x, hostTensor('int64', [3], idx)],
      ref: single([3, 6], x.shape, ([p, k]) => [idx[p!]!, k!]), wants: [true, false], seed: 77 });
  });
});

describe('compileAdjoint', () => {
  it('turns strided and reversed axes into merged identity axes', () => {
    // A [2,3,4] transpose-free copy with the last axis reversed: outer two axes merge.
    const c = compileAdjoint({
      axes: [
        { inStride: 12, lists: [[[0, 1]], [[12, 1]]] },
        { inStride: 4, lists: [[[0, 1]], [[4, 1]], [[8, 1]]] },
        { inStride: 1, lists: [[[3, 1]], [[2, 1]], [[1, 1]], [[0, 1]]] },
      ],
    })!;
    expect(c.axes).toEqual([{ n: 6, inStride: 4, outStride: 4 }, { n: 4, inStride: 1, outStride: -1 }]);
    expect(c.outBase).toBe(3);
  });
  it('trims unread coordinates and reports an all-zero contribution', () => {
    const c = compileAdjoint({ axes: [{ inStride: 1, lists: [[], [[0, 1]], [], [[1, 1]], []] }] })!;
    expect(c).toEqual({ axes: [{ n: 2, inStride: 2, outStride: 1 }], inBase: 1, outBase: 0 });
    expect(compileAdjoint({ axes: [{ inStride: 1, lists: [[], []] }] })).toBeUndefined();
  });
});
