/**
 * SPSA mask-optimisation kernels (methods spec 3.2 [P]): the up-sampled antithetic perturbations
 * of a low-resolution mask, and the mask update from their scores. The hash, the row layout and
 * the exact formulas are documented in src/wgsl/spsa.ts. The iteration counter is a storage word
 * advanced by the update, so one program of each kind serves every iteration.
 */
import type { BuildContext, KernelProgram } from './types.js';
import { grid1d } from './dispatch-size.js';
import { packUniform } from '../runtime/bind.js';
import { GraphError } from '../runtime/errors.js';
import { SPSA_MASKS_WGSL, SPSA_UPDATE_WGSL } from '../wgsl/spsa.js';

/** The most antithetic pairs per iteration (the update keeps 2Q row objectives in workgroup memory). */
export const SPSA_MAX_PAIRS = 128;

function positiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GraphError(`SPSA: ${what} must be a positive integer, got ${v}`);
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new GraphError(`SPSA: seed must be an integer in [0, 2^32), got ${seed}`);
}

/** Geometry and perturbation of the masks of one iteration. */
export interface SpsaMaskParams {
  /** Output (model input) size. */
  height: number;
  width: number;
  /** Mask grid rh × rw (at most height × width). */
  gridH: number;
  gridW: number;
  /** Antithetic pairs Q per iteration: rows 0..Q−1 are m + σδ, rows Q..2Q−1 are m − σδ. */
  pairs: number;
  /** Perturbation size σ; 0 writes up(m) itself. */
  sigma: number;
  seed: number;
}

/**
 * masks [n, H, W] = rows row0 .. row0+n−1 of the current iteration's 2Q perturbed, up-sampled
 * masks. Bindings: { input: 0 } = m [rh·rw], { input: 1 } = state (u32 words; [0] = iteration),
 * { output: 0 } = masks.
 */
export function spsaMasksProgram(ctx: BuildContext, p: SpsaMaskParams, row0: number, n: number): KernelProgram {
  positiveInt('height', p.height); positiveInt('width', p.width); positiveInt('grid height', p.gridH); positiveInt('grid width', p.gridW);
  positiveInt('pairs', p.pairs); positiveInt('rows', n); checkSeed(p.seed);
  if (p.gridH > p.height || p.gridW > p.width) throw new GraphError(`SPSA: the mask grid ${p.gridH}x${p.gridW} exceeds the input ${p.height}x${p.width}`);
  if (!(p.sigma >= 0 && Number.isFinite(p.sigma))) throw new GraphError(`SPSA: sigma must be finite and ≥ 0, got ${p.sigma}`);
  if (!Number.isInteger(row0) || row0 < 0 || row0 + n > 2 * p.pairs) throw new GraphError(`SPSA: rows [${row0}, ${row0 + n}) exceed the ${2 * p.pairs} rows of an iteration`);
  const u = packUniform([p.height, p.width, p.gridH, p.gridW, p.pairs, row0, n, p.seed | 0,
    { f32: p.sigma }, { f32: p.gridH / p.height }, { f32: p.gridW / p.width }, { f32: 0 }]);
  return { dispatches: [{ label: 'spsa-masks', pipeline: ctx.pipeline(SPSA_MASKS_WGSL),
    workgroups: grid1d(n * p.height * p.width, 64, ctx.traits.maxWorkgroupsPerDimension),
    bindings: [{ input: 0 }, { input: 1 }, { output: 0 }, { uniform: u }] }] };
}

/** The update step: objective and optimiser settings. */
export interface SpsaUpdateParams {
  /** Mask cells R = rh·rw. */
  cells: number;
  pairs: number;
  seed: number;
  sigma: number;
  /** Sparsity weight λ of J = Ψ − λ·mean(m). */
  lambda: number;
  /** Step size η. */
  learningRate: number;
  optimiser: 'sgd' | 'adam';
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Length of the objective trace (iterations recorded); later iterations are not recorded. */
  traceLength: number;
}

const MODE = { init: 0, sgd: 1, adam: 2 } as const;

function updateUniform(p: SpsaUpdateParams, mode: number): ArrayBuffer {
  positiveInt('cells', p.cells); positiveInt('pairs', p.pairs); positiveInt('trace length', p.traceLength); checkSeed(p.seed);
  if (p.pairs > SPSA_MAX_PAIRS) throw new GraphError(`SPSA: at most ${SPSA_MAX_PAIRS} pairs per iteration, got ${p.pairs}`);
  for (const [k, v] of [['sigma', p.sigma], ['lambda', p.lambda], ['learning rate', p.learningRate]] as const) {
    if (!Number.isFinite(v)) throw new GraphError(`SPSA: ${k} must be finite, got ${v}`);
  }
  if (!(p.sigma > 0)) throw new GraphError(`SPSA: sigma must be > 0, got ${p.sigma}`);
  return packUniform([p.cells, p.pairs, p.seed | 0, mode, p.traceLength, 0, 0, 0,
    { f32: p.sigma }, { f32: p.lambda }, { f32: p.learningRate }, { f32: p.beta1 ?? 0.9 }, { f32: p.beta2 ?? 0.999 }, { f32: p.eps ?? 1e-8 }, { f32: 0 }, { f32: 0 }]);
}

/**
 * The update (or, with `init`, the seeded U(0,1) initialisation of m, zeroed moments, iteration 0).
 * Bindings: { input: 0 } = scores Ψ [2Q] (rows as in spsaMasksProgram), { output: 0 } = m [R],
 * { output: 1 } = state (u32 words, ≥ 1), { output: 2 } = moments [2R] (Adam; any for SGD but
 * bound), { output: 3 } = objective trace [traceLength].
 */
export function spsaUpdateProgram(ctx: BuildContext, p: SpsaUpdateParams, init = false): KernelProgram {
  const u = updateUniform(p, init ? MODE.init : MODE[p.optimiser]);
  return { dispatches: [{ label: init ? 'spsa-init' : `spsa-update(${p.optimiser})`, pipeline: ctx.pipeline(SPSA_UPDATE_WGSL), workgroups: [1, 1, 1],
    bindings: [{ input: 0 }, { output: 0 }, { output: 1 }, { output: 2 }, { output: 3 }, { uniform: u }] }] };
}
