/**
 * The one check every RGBA image passes before preprocessing: library callers get an InputError
 * saying what is wrong instead of a RangeError/TypeError from deep inside the resampler, or a
 * silently misread image (a 2.5-pixel width).
 */
import { InputError } from '../runtime/errors.js';
import type { RgbaImage } from './preprocess.js';

/**
 * Most pixels an image may have (50 megapixels: 200 MB of RGBA). The CLI's JPEG and PNG decoders
 * refuse larger files from their headers, before decoding.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** Throws InputError unless `src` is a whole-pixel RGBA image with enough data, within MAX_IMAGE_PIXELS. */
export function checkRgbaImage(src: RgbaImage): void {
  if (!src || typeof src !== 'object') throw new InputError(`the image must be an object { width, height, data }, got ${src === null ? 'null' : typeof src}`);
  const { width, height, data } = src as Partial<RgbaImage>;
  for (const [k, v] of [['width', width], ['height', height]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InputError(`the image ${k} must be a positive whole number of pixels, got ${String(v)}`);
  }
  const pixels = width! * height!;
  if (pixels > MAX_IMAGE_PIXELS) throw new InputError(`the image is ${width}x${height} (${(pixels / 1e6).toFixed(1)} megapixels); at most ${MAX_IMAGE_PIXELS / 1e6} megapixels are accepted`);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new InputError(`the image data must be a Uint8Array or Uint8ClampedArray of RGBA bytes, got ${data === undefined ? 'nothing' : Object.prototype.toString.call(data)}`);
  }
  if (data.length < pixels * 4) throw new InputError(`the image data holds ${data.length} bytes; ${width}x${height} RGBA needs ${pixels * 4}`);
}
