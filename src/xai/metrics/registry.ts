/**
 * The evaluation metrics by name: what `evaluate` computes for every map of every image, each a
 * function of one image's maps. A new metric is one entry here. Ground-truth metrics read the map
 * of the labelled class on the original image's pixels; model-truth metrics the top-1 class's map
 * at model-input resolution, batched over the image's maps; the sanity check (optional, costly)
 * re-runs the method on randomised copies of the model.
 */
import type { Model } from '../../runtime/model.js';
import type { ImageTransform, Preprocessing, RgbaImage } from '../preprocess.js';
import type { MethodOptions } from '../explain.js';
import { mapToOriginal, type SaliencyMap } from '../explanation.js';
import { bboxScore, energyPointingGame, topFractionIoU } from './ground-truth.js';
import { deletionInsertionBatch, type CausalResult } from './causal.js';
import { dropIncrease, type DropIncreaseResult } from './drop-increase.js';
import { modelRandomisation, weightedLayers } from './sanity.js';

/** One image with every map evaluation scores on it. */
export interface ImageEvaluation {
  model: Model;
  image: RgbaImage;
  preprocessing: Preprocessing;
  /** The preprocessed model input [1, C, H, W] and where it came from in the image. */
  tensor: Float32Array;
  transform: ImageTransform;
  /** Annotation boxes as a 0/1 mask on the original image's pixels. */
  boxes: Uint8Array;
  label: number;
  /** Per method (or prior map): the labelled class's map, the top-1 class's map and that class. */
  maps: readonly { method: string; gt: SaliencyMap; top: SaliencyMap; topClass?: number; prior?: boolean }[];
  /** Pixels per deletion/insertion step, forward passes per batch, and each method's options. */
  step: number;
  batch: number;
  methodOptions: (method: string) => MethodOptions;
  /** Results shared between metrics computed by one batched call (deletion and insertion, ...). */
  shared: Map<string, Promise<unknown>>;
}

export interface EvaluationMetric {
  /** Column name in evaluate's tables. */
  name: string;
  better: 'higher' | 'lower';
  /** Computed only when asked for (evaluate `--sanity`): costly. */
  optional?: boolean;
  /** One value per map of the image, in order; undefined where the metric does not apply. */
  compute(x: ImageEvaluation): Promise<(number | undefined)[]>;
}

function once<T>(x: ImageEvaluation, key: string, make: () => Promise<T>): Promise<T> {
  let p = x.shared.get(key) as Promise<T> | undefined;
  if (!p) { p = make(); x.shared.set(key, p); }
  return p;
}

const originals = (x: ImageEvaluation) => once(x, 'originals', async () => x.maps.map((m) => mapToOriginal(m.gt, x.transform)));
const groundTruth = (name: string, f: (map: SaliencyMap, mask: Uint8Array) => number): EvaluationMetric => ({
  name, better: 'higher', compute: async (x) => (await originals(x)).map((o) => 100 * f(o, x.boxes)),
});
const items = (x: ImageEvaluation) => x.maps.map((m) => ({ image: x.tensor, map: m.top, classIndex: m.topClass }));
const causal = (x: ImageEvaluation) => once<CausalResult[]>(x, 'causal', () => deletionInsertionBatch(x.model, items(x), { step: x.step, batchSize: x.batch }));
const dropInc = (x: ImageEvaluation) => once<DropIncreaseResult>(x, 'drop-increase', () => dropIncrease(x.model, items(x), { forms: ['top'], batchSize: x.batch }));

/** Every metric evaluate knows, in table order. */
export const EVALUATION_METRICS: readonly EvaluationMetric[] = [
  groundTruth('EBPG', energyPointingGame),
  groundTruth('Bbox', bboxScore),
  groundTruth('mIoU', topFractionIoU),
  { name: 'Deletion AUC', better: 'lower', compute: async (x) => (await causal(x)).map((r) => r.deletion!.auc) },
  { name: 'Insertion AUC', better: 'higher', compute: async (x) => (await causal(x)).map((r) => r.insertion!.auc) },
  {
    name: 'Drop %', better: 'lower',
    compute: async (x) => { const d = await dropInc(x); return x.maps.map((_, i) => (100 * Math.max(0, d.Y[i]! - d.top!.O[i]!)) / d.Y[i]!); },
  },
  {
    name: 'Increase %', better: 'higher',
    compute: async (x) => { const d = await dropInc(x); return x.maps.map((_, i) => (d.top!.O[i]! > d.Y[i]! ? 100 : 0)); },
  },
  {
    // Mean Spearman correlation over the cascade (the top three weighted layers): lower means the
    // maps depend on the trained weights, as they should.
    name: 'Randomisation ρ', better: 'lower', optional: true,
    compute: async (x) => {
      const out: (number | undefined)[] = [];
      // One method at a time: each step loads a randomised copy of the model.
      for (const m of x.maps) {
        if (m.prior) { out.push(undefined); continue; }
        const steps = Math.min(3, weightedLayers(x.model).length);
        const r = await modelRandomisation(x.model, x.image, x.preprocessing, m.method, { ...x.methodOptions(m.method), classIndex: x.label, steps });
        out.push(r.steps.reduce((s, st) => s + st.spearman, 0) / r.steps.length);
      }
      return out;
    },
  },
];

/** The metrics by name. */
export const METRIC_REGISTRY: ReadonlyMap<string, EvaluationMetric> = new Map(EVALUATION_METRICS.map((m) => [m.name, m]));
