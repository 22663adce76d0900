/**
 * Checks a method's options before any model work, with the method's own validator where it has
 * one (the same function the method calls when it starts), so a command line refuses a bad
 * `--param` up front (exit 2) instead of after the model load and earlier methods.
 */
import { InputError } from '../src/runtime/errors.js';
import type { MethodOptions } from '../src/xai/explain.js';
import { riseParams } from '../src/xai/rise.js';
import { limeParams } from '../src/xai/lime.js';
import { elimeParams } from '../src/xai/elime.js';
import { iassaParams } from '../src/xai/iassa.js';
import { maskOptimisationParams } from '../src/xai/mask-optimisation.js';

const SCORE_MODES = ['logit', 'softmax', 'log-softmax', 'sigmoid'];

function bool(opts: Record<string, unknown>, key: string): void {
  if (opts[key] !== undefined && typeof opts[key] !== 'boolean') throw new InputError(`${key} must be true or false, got ${String(opts[key])}`);
}

/** Throws InputError when `opts` holds a value `method` would refuse. */
export function checkMethodParameters(method: string, opts: Partial<MethodOptions>): void {
  const o = opts as Record<string, unknown>;
  if (o['scoreMode'] !== undefined && !SCORE_MODES.includes(o['scoreMode'] as string)) {
    throw new InputError(`scoreMode must be one of ${SCORE_MODES.join(', ')}, got ${String(o['scoreMode'])}`);
  }
  const seed = o['seed'];
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    throw new InputError(`seed must be an integer in [0, 2^32), got ${String(seed)}`);
  }
  const batch = o['batchSize'];
  if (batch !== undefined && (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1)) throw new InputError(`batchSize must be a positive integer, got ${String(batch)}`);
  switch (method) {
    case 'rise': riseParams(opts); break;
    case 'lime': limeParams(opts); break;
    case 'e-lime': elimeParams(opts); break;
    case 'iassa': iassaParams(opts); break;
    case 'mask-opt': maskOptimisationParams(opts); break;
    case 'sise': case 'ada-sise': {
      const mu = o['mu'];
      if (mu !== undefined && !(typeof mu === 'number' && mu >= 0 && mu <= 1)) throw new InputError(`mu must be a number in [0, 1], got ${String(mu)}`);
      bool(o, 'massNormalise');
      if (o['gate'] !== undefined && o['gate'] !== 'hard' && o['gate'] !== 'soft') throw new InputError(`gate must be 'hard' or 'soft', got ${String(o['gate'])}`);
      break;
    }
    case 'gradcam++': bool(o, 'normaliseAlpha'); break;
    default: break;
  }
}
