/** Image files to RGBA pixels and back (Node side: JPEG via jpeg-js, PNG via pngjs). */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from './xai/preprocess.js';
import { MAX_IMAGE_PIXELS } from './xai/image-check.js';

/** The bytes are not a decodable PNG or JPEG (or the file cannot be read). */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/**
 * Decodes JPEG or PNG bytes (grayscale, palette, alpha, 16-bit all become 8-bit straight RGBA).
 * A JPEG's EXIF orientation is applied, so a phone photo comes out upright, as browsers show it.
 */
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
      return orient({ width: j.width, height: j.height, data: j.data }, exifOrientation(bytes));
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

/** Reads and decodes an image file (PNG or JPEG, EXIF-rotated) to RGBA. */
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

/**
 * The EXIF orientation (1-8) of a JPEG: tag 0x0112 of IFD0 in its APP1 "Exif" segment; 1 (as
 * stored) when absent or unreadable.
 */
export function exifOrientation(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    if (marker === 0xda || marker === 0xd9) break; // image data starts: no more metadata
    const len = dv.getUint16(p + 2);
    const seg = p + 4;
    if (marker === 0xe1 && len >= 16 && seg + len - 2 <= bytes.length && dv.getUint32(seg) === 0x45786966 && dv.getUint16(seg + 4) === 0) {
      const tiff = seg + 6;
      const le = dv.getUint16(tiff) === 0x4949;
      const u16 = (o: number) => dv.getUint16(o, le), u32 = (o: number) => dv.getUint32(o, le);
      const end = seg + len - 2;
      const ifd = tiff + u32(tiff + 4);
      if (ifd + 2 > end) return 1;
      const n = u16(ifd);
      for (let i = 0; i < n && ifd + 2 + i * 12 + 12 <= end; i++) {
        const e = ifd + 2 + i * 12;
        if (u16(e) === 0x0112) {
          const v = u16(e + 8);
          return v >= 1 && v <= 8 ? v : 1;
        }
      }
      return 1;
    }
    p += 2 + len;
  }
  return 1;
}

/** The image turned upright for an EXIF orientation: 2-4 mirror or turn half way, 5-8 also swap width and height. */
export function orient(img: RgbaImage, orientation: number): RgbaImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: w, height: h } = img;
  const swap = orientation >= 5;
  const W = swap ? h : w, H = swap ? w : h;
  const out = new Uint8Array(W * H * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let X: number, Y: number;
      switch (orientation) {
        case 2: X = w - 1 - x; Y = y; break;
        case 3: X = w - 1 - x; Y = h - 1 - y; break;
        case 4: X = x; Y = h - 1 - y; break;
        case 5: X = y; Y = x; break;
        case 6: X = h - 1 - y; Y = x; break; // turn 90 degrees clockwise
        case 7: X = h - 1 - y; Y = w - 1 - x; break;
        default: X = y; Y = w - 1 - x; // 8: turn 90 degrees counter-clockwise
      }
      const s = (y * w + x) * 4, d = (Y * W + X) * 4;
      out[d] = img.data[s]!; out[d + 1] = img.data[s + 1]!; out[d + 2] = img.data[s + 2]!; out[d + 3] = img.data[s + 3]!;
    }
  }
  return { width: W, height: H, data: out };
}
