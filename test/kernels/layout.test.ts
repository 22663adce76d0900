import { describe, expect, it } from 'vitest';
import { canCopyVec4, layoutOps, simplifyPlan } from '../../src/kernels/layout.js';
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
const ints = (shape: number[], v: number[]): HostTensor => hostTensor('int64', shape, v);
const i64 = (v: number[]): HostTensor => ints([v.length], v);

function op(type: string): OpDef {
  const d = layoutOps.find((o) => o.opTypes.includes(type));
  if (!d) throw new Error(type);
  return d;
}

/** Multi-index helpers for the references (row-major). */
function coordsOf(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) { c[k] = i % shape[k]!; i = Math.floor(i / shape[k]!); }
  return c;
}
function at(t: HostTensor, c: readonly number[]): number {
  let off = 0;
  c.forEach((v, k) => { off = off * t.shape[k]! + v; });
  return t.data[off]!;
}
/** Builds an expected tensor by evaluating `f` at every output coordinate. */
function ref(shape: number[], f: (c: number[]) => number): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => f(coordsOf(i, shape)));
}
function expectTensor(t: HostTensor, shape: number[], data: number[]): void {
  expect(t.shape).toEqual(shape);
  expect(Array.from(t.data)).toEqual(data.map((v) => Math.fround(v)));
}

/** Runs on the GPU and, when all inputs are given, through evalHost as well; both must agree. */
async function check(type: string, attrs: Record<string, AttrValue>, inputs: (HostTensor | undefined)[], expected: { shape: number[]; data: number[] }[], nOut = 1): Promise<void> {
  const node = makeNode(type, attrs, inputs.length, nOut);
  inputs.forEach((t, i) => { if (!t) node.inputs[i] = ''; });
  const outs = await runOp(op(type), node, inputs);
  expect(outs.length).toBe(expected.length);
  outs.forEach((o, i) => expectTensor(o, expected[i]!.shape, expected[i]!.data));
  const host = op(type).evalHost?.(node, inputs.map((t) => t && { shape: t.shape, constant: t }));
  if (host) host.forEach((o, i) => expectTensor(o, expected[i]!.shape, expected[i]!.data));
}

describe('Concat', () => {
  it('three inputs on axis 1', async () => {
    const xs = [randTensor([2, 3, 4, 5], 1), randTensor([2, 1, 4, 5], 2), randTensor([2, 4, 4, 5], 3)];
    const shape = [2, 8, 4, 5];
    const data = ref(shape, ([n, c, h, w]) => {
      const [x, cc] = c! < 3 ? [xs[0]!, c!] : c! < 4 ? [xs[1]!, c! - 3] : [xs[2]!, c! - 4];
      return at(x, [n!, cc, h!, w!]);
    });
    await check('Concat', { axis: 1 }, xs, [{ shape, data }]);
  });
  it('axis -1 and an empty input', async () => {
    const xs = [randTensor([3, 2], 4), randTensor([3, 0], 5), randTensor([3, 3], 6)];
    const data = ref([3, 5], ([r, c]) => (c! < 2 ? at(xs[0]!, [r!, c!]) : at(xs[2]!, [r!, c! - 2])));
    await check('Concat', { axis: -1 }, xs, [{ shape: [3, 5], data }]);
  });
  it('many 1-D inputs on axis 0', async () => {
    const xs = Array.from({ length: 11 }, (_, i) => randTensor([i % 3 + 1], 10 + i));
    const data = xs.flatMap((x) => Array.from(x.data));
    await check('Concat', { axis: 0 }, xs, [{ shape: [data.length], data }]);
  });
  it('rejects mismatched shapes', () => {
    expect(() => op('Concat').inferShapes(makeNode('Concat', { axis: 1 }, 2), [{ shape: [1, 2, 3] }, { shape: [1, 2, 4] }])).toThrow(GraphError);
  });
});

describe('Split', () => {
  const x = randTensor([2, 6, 7], 20);
  it('equal split by output count (default axis 0)', async () => {
    const y = randTensor([6, 3], 21);
    await check('Split', {}, [y], [0, 1, 2].map((k) => ({ shape: [2, 3], data: ref([2, 3], ([r, c]) => at(y, [r! + 2 * k, c!])) })), 3);
  });
  it('split attribute (opset < 13) on axis 2', async () => {
    const sizes = [1, 4, 2];
    let off = 0;
    const exp = sizes.map((s) => { const o = off; off += s; return { shape: [2, 6, s], data: ref([2, 6, s], ([a, b, c]) => at(x, [a!, b!, c! + o])) }; });
    await check('Split', { axis: 2, split: sizes }, [x], exp, 3);
  });
  it('split input (opset 13) on axis -2', async () => {
    const exp = [{ shape: [2, 5, 7], data: ref([2, 5, 7], ([a, b, c]) => at(x, [a!, b!, c!])) },
      { shape: [2, 1, 7], data: ref([2, 1, 7], ([a, , c]) => at(x, [a!, 5, c!])) }];
    await check('Split', { axis: -2 }, [x, i64([5, 1])], exp, 2);
  });
  it('num_outputs with an uneven last chunk (opset 18)', async () => {
    const exp = [[0, 3], [3, 3], [6, 1]].map(([o, s]) => ({ shape: [2, 6, s!], data: ref([2, 6, s!], ([a, b, c]) => at(x, [a!, b!, c! + o!])) }));
    await check('Split', { axis: 2, num_outputs: 3 }, [x], exp, 3);
  });
});

describe('Transpose', () => {
  it('default reverses the dims', async () => {
    const x = randTensor([2, 3, 4], 30);
    await check('Transpose', {}, [x], [{ shape: [4, 3, 2], data: ref([4, 3, 2], ([a, b, c]) => at(x, [c!, b!, a!])) }]);
  });
  it('NCHW -> NHWC', async () => {
    const x = randTensor([2, 3, 4, 5], 31);
    await check('Transpose', { perm: [0, 2, 3, 1] }, [x], [{ shape: [2, 4, 5, 3], data: ref([2, 4, 5, 3], ([n, h, w, c]) => at(x, [n!, c!, h!, w!])) }]);
  });
  it('rank 6 (pixel-shuffle style)', async () => {
    const x = randTensor([1, 2, 2, 3, 2, 3], 32);
    const perm = [0, 1, 4, 2, 5, 3];
    const shape = perm.map((p) => x.shape[p]!);
    await check('Transpose', { perm }, [x], [{ shape, data: ref(shape, (c) => { const s = new Array<number>(6); perm.forEach((p, i) => { s[p] = c[i]!; }); return at(x, s); }) }]);
  });
});

/** numpy slice semantics along one axis. */
function sliceIdx(n: number, start: number, end: number, step: number): number[] {
  const norm = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
  const s = step > 0 ? norm(start, 0, n) : norm(start, -1, n - 1);
  const e = step > 0 ? norm(end, 0, n) : norm(end, -1, n - 1);
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

describe('Slice', () => {
  const x = randTensor([3, 8, 9], 40);
  function expected(sel: number[][]): { shape: number[]; data: number[] } {
    const shape = sel.map((s) => s.length);
    return { shape, data: ref(shape, (c) => at(x, c.map((v, k) => sel[k]![v]!))) };
  }
  it('attribute form (opset < 10)', async () => {
    await check('Slice', { starts: [1, -3], ends: [7, 1000], axes: [1, 2] }, [x], [expected([[0, 1, 2], sliceIdx(8, 1, 7, 1), sliceIdx(9, -3, 1000, 1)])]);
  });
  it('inputs with steps, negative steps and negative axes', async () => {
    await check('Slice', {}, [x, i64([-1, 0, 7]), i64([-9.223372036854776e18, 3, 1]), i64([-2, 0, 2]), i64([-2, 1, -3])],
      [expected([sliceIdx(3, 0, 3, 1), sliceIdx(8, -1, -9.223372036854776e18, -2), sliceIdx(9, 7, 1, -3)])]);
  });
  it('INT64_MAX end, default axes and steps, start below the axis', async () => {
    await check('Slice', {}, [x, i64([1, -20]), i64([9.223372036854776e18, 30])], [expected([sliceIdx(3, 1, 1e19, 1), sliceIdx(8, -20, 30, 1), sliceIdx(9, 0, 9, 1)])]);
  });
  it('a start past the end gives an empty axis', () => {
    const node = makeNode('Slice', {}, 3);
    const args = [x, i64([20]), i64([30])].map((t) => ({ shape: t.shape, constant: t }));
    expect(op('Slice').inferShapes(node, args)).toEqual([[0, 8, 9]]);
    expect(op('Slice').evalHost!(node, args)![0]!.data.length).toBe(0);
  });
  it('host evaluation of an int64 shape slice', () => {
    const shape = ints([4], [8, 3, 224, 224]);
    const node = makeNode('Slice', {}, 3);
    const out = op('Slice').evalHost!(node, [shape, i64([2]), i64([9.223372036854776e18])].map((t) => ({ shape: t.shape, constant: t })));
    expect(out![0]!.dtype).toBe('int64');
    expect(Array.from(out![0]!.data)).toEqual([224, 224]);
  });
});

describe('Expand / Tile', () => {
  it('Expand [3,1] to [2,3,4]', async () => {
    const x = randTensor([3, 1], 50);
    await check('Expand', {}, [x, i64([2, 1, 4])], [{ shape: [2, 3, 4], data: ref([2, 3, 4], ([, b]) => at(x, [b!, 0])) }]);
  });
  it('Expand bidirectional [1,4] with [3,1]', async () => {
    const x = randTensor([1, 4], 51);
    await check('Expand', {}, [x, i64([3, 1])], [{ shape: [3, 4], data: ref([3, 4], ([, b]) => at(x, [0, b!])) }]);
  });
  it('Tile', async () => {
    const x = randTensor([2, 3, 2], 52);
    await check('Tile', {}, [x, i64([2, 1, 3])], [{ shape: [4, 3, 6], data: ref([4, 3, 6], ([a, b, c]) => at(x, [a! % 2, b!, c! % 2])) }]);
  });
});

describe('Pad', () => {
  const x = randTensor([1, 2, 4, 5], 60);
  /** Index into the input for an output coordinate, by numpy.pad's folding rules. */
  function src(i: number, n: number, mode: string): number | undefined {
    if (i >= 0 && i < n) return i;
    if (mode === 'constant') return undefined;
    if (mode === 'edge') return i < 0 ? 0 : n - 1;
    if (mode === 'wrap') { while (i < 0) i += n; return i % n; }
    while (i < 0 || i >= n) { if (i < 0) i = -i; if (i >= n) i = 2 * (n - 1) - i; }
    return i;
  }
  function expected(pads: number[], mode: string, value = 0): { shape: number[]; data: number[] } {
    const r = x.shape.length;
    const shape = x.shape.map((d, k) => d + pads[k]! + pads[k + r]!);
    return { shape, data: ref(shape, (c) => {
      const s = c.map((v, k) => src(v - pads[k]!, x.shape[k]!, mode));
      return s.some((v) => v === undefined) ? value : at(x, s as number[]);
    }) };
  }
  for (const mode of ['constant', 'edge', 'reflect', 'wrap']) {
    it(`${mode} via inputs`, async () => {
      const pads = mode === 'reflect' ? [0, 1, 3, 2, 0, 0, 2, 4] : [0, 1, 2, 3, 1, 0, 3, 1];
      await check('Pad', { mode }, [x, i64(pads), hostTensor('float32', [], [1.5])], [expected(pads, mode, 1.5)]);
    });
  }
  it('attribute form (opset < 11) with negative pads', async () => {
    const pads = [0, 0, -1, 2, 0, 1, 1, -2];
    await check('Pad', { pads, value: -0.25 }, [x], [expected(pads, 'constant', -0.25)]);
  });
  it('axes input (opset 18)', async () => {
    await check('Pad', { mode: 'edge' }, [x, i64([1, 2, 3, 0]), undefined, i64([-1, 1])], [expected([0, 2, 0, 1, 0, 0, 0, 3], 'edge')]);
  });
});

describe('Gather', () => {
  it('axis 0 with 2-D indices', async () => {
    const x = randTensor([5, 3], 70);
    const idx = ints([2, 2], [4, 0, -1, 2]);
    const norm = [4, 0, 4, 2];
    await check('Gather', {}, [x, idx], [{ shape: [2, 2, 3], data: ref([2, 2, 3], ([a, b, c]) => at(x, [norm[a! * 2 + b!]!, c!])) }]);
  });
  it('axis 1, scalar index', async () => {
    const x = randTensor([2, 4, 3], 71);
    await check('Gather', { axis: 1 }, [x, ints([], [-3])], [{ shape: [2, 3], data: ref([2, 3], ([a, c]) => at(x, [a!, 1, c!])) }]);
  });
  it('rejects out-of-range indices', () => {
    const node = makeNode('Gather', {}, 2);
    expect(() => op('Gather').evalHost!(node, [{ shape: [3], constant: i64([1, 2, 3]) }, { shape: [1], constant: i64([3]) }])).toThrow(GraphError);
  });
});

describe('host evaluation of integer shape chains', () => {
  const c = (t: HostTensor): { shape: readonly number[]; constant: HostTensor } => ({ shape: t.shape, constant: t });
  it('Gather, Concat, Split, Transpose, Expand keep int64 exactly', () => {
    const shape = i64([32, 2048, 7, 7]);
    const g = op('Gather').evalHost!(makeNode('Gather', { axis: 0 }, 2), [c(shape), c(ints([], [0]))])!;
    expect(g[0]!.shape).toEqual([]);
    expect(Array.from(g[0]!.data)).toEqual([32]);
    const cat = op('Concat').evalHost!(makeNode('Concat', { axis: 0 }, 2), [c(i64([32])), c(i64([-1]))])!;
    expect(cat[0]!.dtype).toBe('int64');
    expect(Array.from(cat[0]!.data)).toEqual([32, -1]);
    const big = i64([2 ** 40 + 3, 5]);
    const sp = op('Split').evalHost!(makeNode('Split', {}, 1, 2), [c(big)])!;
    expect(sp.map((t) => Array.from(t.data))).toEqual([[2 ** 40 + 3], [5]]);
    const tr = op('Transpose').evalHost!(makeNode('Transpose', {}), [c(ints([2, 2], [1, 2, 3, 4]))])!;
    expect(Array.from(tr[0]!.data)).toEqual([1, 3, 2, 4]);
    const ex = op('Expand').evalHost!(makeNode('Expand', {}, 2), [c(ints([1], [7])), c(i64([3]))])!;
    expect(Array.from(ex[0]!.data)).toEqual([7, 7, 7]);
  });
  it('returns undefined when the data is not a host constant', () => {
    expect(op('Transpose').evalHost!(makeNode('Transpose', {}), [{ shape: [2, 2] }])).toBeUndefined();
  });
});

describe('vec4 copies', () => {
  it('Tile with a contiguous 4-float innermost run', async () => {
    const x = randTensor([2, 3, 4], 80);
    await check('Tile', {}, [x, i64([3, 2, 1])], [{ shape: [6, 6, 4], data: ref([6, 6, 4], ([a, b, c]) => at(x, [a! % 2, b! % 3, c!])) }]);
  });
  it('Slice of whole rows', async () => {
    const x = randTensor([2, 6, 8], 81);
    await check('Slice', {}, [x, i64([2]), i64([5]), i64([1])], [{ shape: [2, 3, 8], data: ref([2, 3, 8], ([a, b, c]) => at(x, [a!, b! + 2, c!])) }]);
  });
  it('eligibility is a pure function of the plan', () => {
    const p = { iter: [2, 60], srcDims: [2, 60], srcStrides: [60, 1], dstStrides: [160, 1], srcBase: 0, dstBase: 60 };
    expect(canCopyVec4(p, 120, 320)).toBe(true);
    expect(canCopyVec4({ ...p, dstBase: 62 }, 120, 320)).toBe(false);
    expect(canCopyVec4({ ...p, iter: [2, 6], srcDims: [2, 6] }, 12, 320)).toBe(false);
    expect(canCopyVec4({ ...p, srcStrides: [60, 2] }, 120, 320)).toBe(false);
    expect(canCopyVec4(p, 121, 320)).toBe(false);
  });
});

describe('plan simplification', () => {
  it('merges contiguous dims and drops unit dims', () => {
    const p = simplifyPlan({ iter: [2, 1, 3, 4], srcDims: [2, 1, 3, 4], srcStrides: [12, 12, 4, 1], dstStrides: [24, 12, 4, 1], srcBase: 0, dstBase: 8 });
    expect(p.iter).toEqual([2, 12]);
    expect(p.srcStrides).toEqual([12, 1]);
    expect(p.dstStrides).toEqual([24, 1]);
  });
});
