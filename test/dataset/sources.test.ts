/** Which images a dataset run covers: folder, list file, glob; ids and their collisions. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listImages } from '../../tools/dataset/sources.js';
import { UsageError } from '../../tools/cli-common.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sources-'));
  for (const f of ['b.png', 'a.JPG', 'notes.txt', '.hidden.png', 'sub/c.jpeg', 'sub/deeper/d.png', 'other/e.png']) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), '');
  }
});
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('listImages', () => {
  it('walks a folder recursively in name order, ids relative without extension', () => {
    expect(listImages(dir).map((i) => i.id)).toEqual(['a', 'b', 'other/e', 'sub/c', 'sub/deeper/d']);
    expect(listImages(dir)[0]!.path).toBe(join(dir, 'a.JPG'));
  });

  it('reads a list file relative to its folder, skipping blanks and comments, keeping missing files (they fail at run time)', () => {
    writeFileSync(join(dir, 'list.txt'), '# images\nsub/c.jpeg\n\n  b.png  \nmissing.png\n');
    expect(listImages(join(dir, 'list.txt')).map((i) => [i.id, i.path])).toEqual([
      ['sub/c', join(dir, 'sub', 'c.jpeg')], ['b', join(dir, 'b.png')], ['missing', join(dir, 'missing.png')]]);
  });

  it('matches globs with *, ?, ** and classes', () => {
    expect(listImages(join(dir, '*.png')).map((i) => i.id)).toEqual(['b']);
    expect(listImages(join(dir, '**', '*.png')).map((i) => i.id)).toEqual(['b', 'other/e', 'sub/deeper/d']);
    expect(listImages(join(dir, 'sub', '**')).map((i) => i.id)).toEqual(['c', 'deeper/d']);
    expect(listImages(join(dir, '[ab].*')).map((i) => i.id)).toEqual(['a', 'b']);
    expect(listImages(join(dir, '?.png')).map((i) => i.id)).toEqual(['b']);
  });

  it('follows symlinked files and folders (a link cycle once), and skips an excluded folder such as the output', () => {
    const d = join(dir, 'links');
    mkdirSync(join(d, 'out'), { recursive: true });
    writeFileSync(join(d, 'out', 'x.gradcam.png'), '');
    symlinkSync(join(dir, 'b.png'), join(d, 'linked.png'));
    symlinkSync(join(dir, 'sub'), join(d, 'subdir'));
    symlinkSync(d, join(d, 'loop'));
    expect(listImages(d, [join(d, 'out')]).map((i) => i.id)).toEqual(['linked', 'subdir/c', 'subdir/deeper/d']);
    expect(listImages(d).map((i) => i.id)).toContain('out/x.gradcam');
    rmSync(d, { recursive: true });
  });

  it('refuses nothing to do, and two files that would write the same results', () => {
    expect(() => listImages(join(dir, 'nowhere'))).toThrow(UsageError);
    expect(() => listImages(join(dir, '*.gif'))).toThrow(/lists no PNG or JPEG/);
    writeFileSync(join(dir, 'b.jpg'), '');
    expect(() => listImages(join(dir, '*.*'))).toThrow(/b\.jpg.*same result files|b\.png.*same result files/);
    rmSync(join(dir, 'b.jpg'));
  });
});
