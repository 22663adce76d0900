/**
 * The score an explanation explains, Ψ_c, per row of a model output, and its gradient with respect
 * to that output (the seed of a backward pass). Used by the explanation methods and reverse mode.
 */
import type { BindingRef, BuildContext, KernelProgram } from './types.js';
import { SCORE_WGSL } from '../wgsl/score.js';

/**
 * `logit`: the raw output. `softmax`: the probability computed from logits. `log-softmax`: its log.
 * `sigmoid`: independent per-class probability (multi-label models).
 */
export type ScoreMode = 'logit' | 'softmax' | 'log-softmax' | 'sigmoid';
const MODE_CODE: Record<ScoreMode, number> = { logit: 0, softmax: 1, 'log-softmax': 2, sigmoid: 3 };

/**
 * Bindings: 0 output rows z [rows, k], 1 class index per row (u32), 2 scores [rows],
 * 3 gradient [rows, k] (written fully when `withGradient`, else may be any small buffer).
 */
export function scoreProgram(ctx: BuildContext, mode: ScoreMode, rows: number, k: number, withGradient: boolean,
  io: { z: BindingRef; classes: BindingRef; score: BindingRef; grad: BindingRef }): KernelProgram {
  const u = new Uint32Array([rows, k, MODE_CODE[mode], withGradient ? 1 : 0]);
  return {
    dispatches: [{
      label: `score(${mode})`,
      pipeline: ctx.pipeline(SCORE_WGSL),
      bindings: [io.z, io.classes, io.score, io.grad, { uniform: u.buffer }],
      workgroups: [rows, 1, 1],
    }],
  };
}

/** The same on the host in float64 (tests, and small reads). */
export function scoreHost(mode: ScoreMode, z: ArrayLike<number>, c: number): number {
  let m = -Infinity;
  for (let j = 0; j < z.length; j++) m = Math.max(m, z[j]!);
  let s = 0;
  for (let j = 0; j < z.length; j++) s += Math.exp(z[j]! - m);
  switch (mode) {
    case 'logit': return z[c]!;
    case 'softmax': return Math.exp(z[c]! - m) / s;
    case 'log-softmax': return z[c]! - m - Math.log(s);
    case 'sigmoid': return 1 / (1 + Math.exp(-z[c]!));
  }
}
