/**
 * The GPU engine behind the model-truth metrics (deletion/insertion, Drop/Increase): a set of
 * image-sized planes (originals, baselines, blurred substrates) and per-pixel fields (saliency
 * ranks or float masks) live on the GPU; every evaluation is a row descriptor (from, to, field,
 * threshold, class). Rows of any number of images share batches: per batch the descriptors are
 * copied into place, one kernel writes the perturbed inputs straight into the model plan's input,
 * the plan runs, Ψ_c is computed on the GPU and copied to a result vector read back once.
 */
import type { Model } from '../../runtime/model.js';
import type { GpuTensor } from '../../runtime/plan.js';
import type { GpuCompute } from '../../runtime/compute.js';
import { CancelledError, InputError } from '../../runtime/errors.js';
import type { ScoreMode } from '../../kernels/score.js';
import { blurProgram, perturbRowsProgram, SOFT_ROW } from '../../kernels/metrics.js';
import type { KernelProgram } from '../../kernels/types.js';
import { ExplainSession, maxOwnBatch, PlanLeases, type Progress } from '../session.js';
import { ScoringPass } from '../scoring.js';

/** Where a plane's values come from: host data [C, H, W], one value per channel, or a blur of plane `blurOf`. */
export type PlaneSpec =
  | { data: Float32Array }
  | { perChannel: ArrayLike<number> }
  | { blurOf: number; kernel: ArrayLike<number> };

/**
 * One evaluation: the input is plane `to` where field `field` (ranks) is < threshold, else plane
 * `from`; threshold = SOFT_ROW: from·(1 − w) + to·w with w = the float mask in `field`.
 */
export interface PerturbRow { from: number; to: number; field: number; threshold: number; classIndex: number }

/** How the GPU metrics batch their perturbed forward passes. */
export interface RunnerOptions {
  scoreMode?: ScoreMode;
  /** Perturbed forward passes per batch (default 32). */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Rows per batch: at most `max`, spread evenly so the last batch is not mostly idle. */
function evenBatch(rows: number, max: number): number {
  const batches = Math.ceil(rows / max);
  return Math.max(1, Math.ceil(rows / batches));
}

/** Metrics' batched perturbation engine, running in an image-less ExplainSession (the one session type). */
export class PerturbationRunner {
  readonly session: ExplainSession;
  readonly compute: GpuCompute;
  readonly inputName: string;
  /** [1, C, H, W]. */
  readonly inputShape: number[];
  readonly mode: ScoreMode;
  readonly batchSize: number;
  /** Perturbed forward passes run so far (rows evaluated, excluding idle batch rows). */
  forwardPasses = 0;
  private planes?: GpuTensor;
  private fields?: GpuTensor;
  private planeCount = 0;
  private fieldCount = 0;

  constructor(readonly model: Model, readonly opts: RunnerOptions = {}) {
    this.mode = opts.scoreMode ?? 'softmax';
    this.batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new InputError(`batchSize must be a positive integer, got ${this.batchSize}`);
    this.session = new ExplainSession(model, undefined, opts);
    this.compute = this.session.compute;
    this.inputName = this.session.inputName;
    this.inputShape = this.session.inputShape;
  }

  get channels(): number { return this.inputShape[1]!; }
  get height(): number { return this.inputShape[2]!; }
  get width(): number { return this.inputShape[3]!; }
  get pixels(): number { return this.height * this.width; }

  /** Uploads (and blurs, on the GPU) the planes, replacing any earlier set. */
  setPlanes(specs: readonly PlaneSpec[]): void {
    const C = this.channels, P = this.pixels, per = C * P;
    if (this.planes) this.compute.release(this.planes);
    const t = this.compute.alloc([Math.max(1, specs.length), C, P], 'planes');
    this.planes = t;
    this.planeCount = specs.length;
    const blurs: { j: number; src: number; kernel: ArrayLike<number> }[] = [];
    specs.forEach((s, j) => {
      if ('data' in s) {
        if (s.data.length !== per) throw new InputError(`an image tensor has ${s.data.length} values; the model input [${this.inputShape}] needs ${per}`);
        if (!s.data.every(Number.isFinite)) throw new InputError('an image tensor contains NaN or infinite values');
        this.compute.write(t, s.data, j * per);
      } else if ('perChannel' in s) {
        if (s.perChannel.length !== C) throw new InputError(`a per-channel baseline needs ${C} values, got ${s.perChannel.length}`);
        const v = new Float32Array(per);
        for (let c = 0; c < C; c++) v.fill(s.perChannel[c]!, c * P, (c + 1) * P);
        this.compute.write(t, v, j * per);
      } else {
        if (!(s.blurOf >= 0 && s.blurOf < j && !('blurOf' in specs[s.blurOf]!))) throw new InputError(`plane ${j} blurs plane ${s.blurOf}, which must be an earlier non-blurred plane`);
        blurs.push({ j, src: s.blurOf, kernel: s.kernel });
      }
    });
    if (blurs.length === 0) return;
    // A storage buffer cannot be bound for reading and writing in one dispatch: blur into a
    // temporary and copy into the plane.
    const tmp = this.compute.alloc([C, P], 'blur');
    const kernels = new Map<ArrayLike<number>, { t: GpuTensor; radius: number }>();
    const cmd = this.session.command();
    const progs: KernelProgram[] = [];
    for (const b of blurs) {
      let k = kernels.get(b.kernel);
      if (!k) {
        const size = Math.round(Math.sqrt(b.kernel.length));
        if (size * size !== b.kernel.length || size % 2 === 0) throw new InputError(`a blur kernel must be square with an odd side, got ${b.kernel.length} values`);
        k = { t: this.compute.upload(Float32Array.from(b.kernel), [b.kernel.length], 'blur-kernel'), radius: (size - 1) / 2 };
        kernels.set(b.kernel, k);
      }
      const prog = blurProgram(this.compute.ctx, { channels: C, h: this.height, w: this.width, radius: k.radius, inOffset: b.src * per });
      progs.push(prog);
      cmd.run(prog, { inputs: [t, k.t], outputs: [tmp] }).copy(tmp, t, { to: b.j * per, count: per });
    }
    cmd.submitNow();
    for (const p of progs) this.compute.forget(p);
    this.compute.release(tmp);
    for (const k of kernels.values()) this.compute.release(k.t);
  }

  /** Uploads per-pixel fields: ranks (Uint32Array) or float masks (Float32Array), each H·W long. */
  setFields(fields: readonly (Uint32Array | Float32Array)[]): void {
    const P = this.pixels;
    if (this.fields) this.compute.release(this.fields);
    const all = new Uint32Array(Math.max(1, fields.length) * P);
    fields.forEach((f, j) => {
      if (f.length !== P) throw new InputError(`a saliency map has ${f.length} pixels; the model input needs ${this.height}×${this.width} = ${P}`);
      all.set(f instanceof Float32Array ? new Uint32Array(f.buffer, f.byteOffset, f.length) : f, j * P);
    });
    this.fields = this.compute.upload(all, [all.length], 'fields');
    this.fieldCount = fields.length;
  }

  /** The arg-max class of the unperturbed planes `planeIdx` (one batched forward pass per batch). */
  async topClasses(planeIdx: readonly number[]): Promise<number[]> {
    const out: number[] = [];
    await this.loop(planeIdx.map((j) => ({ from: j, to: j, field: 0, threshold: 0, classIndex: 0 })), 'classify', async (ctx, start, n) => {
      const z = await this.compute.read(ctx.logits);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let k = 1; k < ctx.K; k++) if (z[i * ctx.K + k]! > z[i * ctx.K + best]!) best = k;
        out[start + i] = best;
      }
    });
    return out;
  }

  /** Ψ_c for every row, read back once at the end. */
  async score(rows: readonly PerturbRow[]): Promise<Float32Array> {
    if (rows.length === 0) return new Float32Array(0);
    const result = this.compute.alloc([rows.length], 'results');
    await this.loop(rows, 'perturbed forward passes', undefined, result);
    const r = await this.compute.read(result);
    this.compute.release(result);
    return r.slice(0, rows.length);
  }

  private async loop(rows: readonly PerturbRow[], phase: string,
    afterBatch?: (ctx: { logits: GpuTensor; K: number }, start: number, n: number) => Promise<void>, result?: GpuTensor): Promise<void> {
    // The plan is leased for this loop only: released on return, error or cancellation.
    const leases = new PlanLeases(this.model);
    try {
      await this.loopWith(leases, rows, phase, afterBatch, result);
    } finally {
      leases.release();
    }
  }

  private async loopWith(leases: PlanLeases, rows: readonly PerturbRow[], phase: string,
    afterBatch?: (ctx: { logits: GpuTensor; K: number }, start: number, n: number) => Promise<void>, result?: GpuTensor): Promise<void> {
    if (!this.planes || !this.fields) throw new InputError('planes and fields must be set first');
    if (rows.length === 0) return;
    const C = this.channels, P = this.pixels;
    const desc = new Uint32Array(rows.length * 4);
    const cls = new Uint32Array(rows.length);
    rows.forEach((r, i) => {
      for (const [k, v, hi] of [['from', r.from, this.planeCount], ['to', r.to, this.planeCount], ['field', r.field, this.fieldCount]] as const) {
        if (!Number.isInteger(v) || v < 0 || v >= Math.max(1, hi)) throw new InputError(`row ${i}: ${k} ${v} is out of range`);
      }
      if (!Number.isInteger(r.threshold) || r.threshold < 0 || r.threshold > SOFT_ROW) throw new InputError(`row ${i}: threshold ${r.threshold} is not a u32`);
      desc.set([r.from, r.to, r.field, r.threshold], 4 * i);
      cls[i] = r.classIndex;
    });
    // The perturbed input [B, C, H, W] is bound by this runner's own kernel: it must fit one binding.
    const B = evenBatch(rows.length, Math.min(this.batchSize, maxOwnBatch(this.model.gpu, this.inputShape)));
    const pass = await ScoringPass.openScoring(leases, this.compute, this.inputName, this.inputShape, { batch: B, mode: this.mode, perRow: 'written' });
    const K = pass.outputs;
    for (const c of cls) if (c >= K) throw new InputError(`class ${c} is out of range (the model has ${K} classes)`);
    const c = this.compute;
    const allDesc = c.upload(desc, [desc.length], 'row-descriptors');
    const allCls = c.upload(cls, [cls.length], 'row-classes');
    const batchDesc = c.alloc([B * 4], 'batch-descriptors');
    const perturb = new Map<number, KernelProgram>();
    try {
      for (let start = 0; start < rows.length; start += B) {
        if (this.opts.signal?.aborted) throw new CancelledError('evaluation cancelled');
        const n = Math.min(B, rows.length - start);
        let prog = perturb.get(n);
        if (!prog) { prog = perturbRowsProgram(c.ctx, { n, channels: C, pixels: P }); perturb.set(n, prog); }
        const cmd = this.session.command();
        cmd.copy(allDesc, batchDesc, { from: start * 4, count: n * 4 }).copy(allCls, pass.rowClasses!, { from: start, count: n });
        cmd.run(prog!, { inputs: [this.planes, this.fields, batchDesc], outputs: [pass.input] });
        // Scores only when kept; topClasses reads the logits themselves.
        if (result) { pass.record(cmd, n); pass.keepScores(cmd, result, start, n); } else pass.recordForward(cmd, n);
        await cmd.submit();
        this.forwardPasses += n;
        if (afterBatch) await afterBatch({ logits: pass.logits, K }, start, n);
        this.opts.onProgress?.({ phase, done: start + n, total: rows.length });
      }
      await c.drain();
    } finally {
      for (const p of perturb.values()) c.forget(p);
      pass.close();
      for (const t of [allDesc, allCls, batchDesc]) c.release(t);
    }
  }

  destroy(): void {
    this.session.destroy();
  }
}
