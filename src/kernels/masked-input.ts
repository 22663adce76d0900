/**
 * Perturbed inputs for every mask-based method (methods spec 0.3): x' = x ⊙ m + b ⊙ (1 − m), masks
 * broadcast over channels, written straight into a (batched) model input tensor.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { MASKED_INPUT_WGSL } from '../wgsl/masked-input.js';

export interface MaskedInputParams {
  /** Masks (and output batch rows). */
  n: number;
  channels: number;
  /** H·W. */
  pixels: number;
  /**
   * 'channel': the baseline tensor holds one value per channel (all zeros = the normalised-space
   * default of spec 0.3: the dataset mean); 'tensor': a full [1, C, H, W] baseline (blurred image...).
   */
  baseline: 'channel' | 'tensor';
  /** Element offsets of mask 0 in the masks tensor and of row 0 in the output. Default 0. */
  maskOffset?: number;
  outOffset?: number;
}

/**
 * out [n, C, H, W] = x ⊙ m_i + b ⊙ (1 − m_i).
 * Bindings: { input: 0 } = x [1, C, H, W], { input: 1 } = masks [n, H, W], { input: 2 } = baseline,
 * { output: 0 } = out.
 */
export function maskedInputProgram(ctx: BuildContext, p: MaskedInputParams): KernelProgram {
  for (const k of ['n', 'channels', 'pixels'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new GraphError(`masked input: ${k} must be a positive integer, got ${p[k]}`);
  }
  return { dispatches: [{ label: 'masked-input', pipeline: ctx.pipeline(MASKED_INPUT_WGSL),
    workgroups: grid1d(p.n * p.channels * p.pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { input: 2 }, { output: 0 },
      { uniform: packUniform([p.n, p.channels, p.pixels, p.baseline === 'tensor' ? 1 : 0, p.maskOffset ?? 0, p.outOffset ?? 0, 0, 0]) }] }] };
}
