/** Aggregation and reporting for `evaluate`: means with 95% intervals, Markdown and CSV tables. */

export interface Summary { mean: number; lo: number; hi: number; n: number }

/** Mean and a normal-approximation 95% interval (mean ± 1.96·sd/√n). */
export function summarise(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return { mean: NaN, lo: NaN, hi: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const h = (1.96 * sd) / Math.sqrt(n);
  return { mean, lo: mean - h, hi: mean + h, n };
}

export function fmt(s: Summary, digits = 1): string {
  if (!Number.isFinite(s.mean)) return 'n/a';
  return `${s.mean.toFixed(digits)} [${s.lo.toFixed(digits)}, ${s.hi.toFixed(digits)}]`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function csv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const q = (v: string | number) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [header.map(q).join(','), ...rows.map((r) => r.map(q).join(','))].join('\n') + '\n';
}

/** A one-line progress bar with ETA on a TTY; one line per update otherwise. */
export class ProgressBar {
  private readonly start = performance.now();
  constructor(private readonly total: number, private readonly out: NodeJS.WriteStream = process.stderr) {}
  update(done: number, label: string): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const width = 24;
    const filled = Math.round((done / this.total) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${label} · ${elapsed.toFixed(0)} s elapsed, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : '?'}`;
    if (this.out.isTTY) this.out.write(`\r${line.padEnd(100)}`);
    else this.out.write(`${line}\n`);
  }
  finish(): void { if (this.out.isTTY) this.out.write('\n'); }
}
