/** The index as workers read it: whole rows only, the last row of an image and method wins, a replaced log starts over. */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderStore } from '../../tools/dataset/store.js';
import { completedKeys, INDEX, IndexFollower } from '../../tools/dataset/run-index.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'index-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });
const row = (image: string, status: string) => ({ image, method: 'gradcam', status });

describe('index', () => {
  it('a line cut short by a crash is skipped, and the next row still starts on its own line', () => {
    const s = new FolderStore(dir);
    s.append(INDEX, [row('a', 'ok')]);
    appendFileSync(join(dir, INDEX), '{"image":"b","meth');
    s.append(INDEX, [row('c', 'ok')]);
    expect(s.read<{ image: string }>(INDEX).map((r) => r.image)).toEqual(['a', 'c']);
    expect([...completedKeys(s)].sort()).toEqual(['a\0gradcam', 'c\0gradcam']);
  });

  it('the follower reads only what was appended, waits for a row being written, and starts over on a replaced log', () => {
    const s = new FolderStore(dir);
    const f = new IndexFollower(s);
    expect(f.isComplete('a', 'gradcam')).toBe(false);
    s.append(INDEX, [row('a', 'failed')]);
    expect(f.isComplete('a', 'gradcam')).toBe(false);
    s.append(INDEX, [row('a', 'ok')]);
    appendFileSync(join(dir, INDEX), JSON.stringify(row('b', 'ok')).slice(0, 10));
    expect(f.isComplete('a', 'gradcam')).toBe(true);
    expect(f.isComplete('b', 'gradcam')).toBe(false);
    appendFileSync(join(dir, INDEX), JSON.stringify(row('b', 'ok')).slice(10) + '\n');
    expect(f.isComplete('b', 'gradcam')).toBe(true);
    writeFileSync(join(dir, INDEX), JSON.stringify(row('z', 'ok')) + '\n');
    expect(f.isComplete('a', 'gradcam')).toBe(false);
    expect(f.isComplete('z', 'gradcam')).toBe(true);
  });
});
