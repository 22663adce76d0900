/**
 * Saliency-map reconstruction check (methods spec 3.3 [P]), after Thakur & Fischmeister (ICPR
 * 2020): keep the pixels a saliency map marks as salient, regenerate the rest, classify the
 * variants and report how often the model still predicts the explained class (the paper reports
 * 89% with a generative model we could not identify). The generator is the caller's; the default
 * is {@link diffusionInpaintingGenerator}. An evaluation hook, not a saliency method: it returns
 * statistics, not a map.
 */
import type { Model } from '../runtime/model.js';
import { InputError } from '../runtime/errors.js';
import { scoreHost } from '../kernels/score.js';
import { ExplainSession, argmax, type CommonOptions } from './session.js';
import type { SaliencyMap } from './explanation.js';
import { otsuQuantise, otsuThresholdHost } from './otsu.js';

/** The image geometry a generator is called with. */
export interface ImageSize { channels: number; height: number; width: number }

/**
 * Makes one variant: `image` [C, H, W] (the model input), `keep` [H·W] (1 = salient, keep it),
 * `variant` 0..V−1, the check's `seed`, and the geometry. Returns [C, H, W]. It may run on the CPU
 * or the GPU (return a promise). Kept pixels are copied back from the image afterwards, whatever
 * it returns; a wrong length or a non-finite value is an InputError.
 */
export type ReconstructionGenerator = (image: Float32Array, keep: Uint8Array, variant: number, seed: number, size: ImageSize) => Float32Array | Promise<Float32Array>;

/** Options of the check; `scoreMode` only affects the reported per-variant scores. */
export interface ReconstructionOptions extends CommonOptions {
  /**
   * Which pixels are kept. 'otsu' (default, spec 0.3): the map is min-max normalised and pixels
   * with floor(255·v) above the Otsu bin are kept. `{ quantile: q }`: the round((1 − q)·H·W)
   * highest pixels are kept (ties by pixel index), e.g. q = 0.8 keeps the top 20%.
   */
  threshold?: 'otsu' | { quantile: number };
  /** Number of variants V (default 16), classified in batches of `batchSize` (default 32). */
  variants?: number;
  /** Default {@link diffusionInpaintingGenerator}(). */
  generator?: ReconstructionGenerator;
  /** u32 passed to the generator (default 0): the same seed gives the same variants. */
  seed?: number;
}

/** What the check found: the share still classified as the class, and per-variant details. */
export interface ReconstructionResult {
  /** The explained class (given, or the top-1 class of the image) and its score Ψ_c on the image. */
  classIndex: number;
  score: number;
  /** Fraction of variants whose top-1 class is `classIndex`. */
  share: number;
  variants: number;
  /** Fraction of pixels kept. */
  keptShare: number;
  keep: Uint8Array;
  /** Top-1 class of each variant. */
  perVariantTop1: number[];
  /** Ψ_c (the chosen score mode) of each variant. */
  perVariantScore: number[];
  /** Otsu bin t (pixels with floor(255·v) > t kept) or the quantile and the lowest kept value. */
  threshold: { kind: 'otsu'; bin: number } | { kind: 'quantile'; quantile: number; value: number };
  forwardPasses: number;
  timings: Record<string, number>;
  params: Record<string, unknown>;
}

/** Keeps the salient pixels, regenerates the rest V times and classifies the variants. */
export async function reconstructionCheck(model: Model, image: Float32Array, map: SaliencyMap | Float32Array, opts: ReconstructionOptions = {}): Promise<ReconstructionResult> {
  const V = opts.variants ?? 16;
  const batch = opts.batchSize ?? 32;
  const seed = opts.seed ?? 0;
  const threshold = opts.threshold ?? 'otsu';
  const mode = opts.scoreMode ?? 'softmax';
  for (const [k, v] of [['variants', V], ['batchSize', batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InputError(`seed must be an integer in [0, 2^32), got ${seed}`);
  if (threshold !== 'otsu' && !(typeof threshold === 'object' && threshold.quantile >= 0 && threshold.quantile <= 1)) {
    throw new InputError(`threshold must be 'otsu' or { quantile: q } with q in [0, 1], got ${JSON.stringify(threshold)}`);
  }
  const generator = opts.generator ?? diffusionInpaintingGenerator();
  const s = new ExplainSession(model, image, opts);
  try {
    const { channels: C, height: H, width: W, pixels: P } = s;
    const values = map instanceof Float32Array ? map : map.data;
    if (!(map instanceof Float32Array) && (map.width !== W || map.height !== H)) throw new InputError(`the map is ${map.width}x${map.height}; the model input is ${W}x${H}`);
    if (values.length !== P) throw new InputError(`the map has ${values.length} values; the model input has ${P} pixels`);
    if (!values.every(Number.isFinite)) throw new InputError('the map contains NaN or infinite values');
    const { classIndex, score } = await s.classify(mode);
    const softmaxOut = mode === 'softmax' && s.endsInSoftmax();
    s.phase('classify');

    const { keep, info } = threshold === 'otsu' ? otsuKeep(values) : quantileKeep(values, threshold.quantile);
    const kept = keep.reduce((a, b) => a + b, 0);
    const source = image.slice(0, C * P);
    s.phase('threshold');

    const perVariantTop1: number[] = [];
    const perVariantScore: number[] = [];
    const outName = model.outputs[0]!.name;
    for (let start = 0; start < V; start += batch) {
      const n = Math.min(batch, V - start);
      const rows = new Float32Array(n * C * P);
      for (let i = 0; i < n; i++) rows.set(await variantOf(generator, source, keep, start + i, seed, { channels: C, height: H, width: W }), i * C * P);
      s.phase('generate');
      const { outputs } = await model.run({ [s.inputName]: { dtype: 'float32', shape: [n, C, H, W], data: rows } });
      s.forwardPasses += n;
      const z = outputs[outName]!.data;
      const K = z.length / n;
      for (let i = 0; i < n; i++) {
        const row = z.subarray(i * K, (i + 1) * K);
        perVariantTop1.push(argmax(row));
        perVariantScore.push(softmaxOut ? row[classIndex]! : scoreHost(mode, row, classIndex));
      }
      s.phase('variant passes');
      s.progress('reconstruction variants', start + n, V);
    }
    return {
      classIndex, score, share: perVariantTop1.filter((c) => c === classIndex).length / V, variants: V, keptShare: kept / P, keep,
      perVariantTop1, perVariantScore, threshold: info, forwardPasses: s.forwardPasses, timings: s.timings,
      params: { variants: V, batchSize: batch, seed, threshold, scoreMode: mode, generator: opts.generator ? 'custom' : 'diffusion-inpainting' },
    };
  } finally {
    s.destroy();
  }
}

async function variantOf(generator: ReconstructionGenerator, image: Float32Array, keep: Uint8Array, variant: number, seed: number, size: ImageSize): Promise<Float32Array> {
  const out = await generator(image, keep, variant, seed, size);
  if (!(out instanceof Float32Array) || out.length !== image.length) {
    throw new InputError(`the generator returned ${out instanceof Float32Array ? `${out.length} values` : 'no Float32Array'} for variant ${variant}; the image has ${image.length}`);
  }
  if (!out.every(Number.isFinite)) throw new InputError(`the generator returned NaN or infinite values for variant ${variant}`);
  const P = keep.length;
  const v = Float32Array.from(out);
  for (let c = 0; c < image.length / P; c++) for (let p = 0; p < P; p++) if (keep[p]) v[c * P + p] = image[c * P + p]!;
  return v;
}

function otsuKeep(values: ArrayLike<number>): { keep: Uint8Array; info: ReconstructionResult['threshold'] } {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]!); hi = Math.max(hi, values[i]!); }
  const norm = Float64Array.from(values, (v) => (hi > lo ? (v - lo) / (hi - lo + 1e-6) : 0));
  const bin = otsuThresholdHost(norm);
  const keep = Uint8Array.from(norm, (v) => (otsuQuantise(v) > bin ? 1 : 0));
  return { keep, info: { kind: 'otsu', bin } };
}

function quantileKeep(values: ArrayLike<number>, q: number): { keep: Uint8Array; info: ReconstructionResult['threshold'] } {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
  const k = Math.round((1 - q) * n);
  const keep = new Uint8Array(n);
  for (let i = 0; i < k; i++) keep[order[i]!] = 1;
  return { keep, info: { kind: 'quantile', quantile: q, value: k > 0 ? values[order[k - 1]!]! : Infinity } };
}

/** Settings of {@link diffusionInpaintingGenerator}. */
export interface DiffusionInpaintingOptions {
  /** Relaxation sweeps per pyramid level (default 50; ≈1% of the value range from the exact fill at 224²). */
  sweeps?: number;
  /** Noise grid g (g×g cells, bilinear up-sampling; default 4): how coarse the variations are. */
  noiseGrid?: number;
  /** Noise standard deviation as a multiple of the kept pixels' standard deviation per channel (default 0.5). */
  noiseAmplitude?: number;
}

/**
 * The default generator: diffusion inpainting plus seeded low-frequency noise, on the CPU.
 *
 * Per channel, the regenerated pixels get the harmonic fill of the kept ones (the discrete Laplace
 * equation, 4-neighbour, with the kept pixels as fixed values and zero-flux image borders: each
 * regenerated pixel is the mean of its in-image neighbours), i.e. diffusion inpainting. It is
 * solved approximately on a 2× pyramid, coarse to fine (a coarse cell is fixed when any of its
 * pixels is kept, at their mean; regenerated pixels start from the coarse solution up-sampled
 * bilinearly, at the coarsest level from the kept mean), with `sweeps` red-black successive
 * over-relaxation sweeps per level (ω = 2/(1 + sin(π/max(H, W)))): a Gauss-Seidel form of the
 * Jacobi iteration that converges in O(n) rather than O(n²) sweeps. Each variant then
 * adds, on the regenerated pixels only, a g×g grid of N(0, 1) draws (seeded by seed, variant and
 * channel) up-sampled bilinearly and scaled by `noiseAmplitude` × the kept pixels' standard
 * deviation, and clamps to the kept pixels' [min, max] of that channel, so the variants differ but
 * stay inside the kept range. With nothing kept every value is 0 (the normalised-space mean); with
 * everything kept the image comes back unchanged.
 *
 * Cost (CPU): the fill is ≈ sweeps · C · H·W · 4/3 neighbour updates (≈ 10 M for 224²; 0.1–0.4 s
 * in Node on a shared core) and is cached for the last (image, keep) arrays (by identity: do not mutate them between calls), so a
 * check pays it once;
 * each variant then costs O(C·H·W) (a few ms). The check records it under timings.generate.
 */
export function diffusionInpaintingGenerator(opts: DiffusionInpaintingOptions = {}): ReconstructionGenerator {
  const sweeps = opts.sweeps ?? 50;
  const grid = opts.noiseGrid ?? 4;
  const amp = opts.noiseAmplitude ?? 0.5;
  if (!Number.isInteger(sweeps) || sweeps < 0) throw new InputError(`sweeps must be a non-negative integer, got ${sweeps}`);
  if (!Number.isInteger(grid) || grid < 1) throw new InputError(`noiseGrid must be a positive integer, got ${grid}`);
  if (!(amp >= 0 && Number.isFinite(amp))) throw new InputError(`noiseAmplitude must be a non-negative number, got ${amp}`);
  let cache: { image: Float32Array; keep: Uint8Array; fill: Float32Array; stats: { lo: number; hi: number; sd: number }[] } | undefined;
  return (image, keep, variant, seed, size) => {
    const { channels: C, height: H, width: W } = size;
    const P = H * W;
    if (keep.length !== P || image.length !== C * P) throw new InputError(`the generator got ${image.length} values and a ${keep.length}-pixel keep mask for a [${C}, ${H}, ${W}] image`);
    if (!cache || cache.image !== image || cache.keep !== keep) {
      const fill = new Float32Array(image.length);
      const stats = [];
      for (let c = 0; c < C; c++) {
        const ch = image.subarray(c * P, (c + 1) * P);
        fill.set(harmonicFill(ch, keep, H, W, sweeps), c * P);
        stats.push(keptStats(ch, keep));
      }
      cache = { image, keep, fill, stats };
    }
    const out = Float32Array.from(cache.fill);
    for (let c = 0; c < C; c++) {
      const st = cache.stats[c]!;
      if (!(st.hi >= st.lo)) continue; // nothing kept: zeros
      const noise = lowFrequencyNoise(H, W, grid, mix(seed, variant, c));
      for (let p = 0; p < P; p++) {
        if (keep[p]) continue;
        const i = c * P + p;
        out[i] = Math.min(st.hi, Math.max(st.lo, out[i]! + amp * st.sd * noise[p]!));
      }
    }
    return out;
  };
}

function keptStats(ch: Float32Array, keep: Uint8Array): { lo: number; hi: number; sd: number } {
  let n = 0, s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
  keep.forEach((k, p) => {
    if (!k) return;
    const v = ch[p]!;
    n++; s += v; s2 += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v);
  });
  const mean = n ? s / n : 0;
  return { lo, hi, sd: n ? Math.sqrt(Math.max(0, s2 / n - mean * mean)) : 0 };
}

/** Harmonic fill of one channel (see diffusionInpaintingGenerator); kept pixels are returned unchanged. */
function harmonicFill(ch: ArrayLike<number>, keep: Uint8Array, H: number, W: number, sweeps: number): Float64Array {
  const P = H * W;
  let n = 0, sum = 0;
  for (let p = 0; p < P; p++) if (keep[p]) { n++; sum += ch[p]!; }
  if (n === 0) return new Float64Array(P);
  const vals = Float64Array.from({ length: P }, (_, p) => (keep[p] ? ch[p]! : 0));
  return solveLevel(vals, keep, H, W, sweeps, sum / n);
}

function solveLevel(vals: Float64Array, keep: Uint8Array, H: number, W: number, sweeps: number, mean: number): Float64Array {
  let u: Float64Array;
  if (H > 8 && W > 8) {
    // Coarse level: a cell is kept if any of its (up to) 2×2 pixels is, with their mean value.
    const h = Math.ceil(H / 2), w = Math.ceil(W / 2);
    const cv = new Float64Array(h * w), ck = new Uint8Array(h * w), cn = new Float64Array(h * w);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const p = y * W + x;
      if (!keep[p]) continue;
      const q = (y >> 1) * w + (x >> 1);
      cv[q]! += vals[p]!; cn[q]!++; ck[q] = 1;
    }
    for (let q = 0; q < h * w; q++) if (ck[q]) cv[q]! /= cn[q]!;
    const coarse = solveLevel(cv, ck, h, w, sweeps, mean);
    // Bilinear (half-pixel) up-sampling of the coarse solution as the starting point.
    u = new Float64Array(H * W);
    for (let y = 0; y < H; y++) {
      const sy = Math.min(Math.max((y + 0.5) / 2 - 0.5, 0), h - 1), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), ly = sy - y0;
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        if (keep[p]) { u[p] = vals[p]!; continue; }
        const sx = Math.min(Math.max((x + 0.5) / 2 - 0.5, 0), w - 1), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), lx = sx - x0;
        u[p] = (1 - ly) * ((1 - lx) * coarse[y0 * w + x0]! + lx * coarse[y0 * w + x1]!) + ly * ((1 - lx) * coarse[y1 * w + x0]! + lx * coarse[y1 * w + x1]!);
      }
    }
  } else {
    u = Float64Array.from(vals, (v, p) => (keep[p] ? v : mean));
  }
  // Red-black successive over-relaxation with the optimal factor for an n-pixel-wide domain.
  const omega = 2 / (1 + Math.sin(Math.PI / Math.max(H, W)));
  for (let it = 0; it < sweeps; it++) {
    for (let colour = 0; colour < 2; colour++) {
      for (let y = 0; y < H; y++) for (let x = (y + colour) & 1; x < W; x += 2) {
        const p = y * W + x;
        if (keep[p]) continue;
        let s = 0, k = 0;
        if (y > 0) { s += u[p - W]!; k++; }
        if (y < H - 1) { s += u[p + W]!; k++; }
        if (x > 0) { s += u[p - 1]!; k++; }
        if (x < W - 1) { s += u[p + 1]!; k++; }
        if (k) u[p] = u[p]! + omega * (s / k - u[p]!);
      }
    }
  }
  return u;
}

/** A g×g grid of seeded N(0, 1) draws up-sampled bilinearly (half-pixel centres) to H×W. */
function lowFrequencyNoise(H: number, W: number, g: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const cells = Float64Array.from({ length: g * g }, () => {
    const u1 = Math.max(rand(), 1e-12), u2 = rand();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  });
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(Math.max(((y + 0.5) * g) / H - 0.5, 0), g - 1), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, g - 1), ly = sy - y0;
    for (let x = 0; x < W; x++) {
      const sx = Math.min(Math.max(((x + 0.5) * g) / W - 0.5, 0), g - 1), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, g - 1), lx = sx - x0;
      out[y * W + x] = (1 - ly) * ((1 - lx) * cells[y0 * g + x0]! + lx * cells[y0 * g + x1]!) + ly * ((1 - lx) * cells[y1 * g + x0]! + lx * cells[y1 * g + x1]!);
    }
  }
  return out;
}

function mix(seed: number, variant: number, channel: number): number {
  let h = (seed >>> 0) ^ 0x9e3779b9;
  for (const v of [variant, channel]) h = Math.imul(h ^ (v >>> 0), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

/** Small seeded uniform generator in [0, 1). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
