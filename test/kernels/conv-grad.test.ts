import { describe, expect, it } from 'vitest';
import { convOpWith, chooseConvGradVariant, type ConvVariant, type ConvGeometry } from '../../src/kernels/conv.js';
import type { AdapterTraits } from '../../src/kernels/types.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { makeNode } from '../helpers/run-op.js';
import { runOpBackward, numericGradient } from '../helpers/run-op-backward.js';
import { convRef, attrsOf, type ConvCase } from '../helpers/ref-conv.js';
import { mulberry32, nonZeroUniform, nonZeroTensor } from '../helpers/random.js';

const rand = mulberry32(4242);
const randArr = (n: number): Float32Array => nonZeroUniform(rand, n);
const randT = (shape: number[]): HostTensor => nonZeroTensor(rand, shape);
function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol = 1e-4): void {
  expect(got.length).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!; const r = ref[i]!;
    if (!(Math.abs(g - r) <= tol * Math.max(1, Math.abs(r)))) throw new Error(`element ${i}: got ${g}, want ${r}`);
  }
}

const CASES: ConvCase[] = [
  { name: '3x3 pad 1 with bias', x: [1, 3, 7, 7], w: [5, 3, 3, 3], bias: true, pads: [1, 1, 1, 1] },
  { name: 'groups 2, stride 2, asymmetric pads', x: [1, 4, 9, 8], w: [6, 2, 3, 3], group: 2, strides: [2, 2], pads: [0, 1, 2, 1], bias: true },
  { name: 'depthwise 3x3 batch 2', x: [2, 6, 8, 9], w: [6, 1, 3, 3], group: 6, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise multiplier 2, stride 2', x: [2, 3, 9, 9], w: [6, 1, 3, 3], group: 3, strides: [2, 2], pads: [1, 0, 1, 2] },
  { name: 'depthwise 5x5 stride 2 dilation 2', x: [1, 4, 11, 10], w: [4, 1, 5, 5], group: 4, strides: [2, 2], dilations: [2, 2], pads: [4, 3, 4, 3] },
  { name: 'dilation 2, batch 2', x: [2, 3, 10, 9], w: [9, 3, 3, 3], dilations: [2, 2], pads: [2, 1, 2, 1], bias: true },
  { name: 'SAME_UPPER stride 2', x: [1, 2, 8, 7], w: [4, 2, 4, 3], strides: [2, 2], autoPad: 'SAME_UPPER' },
  { name: 'SAME_LOWER stride 2', x: [1, 2, 8, 7], w: [4, 2, 4, 3], strides: [2, 2], autoPad: 'SAME_LOWER', bias: true },
  { name: 'VALID 2x3', x: [1, 3, 6, 7], w: [5, 3, 2, 3], autoPad: 'VALID' },
  { name: 'stride 3 x 2, dilation 2 x 1, uncovered tail', x: [2, 3, 11, 9], w: [4, 3, 2, 3], strides: [3, 2], dilations: [2, 1], pads: [1, 0, 0, 0] },
  { name: '7x7 stride 2 pad 3 (stem)', x: [1, 3, 12, 11], w: [8, 3, 7, 7], strides: [2, 2], pads: [3, 3, 3, 3] },
  { name: '1-D stride 2 dilation 2', x: [2, 3, 17], w: [4, 3, 3], strides: [2], pads: [1, 2], dilations: [2], bias: true },
  { name: '1-D depthwise', x: [2, 4, 13], w: [8, 1, 3], group: 4, pads: [1, 1] },
  { name: '1x1 pointwise batch 2', x: [2, 9, 5, 5], w: [20, 9, 1, 1], bias: true },
  { name: '1x1 stride 2', x: [2, 8, 7, 7], w: [12, 8, 1, 1], strides: [2, 2] },
  { name: 'channel multiplier 3 per group', x: [1, 4, 6, 5], w: [6, 2, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  { name: 'many channel tiles, many m tiles, stride 2', x: [2, 68, 4, 3], w: [18, 68, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'many pixel tiles 1x1', x: [2, 17, 9, 8], w: [20, 17, 1, 1] },
];

const VARIANTS: (ConvVariant | undefined)[] = [
  undefined,
  { kind: 'reg', pixels: 4, chan4: 1 },
  { kind: 'reg', pixels: 8, chan4: 2 },
  { kind: 'tiled' },
  { kind: 'depthwise' },
];
const vname = (v: ConvVariant | undefined) => (!v ? 'auto' : v.kind === 'reg' ? `reg-${v.pixels}x${v.chan4 * 4}` : v.kind);

describe('Conv backward (dX)', () => {
  for (const v of VARIANTS) {
    for (const c of CASES) {
      const depthwise = c.w[1] === 1 && (c.group ?? 1) > 1;
      if (v?.kind === 'depthwise' && !depthwise) continue;
      it(`${c.name} (${vname(v)})`, async () => {
        const x = randT(c.x); const w = randT(c.w); const b = c.bias ? randT([c.w[0]!]) : undefined;
        const node = makeNode('Conv', attrsOf(c), b ? 3 : 2);
        const outShape = convRef(c, x, w, b).shape;
        const gy = randArr(outShape.reduce((p, q) => p * q, 1));
        const [gx] = await runOpBackward(convOpWith(v), node, b ? [x, w, b] : [x, w], [gy], [true, false, false]);
        const ref = numericGradient((xs) => convRef(c, { shape: c.x, data: xs }, w, b).data, x.data, gy);
        expectClose(gx!, ref);
      });
    }
  }

  it('asks for nothing when dX is not wanted', () => {
    const op = convOpWith();
    const node = makeNode('Conv', { kernel_shape: [3, 3] }, 2);
    // wants[0] false: no dispatch and no build-time work (ctx is never touched).
    const prog = op.backward!(node, [{ shape: [1, 2, 5, 5] }, { shape: [3, 2, 3, 3] }], [[1, 3, 3, 3]], undefined as never, [false, false]);
    expect(prog.dispatches).toEqual([]);
  });
});

describe('chooseConvGradVariant', () => {
  const soft: AdapterTraits = { isSoftware: true, vendor: 'mesa', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBuffersPerStage: 16, maxWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 1 << 27, hasF16: true };
  const gpu: AdapterTraits = { ...soft, isSoftware: false, vendor: 'nvidia' };
  const geo = (C: number, M: number, group: number): ConvGeometry => ({ batch: 1, C, H: 56, W: 56, M, group, KH: 3, KW: 3, sH: 1, sW: 1, dH: 1, dW: 1, pT: 1, pL: 1, OH: 56, OW: 56 });
  it('register-blocks on software adapters, by input channels', () => {
    expect(chooseConvGradVariant(soft, geo(64, 64, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 2 });
    expect(chooseConvGradVariant(soft, geo(4, 64, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 1 });
    expect(chooseConvGradVariant(soft, { ...geo(64, 256, 1), KH: 1, KW: 1, pT: 0, pL: 0 })).toEqual({ kind: 'reg', pixels: 8, chan4: 2 });
  });
  it('uses shared tiles on real GPUs when a group has enough input channels', () => {
    expect(chooseConvGradVariant(gpu, geo(64, 64, 1))).toEqual({ kind: 'tiled' });
    // The stem: 3 input channels would idle most of a 64-row tile.
    expect(chooseConvGradVariant(gpu, { ...geo(3, 64, 1), KH: 7, KW: 7, sH: 2, sW: 2, pT: 3, pL: 3, OH: 28, OW: 28 }).kind).toBe('reg');
    expect(chooseConvGradVariant({ ...gpu, maxWorkgroupInvocations: 256, maxWorkgroupStorageBytes: 4096 }, geo(64, 64, 1)).kind).toBe('reg');
  });
  it('sends one-input-channel groups to the depthwise kernel everywhere', () => {
    expect(chooseConvGradVariant(soft, geo(32, 32, 32))).toEqual({ kind: 'depthwise' });
    expect(chooseConvGradVariant(gpu, geo(32, 64, 32))).toEqual({ kind: 'depthwise' });
    expect(chooseConvGradVariant(gpu, geo(1, 16, 1)).kind).toBe('reg');
  });
});
