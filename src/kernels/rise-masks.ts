/**
 * RISE kernels (methods spec 6.1): seeded random masks made on the GPU per batch (never all N at
 * once), class scores of the masked inputs for a list of classes, and the GEMM-like accumulation
 * S[c, p] += Σ_i Ψ_i[c] · M_i[p]. See src/wgsl/rise-masks.ts for the generator and the exact
 * up-sampling convention.
 */
import type { BuildContext, KernelProgram } from './types.js';
import type { ScoreMode } from './score.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { RISE_ACCUMULATE_WGSL, RISE_MASKS_WGSL, RISE_SCORES_WGSL } from '../wgsl/rise-masks.js';

/** The mask generator: mask size, grid, cell probability and seed. */
export interface RiseMaskParams {
  height: number;
  width: number;
  /** Grid size s (cells per axis). */
  gridSize: number;
  /** Probability p of a cell being 1, in (0, 1]. */
  probability: number;
  /** Any u32. */
  seed: number;
}

/** Cell size C = ceil(H/s) per axis; the up-sampled grid is (s+1)·C and shifts lie in [0, C). */
export function riseCellSize(p: Pick<RiseMaskParams, 'height' | 'width' | 'gridSize'>): { cellH: number; cellW: number } {
  return { cellH: Math.ceil(p.height / p.gridSize), cellW: Math.ceil(p.width / p.gridSize) };
}

/** The 24-bit integer threshold a cell's hash is compared with: floor(p · 2^24). */
export function riseThreshold(probability: number): number {
  return Math.floor(probability * 2 ** 24);
}

function positiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GraphError(`RISE: ${what} must be a positive integer, got ${v}`);
}

/** Validates mask parameters (throws GraphError). */
export function checkRiseMaskParams(p: RiseMaskParams): void {
  positiveInt('height', p.height); positiveInt('width', p.width); positiveInt('gridSize', p.gridSize);
  if (!(p.probability > 0 && p.probability <= 1)) throw new GraphError(`RISE: probability must be in (0, 1], got ${p.probability}`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new GraphError(`RISE: seed must be an integer in [0, 2^32), got ${p.seed}`);
}

/**
 * masks [n, H, W] = masks start .. start+n−1 of the sequence the seed defines.
 * Bindings: { output: 0 } = masks.
 */
export function riseMasksProgram(ctx: BuildContext, p: RiseMaskParams, start: number, n: number): KernelProgram {
  checkRiseMaskParams(p);
  positiveInt('mask count', n);
  if (!Number.isInteger(start) || start < 0 || start + n > 0xffffffff) throw new GraphError(`RISE: bad mask range [${start}, ${start}+${n})`);
  const { cellH, cellW } = riseCellSize(p);
  const s = p.gridSize;
  const u = packUniform([p.height, p.width, s, cellH, cellW, n, start, p.seed | 0, riseThreshold(p.probability), 0, 0, 0,
    { f32: s / ((s + 1) * cellH) }, { f32: s / ((s + 1) * cellW) }, { f32: 0 }, { f32: 0 }]);
  return { dispatches: [{ label: 'rise-masks', pipeline: ctx.pipeline(RISE_MASKS_WGSL),
    workgroups: grid1d(n * p.height * p.width, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ output: 0 }, { uniform: u }] }] };
}

const MODE_CODE: Record<ScoreMode, number> = { logit: 0, softmax: 1, 'log-softmax': 2, sigmoid: 3 };

/**
 * out [rows, k] = scale · Ψ(z_i)[classes[j]] from model outputs z [rows, kz].
 * Bindings: { input: 0 } = z, { input: 1 } = classes (k u32 words), { output: 0 } = out.
 */
export function riseScoresProgram(ctx: BuildContext, mode: ScoreMode, rows: number, kz: number, k: number, scale: number): KernelProgram {
  positiveInt('rows', rows); positiveInt('output size', kz); positiveInt('classes', k);
  const groups: [number, number, number] = rows <= 65535 ? [rows, 1, 1] : [65535, Math.ceil(rows / 65535), 1];
  return { dispatches: [{ label: `rise-scores(${mode})`, pipeline: ctx.pipeline(RISE_SCORES_WGSL), workgroups: groups,
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([rows, kz, k, MODE_CODE[mode], { f32: scale }, 0, 0, 0]) }] }] };
}

export interface RiseAccumulateParams {
  /** Masks in this batch. */
  n: number;
  /** H·W. */
  pixels: number;
  /** Columns of the score matrix [n, k]. */
  k: number;
  /** The accumulator's classes are score columns c0 .. c0+kc−1. */
  c0: number;
  kc: number;
}

/**
 * acc [kc, H·W] += scores[:, c0:c0+kc]ᵀ · masks. Bindings: { input: 0 } = scores [n, k],
 * { input: 1 } = masks [n, H·W], { output: 0 } = acc (read and added to).
 */
export function riseAccumulateProgram(ctx: BuildContext, p: RiseAccumulateParams): KernelProgram {
  positiveInt('n', p.n); positiveInt('pixels', p.pixels); positiveInt('k', p.k); positiveInt('kc', p.kc);
  if (!Number.isInteger(p.c0) || p.c0 < 0 || p.c0 + p.kc > p.k) throw new GraphError(`RISE: class range [${p.c0}, ${p.c0 + p.kc}) exceeds ${p.k} score columns`);
  const quads = Math.ceil(p.pixels / 4);
  return { dispatches: [{ label: 'rise-accumulate', pipeline: ctx.pipeline(RISE_ACCUMULATE_WGSL),
    workgroups: grid1d(quads * Math.ceil(p.kc / 4), 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([p.n, p.pixels, p.k, p.c0, p.kc, quads, 0, 0]) }] }] };
}

/**
 * Splits `k` accumulator rows of `pixels` floats into chunks that each fit one storage binding
 * (a 1000-class 224² accumulator is 200 MB, above many devices' binding limit).
 */
export function riseClassChunks(k: number, pixels: number, maxBindingBytes: number): { c0: number; kc: number }[] {
  const per = Math.max(1, Math.floor(maxBindingBytes / (pixels * 4)));
  const out: { c0: number; kc: number }[] = [];
  for (let c0 = 0; c0 < k; c0 += per) out.push({ c0, kc: Math.min(per, k - c0) });
  return out;
}
