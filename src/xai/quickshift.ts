/**
 * Quickshift superpixels (Vedaldi & Soatto, ECCV 2008), a CPU port of scikit-image's
 * `segmentation.quickshift(image, kernel_size, max_dist, ratio, convert2lab=True, sigma=0)`
 * written from its algorithm (methods spec 6.7): RGB → CIE Lab (D65, 2° observer), features
 * (ratio·L, ratio·a, ratio·b, row, col); a Parzen density per pixel over a (2·ceil(3k)+1)² window;
 * each pixel links to the nearest pixel of higher density in its window; links longer than
 * max_dist are cut; the roots of the resulting forest are the segments.
 *
 * Tie-breaking: scikit-image adds seeded Gaussian noise (σ = 1e-5) to the densities so that equal
 * densities (flat regions) still order; this port adds its own seeded noise of the same size (it
 * cannot reproduce numpy's generator), so its labels can differ from scikit-image's only where
 * two densities are within that noise of each other. CPU only: it runs once per explanation and
 * costs O(H·W·(6k+1)²); no Node imports (it is bundled for browsers).
 */

/** Quickshift settings; the defaults are LIME's (`lime_image.LimeImageExplainer`). */
export interface QuickshiftOptions {
  /** Gaussian kernel width k of the density estimate; larger gives fewer segments. Default 4. */
  kernelSize?: number;
  /** Links longer than this (in feature space) are cut; larger gives fewer segments. Default 200. */
  maxDist?: number;
  /** Weight of colour against position (Lab is multiplied by it). Default 0.2. */
  ratio?: number;
  /** u32 seed of the tie-breaking noise. Default 0. */
  seed?: number;
  /**
   * Explicit tie-breaking noise [H·W] added to the densities instead of the seeded noise: lets a
   * test replay scikit-image's own noise and so its exact labels where densities tie.
   */
  noise?: ArrayLike<number>;
}

/** Quickshift settings after defaults. */
export interface QuickshiftParams { kernelSize: number; maxDist: number; ratio: number; seed: number }

/** LIME's quickshift settings (kernel_size 4, max_dist 200, ratio 0.2). */
export const LIME_QUICKSHIFT: Readonly<QuickshiftParams> = Object.freeze({ kernelSize: 4, maxDist: 200, ratio: 0.2, seed: 0 });

/** Resolves defaults and validates (throws RangeError; callers wrap it in their own error type). */
export function quickshiftParams(opts: QuickshiftOptions = {}): QuickshiftParams {
  const p: QuickshiftParams = {
    kernelSize: opts.kernelSize ?? LIME_QUICKSHIFT.kernelSize,
    maxDist: opts.maxDist ?? LIME_QUICKSHIFT.maxDist,
    ratio: opts.ratio ?? LIME_QUICKSHIFT.ratio,
    seed: opts.seed ?? 0,
  };
  // scikit-image rejects kernel_size < 1 too; a huge kernel would make the window the whole image.
  if (!(p.kernelSize >= 1 && p.kernelSize <= 64)) throw new RangeError(`quickshift kernelSize must be in [1, 64], got ${p.kernelSize}`);
  if (!(p.maxDist >= 0) || Number.isNaN(p.maxDist)) throw new RangeError(`quickshift maxDist must be ≥ 0, got ${p.maxDist}`);
  if (!(p.ratio >= 0 && Number.isFinite(p.ratio))) throw new RangeError(`quickshift ratio must be a finite number ≥ 0, got ${p.ratio}`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new RangeError(`quickshift seed must be an integer in [0, 2^32), got ${p.seed}`);
  return p;
}

// sRGB (linear) → XYZ matrix and the D65 / 2° white point, as scikit-image's color.colorconv.
const M = [0.412453, 0.35758, 0.180423, 0.212671, 0.71516, 0.072169, 0.019334, 0.119193, 0.950227] as const;
const WHITE = [0.95047, 1.0, 1.08883] as const;

/**
 * scikit-image's `rgb2lab` (D65, 2°) in float64: interleaved RGB in [0,1] → interleaved L, a, b.
 * Kept exact to its constants (including the 0.008856 / 7.787 linear segment) so the port's
 * features match the oracle's to rounding.
 */
export function rgbToLab(rgb: ArrayLike<number>): Float64Array {
  const n = rgb.length / 3;
  const out = new Float64Array(rgb.length);
  const lin = (v: number) => (v > 0.04045 ? Math.pow((v + 0.055) / 1.055, 2.4) : v / 12.92);
  const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  for (let i = 0; i < n; i++) {
    const r = lin(rgb[3 * i]!), g = lin(rgb[3 * i + 1]!), b = lin(rgb[3 * i + 2]!);
    const x = f((M[0] * r + M[1] * g + M[2] * b) / WHITE[0]);
    const y = f((M[3] * r + M[4] * g + M[5] * b) / WHITE[1]);
    const z = f((M[6] * r + M[7] * g + M[8] * b) / WHITE[2]);
    out[3 * i] = 116 * y - 16;
    out[3 * i + 1] = 500 * (x - y);
    out[3 * i + 2] = 200 * (y - z);
  }
  return out;
}

/**
 * scikit-image `quickshift(image, kernel_size, max_dist, ratio, convert2lab=True, sigma=0)`:
 * labels 0..K−1 per pixel, row-major, numbered in the order of each segment's root pixel
 * (what `np.unique(..., return_inverse=True)` gives).
 */
export function quickshift(rgb: Float32Array, width: number, height: number, opts: QuickshiftOptions = {}): { labels: Int32Array; segments: number } {
  const p = quickshiftParams(opts);
  const P = width * height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`quickshift needs a positive integer size, got ${width}×${height}`);
  if (rgb.length !== P * 3) throw new RangeError(`quickshift needs ${P * 3} RGB values for ${width}×${height}, got ${rgb.length}`);
  const lab = rgbToLab(rgb);
  // Planar features (ratio·L, ratio·a, ratio·b): the hot loops read them without index arithmetic.
  const fL = new Float64Array(P), fA = new Float64Array(P), fB = new Float64Array(P);
  for (let i = 0; i < P; i++) { fL[i] = lab[3 * i]! * p.ratio; fA[i] = lab[3 * i + 1]! * p.ratio; fB[i] = lab[3 * i + 2]! * p.ratio; }

  const kw = Math.ceil(3 * p.kernelSize);
  const inv = -0.5 / (p.kernelSize * p.kernelSize);
  if (opts.noise && opts.noise.length !== P) throw new RangeError(`quickshift noise needs ${P} values, got ${opts.noise.length}`);
  const density = opts.noise ? Float64Array.from(opts.noise) : gaussianNoise(P, 1e-5, p.seed);
  // The kernel is symmetric, so each pair is evaluated once and added to both ends (half the exps
  // of skimage's loop; sums differ from its order only by rounding). The self term is exp(0) = 1.
  for (let r = 0; r < height; r++) {
    const r1 = Math.min(r + kw + 1, height);
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const l = fL[i]!, a = fA[i]!, b = fB[i]!;
      let d = 1;
      for (let rr = r; rr < r1; rr++) {
        const dr = rr - r;
        const c0 = rr === r ? c + 1 : Math.max(c - kw, 0), c1 = Math.min(c + kw + 1, width);
        for (let cc = c0, j = rr * width + c0; cc < c1; cc++, j++) {
          const t0 = l - fL[j]!, t1 = a - fA[j]!, t2 = b - fB[j]!, dc = cc - c;
          const e = Math.exp((t0 * t0 + t1 * t1 + t2 * t2 + dr * dr + dc * dc) * inv);
          d += e;
          density[j]! += e;
        }
      }
      density[i]! += d;
    }
  }

  const parent = new Int32Array(P);
  const maxD2 = p.maxDist * p.maxDist;
  for (let r = 0; r < height; r++) {
    const r0 = Math.max(r - kw, 0), r1 = Math.min(r + kw + 1, height);
    for (let c = 0; c < width; c++) {
      const c0 = Math.max(c - kw, 0), c1 = Math.min(c + kw + 1, width);
      const i = r * width + c;
      const own = density[i]!, l = fL[i]!, a = fA[i]!, b = fB[i]!;
      let best = Infinity, link = i;
      // Row-major scan with strict '<': the first of equally near candidates wins, as in skimage.
      for (let rr = r0; rr < r1; rr++) {
        for (let cc = c0; cc < c1; cc++) {
          const j = rr * width + cc;
          if (density[j]! > own) {
            const t0 = l - fL[j]!, t1 = a - fA[j]!, t2 = b - fB[j]!, dr = r - rr, dc = c - cc;
            const d = t0 * t0 + t1 * t1 + t2 * t2 + dr * dr + dc * dc;
            if (d < best) { best = d; link = j; }
          }
        }
      }
      // skimage compares sqrt(closest) > max_dist; comparing squares is the same test.
      parent[i] = best > maxD2 ? i : link;
    }
  }

  // Every link goes to strictly higher density, so following parents always ends at a root.
  const root = new Int32Array(P).fill(-1);
  const stack: number[] = [];
  for (let i = 0; i < P; i++) {
    let j = i;
    while (root[j] === -1 && parent[j] !== j) { stack.push(j); j = parent[j]!; }
    const top = root[j] === -1 ? j : root[j]!;
    root[j] = top;
    while (stack.length) root[stack.pop()!] = top;
  }
  const id = new Int32Array(P).fill(-1);
  let k = 0;
  for (let i = 0; i < P; i++) if (root[i] === i) id[i] = k++;
  const labels = new Int32Array(P);
  for (let i = 0; i < P; i++) labels[i] = id[root[i]!]!;
  return { labels, segments: k };
}

/** n seeded N(0, σ²) values (splitmix32 + Box–Muller). */
function gaussianNoise(n: number, sigma: number, seed: number): Float64Array {
  let s = (seed ^ 0x9e3779b9) >>> 0;
  const u = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (((z ^ (z >>> 16)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const a = Math.sqrt(-2 * Math.log(u())), t = 2 * Math.PI * u();
    out[i] = sigma * a * Math.cos(t);
    if (i + 1 < n) out[i + 1] = sigma * a * Math.sin(t);
  }
  return out;
}
