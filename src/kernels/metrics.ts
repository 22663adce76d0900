/**
 * GPU kernels of the evaluation metrics (methods spec 7.5, 7.6): perturbed model inputs built from
 * per-row descriptors, and the Gaussian blur substrate of insertion.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { BLUR_WGSL, PERTURB_ROWS_WGSL } from '../wgsl/metrics.js';

/** Row descriptor threshold meaning "the field is a float mask" (see {@link perturbRowsProgram}). */
export const SOFT_ROW = 0xffffffff;

function positive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GraphError(`${name} must be a positive integer, got ${v}`);
}

/**
 * out [n, C, P]: row i uses descriptor rows[i] = (from, to, field, threshold) (u32 ×4):
 * pixel p of every channel is planes[to] where ranks fields[field][p] < threshold, else
 * planes[from]; with threshold = {@link SOFT_ROW} the field is a float mask w and the pixel is
 * from·(1 − w) + to·w. Bindings: { input: 0 } planes [Q, C, P] (f32), { input: 1 } fields [F, P]
 * (u32 ranks or f32 bit patterns), { input: 2 } rows [n, 4] (u32), { output: 0 } out.
 */
export function perturbRowsProgram(ctx: BuildContext, p: { n: number; channels: number; pixels: number }): KernelProgram {
  positive('perturb rows: n', p.n); positive('perturb rows: channels', p.channels); positive('perturb rows: pixels', p.pixels);
  return { dispatches: [{ label: 'perturb-rows', pipeline: ctx.pipeline(PERTURB_ROWS_WGSL),
    workgroups: grid1d(p.n * p.channels * p.pixels, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { input: 2 }, { output: 0 }, { uniform: packUniform([p.n, p.channels, p.pixels, 0]) }] }] };
}

/**
 * Per-channel correlation of one [C, H, W] image with a square (2R+1)² kernel, zero padding R.
 * Bindings: { input: 0 } x (read from element `inOffset`), { input: 1 } kernel [(2R+1)²] row-major,
 * { output: 0 } out (written from element `outOffset`).
 */
export function blurProgram(ctx: BuildContext, p: { channels: number; h: number; w: number; radius: number; inOffset?: number; outOffset?: number }): KernelProgram {
  positive('blur: channels', p.channels); positive('blur: h', p.h); positive('blur: w', p.w);
  if (!Number.isInteger(p.radius) || p.radius < 0) throw new GraphError(`blur: radius must be a non-negative integer, got ${p.radius}`);
  return { dispatches: [{ label: 'blur', pipeline: ctx.pipeline(BLUR_WGSL),
    workgroups: grid1d(p.channels * p.h * p.w, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 },
      { uniform: packUniform([p.channels, p.h, p.w, p.radius, p.inOffset ?? 0, p.outOffset ?? 0, 0, 0]) }] }] };
}

/**
 * RISE's blur kernel (`gkern(klen, nsig)`): scipy's `gaussian_filter` (truncate 4, mode 'reflect')
 * of a unit impulse at the centre of a klen×klen array. It is separable: the outer product of the
 * same filter applied to a 1-D impulse, computed here in float64. Row-major [klen²].
 */
export function riseBlurKernel(size = 11, sigma = 5): Float64Array {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new GraphError(`blur kernel size must be an odd positive integer, got ${size}`);
  if (!(sigma > 0)) throw new GraphError(`blur sigma must be positive, got ${sigma}`);
  const radius = Math.floor(4 * sigma + 0.5);
  const g = Float64Array.from({ length: 2 * radius + 1 }, (_, j) => Math.exp(-0.5 * ((j - radius) / sigma) ** 2));
  const sum = g.reduce((a, b) => a + b, 0);
  // 'reflect' repeats the edge sample (d c b a | a b c d | d c b a): period 2·size.
  const fold = (m: number) => { const r = ((m % (2 * size)) + 2 * size) % (2 * size); return r < size ? r : 2 * size - 1 - r; };
  const centre = (size - 1) / 2;
  const k1 = new Float64Array(size);
  for (let i = 0; i < size; i++) for (let t = -radius; t <= radius; t++) if (fold(i + t) === centre) k1[i] = k1[i]! + g[t + radius]! / sum;
  const k = new Float64Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) k[y * size + x] = k1[y]! * k1[x]!;
  return k;
}
