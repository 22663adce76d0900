/**
 * Superpixel-masked inputs for LIME and E-LIME (methods spec 5 and 6.7): each row of a batch keeps
 * the superpixels its bit vector selects and fills the others with a per-superpixel colour, written
 * straight into the (batched) model input so no perturbed image is ever made on the host.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { SUPERPIXEL_MASK_WGSL } from '../wgsl/superpixel-mask.js';

export interface SuperpixelMaskParams {
  /** Bit vectors (output batch rows). */
  n: number;
  channels: number;
  /** H·W. */
  pixels: number;
  /** K, the number of superpixels (bits per row). */
  segments: number;
  /** Element offset of row 0 in the output, to fill part of a larger batch. Default 0. */
  outOffset?: number;
}

/**
 * out[i, c, p] = bits[i, labels[p]] != 0 ? x[c, p] : fill[labels[p], c]
 * Bindings: { input: 0 } x [1, C, H, W] f32, { input: 1 } labels [P] (u32 words, upload with
 * compute.upload(Uint32Array)), { input: 2 } bits [n, K] f32 0/1, { input: 3 } fill [K, C] f32,
 * { output: 0 } out [n, C, H, W] (the plan's input tensor). One pipeline serves every shape.
 */
export function superpixelMaskedInputProgram(ctx: BuildContext, p: SuperpixelMaskParams): KernelProgram {
  for (const k of ['n', 'channels', 'pixels', 'segments'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new GraphError(`superpixel mask: ${k} must be a positive integer, got ${p[k]}`);
  }
  const outOffset = p.outOffset ?? 0;
  if (!Number.isInteger(outOffset) || outOffset < 0) throw new GraphError(`superpixel mask: outOffset must be a non-negative integer, got ${outOffset}`);
  return { dispatches: [{ label: 'superpixel-mask', pipeline: ctx.pipeline(SUPERPIXEL_MASK_WGSL),
    workgroups: grid1d(p.n * p.channels * p.pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { input: 2 }, { input: 3 }, { output: 0 },
      { uniform: packUniform([p.n, p.channels, p.pixels, p.segments, outOffset, 0, 0, 0]) }] }] };
}
