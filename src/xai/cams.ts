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
import type { ScoreMode } from '../kernels/score.js';
import type { BuildContext } from '../kernels/types.js';
import { InputError } from '../runtime/errors.js';
import { detectBlocks } from './blocks.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { Command } from './scoring.js';
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

/**
 * What a gradient CAM's recipe gets: the target layer's activations A [1, C, h, w] and the
 * gradients G = ∂Ψ_c/∂A of the explained class, and `cam` [h, w] to fill (before the
 * up-sampling and min-max every gradient CAM shares). `alloc` gives scratch tensors.
 */
export interface CamInputs {
  ctx: BuildContext;
  A: GpuTensor;
  G: GpuTensor;
  channels: number;
  /** h·w. */
  pixels: number;
  cam: GpuTensor;
  alloc(shape: readonly number[], label: string): GpuTensor;
}

/** A gradient CAM: records the programs that turn A and G into the [h, w] map. */
export type CamRecipe<O extends CamOptions> = (k: CamInputs, cmd: Command, opts: O) => void;

/** One row of a batched explanation: which image (index into the images given) and which class. */
export interface ExplainRow { image: number; classIndex: number }

/** A gradient CAM method; `batch` explains many (image, class) rows in batched forward and backward passes. */
export interface GradientCamMethod<O extends CamOptions> {
  (model: Model, image: Float32Array, opts?: O): Promise<Explanation>;
  /**
   * Explains every row: images [1, C, H, W] each, rows of (image, class), `opts.batchSize` rows
   * (default 8) per forward and backward pass. Results in row order; `classIndex` is required.
   */
  batch(model: Model, images: readonly Float32Array[], rows: readonly ExplainRow[], opts?: O): Promise<Explanation[]>;
}

/**
 * Turns a recipe into a method: the session, the class (given or top-1), the target layer, one
 * forward and backward pass (score default: the logit, as pytorch-grad-cam), the recipe,
 * bilinear up-sampling and min-max, all in one GPU command; only the map and Ψ come back. Its
 * `batch` form runs several images and classes in one pass.
 */
export function defineGradientCam<O extends CamOptions>(method: string, recipe: CamRecipe<O>, params: (opts: O) => Record<string, unknown> = () => ({})): GradientCamMethod<O> {
  const rowsOf = async (s: ExplainSession, images: GpuTensor, rows: readonly ExplainRow[], opts: O, mode: ScoreMode): Promise<Explanation[]> => {
    const layer = targetLayer(s.model, opts.layer);
    const [, C, h, w] = layer.shape as [number, number, number, number];
    const per = C * h * w, inPer = s.channels * s.pixels;
    const chunk = Math.max(1, Math.min(rows.length, opts.batchSize ?? 8));
    const out: Explanation[] = [];
    for (let r0 = 0; r0 < rows.length; r0 += chunk) {
      const part = rows.slice(r0, r0 + chunk), n = part.length;
      const grad = s.gradientPass(n, [layer.name], mode);
      const cmd = s.command();
      part.forEach((row, i) => cmd.copy(images, grad.input, { from: row.image * inPer, to: i * inPer, count: inPer }));
      grad.record(cmd, part.map((r) => r.classIndex));
      const A = grad.tensor(layer.name), G = grad.grad(layer.name);
      const maps = part.map((_, i) => {
        // Each row's activations and gradients in their own tensors, so recipes see [C, h, w] from 0.
        const Ai = n === 1 ? A : s.compute.alloc([1, C, h, w], 'row-activations');
        const Gi = n === 1 ? G : s.compute.alloc([1, C, h, w], 'row-gradients');
        if (n > 1) cmd.copy(A, Ai, { from: i * per, count: per }).copy(G, Gi, { from: i * per, count: per });
        const cam = s.compute.alloc([h, w], 'cam');
        recipe({ ctx: s.compute.ctx, A: Ai, G: Gi, channels: C, pixels: h * w, cam, alloc: (shape, label) => s.compute.alloc(shape, label) }, cmd, opts);
        return upsampleNormalise(s, cam, h, w, cmd);
      });
      cmd.submitNow();
      s.forwardPasses += n; s.backwardPasses += n;
      // Ψ as the gradient pass computed it (the logit even when the model ends in Softmax).
      const psi = await s.compute.read(grad.scores);
      for (let i = 0; i < n; i++) {
        out.push({ method, classIndex: part[i]!.classIndex, score: psi[i]!, scoreMode: mode, map: await s.readMap(maps[i]!),
          forwardPasses: 1, backwardPasses: 1, timings: s.timings, params: { layer: layer.name, ...params(opts), ...(rows.length > 1 ? { batchSize: chunk } : {}) } });
        s.checkCancelled();
      }
    }
    return out;
  };
  const single = async (model: Model, image: Float32Array, opts: O = {} as O): Promise<Explanation> => {
    const s = new ExplainSession(model, image, opts);
    try {
      const mode: ScoreMode = opts.scoreMode ?? 'logit';
      // A given class needs no classification pass: the gradient pass computes Ψ and checks the class.
      const classIndex = opts.classIndex ?? (await s.classify(mode)).classIndex;
      s.phase('classify');
      const [e] = await rowsOf(s, s.image, [{ image: 0, classIndex }], opts, mode);
      s.phase('map');
      return { ...e!, forwardPasses: s.forwardPasses, backwardPasses: s.backwardPasses, timings: s.timings };
    } finally {
      s.destroy();
    }
  };
  const batch = async (model: Model, images: readonly Float32Array[], rows: readonly ExplainRow[], opts: O = {} as O): Promise<Explanation[]> => {
    const s = new ExplainSession(model, undefined, opts);
    try {
      const per = s.channels * s.pixels;
      const all = new Float32Array(Math.max(1, images.length) * per);
      images.forEach((x, i) => {
        if (x.length !== per) throw new InputError(`image ${i} has ${x.length} values; the model input [${s.inputShape}] needs ${per}`);
        if (!x.every(Number.isFinite)) throw new InputError(`image ${i} contains NaN or infinite values`);
        all.set(x, i * per);
      });
      for (const r of rows) if (!Number.isInteger(r.image) || r.image < 0 || r.image >= images.length) throw new InputError(`row image ${r.image} is out of range (${images.length} images)`);
      const t = s.compute.upload(all, [Math.max(1, images.length), ...s.inputShape.slice(1)], 'images');
      const result = await rowsOf(s, t, rows, opts, opts.scoreMode ?? 'logit');
      s.phase('map');
      return result;
    } finally {
      s.destroy();
    }
  };
  return Object.assign(single, { batch });
}

/** Grad-CAM: w_k = mean ∂y_c/∂A_k, map = ReLU(Σ w_k A_k), upsampled and min-max normalised. Default score: the logit. */
export const gradCam = defineGradientCam<CamOptions>('gradcam', (k, cmd) => {
  const stats = k.alloc([k.channels * 4], 'weights');
  cmd.run(channelStatsProgram(k.ctx, k.channels, k.pixels), { inputs: [k.G], outputs: [stats] });
  cmd.run(weightedChannelSumProgram(k.ctx, k.channels, k.pixels, true, { stride: 4, offset: 0 }), { inputs: [k.A, stats], outputs: [k.cam] });
});

/** Grad-CAM++ (spec 6.3). Default score: the logit. */
export const gradCamPlusPlus = defineGradientCam<GradCamPlusPlusOptions>('gradcam++', (k, cmd, opts) => {
  const weights = k.alloc([k.channels], 'weights');
  cmd.run(gradCamPlusPlusWeightsProgram(k.ctx, k.channels, k.pixels, opts.normaliseAlpha !== false), { inputs: [k.A, k.G], outputs: [weights] });
  cmd.run(weightedChannelSumProgram(k.ctx, k.channels, k.pixels, true), { inputs: [k.A, weights], outputs: [k.cam] });
}, (opts) => ({ normaliseAlpha: opts.normaliseAlpha !== false }));

/** Bilinear (half-pixel) up-sampling of a [h, w] map to the input size, then min-max to [0, 1]. */
export function upsampleNormalise(s: ExplainSession, cam: GpuTensor, h: number, w: number, cmd: Command): GpuTensor {
  const up = s.compute.alloc([s.height, s.width], 'map');
  cmd.run(bilinearUpsampleProgram(s.compute.ctx, 1, h, w, s.height, s.width), { inputs: [cam], outputs: [up] });
  cmd.run(minMaxNormaliseProgram(s.compute.ctx, 1, s.pixels), { inputs: [], outputs: [up] });
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
    const feat = await s.forwardPass(1, [layer.name]);
    const A = s.compute.alloc([C, h, w], 'features');
    const range = s.compute.alloc([C, 4], 'range');
    const e0 = s.command().copy(s.image, feat.input);
    feat.record(e0);
    e0.copy(feat.tensor(layer.name), A)
      .run(upsampledRangeProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }), { inputs: [A], outputs: [range] })
      .submitNow();
    const usable = constantChannels(await s.compute.read(range)).map((c) => !c);
    const idx = usable.map((u, k) => (u ? k : -1)).filter((k) => k >= 0);
    s.forwardPasses++;
    s.phase('features');

    const pass = await s.scoringPass({ batch, mode, perRow: classIndex });
    const masks = s.compute.alloc([batch, s.height, s.width], 'masks');
    const weights = s.compute.alloc([C], 'weights');
    s.compute.fill(weights, 0);
    const base = s.compute.alloc([s.channels], 'baseline');
    s.compute.fill(base, 0);
    const idxT = s.compute.upload(Uint32Array.from(idx.length ? idx : [0]), [Math.max(1, idx.length)], 'channels');
    for (let start = 0; start < idx.length; start += batch) {
      const n = Math.min(batch, idx.length - start);
      const cmd = s.command();
      cmd.run(saliencyMasksProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }, start, n), { inputs: [A, idxT, range], outputs: [masks] });
      cmd.run(maskedInputProgram(s.compute.ctx, { n, channels: s.channels, pixels: s.pixels, baseline: 'channel' }), { inputs: [s.image, masks, base], outputs: [pass.input] });
      pass.record(cmd, n);
      // Scatter the n scores to their channels' weight slots.
      for (let i = 0; i < n; i++) cmd.copy(pass.scores, weights, { from: i, to: idx[start + i]!, count: 1 });
      cmd.submitNow();
      s.forwardPasses += n;
      s.progress('masked forward passes', start + n, idx.length);
    }
    const cam = s.compute.alloc([h, w], 'cam');
    const e2 = s.command().run(weightedChannelSumProgram(s.compute.ctx, C, h * w, true), { inputs: [A, weights], outputs: [cam] });
    const map = upsampleNormalise(s, cam, h, w, e2);
    e2.submitNow();
    const result = await s.readMap(map);
    s.phase('masked passes');
    return { method: 'scorecam', classIndex, score, scoreMode: mode, map: result, forwardPasses: s.forwardPasses, backwardPasses: 0, timings: s.timings,
      params: { layer: layer.name, batchSize: batch, masks: idx.length } };
  } finally {
    s.destroy();
  }
}
