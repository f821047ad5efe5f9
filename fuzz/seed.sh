#!/usr/bin/env bash
# Seeds the fuzz corpora from the documents the project already has.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/validate fuzz/corpus/migrate fuzz/corpus/yaml_fast_path fuzz/corpus/store_location fuzz/corpus/metric_post fuzz/corpus/expr fuzz/corpus/data_read fuzz/corpus/attest
for target in validate yaml_fast_path; do
  cp docs/spec/examples/*.yaml crates/mlspec/tests/fixtures/invalid/*.yaml "fuzz/corpus/$target/"
done
find crates/mlspec-spec/tests/seed-examples -name '*.y*ml' -exec cp {} fuzz/corpus/migrate/ \;
for url in sqlite:.mlspec/store.db sqlite:///tmp/x.db postgres://me:secret@db:5432/mlspec \
  'postgresql://u@[::1]:5432/db?sslmode=require' mysql://h/db; do
  printf '%s' "$url" > "fuzz/corpus/store_location/$(printf '%s' "$url" | sha1sum | cut -c1-12)"
done
printf '%s' '{"key":"loss","value":0.31,"step":120}' > fuzz/corpus/metric_post/one
printf '%s' '[{"key":"a","value":[1,2]},{"key":"b","value":{"x":1},"timestamp":"2026-11-30T10:00:00Z"}]' > fuzz/corpus/metric_post/batch
printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' > fuzz/corpus/metric_post/chunked
n=0
grep -hv '^#' crates/mlspec-spec/tests/fixtures/expr/valid.txt crates/mlspec-spec/tests/fixtures/expr/invalid.txt |
  while IFS= read -r line; do n=$((n + 1)); printf '%s' "$line" > "fuzz/corpus/expr/line-$n"; done
# data_read: the first byte picks the reading options (see the target), the rest is the file.
printf '\0a,b,c\n1,x,true\n2,,false\n' > fuzz/corpus/data_read/csv
printf '\0{"a": 1, "b": "x"}\n{"a": null}\n' > fuzz/corpus/data_read/jsonl
printf '\0a,b\n1,2\n3\n' > fuzz/corpus/data_read/ragged
printf '\003x,y,when\nNaN,NA,2012/01/01\ninf,N/A,2012-01-02\n-inf,NULL,2012/01/03\n1e999,-,\n0,?,2012/1/4\n' > fuzz/corpus/data_read/nulls-dates
printf '\0a,a,,b\n1,2,3,4\n' > fuzz/corpus/data_read/renamed
printf '\0v\n1\n2\n3\n4\n5\n6\n7\n8\n1000000\n-1000000\n' > fuzz/corpus/data_read/outliers
for csv in crates/mlspec-data/tests/data/real/*.csv; do
  { printf '\0'; head -c 3000 "$csv"; } > "fuzz/corpus/data_read/real-$(basename "$csv" .csv)"
done
cp interop/intoto/kat/envelope.json fuzz/corpus/attest/envelope
cp interop/accesslog/sample_combined_extra.log fuzz/corpus/attest/combined
printf '1.2.3.4 - - [30/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" rid=a chain=%064d\n' 0 > fuzz/corpus/attest/chained
