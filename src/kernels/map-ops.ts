/**
 * Whole-map operations of the SISE family (methods spec 0.3 and 1.2 phase 4): in-place min-max
 * normalisation, Otsu thresholding, and the cascaded fusion of per-layer visualisation maps; and the
 * distance of two normalised maps that RISE's early stop reads.
 * Each map is reduced by a single workgroup (maps are at most a few hundred thousand pixels), so
 * results are deterministic.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { CASCADE_FUSION_WGSL, MAP_DISTANCE_WGSL, MINMAX_NORMALISE_WGSL, OTSU_WGSL } from '../wgsl/map-ops.js';

function positive(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GraphError(`${what} must be a positive integer, got ${v}`);
}

/**
 * In place, per map: N(v) = (v − min)/(max − min + eps) (eps = 1e-6, spec 0.3); a map whose max
 * equals its min becomes all zeros. Bindings: { output: 0 } = maps [maps, pixels] (from `offset`).
 */
export function minMaxNormaliseProgram(ctx: BuildContext, maps: number, pixels: number, opts: { eps?: number; offset?: number } = {}): KernelProgram {
  positive('maps', maps); positive('pixels', pixels);
  const groups: [number, number, number] = maps <= 65535 ? [maps, 1, 1] : [65535, Math.ceil(maps / 65535), 1];
  return { dispatches: [{ label: 'minmax-normalise', pipeline: ctx.pipeline(MINMAX_NORMALISE_WGSL), workgroups: groups,
    bindings: [{ output: 0 }, { uniform: packUniform([maps, pixels, opts.offset ?? 0, 0, { f32: opts.eps ?? 1e-6 }, 0, 0, 0]) }] }] };
}

/**
 * Otsu binarisation of one [0, 1] map exactly as spec 0.3 defines it: q = floor(255·v), 256-bin
 * histogram, the first t maximising w0·w1·(μ0 − μ1)² with class 0 = {q ≤ t}; binary = q > t.
 * Bindings: { input: 0 } = map, { output: 0 } = binary [pixels] (0/1), { output: 1 } = info [4]
 * = (t, between-class variance at t, 0, 0). The variance is evaluated in f32, so a near-tie can
 * pick a different t than the float64 host version (otsuThresholdHost); exact ties (empty bins)
 * resolve identically.
 */
export function otsuProgram(ctx: BuildContext, pixels: number, offset = 0): KernelProgram {
  positive('pixels', pixels);
  return { dispatches: [{ label: 'otsu', pipeline: ctx.pipeline(OTSU_WGSL), workgroups: [1, 1, 1],
    bindings: [{ input: 0 }, { output: 0 }, { output: 1 }, { uniform: packUniform([pixels, offset, 0, 0]) }] }] };
}

export interface FusionOptions {
  /**
   * 'hard' (default, [P] spec 1.2): the binary Otsu mask q > t of the later map, as the SISE paper
   * and its fusion figure describe. 'soft': σ(sharpness·(Ṽ − (t+1)/255)), the ECE1512 code's
   * `otsu_sigmoid` gate, centred on the hard gate's boundary ((t+1)/255 is the smallest value with
   * q > t); its "raise t ×1.5 when few pixels exceed 1.5·t" heuristic is not reproduced.
   */
  gate?: 'hard' | 'soft';
  /** Soft-gate slope (ECE1512: 100). */
  sharpness?: number;
  eps?: number;
}

/**
 * SISE cascaded fusion (spec 1.2 phase 4) of B visualisation maps V [B, P], shallow → deep:
 * Ṽ_b = N(V_b); E ← Ṽ_1; for b = 2..B: E ← (E + Ṽ_b) ⊙ Otsu(Ṽ_b). The output is not
 * re-normalised ([P]: run minMaxNormaliseProgram for display). A constant V_b counts as all zeros
 * (spec 0.3), which empties E when it is a later map.
 * Bindings: { input: 0 } = V, { output: 0 } = E [P], { output: 1 } = info [B, 4] = (min V_b,
 * max V_b, Otsu t_b, 0).
 */
export function cascadeFusionProgram(ctx: BuildContext, maps: number, pixels: number, opts: FusionOptions = {}): KernelProgram {
  positive('maps', maps); positive('pixels', pixels);
  return { dispatches: [{ label: 'cascade-fusion', pipeline: ctx.pipeline(CASCADE_FUSION_WGSL), workgroups: [1, 1, 1],
    bindings: [{ input: 0 }, { output: 0 }, { output: 1 },
      { uniform: packUniform([maps, pixels, opts.gate === 'soft' ? 1 : 0, 0, { f32: opts.eps ?? 1e-6 }, { f32: opts.sharpness ?? 100 }, 0, 0]) }] }] };
}

/**
 * The distance of two maps as the display sees them: info[0] = mean over pixels of |N(a) − N(b)|
 * (N = min-max normalisation, spec 0.3, so scale and offset of running sums do not count).
 * Bindings: { input: 0 } = a (from `offsetA`), { input: 1 } = b (from `offsetB`), { output: 0 } = info [≥ 1].
 */
export function mapDistanceProgram(ctx: BuildContext, pixels: number, opts: { offsetA?: number; offsetB?: number; eps?: number } = {}): KernelProgram {
  positive('pixels', pixels);
  return { dispatches: [{ label: 'map-distance', pipeline: ctx.pipeline(MAP_DISTANCE_WGSL), workgroups: [1, 1, 1],
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: packUniform([pixels, opts.offsetA ?? 0, opts.offsetB ?? 0, 0, { f32: opts.eps ?? 1e-6 }, 0, 0, 0]) }] }] };
}
