/** Image files to RGBA pixels and back (Node side: JPEG via jpeg-js, PNG via pngjs). */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../src/xai/preprocess.js';
import { MAX_IMAGE_PIXELS } from '../src/xai/image-check.js';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/** Decodes JPEG or PNG bytes (grayscale, palette, alpha, 16-bit all become 8-bit straight RGBA). */
export function decodeImage(bytes: Uint8Array, what = 'image'): RgbaImage {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  // Both formats get the same pixel limit, read from the header before any decoding work.
  const size = isPng ? pngSize(bytes, what) : isJpeg ? jpegSize(bytes) : undefined;
  if (size && size[0] * size[1] > MAX_IMAGE_PIXELS) {
    throw new ImageDecodeError(`${what} is ${size[0]}x${size[1]} (${(size[0] * size[1] / 1e6).toFixed(1)} megapixels); at most ${MAX_IMAGE_PIXELS / 1e6} megapixels are accepted`);
  }
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    if (isJpeg) {
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 4096, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 + 1 });
      return { width: j.width, height: j.height, data: j.data };
    }
  } catch (e) {
    throw new ImageDecodeError(`cannot decode ${what}: ${(e as Error).message}`);
  }
  throw new ImageDecodeError(`${what} is neither a PNG nor a JPEG file`);
}

/**
 * Width and height from a PNG's IHDR, after walking its chunks: a file that ends inside a chunk or
 * before IEND is reported as truncated (pngjs's own message for it is about stream internals).
 */
function pngSize(b: Uint8Array, what: string): [number, number] {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const fail = (why: string) => new ImageDecodeError(`cannot decode ${what}: ${why}`);
  if (b.length < 33) throw fail(`the PNG is truncated (${b.length} bytes, not even a header)`);
  let at = 8;
  // Each step advances by at least 12 bytes, so the walk ends within length / 12 steps.
  while (at + 8 <= b.length) {
    const len = dv.getUint32(at);
    const type = String.fromCharCode(b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw fail(`the PNG is corrupted (no chunk starts at byte ${at})`);
    if (at + 12 + len > b.length) throw fail(`the PNG is truncated: its ${type} chunk needs ${len} bytes, the file ends ${Math.max(0, b.length - at - 8)} bytes into it`);
    if (type === 'IEND') return [dv.getUint32(16), dv.getUint32(20)];
    at += 12 + len;
  }
  throw fail(`the PNG is truncated: it ends after ${b.length} bytes without the closing IEND chunk`);
}

/** Width and height from a JPEG's first SOF marker, or undefined (jpeg-js then reports the damage). */
function jpegSize(b: Uint8Array): [number, number] | undefined {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1]!;
    if (marker === 0xff) { at++; continue; }
    const len = (b[at + 2]! << 8) | b[at + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return [(b[at + 7]! << 8) | b[at + 8]!, (b[at + 5]! << 8) | b[at + 6]!];
    }
    if (len < 2) return undefined;
    at += 2 + len;
  }
  return undefined;
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
