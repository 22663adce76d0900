/**
 * Channel reductions and weighted channel sums for the CAM family and for SISE's gradient scores.
 * Programs bind { input: 0 } = features (and { input: 1 } = gradients) and { output: 0 }.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { resize2dDispatch } from './resize.js';
import { CHANNEL_STATS_WGSL, GRADCAMPP_WEIGHTS_WGSL, GRADIENT_PRODUCT_SUM_WGSL, WEIGHTED_SUM_WGSL, XGRADCAM_WEIGHTS_WGSL } from '../wgsl/cam.js';

function channelGrid(channels: number): [number, number, number] {
  return channels <= 65535 ? [channels, 1, 1] : [65535, Math.ceil(channels / 65535), 1];
}

/**
 * Per channel of x [C, P] (starting at element `offset`): mean, min, max, sum, written as
 * out[4c + 0..3]. Used for Grad-CAM weights (mean gradient), SISE's α and constant-map detection.
 */
export function channelStatsProgram(ctx: BuildContext, channels: number, pixels: number, offset = 0): KernelProgram {
  return { dispatches: [{ label: 'channel-stats', pipeline: ctx.pipeline(CHANNEL_STATS_WGSL), workgroups: channelGrid(channels),
    bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([channels, pixels, offset, 0]).buffer }] }] };
}

/**
 * Grad-CAM++ weights per channel from features { input: 0 } and gradients { input: 1 } into
 * { output: 0 } [C]. `normaliseAlpha` (default true, the official code) divides α by its spatial sum;
 * false gives pytorch-grad-cam's form.
 */
export function gradCamPlusPlusWeightsProgram(ctx: BuildContext, channels: number, pixels: number, normaliseAlpha: boolean, offsets = { a: 0, g: 0 }): KernelProgram {
  return { dispatches: [{ label: 'gradcam++-weights', pipeline: ctx.pipeline(GRADCAMPP_WEIGHTS_WGSL), workgroups: channelGrid(channels),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: new Uint32Array([channels, pixels, offsets.a, offsets.g, normaliseAlpha ? 1 : 0, 0, 0, 0]).buffer }] }] };
}

/**
 * cam [P] = Σ_c w_c · A_c over channels (then ReLU when `relu`), features { input: 0 }, weights
 * { input: 1 } read as w[wOffset + c·wStride] (so the mean column of channel stats can be used
 * directly: stride 4, offset 0), output { output: 0 }.
 */
export function weightedChannelSumProgram(ctx: BuildContext, channels: number, pixels: number, relu: boolean, w = { stride: 1, offset: 0 }, offsetA = 0): KernelProgram {
  return { dispatches: [{ label: 'weighted-channel-sum', pipeline: ctx.pipeline(WEIGHTED_SUM_WGSL), workgroups: [Math.ceil(pixels / 64), 1, 1],
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: new Uint32Array([channels, pixels, offsetA, relu ? 1 : 0, w.stride, w.offset, 0, 0]).buffer }] }] };
}

/**
 * cam [P] = ReLU(Σ_c f(G_c) ⊙ A_c) with features { input: 0 } and gradients { input: 1 } [C, P]:
 * f = identity (HiResCAM) or ReLU when `reluGradient` (LayerCAM); output { output: 0 }.
 */
export function gradientProductSumProgram(ctx: BuildContext, channels: number, pixels: number, reluGradient: boolean): KernelProgram {
  return { dispatches: [{ label: 'gradient-product-sum', pipeline: ctx.pipeline(GRADIENT_PRODUCT_SUM_WGSL), workgroups: [Math.ceil(pixels / 64), 1, 1],
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: new Uint32Array([channels, pixels, reluGradient ? 1 : 0, 0]).buffer }] }] };
}

/** XGrad-CAM weights w [C] = Σ_p A·G / (Σ_p A + 1e-7) from features { input: 0 } and gradients { input: 1 }. */
export function xGradCamWeightsProgram(ctx: BuildContext, channels: number, pixels: number): KernelProgram {
  return { dispatches: [{ label: 'xgradcam-weights', pipeline: ctx.pipeline(XGRADCAM_WEIGHTS_WGSL), workgroups: channelGrid(channels),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: new Uint32Array([channels, pixels, 0, 0]).buffer }] }] };
}

/**
 * Bilinear up-sampling with half-pixel centres (PyTorch align_corners=False, no antialiasing) of
 * `batch` maps [h, w] into [H, W]: { input: 0 } → { output: 0 }.
 */
export function bilinearUpsampleProgram(ctx: BuildContext, batch: number, h: number, w: number, H: number, W: number): KernelProgram {
  return { dispatches: [resize2dDispatch(ctx, 'bilinear-upsample', { batch, inH: h, inW: w, outH: H, outW: W, scaleH: H / h, scaleW: W / w, mode: 'linear', coord: 'pytorch_half_pixel', nearest: 'floor' }, { input: 0 }, { output: 0 })] };
}
