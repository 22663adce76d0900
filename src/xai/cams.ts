/**
 * The CAM baselines (methods spec 6.2-6.4), built from the same kernels as SISE: Grad-CAM,
 * Grad-CAM++ (one forward + one backward) and Score-CAM (one masked forward per channel).
 * Target layer: the deepest detected block (VGG: conv5_3's ReLU; ResNet: layer4), or `layer`.
 */
import type { Model } from '../runtime/model.js';
import type { GpuTensor } from '../runtime/plan.js';
import { bilinearUpsampleProgram, channelStatsProgram, gradCamPlusPlusWeightsProgram, weightedChannelSumProgram } from '../kernels/cam.js';
import { minMaxNormaliseProgram } from '../kernels/map-ops.js';
import { saliencyMasksProgram, upsampledRangeProgram, constantChannels } from '../kernels/saliency-masks.js';
import { maskedInputProgram } from '../kernels/masked-input.js';
import { scoreProgram, type ScoreMode } from '../kernels/score.js';
import { InputError } from '../runtime/errors.js';
import { detectBlocks } from './blocks.js';
import { ExplainSession, type CommonOptions, scoringPlan } from './session.js';
import type { Explanation } from './explanation.js';

/** Options of Grad-CAM and Score-CAM: the common ones plus the layer the map is taken at. */
export interface CamOptions extends CommonOptions {
  /** The feature tensor to explain from; default the deepest detected block. */
  layer?: string;
}

/** Grad-CAM++ options (those of Grad-CAM). */
export interface GradCamPlusPlusOptions extends CamOptions {
  /**
   * [P] spec 6.3: divide α by its spatial sum per channel (the official code, default true);
   * false gives pytorch-grad-cam's weights.
   */
  normaliseAlpha?: boolean;
}

function targetLayer(model: Model, layer?: string): { name: string; shape: number[] } {
  const blocks = detectBlocks(model, { layers: layer ? [layer] : undefined });
  return blocks[blocks.length - 1]!;
}

/** Grad-CAM: w_k = mean ∂y_c/∂A_k, map = ReLU(Σ w_k A_k), upsampled and min-max normalised. Default score: the logit. */
export function gradCam(model: Model, image: Float32Array, opts: CamOptions = {}): Promise<Explanation> {
  return gradientCam(model, image, opts, 'gradcam', false, true);
}

/** Grad-CAM++ (spec 6.3). Default score: the logit. */
export function gradCamPlusPlus(model: Model, image: Float32Array, opts: GradCamPlusPlusOptions = {}): Promise<Explanation> {
  return gradientCam(model, image, opts, 'gradcam++', true, opts.normaliseAlpha !== false);
}

async function gradientCam(model: Model, image: Float32Array, opts: CamOptions, method: string, plusPlus: boolean, normaliseAlpha: boolean): Promise<Explanation> {
  const s = new ExplainSession(model, image, opts);
  try {
    const mode: ScoreMode = opts.scoreMode ?? 'logit';
    const { classIndex } = await s.classify(mode);
    const layer = targetLayer(model, opts.layer);
    const [, C, h, w] = layer.shape as [number, number, number, number];
    s.phase('classify');
    const grad = model.gradientPlan(new Map([[s.inputName, s.inputShape]]), { wrt: [layer.name], mode });
    grad.setClasses([classIndex]);
    const enc = s.compute.device.createCommandEncoder();
    enc.copyBufferToBuffer(s.image.buffer, 0, grad.forward.tensor(s.inputName).buffer, 0, s.image.size);
    grad.encode(enc);
    const A = grad.forward.tensor(layer.name);
    const G = grad.grad(layer.name);
    const weights = s.compute.alloc([plusPlus ? C : C * 4], 'weights');
    const cam = s.compute.alloc([h, w], 'cam');
    if (plusPlus) {
      s.compute.run(gradCamPlusPlusWeightsProgram(s.compute.ctx, C, h * w, normaliseAlpha), { inputs: [A, G], outputs: [weights] }, enc);
      s.compute.run(weightedChannelSumProgram(s.compute.ctx, C, h * w, true), { inputs: [A, weights], outputs: [cam] }, enc);
    } else {
      s.compute.run(channelStatsProgram(s.compute.ctx, C, h * w), { inputs: [G], outputs: [weights] }, enc);
      s.compute.run(weightedChannelSumProgram(s.compute.ctx, C, h * w, true, { stride: 4, offset: 0 }), { inputs: [A, weights], outputs: [cam] }, enc);
    }
    const map = upsampleNormalise(s, cam, h, w, enc);
    s.compute.device.queue.submit([enc.finish()]);
    s.forwardPasses++; s.backwardPasses++;
    const result = await s.readMap(map);
    // Ψ as the gradient pass computed it (the logit even when the model ends in Softmax).
    const psi = (await s.compute.read(grad.scores))[0]!;
    s.phase('map');
    return { method, classIndex, score: psi, scoreMode: mode, map: result, forwardPasses: s.forwardPasses, backwardPasses: s.backwardPasses, timings: s.timings,
      params: { layer: layer.name, ...(plusPlus ? { normaliseAlpha } : {}) } };
  } finally {
    s.destroy();
  }
}

/** Bilinear (half-pixel) up-sampling of a [h, w] map to the input size, then min-max to [0, 1]. */
function upsampleNormalise(s: ExplainSession, cam: GpuTensor, h: number, w: number, enc: GPUCommandEncoder): GpuTensor {
  const up = s.compute.alloc([s.height, s.width], 'map');
  s.compute.run(bilinearUpsampleProgram(s.compute.ctx, 1, h, w, s.height, s.width), { inputs: [cam], outputs: [up] }, enc);
  s.compute.run(minMaxNormaliseProgram(s.compute.ctx, 1, s.pixels), { inputs: [], outputs: [up] }, enc);
  return up;
}

/**
 * Score-CAM (spec 6.4, the official code): s_k = softmax(f(x ⊙ H_k))_c for every non-constant
 * channel's normalised up-sampled map H_k, map = ReLU(Σ s_k · Up(A_k)), min-max normalised.
 * Up is linear, so the sum is formed at feature resolution and up-sampled once. The paper's
 * baseline-score subtraction is not applied (neither reference code does).
 */
export async function scoreCam(model: Model, image: Float32Array, opts: CamOptions = {}): Promise<Explanation> {
  const s = new ExplainSession(model, image, opts);
  try {
    const mode: ScoreMode = opts.scoreMode ?? 'softmax';
    const requested = opts.batchSize ?? 32;
    if (!Number.isInteger(requested) || requested < 1) throw new InputError(`batchSize must be a positive integer, got ${requested}`);
    const batch = s.batchFor(requested);
    const { classIndex, score } = await s.classify(mode);
    const layer = targetLayer(model, opts.layer);
    const [, C, h, w] = layer.shape as [number, number, number, number];
    // The features of the unperturbed image: one forward plan at batch 1 that keeps the layer.
    const shapes1 = new Map([[s.inputName, s.inputShape]]);
    const featPlan = await model.planFor(shapes1, [layer.name]);
    const e0 = s.compute.device.createCommandEncoder();
    e0.copyBufferToBuffer(s.image.buffer, 0, featPlan.tensor(s.inputName).buffer, 0, s.image.size);
    featPlan.encode(e0);
    s.compute.device.queue.submit([e0.finish()]);
    const A = s.compute.alloc([C, h, w], 'features');
    const e1 = s.compute.device.createCommandEncoder();
    e1.copyBufferToBuffer(featPlan.tensor(layer.name).buffer, 0, A.buffer, 0, A.size);
    const range = s.compute.alloc([C, 4], 'range');
    s.compute.run(upsampledRangeProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }), { inputs: [A], outputs: [range] }, e1);
    s.compute.device.queue.submit([e1.finish()]);
    const usable = constantChannels(await s.compute.read(range)).map((c) => !c);
    const idx = usable.map((u, k) => (u ? k : -1)).filter((k) => k >= 0);
    s.forwardPasses++;
    s.phase('features');

    const shapesB = new Map([[s.inputName, [batch, ...s.inputShape.slice(1)]]]);
    const { plan, seed } = await scoringPlan(model, shapesB, mode);
    const logits = plan.tensor(seed.tensor);
    const K = logits.size / 4 / batch;
    const masks = s.compute.alloc([batch, s.height, s.width], 'masks');
    const scores = s.compute.alloc([batch], 'scores');
    const unused = s.compute.alloc([4], 'unused');
    const weights = s.compute.alloc([C], 'weights');
    s.compute.fill(weights, 0);
    const classes = s.compute.upload(new Uint32Array(batch).fill(classIndex), [batch], 'classes');
    const base = s.compute.alloc([s.channels], 'baseline');
    s.compute.fill(base, 0);
    const idxT = s.compute.upload(Uint32Array.from(idx.length ? idx : [0]), [Math.max(1, idx.length)], 'channels');
    const scoreProg = scoreProgram(s.compute.ctx, seed.mode, batch, K, false, { z: { input: 0 }, classes: { input: 1 }, score: { output: 0 }, grad: { output: 1 } });
    const input = plan.tensor(s.inputName);
    for (let start = 0; start < idx.length; start += batch) {
      const n = Math.min(batch, idx.length - start);
      const e = s.compute.device.createCommandEncoder();
      s.compute.run(saliencyMasksProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }, start, n), { inputs: [A, idxT, range], outputs: [masks] }, e);
      s.compute.run(maskedInputProgram(s.compute.ctx, { n, channels: s.channels, pixels: s.pixels, baseline: 'channel' }), { inputs: [s.image, masks, base], outputs: [input] }, e);
      plan.encode(e, n);
      s.compute.run(scoreProg, { inputs: [logits, classes], outputs: [scores, unused] }, e);
      // Scatter the n scores to their channels' weight slots (copies need only 4-byte alignment).
      for (let i = 0; i < n; i++) e.copyBufferToBuffer(scores.buffer, i * 4, weights.buffer, idx[start + i]! * 4, 4);
      s.compute.device.queue.submit([e.finish()]);
      s.forwardPasses += n;
      s.progress('masked forward passes', start + n, idx.length);
    }
    const cam = s.compute.alloc([h, w], 'cam');
    const e2 = s.compute.device.createCommandEncoder();
    s.compute.run(weightedChannelSumProgram(s.compute.ctx, C, h * w, true), { inputs: [A, weights], outputs: [cam] }, e2);
    const map = upsampleNormalise(s, cam, h, w, e2);
    s.compute.device.queue.submit([e2.finish()]);
    const result = await s.readMap(map);
    s.phase('masked passes');
    return { method: 'scorecam', classIndex, score, scoreMode: mode, map: result, forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { layer: layer.name, batchSize: batch, masks: idx.length } };
  } finally {
    s.destroy();
  }
}
