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
  -h, --help       this text`;

export async function classify(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, image: { type: 'string', multiple: true }, ...PREPROCESS_ARGS,
    labels: { type: 'string' }, top: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
    console.log(`adapter: ${gpu.adapterName}`);
    console.log(`model:   ${basename(modelPath)} (load + kernel warm-up ${loadMs.toFixed(0)} ms), preprocessing: ${name}`);
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
    console.log(`forward: ${ms.toFixed(1)} ms for ${batch.length} image(s)`);
    decoded.forEach((d, i) => {
      const scores = out.data.slice(i * classes, (i + 1) * classes) as Float32Array;
      const { probs } = toProbabilities(scores);
      console.log(`\n${d.path} (${d.img.width}x${d.img.height})`);
      for (const k of topK(probs, Math.min(top, classes))) {
        console.log(`  ${String(k).padStart(4)}  ${(probs[k]! * 100).toFixed(2).padStart(6)}%  ${labels?.[k] ?? `class ${k}`}`);
      }
    });
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
