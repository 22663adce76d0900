/**
 * Structure-aware fuzzing with onnxruntime-node as the oracle (issue 17): a few hundred mutated
 * small models (four architectures, test/helpers/fuzz-bases.ts) (arity, attribute types and extremes, dims, dtypes, cycles, duplicate names,
 * non-finite weights, plus byte-level damage) in a fixed seed. Every case must end in a typed
 * refusal by us, or in outputs within 1e-3 of onnxruntime's scale where both run it; never an
 * untyped error or a hang. `npm run fuzz -- --cases 5000` runs more (bench/fuzz.ts).
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_BASES } from './helpers/fuzz-bases.js';
import { mutatedModelsWithKinds } from './helpers/fuzz.js';
import { runCase, violation, type CaseResult } from './helpers/fuzz-oracle.js';
import { testGpu } from './helpers/gpu.js';

const CASES = Number(process.env.FUZZ_CASES ?? 300);

describe('fuzzing against onnxruntime', () => {
  it(`${CASES} mutated models: typed refusals or agreement with onnxruntime, never a crash or hang`, async () => {
    const gpu = await testGpu();
    const results: CaseResult[] = [];
    for (const [b, base] of FUZZ_BASES().entries()) {
      // The unmutated model: both load it and agree (the comparison itself works).
      const clean = await runCase(base.bytes, 'none', gpu);
      expect(clean.ours).toBe('ran');
      expect(clean.agreed, JSON.stringify(clean)).toBe(true);
      for (const m of mutatedModelsWithKinds(base.bytes, Math.ceil(CASES / FUZZ_BASES().length), 17 + b)) {
        const r = await runCase(m.bytes, m.kind, gpu, { timeoutMs: 20_000 });
        results.push(r);
        const v = violation(r);
        expect(v, `${base.name} ${m.kind}: ${v}`).toBeUndefined();
      }
    }
    const ran = results.filter((r) => r.ours === 'ran' && r.ort === 'ran');
    const refused = results.filter((r) => r.ours === 'refused');
    // Both kinds of outcome occur: the mutations reach the comparison as well as the validator.
    expect(ran.length).toBeGreaterThan(CASES / 20);
    expect(refused.length).toBeGreaterThan(CASES / 2);
  }, 600_000);
});
