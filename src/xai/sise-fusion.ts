/**
 * SISE phase 4 on the host, in float64, from the per-block visualisation maps a SISE run reads
 * back anyway (`Explanation.layers`, each min-max normalised): the paper's cascade with a hard or
 * soft gate (the same arithmetic as the GPU kernel kernels/map-ops.ts cascadeFusionProgram), and
 * what the SISE study (docs/sise-study.md) found SISE needs besides: a ranking of the pixels the
 * deepest block's Otsu gate sets to exactly zero.
 *
 * Why the ranking: the hard cascade's support is the Otsu foreground of the deepest map, so most
 * of the image (a median of about 60 % of pixels) is exactly 0. Every ranking metric (insertion,
 * deletion, Drop/Increase's top 15 %) then orders those pixels arbitrarily, by index. `outside:
 * 'deepest'` keeps every gated pixel's value and order, and orders the zero region by the un-gated
 * deepest map, strictly below every gated pixel: the paper's map inside its support, the method's
 * own evidence outside it.
 */
import { otsuQuantise, otsuThresholdHost } from './otsu.js';

/** How pixels outside the final gate (value exactly 0 after a hard cascade) are ranked. */
export type OutsideRanking = 'zero' | 'deepest';

export interface HostFusionOptions {
  /** 'hard' (paper, spec 1.2 phase 4) or 'soft' (σ(sharpness·(Ṽ − (t+1)/255)), ECE1512 code). */
  gate?: 'hard' | 'soft';
  /** Soft-gate slope (default 100). */
  sharpness?: number;
  /**
   * 'zero' (paper): pixels outside the gate stay 0. 'deepest': they are ranked by the deepest
   * block's un-gated map, scaled below the smallest positive fused value.
   */
  outside?: OutsideRanking;
  /**
   * With outside 'deepest': the largest value an outside pixel gets, as a fraction of the
   * smallest positive fused value (default OUTSIDE_SCALE). Any fraction below 1 gives the same
   * ranking; a small one keeps the energy outside the gate (EBPG, the display) at the paper's.
   */
  outsideScale?: number;
  eps?: number;
}

/** Default outsideScale: ranks the zero region while leaving it almost black (docs/sise-study.md). */
export const OUTSIDE_SCALE = 0.01;

/** N(v) = (v − min)/(max − min + eps); a constant map becomes zeros (spec 0.3). */
export function minMaxHost(v: ArrayLike<number>, eps = 1e-6): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { lo = Math.min(lo, v[i]!); hi = Math.max(hi, v[i]!); }
  const out = new Float64Array(v.length);
  if (!(hi > lo)) return out;
  for (let i = 0; i < v.length; i++) out[i] = (v[i]! - lo) / (hi - lo + eps);
  return out;
}

/**
 * Fuses B block maps (shallow → deep, same length) into one map, min-max normalised to [0, 1]:
 * Ṽ_b = N(V_b); E ← Ṽ_1; E ← (E + Ṽ_b) ⊙ gate(Ṽ_b) for b = 2..B; then the outside ranking.
 * Given SISE's read-back block maps (already N(V_b) on the GPU), N runs a second time: the spec's
 * absolute ε = 1e-6 shrinks SISE's tiny mass-normalised sums (a block's maximum at 0.987 instead of
 * 1 was seen), and the second pass stretches them to a full [0, 1] before the Otsu bins are taken,
 * so a few per cent of pixels fall in other bins than in the GPU cascade (docs/sise-study.md).
 */
export function fuseBlockMaps(maps: readonly ArrayLike<number>[], opts: HostFusionOptions = {}): Float64Array {
  if (maps.length === 0) throw new RangeError('fuseBlockMaps needs at least one map');
  const P = maps[0]!.length;
  for (const m of maps) if (m.length !== P) throw new RangeError(`block maps differ in size (${m.length} and ${P} pixels)`);
  const eps = opts.eps ?? 1e-6, k = opts.sharpness ?? 100;
  const norm = maps.map((m) => minMaxHost(m, eps));
  const E = Float64Array.from(norm[0]!);
  for (let b = 1; b < norm.length; b++) {
    const v = norm[b]!;
    const t = otsuThresholdHost(v);
    for (let p = 0; p < P; p++) {
      const g = opts.gate === 'soft' ? 1 / (1 + Math.exp(-k * (v[p]! - (t + 1) / 255))) : otsuQuantise(v[p]!) > t ? 1 : 0;
      E[p] = (E[p]! + v[p]!) * g;
    }
  }
  const frac = opts.outsideScale ?? OUTSIDE_SCALE;
  if (!(frac > 0 && frac < 1)) throw new RangeError(`outsideScale must be in (0, 1), got ${frac}`);
  if ((opts.outside ?? 'zero') === 'deepest' && norm.length > 1) {
    let minPos = Infinity;
    for (let p = 0; p < P; p++) if (E[p]! > 0) minPos = Math.min(minPos, E[p]!);
    if (Number.isFinite(minPos)) {
      // Strictly below the smallest gated value, in the deepest map's order.
      const deep = norm[norm.length - 1]!, scale = (opts.outsideScale ?? OUTSIDE_SCALE) * minPos;
      for (let p = 0; p < P; p++) if (E[p] === 0) E[p] = scale * deep[p]!;
    }
  }
  return minMaxHost(E, eps);
}
