/** Group writes: all files or none, and a failure leaves every earlier file exactly as it was (issue 17). */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFilesAtomically } from '../../tools/dataset/atomic-write.js';
import { OutputError } from '../../tools/cli-common.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'atomic-write-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

describe('writeFilesAtomically', () => {
  it('replaces earlier files and leaves no temporaries', () => {
    writeFileSync(join(dir, 'a.png'), 'old');
    writeFilesAtomically([{ path: join(dir, 'a.png'), bytes: 'new' }, { path: join(dir, 'sub', 'a.npy'), bytes: new Uint8Array([1, 2]) }]);
    expect(readFileSync(join(dir, 'a.png'), 'utf8')).toBe('new');
    expect([...readFileSync(join(dir, 'sub', 'a.npy'))]).toEqual([1, 2]);
    expect(readdirSync(dir).sort()).toEqual(['a.png', 'sub']);
  });

  it('an earlier png survives when a folder stands where the npy goes', () => {
    writeFileSync(join(dir, 'base.gradcam.png'), 'earlier result');
    mkdirSync(join(dir, 'base.gradcam.npy'));
    writeFileSync(join(dir, 'base.gradcam.npy', 'inside'), 'x');
    const files = ['png', 'npy', 'json'].map((e) => ({ path: join(dir, `base.gradcam.${e}`), bytes: `new ${e}` }));
    expect(() => writeFilesAtomically(files)).toThrow(OutputError);
    expect(() => writeFilesAtomically(files)).toThrow(/base\.gradcam\.npy.*EISDIR/);
    expect(readFileSync(join(dir, 'base.gradcam.png'), 'utf8')).toBe('earlier result');
    expect(readFileSync(join(dir, 'base.gradcam.npy', 'inside'), 'utf8')).toBe('x');
    expect(readdirSync(dir).sort()).toEqual(['base.gradcam.npy', 'base.gradcam.png']);
  });

  it('a file that cannot be placed (its folder is a file) leaves the earlier files of the group as they were', () => {
    writeFileSync(join(dir, 'r.png'), 'earlier png');
    writeFileSync(join(dir, 'r.json'), 'earlier json');
    writeFileSync(join(dir, 'blocker'), '');
    const files = [{ path: join(dir, 'r.png'), bytes: 'new png' }, { path: join(dir, 'r.json'), bytes: 'new json' }, { path: join(dir, 'blocker', 'r.npy'), bytes: 'x' }];
    expect(() => writeFilesAtomically(files)).toThrow(OutputError);
    expect(readFileSync(join(dir, 'r.png'), 'utf8')).toBe('earlier png');
    expect(readFileSync(join(dir, 'r.json'), 'utf8')).toBe('earlier json');
    expect(readdirSync(dir).sort()).toEqual(['blocker', 'r.json', 'r.png']);
  });

  it('refuses a group naming one path twice', () => {
    expect(() => writeFilesAtomically([{ path: join(dir, 'a'), bytes: '1' }, { path: join(dir, 'a'), bytes: '2' }])).toThrow(/twice/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the folders it created when it fails', () => {
    const files = [{ path: join(dir, 'new', 'deep', 'a.png'), bytes: 'a' }, { path: join(dir, 'new', 'deep', 'a.png', 'x'), bytes: 'b' }];
    expect(() => writeFilesAtomically(files)).toThrow(OutputError);
    expect(existsSync(join(dir, 'new'))).toBe(false);
  });
});

describe('explain --image keeps earlier results when its write fails (issue 17)', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const MODEL = join(ROOT, '..', 'shared', 'models', 'mnist-cnn.onnx');
  it.skipIf(!existsSync(MODEL))('an existing base.gradcam.png and a folder named base.gradcam.npy: exit 1, the png untouched', async () => {
    const { execFile } = await import('node:child_process');
    const { writeMnistPngs } = await import('../helpers/mnist-images.js');
    const [img] = writeMnistPngs(join(dir, 'in'), 1);
    const out = join(dir, 'out');
    mkdirSync(join(out, 'digit-00.gradcam.npy'), { recursive: true });
    writeFileSync(join(out, 'digit-00.gradcam.png'), 'earlier result');
    const r = await new Promise<{ code: number; stderr: string }>((res) => execFile(process.execPath, ['--import', 'tsx', 'tools/cli.ts', 'explain', '--model', MODEL, '--image', img!, '--method', 'gradcam', '--out', out], { cwd: ROOT },
      (err, _o, stderr) => res({ code: err ? Number(err.code) : 0, stderr })));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/digit-00\.gradcam\.npy: EISDIR/);
    expect(readFileSync(join(out, 'digit-00.gradcam.png'), 'utf8')).toBe('earlier result');
    expect(readdirSync(out).sort()).toEqual(['digit-00.gradcam.npy', 'digit-00.gradcam.png']);
  }, 60_000);
});
