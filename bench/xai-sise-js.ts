/**
 * SISE's mask arithmetic in plain JavaScript (the ort-web peer's half of "forward passes there, mask
 * arithmetic in JavaScript"): the same steps as src/xai/sise.ts phases 3-4, on the host.
 *  - mask m_k = N(Up(A_k)): half-pixel bilinear up-sampling (PyTorch align_corners=False, edge
 *    clamp), then (v − min)/(max − min + 1e-6) with the up-sampled map's extremes (methods spec 0.3);
 *  - masked input x ⊙ m (normalised space, baseline 0);
 *  - V_l += Ψ_c(x ⊙ m) · m / Σ m (SISE eq. 12);
 *  - cascaded fusion: Ṽ_b = N(V_b); E ← Ṽ_1; E ← (E + Ṽ_b) ⊙ [floor(255 Ṽ_b) > Otsu t_b]; N(E).
 */
import { otsuQuantise, otsuThresholdHost } from '../src/xai/otsu.js';

export interface Taps { i0: Int32Array; i1: Int32Array; lambda: Float32Array }

export function bilinearTaps(n: number, m: number): Taps {
  const scale = n / m;
  const i0 = new Int32Array(m), i1 = new Int32Array(m), lambda = new Float32Array(m);
  for (let o = 0; o < m; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const f = Math.min(Math.floor(src), n - 1);
    i0[o] = f; i1[o] = Math.min(f + 1, n - 1); lambda[o] = f + 1 <= n - 1 ? src - f : 0;
  }
  return { i0, i1, lambda };
}

/**
 * Writes the normalised mask of one feature map a [h, w] into out [H, W]; returns its mass Σ m
 * (0 for a constant map, whose mask is all zeros).
 */
export function makeMask(a: Float32Array, aOff: number, w: number, ys: Taps, xs: Taps, out: Float32Array): number {
  const H = ys.i0.length, W = xs.i0.length;
  let lo = Infinity, hi = -Infinity;
  for (let y = 0; y < H; y++) {
    const r0 = aOff + ys.i0[y]! * w, r1 = aOff + ys.i1[y]! * w, ly = ys.lambda[y]!;
    for (let x = 0; x < W; x++) {
      const x0 = xs.i0[x]!, x1 = xs.i1[x]!, lx = xs.lambda[x]!;
      const v = (a[r0 + x0]! * (1 - lx) + a[r0 + x1]! * lx) * (1 - ly) + (a[r1 + x0]! * (1 - lx) + a[r1 + x1]! * lx) * ly;
      out[y * W + x] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const P = H * W;
  if (!(hi > lo)) { out.fill(0, 0, P); return 0; }
  const inv = 1 / (hi - lo + 1e-6);
  let mass = 0;
  for (let p = 0; p < P; p++) { const m = (out[p]! - lo) * inv; out[p] = m; mass += m; }
  return mass;
}

/** In place: (v − min)/(max − min + 1e-6); a constant map becomes zeros. */
export function minMaxInPlace(v: Float32Array): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
  if (!(hi > lo)) return v.fill(0);
  const inv = 1 / (hi - lo + 1e-6);
  for (let i = 0; i < v.length; i++) v[i] = (v[i]! - lo) * inv;
  return v;
}

/** SISE's cascaded fusion with the hard Otsu gate, then min-max for display. */
export function cascadeFusion(maps: Float32Array[]): Float32Array {
  const norm = maps.map((m) => minMaxInPlace(Float32Array.from(m)));
  const E = Float32Array.from(norm[0]!);
  for (let b = 1; b < norm.length; b++) {
    const V = norm[b]!;
    const t = otsuThresholdHost(V);
    for (let p = 0; p < E.length; p++) E[p] = otsuQuantise(V[p]!) > t ? E[p]! + V[p]! : 0;
  }
  return minMaxInPlace(E);
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const rank = (v: ArrayLike<number>) => {
    const n = v.length;
    const idx = Array.from({ length: n }, (_, i) => i).sort((i, j) => v[i]! - v[j]!);
    const r = new Float64Array(n);
    for (let i = 0; i < n;) {
      let j = i;
      while (j + 1 < n && v[idx[j + 1]!] === v[idx[i]!]) j++;
      const avg = (i + j) / 2;
      for (let k = i; k <= j; k++) r[idx[k]!] = avg;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const n = ra.length;
  const mean = (n - 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = ra[i]! - mean, y = rb[i]! - mean; sab += x * y; saa += x * x; sbb += y * y; }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}
