// Regenerates the README's conformance table from vitest's JSON results (test-results.json):
// ONNX conformance cases grouped by operator, with passed / skipped / failed counts.
// Usage: node tools/conformance-table.mjs [test-results.json]   (after `npm test`)
import { readFileSync, writeFileSync } from 'node:fs';

const results = JSON.parse(readFileSync(process.argv[2] ?? 'test-results.json', 'utf8'));
const groups = new Map();
for (const file of results.testResults) {
  if (!file.name.includes('/test/conformance/')) continue;
  for (const t of file.assertionResults) {
    const m = /(?:^|\/)test_([A-Za-z0-9]+)(?:_([a-z]+))?/.exec(t.title);
    if (!m) continue;
    const source = /pytorch-converted/.test(t.title) ? 'pytorch-converted' : /pytorch-operator/.test(t.title) ? 'pytorch-operator' : 'node';
    let op = m[1];
    if (op === 'reduce' || op === 'operator') op = `${op}_${m[2] ?? ''}`;
    const key = `${source}:${op}`;
    const g = groups.get(key) ?? { source, op, passed: 0, skipped: 0, failed: 0 };
    if (t.status === 'passed') g.passed++; else if (t.status === 'failed') g.failed++; else g.skipped++;
    groups.set(key, g);
  }
}
const rows = [...groups.values()].sort((a, b) => a.source.localeCompare(b.source) || a.op.localeCompare(b.op));
const total = rows.reduce((s, r) => ({ passed: s.passed + r.passed, skipped: s.skipped + r.skipped, failed: s.failed + r.failed }), { passed: 0, skipped: 0, failed: 0 });
const table = [
  `ONNX conformance data (Debian \`libonnx-testdata\`), ${total.passed} cases passed, ${total.skipped} skipped (reasons in the test files), ${total.failed} failed.`,
  '',
  '| source | cases | passed | skipped | failed |',
  '|---|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.source} | \`test_${r.op}*\` | ${r.passed} | ${r.skipped} | ${r.failed} |`),
].join('\n');
const readme = readFileSync('README.md', 'utf8');
const begin = '<!-- conformance:begin -->', end = '<!-- conformance:end -->';
if (!readme.includes(begin)) throw new Error('README.md has no conformance markers');
writeFileSync('README.md', readme.replace(new RegExp(`${begin}[\\s\\S]*${end}`), `${begin}\n${table}\n${end}`));
console.log(`conformance table: ${rows.length} groups, ${total.passed} passed`);
