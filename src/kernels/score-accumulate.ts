/**
 * Score-weighted accumulation of masks into a saliency map: SISE's mass-normalised form
 * V += Σ_i Ψ_i · m_i / Σ_λ m_i(λ) (SISE eqs. 10-12) and the plain form V += Σ_i Ψ_i · m_i
 * (Score-CAM, RISE). Deterministic: each pixel sums its masks in order.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { MASK_MASS_WGSL, SCORE_ACCUMULATE_WGSL } from '../wgsl/score-accumulate.js';

export interface ScoreAccumulateParams {
  /** Masks in this batch. */
  n: number;
  /** H·W. */
  pixels: number;
  /** Divide each mask by its mass Σ m (SISE, default true) or not (Score-CAM, RISE). */
  massNormalise?: boolean;
  /**
   * Where score i lives in the scores tensor: s[offset + i·stride]. For a model output [n, K]
   * and class c: offset c, stride K.
   */
  score?: { offset: number; stride: number };
  /** Element offsets of mask 0 and of the accumulator map (one slice of a [B, H, W] stack). */
  maskOffset?: number;
  accOffset?: number;
}

/**
 * acc [H, W] += Σ_i s_i · m_i (/ Σ m_i). Bindings: { input: 0 } = scores, { input: 1 } = masks
 * [n, H, W], { output: 0 } = acc (read and added to). Uses one scratch region of n floats.
 */
export function scoreAccumulateProgram(ctx: BuildContext, p: ScoreAccumulateParams): KernelProgram {
  if (!Number.isInteger(p.n) || p.n < 1 || !Number.isInteger(p.pixels) || p.pixels < 1) {
    throw new GraphError(`score accumulation: bad sizes n=${p.n}, pixels=${p.pixels}`);
  }
  const normalise = p.massNormalise !== false;
  const maskOffset = p.maskOffset ?? 0;
  const acc = { label: 'score-accumulate', pipeline: ctx.pipeline(SCORE_ACCUMULATE_WGSL),
    workgroups: grid1d(p.pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { scratch: 0 }, { output: 0 },
      { uniform: packUniform([p.n, p.pixels, maskOffset, p.score?.offset ?? 0, p.score?.stride ?? 1, p.accOffset ?? 0, normalise ? 1 : 0, 0]) }] };
  const dispatches = [];
  if (normalise) {
    const groups: [number, number, number] = p.n <= 65535 ? [p.n, 1, 1] : [65535, Math.ceil(p.n / 65535), 1];
    dispatches.push({ label: 'mask-mass', pipeline: ctx.pipeline(MASK_MASS_WGSL), workgroups: groups,
      bindings: [{ input: 1 }, { scratch: 0 }, { uniform: packUniform([p.n, p.pixels, maskOffset, 0]) }] });
  }
  dispatches.push(acc);
  return { dispatches, scratchBytes: [p.n * 4] };
}
