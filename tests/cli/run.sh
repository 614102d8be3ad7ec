#!/usr/bin/env bash
# The command line as a user meets it after scripts/install, with the tiny test model:
#   `zeroshot` on the PATH is the installed program (a link to PostgreSQL 15's copy), which
#   finds the ONNX Runtime installed beside it with no option and no ORT_DYLIB_PATH;
#   `zeroshot --version` says which library it found and where, that ORT_DYLIB_PATH wins, and
#   that none was found (a copy of the program alone in a folder) and how to fix it; the lookup
#   follows a link to the program's real folder;
#   the errors a new user meets first, each one line on stderr that says what to do and exit
#   status 1: no model directory, one that does not exist, a parent folder or a PyTorch
#   checkpoint instead of an export, no ONNX Runtime, a wrong ORT_DYLIB_PATH, a file that is
#   not ONNX Runtime, CUDA asked for where there is none;
#   progress on stderr, results alone on stdout: plain lines every --progress-interval through
#   a pipe (eval, bench, classify reading standard input), a bar on a terminal (a pty from
#   `script`), plain lines on a terminal that cannot redraw (TERM=dumb), nothing with --quiet;
#   bench --json counts ONNX Runtime runs per text: at most 3 in exact mode with our export.
# Prints "cli: N passed, M failed".
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
model=$REPO/tests/fixtures/tiny-mt5
fewclue=$REPO/data/fewclue
labels=物流问题,商品质量,售后体验
work=$(mktemp -d /tmp/zs_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}
# As a user's shell runs it: the default PATH, none of the test suite's variables.
user() { env -u ORT_DYLIB_PATH -u ZS_MODEL_DIR PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
pkglib=$("$PG_CONFIG" --pkglibdir)/pg_zeroshot

echo "== installed, and finds its runtime"
zs=$(user sh -c 'command -v zeroshot' || true)
real=$(readlink -f "${zs:-/nonexistent}" || true)
if [ "$real" = "$pkglib/zeroshot" ]; then r=0; else r=1; fi
check on_path $r "zeroshot is ${zs:-not on the PATH} -> ${real:-nothing}; want $pkglib/zeroshot"
if [ -z "$zs" ]; then echo "cli: $passed passed, $((failed + 1)) failed (no zeroshot on the PATH: run scripts/install)"; exit 1; fi
out=$(user zeroshot --version 2>&1 || true)
want="ONNX Runtime $ORT_VERSION: $pkglib/libonnxruntime.so.$ORT_VERSION (installed beside this program)"
if [ "$(printf '%s\n' "$out" | sed -n 1p)" = "zeroshot $(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/crates/zeroshot-cli/Cargo.toml")" ] \
  && [ "$(printf '%s\n' "$out" | sed -n 2p)" = "$want" ]; then r=0; else r=1; fi
check version_finds_installed_runtime $r "$(printf '%s' "$out" | tr '\n' '|')"
out=$(user zeroshot classify --model-dir "$model" --labels "$labels" 快递太慢了 2>"$work/err" || true)
if printf '%s\n' "$out" | grep -Eq '^(物流问题|商品质量|售后体验)	[0-9.]+$'; then r=0; else r=1; fi
check classify_with_no_runtime_option $r "$out $(head -c 200 "$work/err")"
out=$(user env ORT_DYLIB_PATH="$ORT_LIB" zeroshot --version | sed -n 2p || true)
if [ "$out" = "ONNX Runtime $ORT_VERSION: $ORT_LIB (from ORT_DYLIB_PATH)" ]; then r=0; else r=1; fi
check version_env_wins $r "$out"
# The program alone in a folder: no library beside it.
mkdir -p "$work/bare" && cp "$real" "$work/bare/zeroshot"
out=$(user "$work/bare/zeroshot" --version; echo "exit $?")
if printf '%s' "$out" | grep -Fq "no ONNX Runtime library found: ORT_DYLIB_PATH is not set and $work/bare/libonnxruntime.so.$ORT_VERSION is not there; run scripts/install" \
  && printf '%s' "$out" | grep -q '^exit 0$'; then r=0; else r=1; fi
check version_none_found $r "$(printf '%s' "$out" | tr '\n' '|')"
# A link to the program elsewhere: the library is looked for beside the file the link leads to.
mkdir -p "$work/lib" "$work/bin" && cp "$real" "$work/lib/zeroshot" && ln -s "$ORT_LIB" "$work/lib/"
ln -s "$work/lib/zeroshot" "$work/bin/zeroshot"
out=$(user "$work/bin/zeroshot" --version | sed -n 2p || true)
if [ "$out" = "ONNX Runtime $ORT_VERSION: $work/lib/libonnxruntime.so.$ORT_VERSION (installed beside this program)" ]; then r=0; else r=1; fi
check lookup_follows_links $r "$out"

echo "== the first errors: one line, what to do"
first_error() { # NAME WANT(fixed string) COMMAND...: exit 1, nothing on stdout, one line on stderr
  local name=$1 want=$2 status=0; shift 2
  user "$@" >"$work/out" 2>"$work/err" || status=$?
  if [ "$status" -eq 1 ] && [ ! -s "$work/out" ] && [ "$(wc -l <"$work/err")" -eq 1 ] && grep -Fq -- "$want" "$work/err"; then r=0; else r=1; fi
  check "$name" $r "exit $status: $(cat "$work/err")"
}
first_error no_model_dir 'zeroshot: no model: give --model-dir DIR (or set ZS_MODEL_DIR)' \
  zeroshot classify --labels "$labels" 快递太慢了
first_error model_dir_missing "zeroshot: --model-dir $work/nope does not exist; give a folder exported by tools/export_model.py" \
  zeroshot classify --model-dir "$work/nope" --labels "$labels" 快递太慢了
first_error parent_folder "did you mean --model-dir $REPO/tests/fixtures/tiny-mt5?" \
  zeroshot classify --model-dir "$REPO/tests/fixtures" --labels "$labels" 快递太慢了
mkdir -p "$work/checkpoint" && echo '{}' >"$work/checkpoint/config.json" && : >"$work/checkpoint/model.safetensors"
first_error pytorch_checkpoint 'it holds a PyTorch checkpoint: export it to ONNX first (tools/export_model.py' \
  zeroshot classify --model-dir "$work/checkpoint" --labels "$labels" 快递太慢了
first_error no_runtime "zeroshot: no ONNX Runtime library found: ORT_DYLIB_PATH is not set and $work/bare/libonnxruntime.so.$ORT_VERSION is not there; run scripts/install" \
  "$work/bare/zeroshot" classify --model-dir "$model" --labels "$labels" 快递太慢了
first_error env_runtime_missing "zeroshot: ORT_DYLIB_PATH $work/nope.so does not exist; give the path of libonnxruntime.so.$ORT_VERSION, or unset it" \
  env ORT_DYLIB_PATH="$work/nope.so" zeroshot classify --model-dir "$model" --labels "$labels" 快递太慢了
echo 'not a library' >"$work/libfake.so"
first_error not_a_runtime "cannot load the ONNX Runtime library $work/libfake.so: dlopen failed: $work/libfake.so: file too short; give --onnxruntime-library or ORT_DYLIB_PATH the path of an ONNX Runtime library" \
  zeroshot classify --model-dir "$model" --onnxruntime-library "$work/libfake.so" --labels "$labels" 快递太慢了
# ONNX Runtime's CPU build, which scripts/install puts there, has no CUDA: on any machine.
first_error cuda_unavailable 'zeroshot: --device cuda, but the CUDA execution provider could not be used with' \
  zeroshot classify --model-dir "$model" --device cuda --labels "$labels" 快递太慢了
if grep -Fq 'use --device cpu (or auto, which falls back to the CPU)' "$work/err"; then r=0; else r=1; fi
check cuda_says_what_to_do $r "$(cat "$work/err")"

echo "== progress on stderr, results on stdout"
eval_args=(--model-dir "$model" --task tnews --data-dir "$fewclue" --progress-interval 0.1)
table_only() { # FILE ROWS: the table's header, separator and ROWS rows, nothing else
  [ "$(wc -l <"$1")" -eq $((2 + $2)) ] && ! grep -qv '^|' "$1"
}
plain_line='^eval: tnews: [0-9]+/2010 texts \([0-9.]+%\), [0-9.]+ texts/s, about [0-9.]+ (s|min) left$'
user zeroshot eval "${eval_args[@]}" >"$work/out" 2>"$work/err" || true
n=$(grep -Ec "$plain_line" "$work/err" || true)
if table_only "$work/out" 1 && [ "$n" -ge 1 ] && grep -Eq '^eval: 2010 texts in [0-9.]+ (s|min), [0-9.]+ texts/s$' "$work/err" \
  && ! grep -q $'[\r\e]' "$work/err" && [ "$(grep -Evc "$plain_line|^eval: 2010 texts in |^warning: .* random weights" "$work/err")" -eq 0 ]; then r=0; else r=1; fi
check eval_through_a_pipe $r "$n progress lines; stderr ends: $(tail -n 2 "$work/err" | tr '\n' '|')"
# A terminal: script gives the program a pty for stderr; stdout goes to a file.
TERM=xterm user script -qec "zeroshot eval ${eval_args[*]} >$work/out" /dev/null </dev/null >"$work/tty" || true
if table_only "$work/out" 1 && grep -q $'\r' "$work/tty" && grep -Eq 'eval: tnews \[[=> ]+\] [0-9]+/2010 texts, [0-9.]+ texts/s, [0-9]+[a-z]+ left' "$work/tty" \
  && ! grep -Eq "texts \([0-9.]+%\)" "$work/tty"; then r=0; else r=1; fi
check eval_on_a_terminal $r "$(tr -cd '\r' <"$work/tty" | wc -c) redraws: $(tr '\r' '\n' <"$work/tty" | grep -a 'texts/s' | tail -n 1 | tr -d $'\e')"
TERM=dumb user script -qec "zeroshot eval ${eval_args[*]} >$work/out" /dev/null </dev/null >"$work/tty" || true
n=$(tr -d '\r' <"$work/tty" | grep -Ec "$plain_line" || true)
if table_only "$work/out" 1 && [ "$n" -ge 1 ] && ! grep -q $'\e' "$work/tty"; then r=0; else r=1; fi
check eval_on_a_dumb_terminal $r "$n plain lines, no escape codes"
user zeroshot eval "${eval_args[@]}" --limit 300 --quiet >"$work/out" 2>"$work/err" || true
if table_only "$work/out" 1 && [ ! -s "$work/err" ]; then r=0; else r=1; fi
check eval_quiet_through_a_pipe $r "stderr: $(wc -c <"$work/err") bytes"
TERM=xterm user script -qec "zeroshot eval ${eval_args[*]} --limit 300 -q >$work/out" /dev/null </dev/null >"$work/tty" || true
if table_only "$work/out" 1 && [ ! -s "$work/tty" ]; then r=0; else r=1; fi
check eval_quiet_on_a_terminal $r "terminal: $(wc -c <"$work/tty") bytes"
# classify: texts from standard input get progress, results stay one line per text.
python3 -c '[print("快递第%d天还没到，客服也不回复" % i) for i in range(400)]' >"$work/texts"
user zeroshot classify --model-dir "$model" --labels "$labels" --progress-interval 0.1 <"$work/texts" >"$work/out" 2>"$work/err" || true
n=$(grep -Ec '^classify: [0-9]+/400 texts \(' "$work/err" || true)
if [ "$(grep -Ec '^(物流问题|商品质量|售后体验)	[0-9.]+$' "$work/out")" -eq 400 ] && [ "$(wc -l <"$work/out")" -eq 400 ] \
  && [ "$n" -ge 1 ] && grep -q '^classify: 400 texts in ' "$work/err"; then r=0; else r=1; fi
check classify_stdin_through_a_pipe $r "$(wc -l <"$work/out") results, $n progress lines"
user zeroshot classify --model-dir "$model" --labels "$labels" --progress-interval 0.1 快递太慢了 >"$work/out" 2>"$work/err" || true
if [ "$(wc -l <"$work/out")" -eq 1 ] && ! grep -q '^classify:' "$work/err"; then r=0; else r=1; fi
check classify_arguments_no_progress $r "stderr: $(tr '\n' '|' <"$work/err")"
# bench: every text scored counts, warm-up included: 2 label sets x 1 mode x (1 + 8) x 2 (single, batch).
user zeroshot bench --model-dir "$model" --workload "$REPO/bench/workload.json" --label-sets 5,15 --modes exact \
  --texts 8 --warmup 1 --batch 4 --progress-interval 0.01 >"$work/out" 2>"$work/err" || true
n=$(grep -Ec '^bench: (5|15) labels, exact(_batch)?: [0-9]+/36 texts \(' "$work/err" || true)
if table_only "$work/out" 4 && [ "$n" -ge 1 ] && grep -q '^bench: 36 texts in ' "$work/err"; then r=0; else r=1; fi
check bench_through_a_pipe $r "$n progress lines; last: $(tail -n 1 "$work/err")"
# ONNX Runtime runs per text in exact mode (bench --json): the encoder and one tree run with our
# export, for 5 and for 87 labels (the 87 labels' trie fits one run of zs.batch_rows' 256 rows);
# level by level (--no-tree-pass) it grows with the trie's depth.
for tree in "" --no-tree-pass; do
  user zeroshot bench -q --model-dir "$model" --workload "$REPO/bench/workload.json" --label-sets 5,87 --modes exact \
    --texts 3 --warmup 0 $tree --json "$work/bench${tree}.json" >/dev/null 2>"$work/err" || true
done
r=$(python3 - "$work/bench.json" "$work/bench--no-tree-pass.json" <<'PY'
import json, sys
tree, steps = (json.load(open(p)) for p in sys.argv[1:])
runs = lambda doc: {r["labels"]: r["ort_runs_per_text"] for r in doc["results"] if r["mode"] == "exact"}
ok = tree["one_pass"] and not steps["one_pass"] and all(v <= 3 for v in runs(tree).values()) \
    and all(runs(steps)[k] > 3 for k in runs(steps))
print(f"{0 if ok else 1} tree {runs(tree)}, level by level {runs(steps)}")
PY
) || r="1 $(tail -c 300 "$work/err")"
check bench_counts_ort_runs ${r%% *} "${r#* }"

echo "== generate"
# Greedy outputs as transformers' generate gives them (tests/fixtures/reference_generate.json,
# PyTorch), for every prompt of the reference read from standard input, one JSON line each.
python3 -c 'import json,sys; [print(c["prompt"].replace("\n", " ")) for c in json.load(open(sys.argv[1]))["cases"] if "\n" not in c["prompt"] and "max_input_tokens" not in c]' \
  "$REPO/tests/fixtures/reference_generate.json" > "$work/prompts"
user zeroshot generate -q --model-dir "$model" --json --max-new-tokens 24 < "$work/prompts" > "$work/out" 2>"$work/err" || true
r=$(python3 - "$REPO/tests/fixtures/reference_generate.json" "$work/out" <<'PY'
import json, sys
ref = {c["prompt"]: c["greedy"] for c in json.load(open(sys.argv[1]))["cases"]}
got = [json.loads(line) for line in open(sys.argv[2])]
bad = [g["prompt"] for g in got if g["tokens"] != [ref[g["prompt"]]]]
print(0 if got and not bad else 1)
PY
)
check generate_greedy_equals_transformers $r "$(wc -l <"$work/out") prompts; stderr: $(wc -c <"$work/err") bytes"
a=$(user zeroshot generate -q --model-dir "$model" --n 3 --sample-temperature 1 --top-k 50 --seed 9 --max-new-tokens 8 好评 2>&1 || true)
b=$(user zeroshot generate -q --model-dir "$model" --n 3 --sample-temperature 1 --top-k 50 --seed 9 --max-new-tokens 8 好评 2>&1 || true)
if [ "$a" = "$b" ] && [ "$(printf '%s\n' "$a" | wc -l)" = 3 ]; then r=0; else r=1; fi
check generate_seeded_repeats $r "$(printf '%s' "$a" | tr '\n' '|')"
out=$(user zeroshot generate -q --model-dir "$model" --n 0 好评 2>&1; echo "exit $?")
if printf '%s' "$out" | grep -q 'n must be between 1 and' && printf '%s' "$out" | grep -q 'exit 1'; then r=0; else r=1; fi
check generate_bad_n $r "$(printf '%s' "$out" | tr '\n' '|')"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
