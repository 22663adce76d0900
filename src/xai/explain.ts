/**
 * One entry point for every method: an image (RGBA pixels) in, an Explanation with the map on the
 * model's input grid and on the original image out.
 */
import type { Model } from '../runtime/model.js';
import { InputError } from '../runtime/errors.js';
import { modelInputToRgb, preprocessImage, resolvePreprocessing, type PresetName, type Preprocessing, type RgbaImage } from './preprocess.js';
import { mapToOriginal, type Explanation } from './explanation.js';
import { sise, adaSise, type SiseOptions } from './sise.js';
import { gradCam, gradCamPlusPlus, scoreCam, type GradCamPlusPlusOptions } from './cams.js';
import { rise, type RiseOptions } from './rise.js';
import { elime, type ElimeOptions } from './elime.js';
import { lime, type LimeOptions } from './lime.js';
import { iassa, type IassaOptions } from './iassa.js';
import { maskOptimisation, type MaskOptimisationOptions } from './mask-optimisation.js';

/** Every method's options; each method reads the fields it knows. */
export type MethodOptions = SiseOptions & GradCamPlusPlusOptions & RiseOptions & ElimeOptions & LimeOptions & MaskOptimisationOptions & IassaOptions & {
  /**
   * Where masking happens (spec 0.3 [P]): 'normalized' (default) multiplies the preprocessed tensor,
   * so masked pixels take the dataset mean colour; 'pixel' masks the 0..255 image towards black,
   * i.e. a per-channel baseline of (0 − mean)/std in the model's input space. An explicit
   * `baseline` wins over both.
   */
  maskSpace?: 'normalized' | 'pixel';
};

type Method = (model: Model, image: Float32Array, opts: MethodOptions) => Promise<Explanation>;

/** The implemented methods by name (what the CLI's --method takes). */
export const METHODS: Readonly<Record<string, Method>> = {
  sise,
  'ada-sise': adaSise,
  gradcam: gradCam,
  'gradcam++': gradCamPlusPlus,
  scorecam: scoreCam,
  rise,
  iassa,
  'mask-opt': maskOptimisation,
  lime,
  'e-lime': elime,
};

export type MethodName = keyof typeof METHODS;

/**
 * The scalar options of each method that a command line may set by name (`--param key=value`);
 * `scoreMode` and `seed` apply to every method. Dotted keys set nested options
 * (`segmentation.kernelSize`).
 */
export const METHOD_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  sise: ['mu', 'massNormalise', 'gate'],
  'ada-sise': ['massNormalise', 'gate'],
  gradcam: [],
  'gradcam++': ['normaliseAlpha'],
  scorecam: [],
  rise: ['preset', 'masks', 'gridSize', 'probability', 'tolerance', 'checkEvery'],
  iassa: ['iterations', 'window', 'stride', 'windowShrink', 'strideShrink', 'lambda', 'threshold', 'attentionResolution', 'keepRule', 'normalisation'],
  'mask-opt': ['resolution', 'pairs', 'sigma', 'learningRate', 'sparsity', 'iterations', 'optimiser'],
  lime: ['samples', 'kernelWidth', 'alpha', 'numFeatures', 'featureSelection', 'hide', 'segmentation.kernelSize', 'segmentation.maxDist', 'segmentation.ratio'],
  'e-lime': ['populationSize', 'maxGenerations', 'patience', 'tournamentSize', 'crossover', 'crossoverRate', 'mutationRate', 'elitism',
    'initProbability', 'sparsityTieBreak', 'graded', 'hide', 'segmentation.kernelSize', 'segmentation.maxDist', 'segmentation.ratio'],
};

/** Options every method reads. */
const COMMON_PARAMETERS = ['scoreMode', 'seed'];

/**
 * Turns `key=value` strings into the options of `method` (numbers, booleans and strings as
 * written). Keys no given method knows throw InputError; keys another method knows are skipped.
 */
export function methodParameters(method: string, pairs: readonly string[], allMethods: readonly string[] = [method]): Partial<MethodOptions> {
  const out: Record<string, unknown> = {};
  const known = (m: string) => [...COMMON_PARAMETERS, ...(METHOD_PARAMETERS[m] ?? [])];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new InputError(`parameter '${pair}' is not key=value`);
    const key = pair.slice(0, eq).trim(), raw = pair.slice(eq + 1).trim();
    if (!allMethods.some((m) => known(m).includes(key))) {
      throw new InputError(`no method among ${allMethods.join(', ')} takes '${key}' (they take: ${[...new Set(allMethods.flatMap(known))].join(', ')})`);
    }
    if (!known(method).includes(key)) continue;
    const value: unknown = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    const [head, sub] = key.split('.') as [string, string | undefined];
    if (sub === undefined) out[head] = value;
    else out[head] = { ...(out[head] as Record<string, unknown> | undefined), [sub]: value };
  }
  return out as Partial<MethodOptions>;
}

/**
 * Explains `image` with `method`; the map is also resampled onto the original image's pixels.
 * `preprocessing` undefined: found from the model (presetForModel); a preset name or explicit
 * values win, with a warning when the model's input suggests another convention.
 */
export async function explainImage(model: Model, image: RgbaImage, given: Preprocessing | PresetName | undefined, method: string, opts: MethodOptions = {}): Promise<Explanation> {
  const preprocessing = resolvePreprocessing(model, given);
  const run = METHODS[method];
  if (!run) throw new InputError(`unknown method '${method}' (available: ${Object.keys(METHODS).join(', ')})`);
  const prepared = preprocessImage(image, preprocessing);
  const baseline = opts.baseline ?? (opts.maskSpace === 'pixel' ? preprocessing.mean.map((m, c) => -m / preprocessing.std[c]!) : undefined);
  // Superpixel methods segment colours, not the normalised tensor.
  const segmentationImage = opts.segmentationImage ?? modelInputToRgb(prepared.tensor, preprocessing);
  const e = await run(model, prepared.tensor, { ...opts, baseline, segmentationImage });
  return { ...e, original: mapToOriginal(e.map, prepared.transform) };
}
