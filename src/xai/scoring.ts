/**
 * The explainer core: the one place in src/xai that records GPU commands, runs the model's plans
 * and moves bytes between GPU tensors. Methods and metrics describe only what differs (which rows
 * to write into the model input, what to do with the scores) and call:
 *
 * - `Command`: a recording of kernel programs and copies, submitted as one unit;
 * - `ForwardPass`: a leased forward plan (keeping some tensors) with its input rows;
 * - `ScoringPass`: a forward pass plus the class scores Ψ of every row, on the GPU, for a fixed
 *   set of classes per row (`classes`, scores [batch, k]) or one class per row (`perRow`, scores
 *   [batch]); "write these rows, encode, give me the scores (on the GPU or read back)";
 * - `GradientPass`: a leased reverse-mode plan, its activations and gradients.
 *
 * Plans are leased through the session's PlanLeases (released with the session), so concurrent
 * explanations never share or free each other's plans. Tensor offsets are honoured everywhere.
 */
import type { GpuCompute, ComputeIO } from '../runtime/compute.js';
import type { BatchPlan, GpuTensor } from '../runtime/plan.js';
import type { GradientPlan } from '../runtime/reverse.js';
import type { KernelProgram } from '../kernels/types.js';
import { scoreProgram, type ScoreMode } from '../kernels/score.js';
import { riseScoresProgram } from '../kernels/rise-masks.js';
import { InputError, XaiError } from '../runtime/errors.js';
import type { PlanLeases } from './session.js';

/** Kernel programs and copies recorded together and submitted as one GPU command. */
export class Command {
  /** The encoder being recorded; only the core's passes touch it. */
  readonly encoder: GPUCommandEncoder;
  private done = false;

  constructor(readonly compute: GpuCompute) {
    this.encoder = compute.device.createCommandEncoder();
  }

  /** Records one kernel program on `io`. */
  run(program: KernelProgram, io: ComputeIO): this {
    this.compute.run(program, io, this.encoder);
    return this;
  }

  /**
   * Copies `count` floats from `src` starting at float `from` to `dst` starting at float `to`
   * (default: all of `src` from `from`, to the start of `dst`); both ranges must lie inside their
   * tensors, whose own offsets are added here.
   */
  copy(src: GpuTensor, dst: GpuTensor, at: { from?: number; to?: number; count?: number } = {}): this {
    const from = at.from ?? 0, to = at.to ?? 0;
    const count = at.count ?? src.size / 4 - from;
    if (count === 0) return this;
    if (!(from >= 0 && to >= 0 && count > 0 && (from + count) * 4 <= src.size && (to + count) * 4 <= dst.size)) {
      throw new XaiError(`copy of ${count} floats from ${from} of a ${src.size / 4}-float tensor to ${to} of a ${dst.size / 4}-float tensor is out of range`);
    }
    this.encoder.copyBufferToBuffer(src.buffer, src.offset + from * 4, dst.buffer, dst.offset + to * 4, count * 4);
    return this;
  }

  /** Submits, then waits while more than two submissions are unfinished (see GpuCompute.submit). */
  async submit(): Promise<void> {
    this.seal();
    await this.compute.submit(this.encoder);
  }

  /** Submits without waiting. */
  submitNow(): void {
    this.seal();
    this.compute.device.queue.submit([this.encoder.finish()]);
  }

  private seal(): void {
    if (this.done) throw new XaiError('this command was already submitted');
    this.done = true;
  }
}

/** A leased forward plan whose input rows the caller writes and whose kept tensors it reads. */
export class ForwardPass {
  /** The model input [batch, C, H, W]: write the first `n` rows before `record(cmd, n)`. */
  readonly input: GpuTensor;

  protected constructor(readonly plan: BatchPlan, readonly inputName: string) {
    this.input = plan.tensor(inputName);
  }

  /** A forward pass at `batch` rows of `inputShape` ([1, C, H, W]) keeping `keep`. */
  static async open(leases: PlanLeases, inputName: string, inputShape: readonly number[], batch: number, keep: readonly string[] = []): Promise<ForwardPass> {
    const plan = await leases.plan(new Map([[inputName, [batch, ...inputShape.slice(1)]]]), keep);
    return new ForwardPass(plan, inputName);
  }

  get batch(): number { return this.plan.batch; }

  /** A graph output or kept tensor ([batch, ...]). */
  tensor(name: string): GpuTensor { return this.plan.tensor(name); }

  /** Records the forward pass over the first `n` rows (default all). */
  record(cmd: Command, n = this.batch): void {
    this.plan.encode(cmd.encoder, n);
  }
}

/** How a ScoringPass scores its rows: batch size, score mode and which classes. */
export interface ScoringOptions {
  /** Rows per pass. */
  batch: number;
  mode: ScoreMode;
  /** Classes scored for every row: `scores` is [batch, classes.length], times `scale` (default 1). */
  classes?: readonly number[];
  scale?: number;
  /**
   * One class per row instead: `scores` is [batch], and the class of each row is read from
   * `rowClasses` ([batch] u32), filled with `perRow` when it is a number, else written per batch
   * by the caller (`Command.copy` into `rowClasses`).
   */
  perRow?: number | 'written';
}

/** A forward pass that also computes the class scores Ψ of its rows on the GPU. */
export class ScoringPass extends ForwardPass {
  /** Ψ per row: [batch, k] (`classes`) or [batch] (`perRow`). */
  readonly scores: GpuTensor;
  /** The class of each row ([batch] u32), for `perRow`. */
  readonly rowClasses: GpuTensor | undefined;
  /** Scores per row (k, or 1 for `perRow`). */
  readonly columns: number;
  private readonly programs = new Map<number, KernelProgram>();
  /** The tensor scores are read from: the logits, or the input of a final Softmax ([batch, outputs]). */
  readonly logits: GpuTensor;
  private readonly classTensor: GpuTensor;
  private readonly unused: GpuTensor | undefined;

  private constructor(plan: BatchPlan, inputName: string, readonly compute: GpuCompute, readonly outputs: number,
    private readonly seed: { tensor: string; mode: ScoreMode }, private readonly opts: ScoringOptions) {
    super(plan, inputName);
    this.logits = plan.tensor(seed.tensor);
    const c = compute, B = opts.batch;
    if (opts.perRow !== undefined) {
      this.columns = 1;
      const fill = typeof opts.perRow === 'number' ? opts.perRow : 0;
      this.classTensor = c.upload(new Uint32Array(B).fill(fill), [B], 'row-classes');
      this.rowClasses = this.classTensor;
      this.scores = c.alloc([B], 'scores');
      this.unused = c.alloc([4], 'unused-gradient');
    } else {
      const classes = opts.classes ?? [];
      if (classes.length === 0) throw new InputError('a scoring pass needs classes or perRow');
      this.columns = classes.length;
      this.classTensor = c.upload(Uint32Array.from(classes), [classes.length], 'classes');
      this.rowClasses = undefined;
      this.scores = c.alloc([B, classes.length], 'scores');
      this.unused = undefined;
    }
  }

  /**
   * Leases the plan at `opts.batch` rows that keeps the tensor scores are read from (the logits,
   * or the input of a final Softmax) and checks the classes against the model's outputs.
   */
  static async openScoring(leases: PlanLeases, compute: GpuCompute, inputName: string, inputShape: readonly number[], opts: ScoringOptions): Promise<ScoringPass> {
    if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new InputError(`batch must be a positive integer, got ${opts.batch}`);
    const { plan, seed } = await leases.scoringPlan(new Map([[inputName, [opts.batch, ...inputShape.slice(1)]]]), opts.mode);
    const outputs = plan.tensor(seed.tensor).size / 4 / opts.batch;
    if (!Number.isInteger(outputs)) throw new InputError(`cannot read class scores from tensor '${seed.tensor}' [${plan.tensor(seed.tensor).shape}]`);
    const check = (c: number) => { if (!Number.isInteger(c) || c < 0 || c >= outputs) throw new InputError(`class ${c} is out of range (the model has ${outputs} classes)`); };
    (opts.classes ?? []).forEach(check);
    if (typeof opts.perRow === 'number') check(opts.perRow);
    return new ScoringPass(plan, inputName, compute, outputs, seed, opts);
  }

  /** Records the forward pass alone (no scores), for a caller that reads `logits` itself. */
  recordForward(cmd: Command, n = this.batch): void {
    super.record(cmd, n);
  }

  /** Records the forward pass over the first `n` rows, then their scores into `scores`. */
  override record(cmd: Command, n = this.batch): void {
    super.record(cmd, n);
    if (this.rowClasses) {
      // Every row is scored (the program is built once); rows past n are ignored by callers.
      let p = this.programs.get(0);
      if (!p) this.programs.set(0, p = scoreProgram(this.compute.ctx, this.seed.mode, this.batch, this.outputs, false, { z: { input: 0 }, classes: { input: 1 }, score: { output: 0 }, grad: { output: 1 } }));
      cmd.run(p, { inputs: [this.logits, this.classTensor], outputs: [this.scores, this.unused!] });
    } else {
      let p = this.programs.get(n);
      if (!p) this.programs.set(n, p = riseScoresProgram(this.compute.ctx, this.seed.mode, n, this.outputs, this.columns, this.opts.scale ?? 1));
      cmd.run(p, { inputs: [this.logits, this.classTensor], outputs: [this.scores] });
    }
  }

  /**
   * One batch as one command: `write` records the first `n` input rows (into `input`), then the
   * forward pass and the scores are recorded, then `use` (accumulations reading `scores`); submitted.
   */
  async step(n: number, write: (cmd: Command) => void, use?: (cmd: Command) => void): Promise<void> {
    const cmd = new Command(this.compute);
    write(cmd);
    this.record(cmd, n);
    use?.(cmd);
    await cmd.submit();
  }

  /**
   * Frees the pass's own tensors and programs (its plan goes back with its leases). Only for a
   * pass shorter-lived than its session; the session frees everything at its end anyway.
   */
  close(): void {
    for (const p of this.programs.values()) this.compute.forget(p);
    this.programs.clear();
    for (const t of [this.scores, this.classTensor, this.unused]) if (t) this.compute.release(t);
  }

  /** Records a copy of the first `n` rows of scores to rows `row`.. of `into` (`columns` floats per row). */
  keepScores(cmd: Command, into: GpuTensor, row: number, n: number): void {
    cmd.copy(this.scores, into, { to: row * this.columns, count: n * this.columns });
  }
}

/** A leased reverse-mode plan: forward, Ψ per row and the gradients of the named tensors. */
export class GradientPass {
  private constructor(readonly plan: GradientPlan, readonly inputName: string) {}

  static open(leases: PlanLeases, inputName: string, inputShape: readonly number[], batch: number, wrt: readonly string[], mode: ScoreMode): GradientPass {
    return new GradientPass(leases.gradientPlan(new Map([[inputName, [batch, ...inputShape.slice(1)]]]), { wrt, mode }), inputName);
  }

  /** The model input [batch, C, H, W]. */
  get input(): GpuTensor { return this.plan.forward.tensor(this.inputName); }
  /** Classes the model scores (values per row of the score tensor). */
  get outputs(): number { return this.plan.forward.tensor(this.plan.seed.tensor).size / 4 / this.plan.batch; }
  /** Ψ per row as the gradient pass computes it. */
  get scores(): GpuTensor { return this.plan.scores; }
  /** An activation of the forward pass. */
  tensor(name: string): GpuTensor { return this.plan.forward.tensor(name); }
  /** ∂Ψ/∂(tensor). */
  grad(name: string): GpuTensor { return this.plan.grad(name); }

  /** Records forward and backward for `classes` (one per row); the input rows must be written first in `cmd`. */
  record(cmd: Command, classes: readonly number[]): void {
    for (const c of classes) if (!Number.isInteger(c) || c < 0 || c >= this.outputs) throw new InputError(`class ${c} is out of range (the model has ${this.outputs} classes)`);
    // A queue write: ordered before this command's submission, after every earlier one.
    this.plan.setClasses(classes);
    this.plan.encode(cmd.encoder);
  }
}
