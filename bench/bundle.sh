#!/usr/bin/env bash
# Bundles the benchmark into bench/out/ so it runs with a bare `node` (>= 20) and no npm:
#   bench/out/bench.mjs                                   everything in JS (webgpu-xai, tfjs, onnxruntime-web, protobufjs)
#   bench/out/dist/linux-x64/dawn.node                    Dawn (the `webgpu` package loads it relative to the script)
#   bench/out/ort-wasm-simd-threaded.asyncify.wasm.gz     onnxruntime-web's WebGPU build, handed over as env.wasm.wasmBinary
# onnxruntime-node (a 45 MB native library) stays external: in the bundle its column reads
# 'failed: Cannot find package' unless node_modules/onnxruntime-node is reachable from the folder.
# Run from a folder holding bench/out and ../shared/models:
#   node bench/out/bench.mjs --peers ours,ort-web,tfjs --results RESULTS.md
# With --xai it also bundles the explanation benchmark (bench/xai.ts) as bench/out/bench-xai.mjs
# (same dawn.node and wasm):  node bench/out/bench-xai.mjs --models-dir shared/models --results RESULTS.md
set -euo pipefail
xai=0; for a in "$@"; do [ "$a" = --xai ] && xai=1; done
cd "$(dirname "$0")/.."
out=bench/out
rm -rf "$out"; mkdir -p "$out/dist/linux-x64"
npx esbuild bench/run.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$out/bench.mjs" --external:onnxruntime-node --log-level=warning \
  --banner:js="import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);"
if [ "$xai" = 1 ]; then
  npx esbuild bench/xai.ts --bundle --platform=node --format=esm --target=node20 \
    --outfile="$out/bench-xai.mjs" --external:onnxruntime-node --log-level=warning \
    --banner:js="import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);"
fi
cp node_modules/webgpu/dist/linux-x64/dawn.node "$out/dist/linux-x64/dawn.node"
gzip -9 -c node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm > "$out/ort-wasm-simd-threaded.asyncify.wasm.gz"
du -sh "$out"; ls -la "$out" "$out/dist/linux-x64"
