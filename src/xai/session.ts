/**
 * The one session type every explanation method and metric runs in: the model, one GPU compute
 * facility, the leased plans, the image on the GPU (explanations; metrics bring their own
 * planes), the class to explain, timing per phase, progress and cancellation. Methods are written
 * against this, the core's passes (scoring.ts) and the kernel builders; none touches WGSL or a
 * command encoder.
 */
import { pipelineCacheFor, type Model } from '../runtime/model.js';
import { GpuCompute } from '../runtime/compute.js';
import type { BatchPlan, GpuTensor } from '../runtime/plan.js';
import type { PlanLease } from '../runtime/plan-cache.js';
import { finalSoftmax, seedOf, type GradientOptions, type GradientPlan } from '../runtime/reverse.js';
import { tensorByteLimit, type GpuContext } from '../runtime/device.js';
import { CancelledError, InputError } from '../runtime/errors.js';
import { scoreHost, type ScoreMode } from '../kernels/score.js';
import type { SaliencyMap } from './explanation.js';
import { Command, ForwardPass, GradientPass, ScoringPass, type ScoringOptions } from './scoring.js';

/** Progress of a long explanation: `done` of `total` units of the named phase. */
export interface Progress { phase: string; done: number; total: number }

/** Options every explanation method takes: class, score mode, batch size, progress and cancellation. */
export interface CommonOptions {
  /** Class to explain; default the top-1 class of the unperturbed input. */
  classIndex?: number;
  /**
   * How the score Ψ_c is read from the model output (spec 0.3). Default 'softmax'; a model that
   * already ends in Softmax is read as it is (no second softmax).
   */
  scoreMode?: ScoreMode;
  /**
   * Masked forward passes per batch: bounds GPU memory whatever the number of masks. Default 32.
   * Any size runs: a batch whose model tensors exceed the device's limits is split into chunks by
   * the model's plan (Model.plan). The method's own batch-sized tensors (the masks, and the
   * model input its kernels write, [batch, C, H, W]) must each fit one storage binding, so the
   * batch is lowered to the most rows that fit (`maxOwnBatch`); the map does not depend on it.
   */
  batchSize?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/**
 * The most rows a method's own batch-sized tensors may have: each must fit one storage binding
 * (and one buffer), and the largest per row is the model input [C, H, W] its kernels write into,
 * unless `rowBytes` names a larger one.
 */
export function maxOwnBatch(gpu: GpuContext, inputShape: readonly number[], rowBytes: readonly number[] = []): number {
  const limit = tensorByteLimit(gpu);
  const perRow = Math.max(4 * inputShape.slice(1).reduce((a, b) => a * b, 1), ...rowBytes);
  return Math.max(1, Math.floor(limit / perRow));
}

/**
 * The plans one explanation or evaluation holds: each is leased from the model (exclusive to this
 * call, never freed under it) and released together by `release`, which the owner calls in a
 * `finally` so that an error or a cancellation releases them too.
 */
export class PlanLeases {
  private readonly held: PlanLease<unknown>[] = [];
  constructor(readonly model: Model) {}

  /** A leased forward plan at `shapes` keeping `keep`. */
  async plan(shapes: ReadonlyMap<string, number[]>, keep: readonly string[] = []): Promise<BatchPlan> {
    return this.hold(await this.model.acquirePlan(shapes, keep));
  }

  /** A leased reverse-mode plan (see Model.gradientPlan). */
  gradientPlan(shapes: ReadonlyMap<string, number[]>, opts: GradientOptions): GradientPlan {
    return this.hold(this.model.acquireGradientPlan(shapes, opts));
  }

  /**
   * The leased forward plan at `shapes` that keeps the tensor class scores are read from under
   * `mode` (seedOf: the logits, or the input of a final Softmax), and which tensor that is.
   */
  async scoringPlan(shapes: ReadonlyMap<string, number[]>, mode: ScoreMode): Promise<{ plan: BatchPlan; seed: ReturnType<typeof seedOf> }> {
    const plan = await this.plan(shapes, [seedOf(this.model.specialize(shapes, new Set()), mode).tensor]);
    return { plan, seed: seedOf(plan.graph, mode) };
  }

  private hold<P>(l: PlanLease<P>): P {
    this.held.push(l);
    return l.plan;
  }

  /** Releases every plan held (idempotent). */
  release(): void {
    for (const l of this.held.splice(0)) l.release();
  }
}

/**
 * One explanation's (or metric's) hold on the GPU: the model input it explains, the plans it leases
 * (released by `destroy`), the command helper its scoring passes encode with, and the counts and
 * timings its Explanation reports. Methods build on it; they never create encoders themselves.
 */
export class ExplainSession {
  readonly compute: GpuCompute;
  readonly inputName: string;
  readonly inputShape: number[];
  private readonly imageTensor: GpuTensor | undefined;
  readonly timings: Record<string, number> = {};
  forwardPasses = 0;
  backwardPasses = 0;
  /** The plans this explanation runs, released by `destroy`. */
  readonly plans: PlanLeases;
  private phaseStart = performance.now();

  /** `image`: the model-input tensor [1, C, H, W] to explain; absent for metrics, which upload their own planes. */
  constructor(readonly model: Model, image: Float32Array | undefined, readonly opts: CommonOptions) {
    const info = model.inputs[0];
    if (!info) throw new InputError('the model has no input');
    this.inputName = info.name;
    this.inputShape = [...model.inputShapes(1).get(info.name)!];
    if (this.inputShape.length !== 4) throw new InputError(`explanations need an image input [1, C, H, W]; the model input is [${this.inputShape}]`);
    if (image) {
      const per = this.inputShape.reduce((a, b) => a * b, 1);
      if (image.length !== per) throw new InputError(`the image tensor has ${image.length} values; the model input [${this.inputShape}] needs ${per}`);
      if (!image.every(Number.isFinite)) throw new InputError('the image tensor contains NaN or infinite values');
    }
    this.plans = new PlanLeases(model);
    // Kernels compiled by one explanation are reused by the next on the same device.
    this.compute = new GpuCompute(model.gpu, pipelineCacheFor(model.gpu.device));
    this.imageTensor = image ? this.compute.upload(image, this.inputShape, 'image') : undefined;
  }

  /** The image on the GPU [1, C, H, W]. */
  get image(): GpuTensor {
    if (!this.imageTensor) throw new InputError('this session has no image');
    return this.imageTensor;
  }

  /** A new recording of GPU work (see Command). */
  command(): Command {
    return new Command(this.compute);
  }

  /** A leased forward pass at `batch` rows keeping `keep` (see ForwardPass). */
  forwardPass(batch: number, keep: readonly string[] = []): Promise<ForwardPass> {
    return ForwardPass.open(this.plans, this.inputName, this.inputShape, batch, keep);
  }

  /** A leased scoring pass (see ScoringPass). */
  scoringPass(opts: ScoringOptions): Promise<ScoringPass> {
    return ScoringPass.openScoring(this.plans, this.compute, this.inputName, this.inputShape, opts);
  }

  /** A leased gradient pass at `batch` rows to the tensors `wrt` (see GradientPass). */
  gradientPass(batch: number, wrt: readonly string[], mode: ScoreMode): GradientPass {
    return GradientPass.open(this.plans, this.inputName, this.inputShape, batch, wrt, mode);
  }

  /** `requested` rows lowered to what the method's own bindings allow; see CommonOptions.batchSize. */
  batchFor(requested: number, rowBytes: readonly number[] = []): number {
    return Math.min(requested, maxOwnBatch(this.model.gpu, this.inputShape, rowBytes));
  }

  get channels(): number { return this.inputShape[1]!; }
  get height(): number { return this.inputShape[2]!; }
  get width(): number { return this.inputShape[3]!; }
  get pixels(): number { return this.height * this.width; }

  /** Ends the current phase, recording its wall time, and checks for cancellation. */
  phase(name: string): void {
    const now = performance.now();
    this.timings[name] = (this.timings[name] ?? 0) + (now - this.phaseStart);
    this.phaseStart = now;
    this.checkCancelled();
  }

  checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new CancelledError('explanation cancelled');
  }

  progress(phase: string, done: number, total: number): void {
    this.opts.onProgress?.({ phase, done, total });
    this.checkCancelled();
  }

  /**
   * One plain forward pass of the image: the class to explain (given, or top-1) and its score. The
   * output vector is the only read-back (a small statistic).
   */
  async classify(mode: ScoreMode): Promise<{ classIndex: number; score: number; scores: Float32Array }> {
    // The image is already on the GPU: one forward pass from it, only the output read back.
    const pass = await this.forwardPass(1);
    const output = pass.tensor(this.model.outputs[0]!.name);
    const cmd = this.command();
    cmd.copy(this.image, pass.input);
    pass.record(cmd);
    cmd.submitNow();
    const out = await this.compute.read(output);
    this.forwardPasses++;
    const c = this.opts.classIndex ?? argmax(out);
    if (!Number.isInteger(c) || c < 0 || c >= out.length) throw new InputError(`class ${this.opts.classIndex} is out of range (the model has ${out.length} classes)`);
    const alreadyProbabilities = this.endsInSoftmax();
    const score = alreadyProbabilities && mode === 'softmax' ? out[c]! : scoreHost(mode, out, c);
    return { classIndex: c, score, scores: Float32Array.from(out) };
  }

  /** Whether the model's output is produced by a Softmax node (also behind quantise/dequantise steps). */
  endsInSoftmax(): boolean {
    return finalSoftmax(this.model.graph.nodes, this.model.outputs[0]!.name) !== undefined;
  }

  async readMap(t: GpuTensor, h = this.height, w = this.width): Promise<SaliencyMap> {
    return { width: w, height: h, data: (await this.compute.read(t)).slice(0, h * w) };
  }

  destroy(): void {
    this.plans.release();
    this.compute.destroy();
  }
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
