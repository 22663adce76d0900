/**
 * Host Otsu threshold, float64, exactly as methods spec 0.3 defines it (OpenCV THRESH_OTSU on
 * uint8): for small vectors (Ada-SISE's per-channel gradient scores) and as the reference of the
 * GPU kernel (kernels/map-ops.ts otsuProgram).
 */

/** q = floor(255·v) clamped to 0..255 (uint8 truncation). */
export function otsuQuantise(v: number): number {
  return Math.min(255, Math.max(0, Math.floor(255 * v)));
}

/**
 * The Otsu bin t in 0..255 for values in [0, 1]: the first t maximising the between-class variance
 * w0·w1·(μ0 − μ1)² with class 0 = {q ≤ t} (0 when a class is empty; t = 0 when every split is
 * empty or degenerate). Foreground is q > t; Ada-SISE keeps a_k > t/255 (spec 2.2).
 */
export function otsuThresholdHost(values: ArrayLike<number>): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < values.length; i++) hist[otsuQuantise(values[i]!)]!++;
  let n = 0; let s = 0;
  for (let q = 0; q < 256; q++) { n += hist[q]!; s += q * hist[q]!; }
  let n0 = 0; let s0 = 0; let best = 0; let bestT = 0;
  for (let t = 0; t < 256; t++) {
    n0 += hist[t]!; s0 += t * hist[t]!;
    const n1 = n - n0;
    if (n0 === 0 || n1 === 0) continue;
    const d = s0 / n0 - (s - s0) / n1;
    const sigma = (n0 / n) * (n1 / n) * d * d;
    if (sigma > best) { best = sigma; bestT = t; }
  }
  return bestT;
}

/** Binary Otsu foreground (1 where floor(255·v) > t). */
export function otsuMaskHost(values: ArrayLike<number>): Uint8Array {
  const t = otsuThresholdHost(values);
  return Uint8Array.from({ length: values.length }, (_, i) => (otsuQuantise(values[i]!) > t ? 1 : 0));
}
