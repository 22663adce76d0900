/// <reference types="@webgpu/types" preserve="true" />
/**
 * Evaluation metrics for saliency maps (methods spec 7).
 *
 * Model-truth metrics run on the GPU, batched across images and steps (one forward pass per
 * batch, scores read back once):
 * - {@link deletionInsertionBatch} / {@link deletionInsertion}: RISE deletion and insertion AUC
 *   (spec 7.6). [P] pixel order: stable sort on (−value, index); [P] deletion substrate zeros of
 *   the normalised tensor unless a baseline is given; insertion substrate: RISE's gkern(11, 5) blur.
 * - {@link dropIncrease}: Drop % and Increase % (spec 7.5) in SISE's top-15% binary form and the
 *   Grad-CAM++ soft-mask form. [P] top count ⌈0.15·H·W⌉ (stable order); [P] masking baseline zeros
 *   in normalised space; [P] sigmoid/logit scores only when asked (softmax by default).
 *
 * Ground-truth metrics run on the host in float64 (spec 7.1-7.4): {@link pointingGame} (15 px,
 * strict, class-mean), {@link energyPointingGame} ([P] min-max first), {@link bboxScore} ([P] stable
 * order, exactly n), {@link topFractionIoU} ([P] ⌈0.2·H·W⌉ stable), {@link groundTruthMetrics}, and
 * {@link boxesToMask} for annotation boxes ([P] origin 0 unless told; VOC XML is 1-based).
 */
export { deletionInsertion, deletionInsertionBatch, causalAuc, type CausalMetric, type CausalOptions, type CausalCurve, type CausalResult } from './causal.js';
export { dropIncrease, dropIncreaseFromScores, type DropIncreaseForm, type DropIncreaseOptions, type DropIncreaseResult, type DropIncreaseSummary } from './drop-increase.js';
export {
  boxesToMask, pointOf, pointingHit, pointingGame, energyPointingGame, bboxScore, topFractionIoU, groundTruthMetrics,
  type Box, type GroundTruthPair, type PointingGameResult, type GroundTruthSummary,
} from './ground-truth.js';
export { saliencyOrder, saliencyRanks, topCount, topMask, minMaxNormalise, type MapLike } from './order.js';
export type { MetricItem } from './common.js';
export type { RunnerOptions } from './perturbed.js';
