/**
 * Regenerates test/fixtures/quant: writes the float models of tools/quant-models.ts and seeded
 * calibration inputs to a temporary folder, then runs tools/quant-fixtures.py (onnxruntime's
 * quantiser, QOperator format) on them. Needs python3 with onnxruntime and onnx:
 *   python3 -m venv /tmp/qv && /tmp/qv/bin/pip install onnxruntime onnx
 *   PYTHON=/tmp/qv/bin/python npx tsx tools/quant-fixtures.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng, randNormal } from './onnx-writer.js';
import { QUANT_INPUT, quantFloatModels } from './quant-models.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'quant-fixtures-'));
for (const [stem, bytes] of Object.entries(quantFloatModels())) writeFileSync(join(dir, `${stem}.onnx`), bytes);
// Calibration: 8 seeded N(0, 1) images, about the range of ImageNet-normalised photos.
const rng = new Rng(2021);
const n = 3 * QUANT_INPUT * QUANT_INPUT;
const calib = new Float32Array(8 * n);
calib.set(randNormal(rng, calib.length));
writeFileSync(join(dir, 'calib.f32'), Buffer.from(calib.buffer));
execFileSync(process.env['PYTHON'] ?? 'python3', [join(here, 'quant-fixtures.py'), dir, join(here, '..', 'test', 'fixtures', 'quant'), String(QUANT_INPUT)], { stdio: 'inherit' });
