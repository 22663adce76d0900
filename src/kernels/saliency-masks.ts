/**
 * Masks from feature maps for SISE, Ada-SISE and Score-CAM (methods spec 0.3, 1.2 phase 3):
 * bilinear up-sampling of A_k [h, w] to the input size [H, W] with half-pixel centres (PyTorch
 * `align_corners=False`, no anti-aliasing, edge clamp), then min-max normalisation
 * (v − min)/(max − min + 1e-6) with the min and max of the UP-SAMPLED map.
 *
 * Those extremes are generally NOT the low-resolution map's: with an even scale factor (7 → 224)
 * no output pixel samples a source centre exactly, so a peak is attenuated. They are still cheap
 * to find exactly: along one axis, output pixels that share a source interval [i0, i1] have
 * weights λ increasing with the pixel index, and the up-sampled value is affine in λ, so per axis
 * only the first and last output pixel of each interval can be extreme. Rows × columns of those
 * candidates (at most 2h × 2w points) give the exact min and max.
 *
 * Use: `upsampledRangeProgram` once per layer (all C channels; it also flags constant channels),
 * then `saliencyMasksProgram` per chunk of the selected-channel list.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { SALIENCY_MASKS_WGSL, UPSAMPLED_RANGE_WGSL } from '../wgsl/saliency-masks.js';

/** Normalisation epsilon of methods spec 0.3. */
export const MASK_EPS = 1e-6;

/** Feature tensor geometry: channels C of h × w starting `offset` elements into the bound tensor. */
export interface FeatureGeometry {
  channels: number;
  h: number;
  w: number;
  /** Output (model input) size. */
  outH: number;
  outW: number;
  /** Element offset of channel 0 in the bound tensor (batch row b: b·C·h·w). Default 0. */
  offset?: number;
}

/**
 * Source taps for one axis of a half-pixel bilinear resize from n to m: (i0, i1, λ) per output
 * index, with PyTorch's clamp of negative source coordinates to 0 and of i1 to n − 1.
 */
export function bilinearAxis(n: number, m: number): { i0: number[]; i1: number[]; lambda: number[] } {
  const scale = n / m;
  const i0: number[] = []; const i1: number[] = []; const lambda: number[] = [];
  for (let o = 0; o < m; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const f = Math.min(Math.floor(src), n - 1);
    i0.push(f);
    i1.push(Math.min(f + 1, n - 1));
    lambda.push(f + 1 <= n - 1 ? src - f : 0);
  }
  return { i0, i1, lambda };
}

/**
 * Output indices of one axis where the up-sampled map can take its extremes: the first and last
 * index of every run of equal (i0, i1).
 */
export function extremeCandidates(axis: { i0: number[]; i1: number[] }): number[] {
  const out: number[] = [];
  const m = axis.i0.length;
  for (let o = 0; o < m; o++) {
    const first = o === 0 || axis.i0[o] !== axis.i0[o - 1] || axis.i1[o] !== axis.i1[o - 1];
    const last = o === m - 1 || axis.i0[o] !== axis.i0[o + 1] || axis.i1[o] !== axis.i1[o + 1];
    if (first || last) out.push(o);
  }
  return out;
}

function tapTable(g: FeatureGeometry): { table: Float32Array; nY: number; nX: number } {
  const ys = bilinearAxis(g.h, g.outH);
  const xs = bilinearAxis(g.w, g.outW);
  const cy = extremeCandidates(ys);
  const cx = extremeCandidates(xs);
  const t: number[] = [];
  for (let o = 0; o < g.outH; o++) t.push(ys.i0[o]!, ys.i1[o]!, ys.lambda[o]!);
  for (let o = 0; o < g.outW; o++) t.push(xs.i0[o]!, xs.i1[o]!, xs.lambda[o]!);
  t.push(...cy, ...cx);
  return { table: Float32Array.from(t), nY: cy.length, nX: cx.length };
}

function check(g: FeatureGeometry): void {
  for (const [k, v] of Object.entries({ channels: g.channels, h: g.h, w: g.w, outH: g.outH, outW: g.outW })) {
    if (!Number.isInteger(v) || v < 1) throw new GraphError(`saliency masks: ${k} must be a positive integer, got ${v}`);
  }
}

const tables = new WeakMap<BuildContext, Map<string, { buffer: GPUBuffer; nY: number; nX: number }>>();
/** One tap table per (h, w, H, W) and build context: the range and mask programs share it. */
function tableFor(ctx: BuildContext, g: FeatureGeometry): { buffer: GPUBuffer; nY: number; nX: number } {
  let m = tables.get(ctx);
  if (!m) { m = new Map(); tables.set(ctx, m); }
  const key = `${g.h},${g.w},${g.outH},${g.outW}`;
  let e = m.get(key);
  if (!e) {
    const { table, nY, nX } = tapTable(g);
    e = { buffer: ctx.constBuffer(table, `bilinear-taps ${key}`), nY, nX };
    m.set(key, e);
  }
  return e;
}

function uniform(g: FeatureGeometry, nY: number, nX: number, n: number, start: number): ArrayBuffer {
  return packUniform([g.channels, g.h, g.w, g.outH, g.outW, n, start, g.offset ?? 0, nY, nX, 0, 0, { f32: MASK_EPS }, 0, 0, 0]);
}

/**
 * range [C, 4] = (min, max, constant ? 1 : 0, 0) of every channel's up-sampled map.
 * Bindings: { input: 0 } = A, { output: 0 } = range.
 */
export function upsampledRangeProgram(ctx: BuildContext, g: FeatureGeometry): KernelProgram {
  check(g);
  const t = tableFor(ctx, g);
  const groups: [number, number, number] = g.channels <= 65535 ? [g.channels, 1, 1] : [65535, Math.ceil(g.channels / 65535), 1];
  return { dispatches: [{ label: 'upsampled-range', pipeline: ctx.pipeline(UPSAMPLED_RANGE_WGSL), workgroups: groups,
    bindings: [{ input: 0 }, { buffer: t.buffer }, { output: 0 }, { uniform: uniform(g, t.nY, t.nX, 0, 0) }] }] };
}

/**
 * masks [n, H, W] for the channels idx[start .. start + n) (a u32 list), normalised with `range`
 * from upsampledRangeProgram; a constant channel gives an all-zero mask.
 * Bindings: { input: 0 } = A, { input: 1 } = idx (u32 words), { input: 2 } = range, { output: 0 } = masks.
 */
export function saliencyMasksProgram(ctx: BuildContext, g: FeatureGeometry, start: number, n: number): KernelProgram {
  check(g);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(start) || start < 0) throw new GraphError(`saliency masks: bad chunk [${start}, ${start}+${n})`);
  const t = tableFor(ctx, g);
  return { dispatches: [{ label: 'saliency-masks', pipeline: ctx.pipeline(SALIENCY_MASKS_WGSL),
    workgroups: grid1d(n * g.outH * g.outW, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { input: 2 }, { buffer: t.buffer }, { output: 0 }, { uniform: uniform(g, t.nY, t.nX, n, start) }] }] };
}

/** Channels whose up-sampled map is constant, from a read-back range [C, 4]. */
export function constantChannels(range: Float32Array): boolean[] {
  const out: boolean[] = [];
  for (let c = 0; c * 4 < range.length; c++) out.push(range[4 * c + 2] !== 0);
  return out;
}
