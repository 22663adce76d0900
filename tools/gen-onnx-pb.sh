#!/usr/bin/env bash
# Regenerates the ONNX protobuf code from src/runtime/onnx-pb/onnx.proto (ONNX 1.23.1, IR version
# 14; taken from the onnx 1.23.1 wheel's onnx/onnx.proto): `npm run gen:onnx`.
#  - src/runtime/onnx-pb/onnx.{js,d.ts}: what the library ships, decode only (no encode, create,
#    verify or JSON conversion), int64 as numbers, over the small reader in runtime.ts, and only for
#    the messages and fields inference reads (tools/onnx-pb-decode-fields.mjs lists them; the
#    decoder skips every other field as unknown);
#  - tools/onnx-pb/onnx.{js,d.ts}: the same messages with encode, create and JSON conversion too,
#    for the ONNX writer that tests and benchmarks build models with (and fuzzers mutate).
# docs/protobuf.md says why protobufjs's static code and not @bufbuild/protobuf.
set -euo pipefail
cd "$(dirname "$0")/.."
proto=src/runtime/onnx-pb/onnx.proto
common=(-t static-module -w es6 --es6 --force-number --no-verify --no-delimited --no-typeurl --no-service)
gen() { # out-dir schema extra-flags...
  local out=$1 schema=$2; shift 2
  mkdir -p "$out"
  npx pbjs "${common[@]}" "$@" -o "$out/onnx.js" "$schema"
  npx pbts -o "$out/onnx.d.ts" "$out/onnx.js"
  # int64 fields are numbers (--force-number): the types never use Long, and an `import = require`
  # line cannot stand in an ES module declaration file.
  sed -i '/^import Long = require("long");$/d' "$out/onnx.d.ts"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
npx pbjs -t json -o "$tmp/onnx.json" "$proto"
node tools/onnx-pb-decode-fields.mjs "$tmp/onnx.json" "$tmp/onnx-decode.json"
gen src/runtime/onnx-pb "$tmp/onnx-decode.json" --no-create --no-encode --no-convert
# The library's copy reads through runtime.ts (a Reader and five helpers) instead of
# protobufjs/minimal, which would bring a writer, RPC and the long package along.
sed -i 's#^import \$protobuf from "protobufjs/minimal.js";$#import $protobuf from "./runtime.js";#' src/runtime/onnx-pb/onnx.js
sed -i 's#^import \* as \$protobuf from "protobufjs";$#import * as $protobuf from "./runtime.js";#' src/runtime/onnx-pb/onnx.d.ts
grep -q '"./runtime.js"' src/runtime/onnx-pb/onnx.js && grep -q '"./runtime.js"' src/runtime/onnx-pb/onnx.d.ts
gen tools/onnx-pb "$proto"
