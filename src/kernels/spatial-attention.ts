/**
 * Kernels of IASSA's long-range parameter-free spatial attention (LRPF-SA, methods spec 4.2 C and
 * the tiled scheme of 4.4): packing feature levels, tiled passes over the affinity A = FᵀF that
 * never store it (column max / sum-exp, row sums of the second softmax, the product s·A2), the
 * mix S_adj = λS + (1 − λ)·up(s_att) and the region threshold. Formulas: src/wgsl/spatial-attention.ts.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { ATTENTION_COMBINE_WGSL, ATTENTION_MIX_WGSL, ATTENTION_PASS_WGSL, FEATURE_PACK_WGSL, REGION_THRESHOLD_WGSL } from '../wgsl/spatial-attention.js';

function positive(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GraphError(`spatial attention: ${what} must be a positive integer, got ${v}`);
}

/** One level of the attention's feature table. */
export interface AttentionLevel {
  /** 'features': packed pixel-major features at `offset` of the features buffer; 'gram': its Gram matrix [hw, hw] at `offset` of the Gram buffer. */
  kind: 'features' | 'gram';
  offset: number;
  channels: number;
  height: number;
  width: number;
}

/** The u32 level table the passes read (8 words per level). */
export function attentionLevelTable(levels: readonly AttentionLevel[]): Uint32Array {
  const t = new Uint32Array(Math.max(1, levels.length) * 8);
  levels.forEach((l, i) => {
    positive('channels', l.channels); positive('height', l.height); positive('width', l.width);
    t.set([l.kind === 'gram' ? 1 : 0, l.offset, l.channels, l.height, l.width], 8 * i);
  });
  return t;
}

/**
 * packed [hw, C] (at `offset`) from a batch-1 tap [1, C, h, w]. Bindings: { input: 0 } = tap,
 * { output: 0 } = the packed features buffer.
 */
export function featurePackProgram(ctx: BuildContext, p: { channels: number; pixels: number; offset: number }): KernelProgram {
  positive('channels', p.channels); positive('pixels', p.pixels);
  return { dispatches: [{ label: 'attention-pack', pipeline: ctx.pipeline(FEATURE_PACK_WGSL),
    workgroups: grid1d(p.channels * p.pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { output: 0 }, { uniform: packUniform([p.channels, p.pixels, p.offset, 0]) }] }] };
}

/** What a pass computes; see ATTENTION_PASS_WGSL. */
export type AttentionPassMode = 'affinity' | 'column-stats' | 'row-sums' | 'product';
const MODE: Record<AttentionPassMode, number> = { affinity: 0, 'column-stats': 1, 'row-sums': 2, product: 3 };

/** Shape, level range and mode of one attention pass. */
export interface AttentionPassParams {
  /** The attention grid (R×R in IASSA; a level's own size when building its Gram matrix). */
  gridH: number;
  gridW: number;
  /** Table entries [l0, l1) summed into A. */
  levels: [number, number];
  mode: AttentionPassMode;
  /** 'product': size of the saliency map read at each cell's nearest pixel. */
  srcH?: number;
  srcW?: number;
  /** 'affinity': element offset of A in the output. */
  outOffset?: number;
  /** Cells v per workgroup row (a multiple of 64); default: enough splits to fill the device. */
  cellsPerSplit?: number;
}

/** Default split of the v range: about 2048 workgroups in all, never below one 64-cell tile. */
export function attentionCellsPerSplit(n: number): number {
  const tiles = Math.ceil(n / 64);
  const splits = Math.min(tiles, Math.max(1, Math.ceil(2048 / tiles)));
  return Math.ceil(tiles / splits) * 64;
}

/**
 * One pass over A. Bindings: { input: 0 } = packed features, 1 = Gram matrices, 2 = level table
 * (u32), 3 = column stats [n, 2] (modes row-sums, product), 4 = row sums [n] (product), 5 = the
 * saliency map [srcH, srcW] (product); { output: 0 } = A (affinity), column stats [n, 2],
 * row sums [n] or s_att [n]. Unused inputs may be any small buffer other than the output. The
 * reducing modes write per-split partials to scratch and combine them in a second dispatch.
 */
export function attentionPassProgram(ctx: BuildContext, p: AttentionPassParams): KernelProgram {
  positive('grid height', p.gridH); positive('grid width', p.gridW);
  const n = p.gridH * p.gridW;
  const [l0, l1] = p.levels;
  if (!Number.isInteger(l0) || !Number.isInteger(l1) || l0 < 0 || l1 <= l0) throw new GraphError(`spatial attention: bad level range [${l0}, ${l1})`);
  const vPer = p.cellsPerSplit ?? attentionCellsPerSplit(n);
  if (!Number.isInteger(vPer) || vPer < 64 || vPer % 64 !== 0) throw new GraphError(`spatial attention: cellsPerSplit must be a positive multiple of 64, got ${vPer}`);
  const splits = Math.ceil(n / vPer);
  const uGroups = Math.ceil(n / 64);
  if (uGroups > ctx.traits.maxWorkgroupsPerDimension || splits > ctx.traits.maxWorkgroupsPerDimension) throw new GraphError(`spatial attention: a ${p.gridH}x${p.gridW} grid exceeds the device's dispatch limits`);
  const mode = MODE[p.mode];
  if (p.mode === 'product') { positive('source height', p.srcH ?? 0); positive('source width', p.srcW ?? 0); }
  const u = packUniform([p.gridH, p.gridW, n, l0, l1, mode, vPer, p.outOffset ?? 0, p.srcH ?? 1, p.srcW ?? 1, 0, 0]);
  const ins = [{ input: 0 }, { input: 1 }, { input: 2 }, { input: 3 }, { input: 4 }, { input: 5 }];
  const label = `attention-${p.mode}`;
  const pipeline = ctx.pipeline(ATTENTION_PASS_WGSL);
  if (p.mode === 'affinity') {
    return { dispatches: [{ label, pipeline, workgroups: [uGroups, splits, 1], bindings: [...ins, { output: 0 }, { uniform: u }] }] };
  }
  const width = p.mode === 'column-stats' ? 2 : 1;
  return {
    scratchBytes: [splits * n * width * 4],
    dispatches: [
      { label, pipeline, workgroups: [uGroups, splits, 1], bindings: [...ins, { scratch: 0 }, { uniform: u }] },
      { label: `${label}-combine`, pipeline: ctx.pipeline(ATTENTION_COMBINE_WGSL), workgroups: grid1d(n, 64, ctx.traits.maxWorkgroupsPerDimension),
        bindings: [{ scratch: 0 }, { output: 0 }, { uniform: packUniform([n, splits, mode, 0]) }] },
    ],
  };
}

/**
 * S_adj [h, w] = λ·S + (1 − λ)·up(s_att [gh, gw]) (bilinear, half-pixel centres). Bindings:
 * { input: 0 } = S, { input: 1 } = s_att, { output: 0 } = S_adj.
 */
export function attentionMixProgram(ctx: BuildContext, p: { height: number; width: number; gridH: number; gridW: number; lambda: number }): KernelProgram {
  positive('height', p.height); positive('width', p.width); positive('grid height', p.gridH); positive('grid width', p.gridW);
  if (!(p.lambda >= 0 && p.lambda <= 1)) throw new GraphError(`spatial attention: lambda must be in [0, 1], got ${p.lambda}`);
  return { dispatches: [{ label: 'attention-mix', pipeline: ctx.pipeline(ATTENTION_MIX_WGSL),
    workgroups: grid1d(p.height * p.width, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([p.height, p.width, p.gridH, p.gridW, { f32: p.lambda }, 0, 0, 0]) }] }] };
}

/**
 * region = map > min + t·(max − min) (0/1) and stats [4] = (min, max, threshold, region pixels).
 * Bindings: { input: 0 } = map, { output: 0 } = region, { output: 1 } = stats.
 */
export function regionThresholdProgram(ctx: BuildContext, pixels: number, t: number): KernelProgram {
  positive('pixels', pixels);
  if (!(t >= 0 && t <= 1)) throw new GraphError(`spatial attention: threshold must be in [0, 1], got ${t}`);
  return { dispatches: [{ label: 'region-threshold', pipeline: ctx.pipeline(REGION_THRESHOLD_WGSL), workgroups: [1, 1, 1],
    bindings: [{ input: 0 }, { output: 0 }, { output: 1 }, { uniform: packUniform([pixels, 0, 0, 0, { f32: t }, 0, 0, 0]) }] }] };
}
