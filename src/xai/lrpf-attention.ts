/**
 * IASSA's long-range parameter-free spatial attention (LRPF-SA, methods spec 4.2 C) for one image,
 * GPU-resident and without the R²×R² affinity in memory (spec 4.4 [P]). Built once per image from
 * the feature levels: the levels are packed pixel-major, levels coarser than the attention grid
 * are replaced by their Gram matrices (fᵀf at native resolution: one look-up per affinity entry
 * instead of C products; nearest resizing commutes with it), and passes 1-2 (column max / sum-exp
 * of A, row sums of the second softmax) run once. Each round then needs one product pass s·A2.
 */
import type { ComputeIO, GpuCompute } from '../runtime/compute.js';
import { Command } from './scoring.js';
import type { GpuTensor } from '../runtime/plan.js';
import type { KernelProgram } from '../kernels/types.js';
import { attentionLevelTable, attentionPassProgram, featurePackProgram, type AttentionLevel } from '../kernels/spatial-attention.js';
import { InputError } from '../runtime/errors.js';

/** A feature level: a batch-1 NCHW tensor on the GPU. */
/** Records on a core Command, or on a raw encoder (kernel tests that build the attention alone). */
function record(c: GpuCompute, into: Command | GPUCommandEncoder, prog: KernelProgram, io: ComputeIO): void {
  if (into instanceof Command) into.run(prog, io);
  else c.run(prog, io, into);
}

export interface AttentionFeature { tensor: GpuTensor; channels: number; height: number; width: number }

/** The attention grid and how the affinity is evaluated. */
export interface AttentionSetup {
  /** Side R of the R×R attention grid. */
  resolution: number;
  /**
   * 'auto' (default): levels coarser than the grid use their Gram matrix while those fit a storage
   * binding (and 64 MiB in all); 'never': every level is multiplied out channel by channel.
   */
  gram?: 'auto' | 'never';
  /** Cells per split of each pass (tests); default from attentionCellsPerSplit. */
  cellsPerSplit?: number;
}

const GRAM_BUDGET_FLOATS = 16 * 2 ** 20;

/** LRPF-SA state of one image: packed levels, Gram matrices and the softmax statistics. */
export class LongRangeAttention {
  /** n = R² grid cells. */
  readonly cells: number;
  /** Which levels ended up as Gram matrices (by input order). */
  readonly gramLevels: boolean[];
  private readonly owned: GpuTensor[] = [];
  private readonly programs = new Map<string, KernelProgram>();
  private readonly feat: GpuTensor;
  private readonly gram: GpuTensor;
  private readonly table: GpuTensor;
  private readonly colStats: GpuTensor;
  private readonly rowSums: GpuTensor;
  private readonly dummy: GpuTensor;
  private readonly levels: number;

  /**
   * Packs the features, builds the Gram matrices and records passes 1-2 into `encoder` (the
   * features must hold their values when it runs; submit before they are overwritten).
   */
  constructor(private readonly c: GpuCompute, features: readonly AttentionFeature[], private readonly setup: AttentionSetup, encoder: Command | GPUCommandEncoder) {
    const R = setup.resolution;
    if (!Number.isInteger(R) || R < 1) throw new InputError(`attention resolution must be a positive integer, got ${R}`);
    if (features.length === 0) throw new InputError('the spatial attention needs at least one feature level');
    this.cells = R * R;
    const n = this.cells;
    const alloc = (shape: number[], label: string) => { const t = c.alloc(shape, label); this.owned.push(t); return t; };
    let featFloats = 0;
    const featOffset = features.map((f) => { const o = featFloats; featFloats += f.channels * f.height * f.width; return o; });
    // Gram matrices for the coarsest levels first, while they fit.
    const limit = Math.min(GRAM_BUDGET_FLOATS, Math.floor(c.ctx.traits.maxStorageBufferBindingSize / 4));
    this.gramLevels = features.map(() => false);
    const gramOffset: number[] = features.map(() => 0);
    let gramFloats = 0;
    if ((setup.gram ?? 'auto') === 'auto') {
      const order = features.map((f, i) => i).sort((a, b) => features[a]!.height * features[a]!.width - features[b]!.height * features[b]!.width);
      for (const i of order) {
        const hw = features[i]!.height * features[i]!.width;
        if (hw >= n || gramFloats + hw * hw > limit) continue;
        this.gramLevels[i] = true;
        gramOffset[i] = gramFloats;
        gramFloats += hw * hw;
      }
    }
    const entry = (i: number, kind: AttentionLevel['kind']): AttentionLevel => {
      const f = features[i]!;
      return { kind, offset: kind === 'gram' ? gramOffset[i]! : featOffset[i]!, channels: f.channels, height: f.height, width: f.width };
    };
    // Table: the attention's levels, then one packed entry per Gram level to build it from.
    const attLevels = features.map((_, i) => entry(i, this.gramLevels[i] ? 'gram' : 'features'));
    const builds = features.map((_, i) => i).filter((i) => this.gramLevels[i]);
    this.levels = attLevels.length;
    this.feat = alloc([Math.max(1, featFloats)], 'attention-features');
    this.gram = alloc([Math.max(1, gramFloats)], 'attention-gram');
    this.table = alloc([(attLevels.length + builds.length) * 8], 'attention-levels');
    c.write(this.table, attentionLevelTable([...attLevels, ...builds.map((i) => entry(i, 'features'))]));
    this.colStats = alloc([n, 2], 'attention-column-stats');
    this.rowSums = alloc([n], 'attention-row-sums');
    this.dummy = alloc([4], 'attention-unused');
    const d = this.dummy;

    features.forEach((f, i) => {
      const [b, C, h, w] = f.tensor.shape;
      if (b !== 1 || C !== f.channels || h !== f.height || w !== f.width) throw new InputError(`feature level ${i} has shape [${f.tensor.shape}], expected [1, ${f.channels}, ${f.height}, ${f.width}]`);
      const prog = featurePackProgram(c.ctx, { channels: f.channels, pixels: f.height * f.width, offset: featOffset[i]! });
      record(c, encoder, prog, { inputs: [f.tensor], outputs: [this.feat] });
      this.programs.set(`pack${i}`, prog);
    });
    builds.forEach((i, k) => {
      const f = features[i]!;
      const prog = attentionPassProgram(c.ctx, { gridH: f.height, gridW: f.width, levels: [this.levels + k, this.levels + k + 1], mode: 'affinity', outOffset: gramOffset[i]!, cellsPerSplit: setup.cellsPerSplit });
      record(c, encoder, prog, { inputs: [this.feat, d, this.table, d, d, d], outputs: [this.gram] });
      this.programs.set(`gram${i}`, prog);
    });
    record(c, encoder, this.pass('column-stats'), { inputs: [this.feat, this.gram, this.table, d, d, d], outputs: [this.colStats] });
    record(c, encoder, this.pass('row-sums'), { inputs: [this.feat, this.gram, this.table, this.colStats, d, d], outputs: [this.rowSums] });
  }

  /** Records s_att [R²] = s·A2 with s = `sal` [srcH, srcW] resized (nearest) to the grid. */
  encodeProduct(sal: GpuTensor, srcH: number, srcW: number, out: GpuTensor, encoder: Command | GPUCommandEncoder): void {
    const prog = this.pass('product', srcH, srcW);
    record(this.c, encoder, prog, { inputs: [this.feat, this.gram, this.table, this.colStats, this.rowSums, sal], outputs: [out] });
  }

  /** Records the dense affinity A [R², R²] into `out` (small grids only: tests and inspection). */
  encodeAffinity(out: GpuTensor, encoder: Command | GPUCommandEncoder): void {
    const d = this.dummy;
    record(this.c, encoder, this.pass('affinity'), { inputs: [this.feat, this.gram, this.table, d, d, d], outputs: [out] });
  }

  /** The column max / sum-exp [R², 2] and row sums [R²] of passes 1-2 (for tests). */
  get stats(): { columns: GpuTensor; rows: GpuTensor } { return { columns: this.colStats, rows: this.rowSums }; }

  /** Frees the buffers and bindings (the GpuCompute's destroy frees them too). */
  release(): void {
    for (const p of this.programs.values()) this.c.forget(p);
    this.programs.clear();
    for (const t of this.owned) this.c.release(t);
    this.owned.length = 0;
  }

  private pass(mode: 'affinity' | 'column-stats' | 'row-sums' | 'product', srcH = 1, srcW = 1): KernelProgram {
    const key = `${mode}:${srcH}x${srcW}`;
    let p = this.programs.get(key);
    if (!p) {
      const R = this.setup.resolution;
      p = attentionPassProgram(this.c.ctx, { gridH: R, gridW: R, levels: [0, this.levels], mode, srcH, srcW, cellsPerSplit: this.setup.cellsPerSplit });
      this.programs.set(key, p);
    }
    return p;
  }
}
