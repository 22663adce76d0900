/**
 * One entry point for every method: an image (RGBA pixels) in, an Explanation with the map on the
 * model's input grid and on the original image out.
 */
import type { Model } from '../runtime/model.js';
import { InputError } from '../runtime/errors.js';
import { modelInputToRgb, preprocessImage, type Preprocessing, type RgbaImage } from './preprocess.js';
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

/** Explains `image` with `method`; the map is also resampled onto the original image's pixels. */
export async function explainImage(model: Model, image: RgbaImage, preprocessing: Preprocessing, method: string, opts: MethodOptions = {}): Promise<Explanation> {
  const run = METHODS[method];
  if (!run) throw new InputError(`unknown method '${method}' (available: ${Object.keys(METHODS).join(', ')})`);
  const prepared = preprocessImage(image, preprocessing);
  const baseline = opts.baseline ?? (opts.maskSpace === 'pixel' ? preprocessing.mean.map((m, c) => -m / preprocessing.std[c]!) : undefined);
  // Superpixel methods segment colours, not the normalised tensor.
  const segmentationImage = opts.segmentationImage ?? modelInputToRgb(prepared.tensor, preprocessing);
  const e = await run(model, prepared.tensor, { ...opts, baseline, segmentationImage });
  return { ...e, original: mapToOriginal(e.map, prepared.transform) };
}
