import { describe, expect, it } from 'vitest';
import { resizeOps } from '../../src/kernels/resize.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { checkGrad, f32, i64, node, randTensor } from '../helpers/grad-check.js';

const op = resizeOps[0]!;

type Coord = 'half_pixel' | 'asymmetric' | 'align_corners' | 'pytorch_half_pixel';
type Round = 'round_prefer_floor' | 'floor' | 'legacy';

/** Source taps (index, weight) of output index o along an axis, from the ONNX formulas. */
function taps(o: number, n: number, m: number, scale: number, coord: Coord, mode: 'nearest' | 'linear', round: Round): [number, number][] {
  const x = coord === 'half_pixel' ? (o + 0.5) / scale - 0.5
    : coord === 'asymmetric' ? o / scale
      : coord === 'align_corners' ? (m === 1 ? 0 : (o * (n - 1)) / (m - 1))
        : m > 1 ? (o + 0.5) / scale - 0.5 : 0;
  const cl = (i: number): number => Math.min(Math.max(i, 0), n - 1);
  if (mode === 'nearest') {
    const fr = x - Math.floor(x);
    const i = round === 'floor' ? Math.floor(x) : round === 'legacy' ? (scale < 1 ? Math.ceil(x) : Math.floor(x)) : fr === 0.5 ? Math.floor(x) : Math.round(x);
    return [[cl(i), 1]];
  }
  const x0 = Math.floor(x);
  return [[cl(x0), 1 - (x - x0)], [cl(x0 + 1), x - x0]];
}

function refResize(shape: readonly number[], out: readonly number[], scales: readonly number[], coord: Coord, mode: 'nearest' | 'linear', round: Round): (x: ArrayLike<number>) => number[] {
  const r = shape.length;
  const [H, W] = [shape[r - 2]!, shape[r - 1]!];
  const [OH, OW] = [out[r - 2]!, out[r - 1]!];
  const B = shape.reduce((a, b) => a * b, 1) / (H * W);
  return (x) => {
    const y: number[] = [];
    for (let b = 0; b < B; b++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let acc = 0;
      for (const [h, wh] of taps(oh, H, OH, scales[r - 2]!, coord, mode, round)) {
        for (const [w, ww] of taps(ow, W, OW, scales[r - 1]!, coord, mode, round)) acc += wh * ww * x[(b * H + h) * W + w]!;
      }
      y.push(acc);
    }
    return y;
  };
}

interface Case {
  name: string; shape: number[]; attrs: Record<string, AttrValue>;
  scales?: number[]; sizes?: number[];
  out: number[]; coord: Coord; mode: 'nearest' | 'linear'; round?: Round;
}

describe('Resize backward (adjoint of the interpolation)', () => {
  const cases: Case[] = [
    { name: 'nearest x2 half_pixel, batch 2', shape: [2, 3, 4, 5], attrs: {}, scales: [1, 1, 2, 2], out: [2, 3, 8, 10], coord: 'half_pixel', mode: 'nearest' },
    { name: 'nearest x1.5 / x2.5 asymmetric floor', shape: [2, 2, 4, 5], attrs: { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, scales: [1, 1, 1.5, 2.5], out: [2, 2, 6, 12], coord: 'asymmetric', mode: 'nearest', round: 'floor' },
    { name: 'nearest downsample 0.6 half_pixel', shape: [1, 2, 10, 9], attrs: {}, scales: [1, 1, 0.6, 0.7], out: [1, 2, 6, 6], coord: 'half_pixel', mode: 'nearest' },
    { name: 'nearest align_corners sizes', shape: [1, 2, 5, 4], attrs: { coordinate_transformation_mode: 'align_corners', nearest_mode: 'floor' }, sizes: [1, 2, 9, 7], out: [1, 2, 9, 7], coord: 'align_corners', mode: 'nearest', round: 'floor' },
    { name: 'linear x2 half_pixel, batch 2', shape: [2, 2, 4, 3], attrs: { mode: 'linear' }, scales: [1, 1, 2, 2], out: [2, 2, 8, 6], coord: 'half_pixel', mode: 'linear' },
    { name: 'linear x1.7 / x0.6 half_pixel', shape: [2, 1, 5, 10], attrs: { mode: 'linear' }, scales: [1, 1, 1.7, 0.6], out: [2, 1, 8, 6], coord: 'half_pixel', mode: 'linear' },
    { name: 'linear align_corners x2 sizes', shape: [2, 3, 4, 4], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, sizes: [2, 3, 8, 8], out: [2, 3, 8, 8], coord: 'align_corners', mode: 'linear' },
    { name: 'linear align_corners non-integer sizes', shape: [1, 2, 4, 5], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, sizes: [1, 2, 7, 9], out: [1, 2, 7, 9], coord: 'align_corners', mode: 'linear' },
    { name: 'linear pytorch_half_pixel to length 1', shape: [1, 2, 6, 5], attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }, sizes: [1, 2, 1, 3], out: [1, 2, 1, 3], coord: 'pytorch_half_pixel', mode: 'linear' },
    { name: 'linear rank 3', shape: [3, 4, 5], attrs: { mode: 'linear' }, scales: [1, 1.5, 2], out: [3, 6, 10], coord: 'half_pixel', mode: 'linear' },
  ];
  cases.forEach((c, k) => it(c.name, async () => {
    const x = randTensor(c.shape, 500 + k);
    const n = node('Resize', c.attrs, 4);
    const inputs: (HostTensor | undefined)[] = [x, f32([]), c.scales ? f32(c.scales) : f32([]), c.sizes ? i64(c.sizes) : undefined];
    if (!c.sizes) { n.inputs.pop(); inputs.pop(); }
    expect(op.inferShapes(n, inputs.map((t, i) => t && { shape: t.shape, constant: i > 0 ? t : undefined }))[0]).toEqual(c.out);
    const scales = c.scales?.map(Math.fround) ?? c.out.map((o, i) => o / c.shape[i]!);
    const f = refResize(c.shape, c.out, scales, c.coord, c.mode, c.round ?? 'round_prefer_floor');
    await checkGrad({ op, node: n, inputs, ref: (_i, v) => f(v), wants: inputs.map((_, i) => i === 0), seed: 600 + k });
  }));

  it('Upsample-7 nearest x2 x3, batch 2', async () => {
    const shape = [2, 3, 3, 4];
    const f = refResize(shape, [2, 3, 6, 12], [1, 1, 2, 3], 'asymmetric', 'nearest', 'legacy');
    await checkGrad({ op, node: node('Upsample', { scales: [1, 1, 2, 3] }), inputs: [randTensor(shape, 700)], ref: (_i, v) => f(v), wants: [true], seed: 701 });
  });
  it('Upsample-9 bilinear x2 with a scales input', async () => {
    const shape = [1, 2, 3, 4];
    const f = refResize(shape, [1, 2, 6, 8], [1, 1, 2, 2], 'asymmetric', 'linear', 'legacy');
    await checkGrad({ op, node: node('Upsample', { mode: 'linear' }, 2), inputs: [randTensor(shape, 702), f32([1, 1, 2, 2])], ref: (_i, v) => f(v), wants: [true, false], seed: 703 });
  });
});
