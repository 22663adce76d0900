/**
 * bench/RESULTS.md holds one marked section per (benchmark, adapter); each benchmark replaces only
 * its own section, so runs on different machines and of different benchmarks accumulate.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const HEADER = '# Benchmarks\n\nWritten by `npm run bench` (bench/run.ts); one section per adapter, replaced on each run.\n';

/**
 * Replaces the section between `<!-- KIND:begin KEY -->` and `<!-- KIND:end KEY -->` (KIND e.g.
 * 'bench', 'bench-xai'; KEY the adapter name), or appends it; every other section is left alone.
 */
export function spliceSection(path: string, kind: string, key: string, section: string): void {
  const begin = `<!-- ${kind}:begin ${key} -->`; const end = `<!-- ${kind}:end ${key} -->`;
  const block = `${begin}\n${section.trimEnd()}\n${end}`;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : HEADER;
  const i = text.indexOf(begin); const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`);
}
