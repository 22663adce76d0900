/** Image files to RGBA pixels and back (Node side: JPEG via jpeg-js, PNG via pngjs). */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from './xai/preprocess.js';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/** Decodes JPEG or PNG bytes (grayscale, palette, alpha, 16-bit all become 8-bit straight RGBA). */
export function decodeImage(bytes: Uint8Array, what = 'image'): RgbaImage {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    if (isJpeg) {
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: j.width, height: j.height, data: j.data };
    }
  } catch (e) {
    throw new ImageDecodeError(`cannot decode ${what}: ${(e as Error).message}`);
  }
  throw new ImageDecodeError(`${what} is neither a PNG nor a JPEG file`);
}

export function readImage(path: string): RgbaImage {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ImageDecodeError(`cannot read image ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeImage(bytes, path);
}

/** Encodes RGBA pixels as PNG. */
export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length);
  return new Uint8Array(PNG.sync.write(png));
}
