#!/usr/bin/env bash
# Seeds the fuzz corpora from the documents the project already has.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/validate fuzz/corpus/migrate fuzz/corpus/yaml_fast_path
for target in validate yaml_fast_path; do
  cp docs/spec/examples/*.yaml crates/mlspec/tests/fixtures/invalid/*.yaml "fuzz/corpus/$target/"
done
find ../shared/seed-examples -name '*.y*ml' -exec cp {} fuzz/corpus/migrate/ \;
