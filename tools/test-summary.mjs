// Prints the plain "N passed, N failed" line from vitest's JSON report (CI reads this line).
import { readFileSync } from 'node:fs';
const file = process.argv[2] ?? 'test-results.json';
let r;
try {
  r = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log('0 passed, 1 failed');
  console.error(`test-summary: cannot read ${file}: ${e.message}`);
  process.exit(1);
}
// A file that failed to load counts as a failure even though it reports no tests.
const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed${skipped ? `, ${skipped} skipped` : ''}`);
