/**
 * Image to model input: resize the shorter side, centre-crop, normalise, channel order, NCHW.
 * Pure TypeScript (no DOM, no Node): the browser passes ImageData, Node passes decoded pixels.
 * RGB convention: `RgbaImage.data` is always R,G,B,A; a preset that wants BGR reorders here only.
 */
import { checkRgbaImage } from './image-check.js';

/** Straight (not premultiplied) RGBA pixels, row-major, like ImageData. */
export interface RgbaImage { width: number; height: number; data: Uint8Array | Uint8ClampedArray }

/** How an image becomes a model input: resize, centre crop, channel order, scale, mean and std. */
export interface Preprocessing {
  /** Side of the square model input. */
  size: number;
  /** Shorter side after resizing, before the centre crop (size/0.875 for the ImageNet convention). */
  resize: number;
  channels: 'rgb' | 'bgr' | 'gray';
  /** Pixel values are divided by this first (255 for 0..1 models, 1 for 0..255 models). */
  divisor: number;
  mean: readonly number[];
  std: readonly number[];
  /**
   * Tensor layout: 'NCHW' (default) or 'NHWC' for a channels-last model loaded with
   * `channelsLast: 'keep'` (by default the loader presents such models as NCHW).
   */
  layout?: 'NCHW' | 'NHWC';
}

/** Named presets; see the models' README for which model wants which. */
export const PRESETS = {
  /** torchvision: RGB /255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225). */
  imagenet: { size: 224, resize: 256, channels: 'rgb', divisor: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  /** Caffe: BGR 0..255 minus mean (104, 117, 123), no scaling. */
  caffe: { size: 224, resize: 256, channels: 'bgr', divisor: 1, mean: [104, 117, 123], std: [1, 1, 1] },
  /** MNIST: one channel, white digit on black, 0..255 (what the ONNX zoo MNIST model was trained on). */
  mnist: { size: 28, resize: 28, channels: 'gray', divisor: 1, mean: [0], std: [1] },
} as const satisfies Record<string, Preprocessing>;

/** A named preset of PRESETS. */
export type PresetName = keyof typeof PRESETS;

/** Where the model input came from in the original image: maps a saliency map back. */
export interface ImageTransform {
  sourceWidth: number;
  sourceHeight: number;
  /** Resized pixels per source pixel. */
  scale: number;
  /** Crop origin in resized pixels. */
  cropX: number;
  cropY: number;
  size: number;
}

/** A model-input tensor [1, C, H, W] and where it came from in the original image. */
export interface PreparedImage { tensor: Float32Array; shape: [1, number, number, number]; transform: ImageTransform }

/** Bilinear sample (half-pixel centres, edge clamp) of channel c at source coordinates. */
function sample(img: RgbaImage, x: number, y: number, c: number): number {
  const fx = Math.min(Math.max(x, 0), img.width - 1);
  const fy = Math.min(Math.max(y, 0), img.height - 1);
  const x0 = Math.floor(fx), y0 = Math.floor(fy);
  const x1 = Math.min(x0 + 1, img.width - 1), y1 = Math.min(y0 + 1, img.height - 1);
  const ax = fx - x0, ay = fy - y0;
  const p = (xx: number, yy: number) => img.data[(yy * img.width + xx) * 4 + c]!;
  return (p(x0, y0) * (1 - ax) + p(x1, y0) * ax) * (1 - ay) + (p(x0, y1) * (1 - ax) + p(x1, y1) * ax) * ay;
}

/**
 * Box-filters the image by an integer factor first when shrinking a lot, so bilinear resampling
 * does not alias (a plain bilinear 4x reduction skips three of four pixels).
 */
function prefilter(img: RgbaImage, scale: number): { img: RgbaImage; factor: number } {
  const factor = Math.floor(1 / scale);
  if (factor < 2) return { img, factor: 1 };
  const w = Math.floor(img.width / factor), h = Math.floor(img.height / factor);
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) {
    let s = 0;
    for (let j = 0; j < factor; j++) for (let i = 0; i < factor; i++) s += img.data[((y * factor + j) * img.width + x * factor + i) * 4 + c]!;
    out[(y * w + x) * 4 + c] = s / (factor * factor);
  }
  return { img: { width: w, height: h, data: out }, factor };
}

/** Resizes, centre-crops and normalises an image into a [1, C, size, size] tensor. */
export function preprocessImage(src: RgbaImage, p: Preprocessing): PreparedImage {
  checkRgbaImage(src);
  const scale = p.resize / Math.min(src.width, src.height);
  const rw = Math.round(src.width * scale), rh = Math.round(src.height * scale);
  const cropX = Math.floor((rw - p.size) / 2), cropY = Math.floor((rh - p.size) / 2);
  const { img, factor } = prefilter(src, scale);
  const C = p.channels === 'gray' ? 1 : 3;
  const out = new Float32Array(C * p.size * p.size);
  const plane = p.size * p.size;
  // Source coordinate of resized pixel centre (half-pixel convention), in the prefiltered image.
  const sx = src.width / rw / factor, sy = src.height / rh / factor;
  for (let y = 0; y < p.size; y++) {
    const fy = (y + cropY + 0.5) * sy - 0.5;
    for (let x = 0; x < p.size; x++) {
      const fx = (x + cropX + 0.5) * sx - 0.5;
      if (C === 1) {
        const g = 0.299 * sample(img, fx, fy, 0) + 0.587 * sample(img, fx, fy, 1) + 0.114 * sample(img, fx, fy, 2);
        out[y * p.size + x] = (g / p.divisor - p.mean[0]!) / p.std[0]!;
      } else {
        for (let c = 0; c < 3; c++) {
          const srcC = p.channels === 'bgr' ? 2 - c : c;
          out[c * plane + y * p.size + x] = (sample(img, fx, fy, srcC) / p.divisor - p.mean[c]!) / p.std[c]!;
        }
      }
    }
  }
  const transform = { sourceWidth: src.width, sourceHeight: src.height, scale, cropX, cropY, size: p.size };
  if (p.layout === 'NHWC') {
    const hwc = new Float32Array(out.length);
    for (let c = 0; c < C; c++) for (let i = 0; i < plane; i++) hwc[i * C + c] = out[c * plane + i]!;
    return { tensor: hwc, shape: [1, p.size, p.size, C], transform };
  }
  return { tensor: out, shape: [1, C, p.size, p.size], transform };
}

/** Guesses a preset from a model's input name and shape (the CLI's default when none is given). */
export function guessPreset(inputName: string, shape: readonly (number | string)[]): PresetName {
  if (shape[1] === 1 || shape[2] === 28) return 'mnist';
  if (/^data(_0)?$/.test(inputName)) return 'caffe';
  return 'imagenet';
}

/**
 * A preset sized to a model input of shape [N, C, H, W]: the crop follows the model's H (or `size`
 * for a symbolic H), and the resize keeps the preset's crop ratio (ImageNet's 224 of 256), except
 * for presets that do not crop.
 */
export function presetForInput(input: { shape: readonly (number | string)[] }, preset: PresetName, size?: number): Preprocessing {
  const base = PRESETS[preset];
  const h = typeof input.shape[2] === 'number' ? input.shape[2] : size ?? base.size;
  return { ...base, size: h, resize: base.size === base.resize ? h : Math.round(h / 0.875) };
}

/**
 * Undoes the normalisation and channel order of a model-input tensor: RGB in [0, 1], H·W·3
 * interleaved (gray is replicated). Superpixel segmentation (LIME, E-LIME) works on colours, not on
 * the normalised tensor.
 */
export function modelInputToRgb(tensor: Float32Array, p: Preprocessing): Float32Array {
  const C = p.channels === 'gray' ? 1 : 3;
  const plane = tensor.length / C;
  if (!Number.isInteger(plane)) throw new RangeError(`tensor of ${tensor.length} values is not ${C}-channel`);
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const src = C === 1 ? 0 : p.channels === 'bgr' ? 2 - c : c;
      const v = ((tensor[src * plane + i]! * p.std[src]! + p.mean[src]!) * p.divisor) / 255;
      out[i * 3 + c] = Math.min(Math.max(v, 0), 1);
    }
  }
  return out;
}

/** What a model's first input says about its preprocessing. */
export interface ModelPreset {
  name: PresetName;
  preprocessing: Preprocessing;
  /**
   * True when the input itself names the convention (Caffe's `data`/`data_0`, a 1-channel or 28x28
   * MNIST input); false when nothing does and ImageNet's torchvision convention is assumed.
   */
  confident: boolean;
}

/** The preset a model's first input points to, sized to that input (see guessPreset, presetForInput). */
export function presetForModel(model: { inputs: readonly { name: string; shape: readonly (number | string)[] }[] }, size?: number): ModelPreset {
  const input = model.inputs[0];
  if (!input) throw new RangeError('the model has no inputs');
  const name = guessPreset(input.name, input.shape);
  return { name, preprocessing: presetForInput(input, name, size), confident: name !== 'imagenet' };
}

/**
 * Why `p` looks wrong for `model`, or undefined: a message when the model's input clearly names
 * another convention (channel order, pixel scale or mean differ from it).
 */
export function preprocessingMismatch(model: { inputs: readonly { name: string; shape: readonly (number | string)[] }[] }, p: Preprocessing): string | undefined {
  const guess = presetForModel(model);
  if (!guess.confident) return undefined;
  const g = guess.preprocessing;
  const close = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-3 * Math.max(1, Math.abs(b[i]!)));
  if (p.channels === g.channels && p.divisor === g.divisor && close(p.mean, g.mean) && close(p.std, g.std)) return undefined;
  const input = model.inputs[0]!;
  return `preprocessing (${p.channels}, /${p.divisor}, mean ${p.mean.join(',')}) differs from the '${guess.name}' convention that model input '${input.name}' [${input.shape.join(',')}] suggests (${g.channels}, /${g.divisor}, mean ${g.mean.join(',')}): the scores and maps may be meaningless; pass PRESETS.${guess.name} or no preprocessing to use it`;
}

const warned = new WeakMap<object, Set<string>>();

/**
 * The preprocessing to use for `model`: a preset name or explicit values win (with one warning per
 * model and preprocessing when the model's input suggests another convention, through `warn`,
 * console.warn by default); undefined means the preset found from the model (presetForModel).
 */
export function resolvePreprocessing(
  model: { inputs: readonly { name: string; shape: readonly (number | string)[] }[] },
  given?: Preprocessing | PresetName,
  warn: (message: string) => void = (m) => console.warn(`webgpu-xai: ${m}`),
): Preprocessing {
  if (given === undefined) return presetForModel(model).preprocessing;
  const p = typeof given === 'string' ? presetForInput(model.inputs[0]!, given) : given;
  const why = preprocessingMismatch(model, p);
  if (why) {
    const seen = warned.get(model) ?? new Set<string>();
    warned.set(model, seen);
    const key = JSON.stringify(p);
    if (!seen.has(key)) { seen.add(key); warn(why); }
  }
  return p;
}
