/** Spearman rank correlation (average ranks for ties): the library's, tested against its definition in test/xai/sanity.test.ts. */
export { spearman } from '../../src/xai/metrics/sanity.js';
