/**
 * JPEG EXIF orientation: a photo whose camera was turned comes out upright, as the browser shows
 * it, so the CLI and the web page see the same pixels. Quadrants of four colours, stored as a real
 * JPEG (jpeg-js) with an EXIF APP1 segment written by hand from the TIFF/EXIF layout; where each
 * quadrant must land is the EXIF specification's table, not the code's arithmetic.
 */
import { describe, expect, it } from 'vitest';
import jpeg from 'jpeg-js';
import { decodeImage, encodePng, exifOrientation } from '../src/image-io.js';
import type { RgbaImage } from '../src/xai/preprocess.js';

const COLOURS = { TL: [255, 0, 0], TR: [0, 200, 0], BL: [0, 0, 255], BR: [255, 255, 255] } as const;
type Q = keyof typeof COLOURS;

function quadrants(w: number, h: number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const q: Q = `${y < h / 2 ? 'T' : 'B'}${x < w / 2 ? 'L' : 'R'}` as Q;
    data.set([...COLOURS[q], 255], (y * w + x) * 4);
  }
  return { width: w, height: h, data };
}

/** The JPEG with an APP1 "Exif" segment (big- or little-endian TIFF) holding only the orientation tag. */
function withExif(jpg: Uint8Array, orientation: number, littleEndian: boolean): Uint8Array {
  const tiff = new DataView(new ArrayBuffer(8 + 2 + 12 + 4));
  tiff.setUint16(0, littleEndian ? 0x4949 : 0x4d4d);
  tiff.setUint16(2, 42, littleEndian);
  tiff.setUint32(4, 8, littleEndian);
  tiff.setUint16(8, 1, littleEndian); // one entry
  tiff.setUint16(10, 0x0112, littleEndian); // Orientation
  tiff.setUint16(12, 3, littleEndian); // SHORT
  tiff.setUint32(14, 1, littleEndian);
  tiff.setUint16(18, orientation, littleEndian);
  tiff.setUint32(22, 0, littleEndian); // no next IFD
  const body = new Uint8Array([...new TextEncoder().encode('Exif'), 0, 0, ...new Uint8Array(tiff.buffer)]);
  const seg = new Uint8Array(4 + body.length);
  seg.set([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 255]);
  seg.set(body, 4);
  return new Uint8Array([...jpg.subarray(0, 2), ...seg, ...jpg.subarray(2)]);
}

// EXIF 2.3, tag 0x0112: which stored quadrant ends up top-left, top-right, bottom-left, bottom-right.
const EXPECTED: Record<number, [Q, Q, Q, Q]> = {
  1: ['TL', 'TR', 'BL', 'BR'], 2: ['TR', 'TL', 'BR', 'BL'], 3: ['BR', 'BL', 'TR', 'TL'], 4: ['BL', 'BR', 'TL', 'TR'],
  5: ['TL', 'BL', 'TR', 'BR'], 6: ['BL', 'TL', 'BR', 'TR'], 7: ['BR', 'TR', 'BL', 'TL'], 8: ['TR', 'BR', 'TL', 'BL'],
};

function near(img: RgbaImage, x: number, y: number, q: Q): boolean {
  const i = (y * img.width + x) * 4;
  return COLOURS[q].every((c, k) => Math.abs(img.data[i + k]! - c) < 40);
}

describe('image decoding', () => {
  const src = quadrants(48, 32);
  const jpg = new Uint8Array(jpeg.encode({ width: src.width, height: src.height, data: src.data }, 95).data);

  it('turns JPEGs upright by their EXIF orientation, both byte orders', () => {
    for (const le of [false, true]) {
      for (let o = 1; o <= 8; o++) {
        const bytes = withExif(jpg, o, le);
        expect(exifOrientation(bytes)).toBe(o);
        const img = decodeImage(bytes);
        expect([img.width, img.height], `orientation ${o}`).toEqual(o >= 5 ? [32, 48] : [48, 32]);
        const [tl, tr, bl, br] = EXPECTED[o]!;
        const m = 4; // away from the quadrant borders JPEG blurs
        expect(near(img, m, m, tl), `orientation ${o} top-left`).toBe(true);
        expect(near(img, img.width - 1 - m, m, tr), `orientation ${o} top-right`).toBe(true);
        expect(near(img, m, img.height - 1 - m, bl), `orientation ${o} bottom-left`).toBe(true);
        expect(near(img, img.width - 1 - m, img.height - 1 - m, br), `orientation ${o} bottom-right`).toBe(true);
      }
    }
  });

  it('leaves JPEGs without EXIF, with a damaged EXIF segment, and PNGs as stored', () => {
    expect(exifOrientation(jpg)).toBe(1);
    const damaged = withExif(jpg, 6, false);
    damaged.fill(0xff, 16, 20); // TIFF header at 12: the IFD offset now points far past the segment
    expect(exifOrientation(damaged)).toBe(1);
    expect(decodeImage(damaged).width).toBe(48);
    const png = decodeImage(encodePng(src));
    expect([png.width, png.height]).toEqual([48, 32]);
    expect(png.data).toEqual(src.data);
  });
});
