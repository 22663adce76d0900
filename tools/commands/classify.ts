/** `classify`: the top classes of one or more images, with names. */
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { readImage } from '../../src/image-io.js';
import { preprocessImage } from '../../src/xai/preprocess.js';
import { loadLabels, openModel, preprocessingFromArgs, PREPROCESS_ARGS, PREPROCESS_HELP, resolveImagePath, resolveModelPath, toProbabilities, topK, UsageError, MODEL_DEFAULT_HELP, IMAGE_DEFAULT_HELP } from '../cli-common.js';

export const classifyHelp = `Usage: webgpu-xai classify [--model M.onnx] [--image I ...] [options]

Prints the top classes of each image with their names and probabilities.

  --model PATH     ONNX classifier (default: ${MODEL_DEFAULT_HELP})
  --image PATH     image file, JPEG or PNG; repeat for several (${IMAGE_DEFAULT_HELP})
${PREPROCESS_HELP}
  --labels PATH    class names, one per line (default: ImageNet names for 1000-class models)
  --top K          how many classes to print (default 5)
  --json           print one JSON document instead of text: adapter, model, preprocessing, timings
                   and per image its top classes (index, label, probability, score)
  -h, --help       this text`;

export async function classify(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, image: { type: 'string', multiple: true }, ...PREPROCESS_ARGS,
    labels: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(classifyHelp); return; }
  const top = values.top === undefined ? 5 : Number(values.top);
  if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top must be a positive integer, got '${values.top}'`);
  const modelPath = resolveModelPath(values.model);
  const images = (values.image ?? [undefined]).map(resolveImagePath);
  const decoded = images.map((p) => ({ path: p, img: readImage(p) }));
  const { model, gpu, loadMs } = await openModel(modelPath);
  try {
    const { name, p } = preprocessingFromArgs(model, values);
    const log = values.json ? () => {} : (line: string) => console.log(line);
    log(`adapter: ${gpu.adapterName}`);
    log(`model:   ${basename(modelPath)} (load + kernel warm-up ${loadMs.toFixed(0)} ms), preprocessing: ${name}`);
    const batch = decoded.map((d) => preprocessImage(d.img, p));
    const per = batch[0]!.tensor.length;
    const input = new Float32Array(per * batch.length);
    batch.forEach((b, i) => input.set(b.tensor, i * per));
    const t0 = performance.now();
    const { outputs } = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: [batch.length, ...batch[0]!.shape.slice(1)], data: input } });
    const ms = performance.now() - t0;
    const out = outputs[model.outputs[0]!.name]!;
    const classes = out.data.length / batch.length;
    const labels = loadLabels(values.labels, classes);
    log(`forward: ${ms.toFixed(1)} ms for ${batch.length} image(s)`);
    const results = decoded.map((d, i) => {
      const scores = out.data.slice(i * classes, (i + 1) * classes) as Float32Array;
      const { probs, alreadyProbabilities } = toProbabilities(scores);
      const topClasses = topK(probs, Math.min(top, classes)).map((k) => ({ index: k, label: labels?.[k] ?? null, probability: probs[k]!, score: scores[k]! }));
      log(`\n${d.path} (${d.img.width}x${d.img.height})`);
      for (const c of topClasses) log(`  ${String(c.index).padStart(4)}  ${(c.probability * 100).toFixed(2).padStart(6)}%  ${c.label ?? `class ${c.index}`}`);
      return { image: d.path, width: d.img.width, height: d.img.height, scoresAre: alreadyProbabilities ? 'probabilities' : 'logits', top: topClasses };
    });
    if (values.json) {
      console.log(JSON.stringify({
        adapter: gpu.adapterName, model: { file: basename(modelPath), classes, loadMs }, preprocessing: { name, ...p },
        forwardMs: ms, images: results,
      }, null, 2));
    }
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
