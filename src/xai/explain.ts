/**
 * One entry point for every method: an image (RGBA pixels) in, an Explanation with the map on the
 * model's input grid and on the original image out.
 */
import type { Model } from '../runtime/model.js';
import { InputError } from '../runtime/errors.js';
import { modelInputToRgb, preprocessImage, resolvePreprocessing, type PreparedImage, type PresetName, type Preprocessing, type RgbaImage } from './preprocess.js';
import { mapToOriginal, type Explanation } from './explanation.js';
import { sise, sisePaper, adaSise, type SiseOptions } from './sise.js';
import { gradCam, gradCamPlusPlus, scoreCam, type GradCamPlusPlusOptions, type GradientCamMethod } from './cams.js';
import { layerCam } from './layercam.js';
import { xGradCam } from './xgradcam.js';
import { hiResCam } from './hirescam.js';
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
  'sise-paper': sisePaper,
  'ada-sise': adaSise,
  gradcam: gradCam,
  'gradcam++': gradCamPlusPlus,
  layercam: layerCam,
  xgradcam: xGradCam,
  hirescam: hiResCam,
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
  sise: ['mu', 'massNormalise', 'gate', 'outside'],
  'sise-paper': ['mu', 'massNormalise', 'gate', 'outside'],
  'ada-sise': ['massNormalise', 'gate', 'outside'],
  gradcam: [],
  'gradcam++': ['normaliseAlpha'],
  layercam: [],
  xgradcam: [],
  hirescam: [],
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
 * What a method needs besides the model input, from the image and its preprocessing: the masking
 * baseline of `maskSpace` and the colour image superpixel methods segment. The one place both
 * `explain` and `evaluate` get them from.
 */
export function methodInputs(prepared: PreparedImage, preprocessing: Preprocessing, opts: MethodOptions): MethodOptions {
  const baseline = opts.baseline ?? (opts.maskSpace === 'pixel' ? preprocessing.mean.map((m, c) => -m / preprocessing.std[c]!) : undefined);
  // Superpixel methods segment colours, not the normalised tensor.
  const segmentationImage = opts.segmentationImage ?? modelInputToRgb(prepared.tensor, preprocessing);
  return { ...opts, baseline, segmentationImage };
}

/**
 * Explains `image` with `method`; the map is also resampled onto the original image's pixels.
 * `preprocessing` undefined: found from the model (presetForModel); a preset name or explicit
 * values win, with a warning when the model's input suggests another convention.
 */
export async function explainImage(model: Model, image: RgbaImage, preprocessing: Preprocessing | PresetName | undefined, method: string, opts: MethodOptions = {}): Promise<Explanation> {
  return (await explain(model, [image], { ...opts, method, preprocessing, targets: [opts.classIndex] }))[0]![0]!;
}

/** Classes to explain for one image: one class, several, or undefined for its top-1 class. */
export type Target = number | readonly number[] | undefined;

/** What `explain` runs: the method, its options, the preprocessing and the classes per image. */
export interface ExplainRequest extends MethodOptions {
  /** A name of METHODS. */
  method: string;
  /**
   * How the RGBA images become model input: explicit values (PRESETS, presetForInput), a preset
   * name, or undefined to find it from the model (presetForModel; a contradicting preset warns).
   */
  preprocessing?: Preprocessing | PresetName | undefined;
  /**
   * Per image (same order, one entry per image): the class or classes to explain, or undefined for
   * the image's top-1 class. A single class number applies to every image. Default: each image's
   * top-1 (or `classIndex` when given).
   */
  targets?: number | readonly Target[];
}

/**
 * Explains many images, each for one or several classes, with one method: `result[i][j]` is image
 * i's explanation of its j-th target (with `original`, the map on the image's own pixels). The
 * top-1 classes come from one batched forward pass of all the images. Gradient CAMs (Grad-CAM,
 * Grad-CAM++, LayerCAM, XGrad-CAM, HiResCAM) run all (image, class) rows in batched forward and
 * backward passes of `batchSize` rows (default 8); the other methods run per image and class,
 * reusing the model's cached plans and the device's compiled kernels from one image to the next.
 */
export async function explain(model: Model, images: readonly RgbaImage[], req: ExplainRequest): Promise<Explanation[][]> {
  const { method, preprocessing: given, targets, ...opts } = req;
  const run = METHODS[method];
  if (!run) throw new InputError(`unknown method '${method}' (available: ${Object.keys(METHODS).join(', ')})`);
  if (images.length === 0) return [];
  const preprocessing = resolvePreprocessing(model, given);
  const perImage: readonly Target[] = Array.isArray(targets) ? targets : images.map(() => targets as number | undefined);
  if (perImage.length !== images.length) throw new InputError(`targets has ${perImage.length} entries for ${images.length} images (one per image)`);
  const prepared = images.map((img) => preprocessImage(img, preprocessing));
  const inputs = prepared.map((p) => methodInputs(p, preprocessing, opts));
  const batched = (run as Partial<GradientCamMethod<MethodOptions>>).batch;
  // Batched passes need every class up front; a method run per image finds its own top-1.
  const { classes, classified } = await resolveTargets(model, prepared, perImage, opts.classIndex, batched !== undefined);
  const out: Explanation[][] = prepared.map(() => []);
  if (batched) {
    const rows = classes.flatMap((cs, image) => cs.map((classIndex) => ({ image, classIndex: classIndex! })));
    const es = await batched(model, prepared.map((p) => p.tensor), rows, opts);
    // An image whose top-1 class was looked up had one more forward pass (a row of one batched pass).
    rows.forEach((r, k) => out[r.image]!.push({ ...es[k]!, forwardPasses: es[k]!.forwardPasses + (classified.has(r.image) ? 1 : 0) }));
  } else {
    for (let i = 0; i < prepared.length; i++) {
      for (const classIndex of classes[i]!) out[i]!.push(await run(model, prepared[i]!.tensor, { ...inputs[i]!, classIndex }));
    }
  }
  return out.map((list, i) => list.map((e) => ({ ...e, original: mapToOriginal(e.map, prepared[i]!.transform) })));
}

/**
 * The classes of every image: its targets, or its top-1 class (from one batched forward pass of
 * the images that need it) when a target is undefined; `fallback` (opts.classIndex) first.
 */
async function resolveTargets(model: Model, prepared: readonly PreparedImage[], targets: readonly Target[], fallback: number | undefined, topNeeded: boolean): Promise<{ classes: (number | undefined)[][]; classified: Set<number> }> {
  const want = targets.map((t) => (t === undefined ? fallback : t));
  const need = topNeeded ? want.map((t, i) => (t === undefined ? i : -1)).filter((i) => i >= 0) : [];
  const top = new Map<number, number>();
  const found = await topClasses(model, need.map((i) => prepared[i]!));
  need.forEach((i, k) => top.set(i, found[k]!));
  const classes = want.map((t, i) => {
    const list = t === undefined ? [top.get(i)] : typeof t === 'number' ? [t] : [...t];
    if (list.length === 0) throw new InputError(`image ${i} has an empty list of targets`);
    return list;
  });
  return { classes, classified: new Set(need) };
}

/** The top-1 class of each prepared image, from one batched forward pass. */
export async function topClasses(model: Model, prepared: readonly PreparedImage[]): Promise<number[]> {
  if (prepared.length === 0) return [];
  const per = prepared[0]!.tensor.length;
  const data = new Float32Array(prepared.length * per);
  prepared.forEach((p, k) => data.set(p.tensor, k * per));
  const { outputs } = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: [prepared.length, ...prepared[0]!.shape.slice(1)], data } });
  const z = outputs[model.outputs[0]!.name]!.data;
  const K = z.length / prepared.length;
  return prepared.map((_, k) => {
    let best = 0;
    for (let c = 1; c < K; c++) if (z[k * K + c]! > z[k * K + best]!) best = c;
    return best;
  });
}

/**
 * The two maps evaluation needs of one image, through `explain` (the same preprocessing, masking
 * baseline and segmentation image as an explanation): for the labelled class (ground-truth
 * metrics) and for the top-1 class (model-truth metrics; the same explanation when they agree).
 */
export async function evaluationMaps(model: Model, image: RgbaImage, preprocessing: Preprocessing, method: string, label: number, opts: MethodOptions = {}):
  Promise<{ label: Explanation; top: Explanation; topClass: number; explanations: number }> {
  const [topClass] = await topClasses(model, [preprocessImage(image, preprocessing)]);
  const targets = topClass === label ? [label] : [label, topClass!];
  const [list] = await explain(model, [image], { ...opts, method, preprocessing, targets: [targets] });
  return { label: list![0]!, top: list![list!.length - 1]!, topClass: topClass!, explanations: list!.length };
}
