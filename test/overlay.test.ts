/**
 * The overlay helpers users draw with: colour maps against their definitions (MATLAB's jet, gray,
 * Turbo's hue order), opacity at its ends, the colour bar, and clear errors for misuse.
 */
import { describe, expect, it } from 'vitest';
import { colorbarWidth, colormap, gray, jet, overlay, turbo, viridis } from '../src/render.js';
import type { RgbaImage } from '../src/xai/preprocess.js';

function photo(w: number, h: number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([(i * 37) % 256, (i * 91) % 256, (i * 13) % 256, 255], i * 4);
  return { width: w, height: h, data };
}
const ramp = (w: number, h: number) => ({ width: w, height: h, data: Float32Array.from({ length: w * h }, (_, i) => (i % w) / (w - 1)) });

describe('colour maps', () => {
  it('jet is MATLAB\'s: dark blue, then cyan/green/yellow, to dark red', () => {
    expect(jet(0)).toEqual([0, 0, 128]);
    expect(jet(0.5)).toEqual([128, 255, 128]);
    expect(jet(1)).toEqual([128, 0, 0]);
    expect(jet(0.25)).toEqual([0, 128, 255]);
  });

  it('gray goes black to white; viridis and turbo keep their ends and hue order; out-of-range values clamp', () => {
    expect(gray(0)).toEqual([0, 0, 0]);
    expect(gray(1)).toEqual([255, 255, 255]);
    expect(viridis(0)).toEqual([0x44, 0x01, 0x54]);
    expect(viridis(1)).toEqual([0xfd, 0xe7, 0x25]);
    const [r0, g0, b0] = turbo(0), [r5, g5, b5] = turbo(0.5), [r1, g1, b1] = turbo(1);
    expect(r0 + g0 + b0).toBeLessThan(120); // dark
    expect(g5).toBeGreaterThan(Math.max(r5, b5)); // green in the middle
    expect(r1).toBeGreaterThan(Math.max(g1, b1) + 80); // dark red at the top
    expect(turbo(0.15)[2]).toBeGreaterThan(turbo(0.15)[0]); // blue early
    for (const name of ['viridis', 'turbo', 'jet', 'gray'] as const) {
      const f = colormap(name);
      expect(f(-1)).toEqual(f(0));
      expect(f(2)).toEqual(f(1));
      expect(f(Number.NaN)).toEqual(f(0));
    }
    expect(() => colormap('rainbow' as never)).toThrow(/unknown colour map 'rainbow'/);
  });
});

describe('overlay', () => {
  const p = photo(64, 48), m = ramp(64, 48);

  it('returns the photo at opacity 0 and the colour map at opacity 1, with or without the colour bar', () => {
    const none = overlay(p, m, { opacity: 0, colorbar: false });
    expect(none.width).toBe(64);
    expect(Array.from(none.data)).toEqual(Array.from(p.data));
    const full = overlay(p, m, { opacity: 1, colorbar: false, colormap: 'jet' });
    for (const x of [0, 21, 63]) expect(Array.from(full.data.subarray((5 * 64 + x) * 4, (5 * 64 + x) * 4 + 3))).toEqual(jet(m.data[5 * 64 + x]!));
    const withBar = overlay(p, m, { colormap: 'gray' });
    expect([withBar.width, withBar.height]).toEqual([64 + colorbarWidth(48), 48]);
    // The bar's top row of colour is the map's 1 (white in gray), its bottom row 0 (black).
    const barX = 64 + Math.floor(colorbarWidth(48) / 4);
    const px = (y: number) => Array.from(withBar.data.subarray((y * withBar.width + barX) * 4, (y * withBar.width + barX) * 4 + 3));
    expect(px(4)).toEqual([255, 255, 255]);
    expect(px(43)).toEqual([0, 0, 0]);
  });

  it('rejects a map that is not on the photo\'s grid and an opacity outside [0, 1]', () => {
    expect(() => overlay(p, ramp(32, 24))).toThrow(RangeError);
    expect(() => overlay(p, m, { opacity: 1.5 })).toThrow(/opacity must be in \[0, 1\]/);
  });
});
