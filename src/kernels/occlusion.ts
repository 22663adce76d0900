/**
 * Sliding-window occlusion kernels (methods spec 4.2 A-B and 6.8): the window grid, masks made on
 * the GPU from a list of window indices (never all masks at once), the occlusion map accumulated
 * from the batch scores and the window geometry alone, and IASSA's per-window keep test against a
 * region mask. See src/wgsl/occlusion.ts for the exact formulas.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { OCCLUSION_ACCUMULATE_WGSL, OCCLUSION_FINALISE_WGSL, OCCLUSION_MASKS_WGSL, WINDOW_KEEP_WGSL } from '../wgsl/occlusion.js';

/** A grid of w×w occlusion windows with stride s over an H×W image. */
export interface OcclusionGrid {
  height: number;
  width: number;
  window: number;
  stride: number;
}

/**
 * Window origins per axis: {s − w, 2s − w, …} < size (np.arange(s − w, size, s)), so every window
 * touches the image and edge pixels are covered as often as interior ones.
 */
export function occlusionOrigins(size: number, window: number, stride: number): number[] {
  const out: number[] = [];
  for (let r = stride - window; r < size; r += stride) out.push(r);
  return out;
}

/** Windows per row (nx), per column (ny) and in all (count = nx·ny, row-major). */
export function occlusionGridSize(g: OcclusionGrid): { nx: number; ny: number; count: number } {
  checkOcclusionGrid(g);
  const nx = occlusionOrigins(g.width, g.window, g.stride).length;
  const ny = occlusionOrigins(g.height, g.window, g.stride).length;
  return { nx, ny, count: nx * ny };
}

/** Validates a grid (throws GraphError). */
export function checkOcclusionGrid(g: OcclusionGrid): void {
  for (const k of ['height', 'width', 'window', 'stride'] as const) {
    if (!Number.isInteger(g[k]) || g[k] < 1) throw new GraphError(`occlusion: ${k} must be a positive integer, got ${g[k]}`);
  }
}

function geometry(g: OcclusionGrid, start: number, n: number): number[] {
  const { nx } = occlusionGridSize(g);
  if (!Number.isInteger(n) || n < 1) throw new GraphError(`occlusion: window count must be a positive integer, got ${n}`);
  if (!Number.isInteger(start) || start < 0) throw new GraphError(`occlusion: bad list offset ${start}`);
  return [g.height, g.width, g.window, g.stride, nx, start, n];
}

/**
 * masks [n, H, W]: mask k occludes window list[start + k]. Bindings: { input: 0 } = list (u32
 * window indices), { output: 0 } = masks.
 */
export function occlusionMasksProgram(ctx: BuildContext, g: OcclusionGrid, start: number, n: number): KernelProgram {
  return { dispatches: [{ label: 'occlusion-masks', pipeline: ctx.pipeline(OCCLUSION_MASKS_WGSL),
    workgroups: grid1d(n * g.height * g.width, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { output: 0 }, { uniform: packUniform([...geometry(g, start, n), 0]) }] }] };
}

/** Floats of the accumulator occlusionAccumulateProgram adds into: 2·H·W + 2. */
export function occlusionAccumulatorSize(g: Pick<OcclusionGrid, 'height' | 'width'>): number {
  return 2 * g.height * g.width + 2;
}

/**
 * acc += the batch's occlusion statistics (score lost per pixel, occlusion count per pixel, score
 * total, mask count); clear acc to zero before the first batch. Bindings: { input: 0 } = scores
 * [n], { input: 1 } = list, { output: 0 } = acc [occlusionAccumulatorSize].
 */
export function occlusionAccumulateProgram(ctx: BuildContext, g: OcclusionGrid, start: number, n: number): KernelProgram {
  return { dispatches: [{ label: 'occlusion-accumulate', pipeline: ctx.pipeline(OCCLUSION_ACCUMULATE_WGSL),
    workgroups: grid1d(g.height * g.width + 1, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([...geometry(g, start, n), 0]) }] }] };
}

/**
 * How the accumulated scores become the map. 'kept-count': S = (1/N) Σ_i Ψ_i·M_i, the reference
 * formula (spec 4.2 B). 'coverage': S(p) = Σ_i Ψ_i·M_i(p) / Σ_i M_i(p), the mean score of the
 * masks that leave p visible (RISE's E[Ψ | p visible]); it differs from 'kept-count' only where
 * windows cover the image unevenly, as after IASSA's keep rule.
 */
export type OcclusionNormalisation = 'kept-count' | 'coverage';

/**
 * sal [H·W] from the accumulator. Bindings: { input: 0 } = acc, { output: 0 } = sal.
 */
export function occlusionFinaliseProgram(ctx: BuildContext, pixels: number, mode: OcclusionNormalisation): KernelProgram {
  if (!Number.isInteger(pixels) || pixels < 1) throw new GraphError(`occlusion: pixels must be a positive integer, got ${pixels}`);
  return { dispatches: [{ label: 'occlusion-finalise', pipeline: ctx.pipeline(OCCLUSION_FINALISE_WGSL),
    workgroups: grid1d(pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { output: 0 }, { uniform: packUniform([pixels, mode === 'coverage' ? 1 : 0, 0, 0]) }] }] };
}

/**
 * IASSA's rule for keeping a candidate window in the next round. 'window-overlaps-region' (the
 * evident intent, spec 4.2 [P]): the occluded window intersects the region. 'reference-parity':
 * the reference code's max(M ⊙ R) > 0, i.e. some visible pixel lies in the region.
 */
export type KeepRule = 'window-overlaps-region' | 'reference-parity';

/**
 * flags [count] = 1 for each window of the grid the rule keeps, else 0. Bindings: { input: 0 } =
 * region [H·W] (0/1), { input: 1 } = region stats (element 3 = its pixel count, as written by
 * regionThresholdProgram), { output: 0 } = flags.
 */
export function windowKeepProgram(ctx: BuildContext, g: OcclusionGrid, rule: KeepRule): KernelProgram {
  const { count } = occlusionGridSize(g);
  const groups: [number, number, number] = count <= 65535 ? [count, 1, 1] : [65535, Math.ceil(count / 65535), 1];
  return { dispatches: [{ label: 'window-keep', pipeline: ctx.pipeline(WINDOW_KEEP_WGSL), workgroups: groups,
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([...geometry(g, 0, count), rule === 'reference-parity' ? 1 : 0]) }] }] };
}
