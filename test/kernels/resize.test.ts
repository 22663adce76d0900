import { describe, expect, it } from 'vitest';
import { resizeOps } from '../../src/kernels/resize.js';
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
const f32 = (v: number[]): HostTensor => hostTensor('float32', [v.length], v);
const i64 = (v: number[]): HostTensor => hostTensor('int64', [v.length], v);
const op = resizeOps[0]!;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) throw new Error(`element ${i}: got ${a}, expected ${e}`);
  }
}

type Coord = 'half_pixel' | 'asymmetric' | 'align_corners' | 'pytorch_half_pixel' | 'tf_half_pixel_for_nearest';
type Round = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'legacy';

/** Source taps (index, weight) of output index o along an axis, straight from the ONNX formulas. */
function taps(o: number, n: number, m: number, scale: number, coord: Coord, mode: 'nearest' | 'linear', round: Round): [number, number][] {
  let x: number;
  switch (coord) {
    case 'half_pixel': x = (o + 0.5) / scale - 0.5; break;
    case 'asymmetric': x = o / scale; break;
    case 'align_corners': x = m === 1 ? 0 : (o * (n - 1)) / (m - 1); break;
    case 'pytorch_half_pixel': x = m > 1 ? (o + 0.5) / scale - 0.5 : 0; break;
    case 'tf_half_pixel_for_nearest': x = (o + 0.5) / scale; break;
  }
  const clampI = (i: number): number => Math.min(Math.max(i, 0), n - 1);
  if (mode === 'nearest') {
    const frac = x - Math.floor(x);
    let i: number;
    if (round === 'floor') i = Math.floor(x);
    else if (round === 'ceil') i = Math.ceil(x);
    else if (round === 'legacy') i = scale < 1 ? Math.ceil(x) : Math.floor(x);
    else if (frac === 0.5) i = round === 'round_prefer_floor' ? Math.floor(x) : Math.ceil(x);
    else i = Math.round(x);
    return [[clampI(i), 1]];
  }
  const x0 = Math.floor(x);
  return [[clampI(x0), 1 - (x - x0)], [clampI(x0 + 1), x - x0]];
}

function refResize(x: HostTensor, out: number[], scales: number[], coord: Coord, mode: 'nearest' | 'linear', round: Round): number[] {
  const r = x.shape.length;
  const [H, W] = [x.shape[r - 2]!, x.shape[r - 1]!];
  const [OH, OW] = [out[r - 2]!, out[r - 1]!];
  const B = x.data.length / (H * W);
  const y: number[] = [];
  for (let b = 0; b < B; b++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let acc = 0;
    for (const [h, wh] of taps(oh, H, OH, scales[r - 2]!, coord, mode, round)) {
      for (const [w, ww] of taps(ow, W, OW, scales[r - 1]!, coord, mode, round)) acc += wh * ww * x.data[(b * H + h) * W + w]!;
    }
    y.push(acc);
  }
  return y;
}

interface Case {
  name: string; shape: number[]; attrs: Record<string, AttrValue>;
  scales?: number[]; sizes?: number[];
  out: number[]; coord: Coord; mode: 'nearest' | 'linear'; round: Round;
}

describe('Resize (opset 11+)', () => {
  const cases: Case[] = [
    { name: 'nearest half_pixel upsample x2,x3', shape: [2, 3, 4, 5], attrs: {}, scales: [1, 1, 2, 3], out: [2, 3, 8, 15], coord: 'half_pixel', mode: 'nearest', round: 'round_prefer_floor' },
    { name: 'nearest asymmetric round_prefer_ceil sizes', shape: [1, 2, 3, 4], attrs: { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'round_prefer_ceil' }, sizes: [1, 2, 7, 10], out: [1, 2, 7, 10], coord: 'asymmetric', mode: 'nearest', round: 'round_prefer_ceil' },
    { name: 'nearest align_corners floor sizes', shape: [1, 1, 5, 4], attrs: { coordinate_transformation_mode: 'align_corners', nearest_mode: 'floor' }, sizes: [1, 1, 9, 3], out: [1, 1, 9, 3], coord: 'align_corners', mode: 'nearest', round: 'floor' },
    { name: 'nearest tf_half_pixel_for_nearest ceil downsample', shape: [1, 2, 10, 9], attrs: { coordinate_transformation_mode: 'tf_half_pixel_for_nearest', nearest_mode: 'ceil' }, scales: [1, 1, 0.6, 0.7], out: [1, 2, 6, 6], coord: 'tf_half_pixel_for_nearest', mode: 'nearest', round: 'ceil' },
    { name: 'linear half_pixel upsample x2', shape: [2, 2, 4, 3], attrs: { mode: 'linear' }, scales: [1, 1, 2, 2], out: [2, 2, 8, 6], coord: 'half_pixel', mode: 'linear', round: 'round_prefer_floor' },
    { name: 'linear half_pixel downsample', shape: [1, 2, 9, 10], attrs: { mode: 'linear' }, scales: [1, 1, 0.5, 0.3], out: [1, 2, 4, 3], coord: 'half_pixel', mode: 'linear', round: 'round_prefer_floor' },
    { name: 'linear align_corners sizes', shape: [1, 3, 4, 4], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, sizes: [1, 3, 7, 9], out: [1, 3, 7, 9], coord: 'align_corners', mode: 'linear', round: 'round_prefer_floor' },
    { name: 'linear pytorch_half_pixel with a length-1 output', shape: [1, 2, 6, 5], attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }, sizes: [1, 2, 1, 3], out: [1, 2, 1, 3], coord: 'pytorch_half_pixel', mode: 'linear', round: 'round_prefer_floor' },
    { name: 'linear asymmetric 7x7 -> 224x224 (mask upsampling)', shape: [1, 2, 7, 7], attrs: { mode: 'linear', coordinate_transformation_mode: 'asymmetric' }, sizes: [1, 2, 224, 224], out: [1, 2, 224, 224], coord: 'asymmetric', mode: 'linear', round: 'round_prefer_floor' },
    { name: 'linear on a rank-3 tensor', shape: [3, 4, 5], attrs: { mode: 'linear' }, scales: [1, 1.5, 2], out: [3, 6, 10], coord: 'half_pixel', mode: 'linear', round: 'round_prefer_floor' },
  ];
  cases.forEach((c, idx) => it(c.name, async () => {
    const x = randTensor(c.shape, 300 + idx);
    const node = makeNode('Resize', c.attrs, 4);
    const roi = f32([]);
    const inputs = [x, roi, c.scales ? f32(c.scales) : f32([]), c.sizes ? i64(c.sizes) : undefined];
    if (!c.sizes) { node.inputs.pop(); inputs.pop(); }
    const [y] = await runOp(op, node, inputs);
    expect(y!.shape).toEqual(c.out);
    const scales = c.scales?.map(Math.fround) ?? c.out.map((o, k) => o / c.shape[k]!);
    expectClose(y!.data, refResize(x, c.out, scales, c.coord, c.mode, c.round));
  }));

  it('keep_aspect_ratio_policy not_larger with axes (opset 18)', async () => {
    const x = randTensor([1, 2, 4, 6], 330);
    const node = makeNode('Resize', { mode: 'linear', axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }, 4);
    node.inputs[1] = ''; node.inputs[2] = '';
    const [y] = await runOp(op, node, [x, undefined, undefined, i64([8, 9])]);
    // min(8/4, 9/6) = 1.5 on both axes.
    expect(y!.shape).toEqual([1, 2, 6, 9]);
    expectClose(y!.data, refResize(x, [1, 2, 6, 9], [1, 1, 1.5, 1.5], 'half_pixel', 'linear', 'round_prefer_floor'));
  });

  it('rejects cubic, antialias and resizing leading dims', () => {
    const args = [{ shape: [1, 1, 4, 4] }, { shape: [0], constant: f32([]) }, { shape: [4], constant: f32([1, 1, 2, 2]) }];
    expect(() => op.inferShapes(makeNode('Resize', { mode: 'cubic' }, 3), args)).toThrow(GraphError);
    expect(() => op.inferShapes(makeNode('Resize', { antialias: 1, mode: 'linear' }, 3), args)).toThrow(GraphError);
    const lead = [args[0]!, args[1]!, { shape: [4], constant: f32([2, 1, 2, 2]) }];
    expect(() => op.inferShapes(makeNode('Resize', {}, 3), lead)).toThrow(GraphError);
  });
});

describe('Resize-10 and Upsample', () => {
  it('Resize-10 nearest downsample (asymmetric, ceil when shrinking)', async () => {
    const x = randTensor([1, 2, 8, 6], 340);
    const [y] = await runOp(op, makeNode('Resize', {}, 2), [x, f32([1, 1, 0.5, 0.5])]);
    expect(y!.shape).toEqual([1, 2, 4, 3]);
    expectClose(y!.data, refResize(x, [1, 2, 4, 3], [1, 1, 0.5, 0.5], 'asymmetric', 'nearest', 'legacy'));
  });
  it('Upsample-7 nearest with the scales attribute', async () => {
    const x = randTensor([2, 3, 3, 4], 341);
    const [y] = await runOp(op, makeNode('Upsample', { scales: [1, 1, 2, 3] }), [x]);
    expect(y!.shape).toEqual([2, 3, 6, 12]);
    expectClose(y!.data, refResize(x, [2, 3, 6, 12], [1, 1, 2, 3], 'asymmetric', 'nearest', 'legacy'));
  });
  it('Upsample-9 linear with a scales input', async () => {
    const x = randTensor([1, 2, 3, 4], 342);
    const [y] = await runOp(op, makeNode('Upsample', { mode: 'linear' }, 2), [x, f32([1, 1, 2, 2.5])]);
    expect(y!.shape).toEqual([1, 2, 6, 10]);
    expectClose(y!.data, refResize(x, [1, 2, 6, 10], [1, 1, 2, 2.5], 'asymmetric', 'linear', 'legacy'));
  });
});
