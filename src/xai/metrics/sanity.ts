/**
 * The model-parameter randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency
 * Maps", NeurIPS 2018), cascading: the weighted layers (Conv, Gemm, MatMul with initializer
 * weights) are re-initialised from the top of the network down, one more per step, and each
 * step's map (same image, same class) is compared with the trained model's map by Spearman rank
 * correlation. A method whose maps do not change as the layers lose their training is not
 * explaining the model. [P] re-initialisation: seeded normal values with the standard deviation of
 * the trained tensor (weights and biases alike; a constant tensor becomes zeros).
 */
import type { Model } from '../../runtime/model.js';
import { InputError } from '../../runtime/errors.js';
import { explainImage, type MethodOptions } from '../explain.js';
import type { Preprocessing, RgbaImage } from '../preprocess.js';
import { SeededRng } from '../genetic.js';

export interface RandomisationOptions extends MethodOptions {
  /** Cascade steps (layers randomised, from the top); default every weighted layer. */
  steps?: number;
  /** Seed of the re-initialisation (default 0). */
  randomSeed?: number;
}

export interface RandomisationStep {
  /** The node re-initialised at this step (all nodes above it are randomised too). */
  layer: string;
  /** Initializers replaced so far. */
  randomised: string[];
  /** Spearman rank correlation of this step's map with the trained model's map. */
  spearman: number;
}

export interface RandomisationResult { method: string; classIndex: number; steps: RandomisationStep[] }

/** The weighted nodes whose weights are initializers, top (output side) first. */
export function weightedLayers(model: Model): { node: string; tensors: string[] }[] {
  const inits = model.graph.initializers;
  return model.graph.nodes
    .filter((n) => (n.opType === 'Conv' || n.opType === 'Gemm' || n.opType === 'MatMul' || n.opType === 'ConvTranspose') && inits.has(n.inputs[1] ?? ''))
    .map((n) => ({ node: n.name || n.outputs[0]!, tensors: n.inputs.slice(1).filter((t) => t && inits.has(t)) }))
    .reverse();
}

/** Runs the cascading randomisation for `method` on one image; see the module comment. */
export async function modelRandomisation(model: Model, image: RgbaImage, preprocessing: Preprocessing, method: string, opts: RandomisationOptions = {}): Promise<RandomisationResult> {
  const { steps: stepsOpt, randomSeed = 0, ...methodOpts } = opts;
  const layers = weightedLayers(model);
  if (layers.length === 0) throw new InputError('the model has no weighted layer (Conv, Gemm, MatMul) with initializer weights to randomise');
  const steps = stepsOpt ?? layers.length;
  if (!Number.isInteger(steps) || steps < 1 || steps > layers.length) throw new InputError(`steps must be an integer in [1, ${layers.length}], got ${stepsOpt}`);
  const base = await explainImage(model, image, preprocessing, method, methodOpts);
  const rng = new SeededRng(randomSeed);
  const replace = new Map<string, Float32Array>();
  const out: RandomisationStep[] = [];
  for (let k = 0; k < steps; k++) {
    for (const t of layers[k]!.tensors) if (!replace.has(t)) replace.set(t, reinitialised(model.graph.initializers.get(t)!.data, rng));
    const random = await model.withWeights(replace);
    try {
      const e = await explainImage(random, image, preprocessing, method, { ...methodOpts, classIndex: base.classIndex });
      out.push({ layer: layers[k]!.node, randomised: [...replace.keys()], spearman: spearman(base.map.data, e.map.data) });
    } finally {
      random.destroy();
    }
  }
  return { method, classIndex: base.classIndex, steps: out };
}

/** Seeded normal values with the standard deviation of `data`. */
function reinitialised(data: ArrayLike<number>, rng: SeededRng): Float32Array {
  let mean = 0;
  for (let i = 0; i < data.length; i++) mean += data[i]!;
  mean /= data.length;
  let v = 0;
  for (let i = 0; i < data.length; i++) v += (data[i]! - mean) ** 2;
  const std = Math.sqrt(v / data.length);
  return Float32Array.from({ length: data.length }, () => std * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
}

/** Spearman rank correlation with average ranks for ties (0 when either side is constant). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new InputError(`maps of ${a.length} and ${b.length} values cannot be compared`);
  const ra = ranks(a), rb = ranks(b);
  const n = ra.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { num += (ra[i]! - ma) * (rb[i]! - mb); da += (ra[i]! - ma) ** 2; db += (rb[i]! - mb) ** 2; }
  return da && db ? num / Math.sqrt(da * db) : 0;
}

function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((i, j) => v[i]! - v[j]!);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]!] === v[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}
