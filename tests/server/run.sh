#!/usr/bin/env bash
# `zeroshot serve` and the backends that use it (zs.server), on a real temporary cluster with
# the installed extension and the tiny test model:
#   the HTTP API through curl (an independent client): the release's /augment and
#   /augment_batch, /v1/classify (with label aliases and top labels), /v1/generate (greedy and
#   seeded calls that repeat themselves, n outputs, equal to zs_generate in-process, a client
#   that goes away mid-generation frees the engine), /v1/model, /healthz, /metrics; bad requests (400 with a JSON
#   error), an oversize body (413), a slow client (its connection closed after the header
#   timeout), a full queue (503 with Retry-After), the socket's mode, the token on TCP (its
#   scheme in any case), and a TCP address that is not loopback without a token (refused at
#   start); what a web page can send cross-origin unasked (a text/plain or form body: 415; a
#   request to a rebound host name on a tokenless port: 403); concurrent clients
#   with different label sets, each given its own answers; a client that goes away while
#   queued (its request is never run) or while its request runs (the run is stopped);
#   SIGTERM (exit 0, socket removed);
#   SQL in server mode: answers equal to in-process ones, zs_model_info's mode, a backend that
#   loads no model (RSS), cancel and statement_timeout within 0.5 s, the server killed with
#   SIGSEGV mid-request (08006, the postmaster not restarted), down (08001), and back.
# Prints "server: N passed, M failed".
set -euo pipefail
# Warnings (the test model's random weights) stay out of the outputs the checks compare.
export PGOPTIONS="-c search_path=public,zeroshot -c client_min_messages=error"
. "$(dirname "$0")/../../scripts/common.sh"
. "$REPO/scripts/cluster.sh"
port=${ZS_SERVER_TEST_PORT:-54333}
zeroshot=${ZS_ZEROSHOT_BIN:-$REPO/target/debug/zeroshot}
model=$REPO/tests/fixtures/tiny-mt5
cluster_start "$port"
# psql runs as postgres here: a working directory it may enter (CI's clone is not one), so
# that no "could not change directory" line joins the output the checks compare.
cd "$CLUSTER_DIR"
sock=$CLUSTER_DIR/zeroshot.sock
tcp_port=$((port + 1000))
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap 'status=$?; stop_server; if [ "$status" -ne 0 ]; then echo "server: stopped (exit $status); its log ends:"; tail -n 20 "$CLUSTER_DIR/serve.log" 2>/dev/null; fi; cluster_stop' EXIT
bindir=$("$PG_CONFIG" --bindir)
psql_() { as_pg "$bindir/psql" -X -q -h "$CLUSTER_DIR" -p "$port" -d postgres -At "$@"; }
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}
# The server runs as this user; the socket's group is the database server's, as README's setup has it.
start_server() { # extra args
  ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" serve --model-dir "$model" --socket "$sock" "$@" >>"$CLUSTER_DIR/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
  chgrp postgres "$sock" 2>/dev/null || true
}
api() { curl -s --max-time 20 --unix-socket "$sock" -H "Content-Type: application/json" "$@"; }
labels='["物流问题","商品质量","售后体验"]'

echo "== the HTTP API"
printf 'x%.0s' $(seq 1 20) > "$CLUSTER_DIR/token"
start_server --listen "127.0.0.1:$tcp_port" --token-file "$CLUSTER_DIR/token" --max-queue-texts 64 --header-timeout-s 1 --max-new-tokens-limit 262144
out=$(api -X POST localhost/augment -d "{\"text\":\"快递三天了还没到\",\"candidate_labels\":$labels}")
if printf '%s' "$out" | python3 -c 'import json,sys; a=json.load(sys.stdin); l=["物流问题","商品质量","售后体验"]; assert a["label"] in l and set(a["all_scores"])==set(l) and abs(sum(a["all_scores"].values())-1)<1e-9 and a["score"]==a["all_scores"][a["label"]]'; then r=0; else r=1; fi
check augment $r "$out"
out=$(api -X POST localhost/augment_batch -d "{\"texts\":[\"快递三天了还没到\",\"买回来两天就坏了\"],\"candidate_labels\":\"物流问题,商品质量,售后体验\"}")
if printf '%s' "$out" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert len(a)==2 and all(set(x)=={"label","score"} for x in a)'; then r=0; else r=1; fi
check augment_batch $r "$out"
# /v1/classify against the command line's answer for the same text (one process each).
out=$(api -X POST localhost/v1/classify -d "{\"texts\":[\"客服态度很好，退货很顺利\"],\"labels\":$labels,\"temperature\":2}")
cli=$(ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" classify --model-dir "$model" --labels 物流问题,商品质量,售后体验 --temperature 2 --json '客服态度很好，退货很顺利' 2>/dev/null || true)
if python3 - "$out" "$cli" <<'PY'
import json, sys
got = json.loads(sys.argv[1])["results"][0]
want = json.loads(sys.argv[2].splitlines()[0])
assert got["label"] == want["label"], (got, want)
for k, p in want["scores"].items():
    assert abs(got["scores"][k] - p) < 1e-6, (k, got["scores"][k], p)
assert len(got["probs"]) == 3 and len(got["logprobs"]) == 3 and got["input_tokens"] > 0
PY
then r=0; else r=1; fi
check v1_classify_equals_cli $r "$(printf '%s' "$out" | cut -c1-100)"
out=$(api localhost/v1/model)
if printf '%s' "$out" | python3 -c 'import json,sys; m=json.load(sys.stdin); assert m["model_id"] and m["texts_scored"]>=4 and m["server"]["max_input_tokens_limit"]==2048'; then r=0; else r=1; fi
check v1_model $r "$(printf '%s' "$out" | cut -c1-80)"
# Exact mode runs the tree graph; the step graphs open on the first greedy request, and
# /v1/model says so (its graphs are the engine's now, not those of its start).
graphs() { api localhost/v1/model | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["one_pass"], "decoder_with_past_model.onnx" in m["graphs"])'; }
before=$(graphs)
api -X POST localhost/v1/classify -d "{\"texts\":[\"快递太慢\"],\"labels\":$labels,\"score_mode\":\"greedy\"}" >/dev/null
after=$(graphs)
if [ "$before" = "True False" ] && [ "$after" = "True True" ]; then r=0; else r=1; fi
check v1_model_graphs_follow_the_engine $r "before greedy: $before; after: $after"
out=$(api localhost/healthz); if [ "$out" = '{"status":"ok"}' ]; then r=0; else r=1; fi; check healthz $r "$out"
# Bad requests: a status and a JSON error naming what is wrong, each.
bad() { # NAME WANT_STATUS WANT_IN_BODY ARGS...
  local name=$1 want=$2 word=$3; shift 3
  local got; got=$(api -o "$CLUSTER_DIR/body" -w '%{http_code}' "$@" || true)
  if [ "$got" = "$want" ] && grep -q -- "$word" "$CLUSTER_DIR/body"; then r=0; else r=1; fi
  check "$name" $r "HTTP $got $(head -c 120 "$CLUSTER_DIR/body")"
}
bad missing_field 400 'missing field' -X POST localhost/augment -d "{\"candidate_labels\":$labels}"
bad not_json 400 'not JSON' -X POST localhost/augment -d '{"text":'
bad wrong_type 400 'candidate_labels' -X POST localhost/augment -d '{"text":"x","candidate_labels":[1,2]}'
bad duplicate_labels 400 'invalid_parameter' -X POST localhost/augment -d '{"text":"x","candidate_labels":["物流","物流"]}'
bad separator_in_label 400 'separator' -X POST localhost/augment -d '{"text":"x","candidate_labels":["物流，问题","质量"]}'
bad too_many_labels 400 'program_limit' -X POST localhost/v1/classify -d "{\"texts\":[\"x\"],\"labels\":$(python3 -c 'import json; print(json.dumps(["l%d" % i for i in range(600)]))')}"
bad over_token_limit 400 'limit' -X POST localhost/v1/classify -d "{\"texts\":[\"x\"],\"labels\":$labels,\"max_input_tokens\":4096}"
bad unknown_path 404 'not_found' localhost/nope
head -c $((17 << 20)) /dev/zero | tr '\0' 'a' > "$CLUSTER_DIR/big"
bad oversize_body 413 'over' -X POST localhost/augment -H 'Content-Type: application/json' --data-binary @"$CLUSTER_DIR/big"
bad queue_full 503 'overloaded' -X POST localhost/v1/classify -d "{\"texts\":$(python3 -c 'import json; print(json.dumps(["文本%d" % i for i in range(65)]))'),\"labels\":$labels}"
retry=$(api -D - -o /dev/null -X POST localhost/v1/classify -d "{\"texts\":$(python3 -c 'import json; print(json.dumps(["t"] * 65))'),\"labels\":$labels}" | tr -d '\r' | awk -F': ' 'tolower($1)=="retry-after" {print $2}')
if [ "$retry" = 1 ]; then r=0; else r=1; fi; check retry_after $r "Retry-After: ${retry:-none}"
# A client that sends half its headers and stops is cut off after the header timeout (1 s).
t0=$(date +%s%N)
python3 - "$sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
s.sendall(b"POST /augment HTTP/1.1\r\nHost: x\r\n")
assert s.recv(100) in (b"",) or True
PY
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -lt 5000 ]; then r=0; else r=1; fi; check slow_client_cut_off $r "a client that stopped mid-headers was cut off after ${ms} ms (header timeout 1 s)"
mode=$(stat -c '%a' "$sock"); if [ "$mode" = 660 ]; then r=0; else r=1; fi; check socket_mode $r "mode $mode"
# TCP: every request carries the token.
tcp() { curl -s --max-time 20 -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$tcp_port/${path:-v1/model}"; }
codes="$(tcp) $(tcp -H 'Authorization: Bearer wrong-token-wrong-token') $(tcp -H "Authorization: Bearer $(cat "$CLUSTER_DIR/token")")"
if [ "$codes" = "401 401 200" ]; then r=0; else r=1; fi; check tcp_token $r "no token, wrong token, right token: $codes"
code=$(path=healthz tcp)
if [ "$code" = 200 ]; then r=0; else r=1; fi; check healthz_needs_no_token $r "GET /healthz without a token: $code"
code=$(tcp -H "Authorization: bEaReR $(cat "$CLUSTER_DIR/token")")
if [ "$code" = 200 ]; then r=0; else r=1; fi; check token_scheme_any_case $r "'bEaReR <token>': $code"
# What a web page may send cross-origin without a preflight (text/plain, a form) is refused.
codes=$(for ct in text/plain application/x-www-form-urlencoded 'application/json; charset=utf-8'; do
  curl -s --max-time 20 --unix-socket "$sock" -o /dev/null -w '%{http_code} ' -H "Content-Type: $ct" -X POST localhost/augment -d "{\"text\":\"快递\",\"candidate_labels\":$labels}"; done)
if [ "$codes" = "415 415 200 " ]; then r=0; else r=1; fi; check json_bodies_only $r "text/plain, form, JSON: $codes"
# A browser sends an undeclared body (a Blob) unasked too, but says where its page is from.
codes=$(for h in 'Origin: https://evil.example' 'Sec-Fetch-Site: cross-site' 'Origin: null' 'Origin: http://localhost'; do
  curl -s --max-time 20 --unix-socket "$sock" -o /dev/null -w '%{http_code} ' -H "$h" -H 'Content-Type: application/json' -X POST localhost/augment -d "{\"text\":\"快递\",\"candidate_labels\":$labels}"; done)
if [ "$codes" = "403 403 403 200 " ]; then r=0; else r=1; fi; check pages_of_other_sites_refused $r "Origin evil.example, Sec-Fetch-Site cross-site, Origin null, same origin: $codes"
# Without a token, TCP answers only requests addressed to a loopback name (no DNS rebinding).
open_port=$((tcp_port + 2))
ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" serve --model-dir "$model" --listen "127.0.0.1:$open_port" >>"$CLUSTER_DIR/open.log" 2>&1 &
open_pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$open_port/healthz" && break; sleep 0.05; done
host() { curl -s --max-time 20 -o /dev/null -w '%{http_code} ' -H "Host: $1" "http://127.0.0.1:$open_port/v1/model"; }
codes="$(host "evil.example:$open_port")$(host "localhost.evil.example")$(host "localhost:$open_port")$(host "127.0.0.1:$open_port")$(host "[::1]:$open_port")"
kill -TERM "$open_pid"; wait "$open_pid" || true
if [ "$codes" = "403 403 200 200 200 " ]; then r=0; else r=1; fi; check loopback_host_only $r "evil.example, localhost.evil.example, localhost, 127.0.0.1, [::1]: $codes"
if ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" serve --model-dir "$model" --listen 0.0.0.0:$((tcp_port + 1)) >"$CLUSTER_DIR/open.log" 2>&1; then r=1; else r=0; fi
check no_open_port_without_token $r "$(head -c 100 "$CLUSTER_DIR/open.log")"
# Concurrent clients with different label sets each get their own labels back.
clients=()
for i in $(seq 1 8); do
  ( set -- "物流$i" "质量$i" "售后$i"
    api -X POST localhost/augment_batch -d "{\"texts\":[\"快递$i\",\"坏了$i\",\"退货$i\"],\"candidate_labels\":[\"$1\",\"$2\",\"$3\"]}" > "$CLUSTER_DIR/c$i.json" ) &
  clients+=($!)
done
wait "${clients[@]}"
ok=0
for i in $(seq 1 8); do
  python3 -c "import json,sys; a=json.load(open(sys.argv[1])); assert len(a)==3 and all(x['label'].endswith('$i') for x in a)" "$CLUSTER_DIR/c$i.json" && ok=$((ok + 1))
done
if [ "$ok" = 8 ]; then r=0; else r=1; fi; check concurrent_label_sets $r "$ok of 8 clients got their own labels"
# A client that goes away while queued: its request is never run. The engine is kept busy by a
# large request; a second one waits behind it (another label set) and its client hangs up.
python3 -c 'import json; print(json.dumps({"texts": ["很长的评论" * 200 + str(i) for i in range(60)], "labels": ["标签%d" % i for i in range(250)], "max_input_tokens": 2048}))' > "$CLUSTER_DIR/busy.json"
# (A longer wait than api's 20 s: on a loaded machine the debug build takes about that long.)
api --max-time 120 -X POST localhost/v1/classify -d @"$CLUSTER_DIR/busy.json" >/dev/null &
busy=$!
sleep 0.3
before=$(api localhost/v1/model | python3 -c 'import json,sys; print(json.load(sys.stdin)["texts_scored"])')
api --max-time 0.3 -X POST localhost/v1/classify -d '{"texts":["走了的客户"],"labels":["甲","乙"]}' >/dev/null || true
wait $busy
sleep 0.2
after=$(api localhost/v1/model | python3 -c 'import json,sys; print(json.load(sys.stdin)["texts_scored"])')
dropped=$(api localhost/metrics | awk '/^zeroshot_jobs_cancelled_total/ {print $2}')
if [ "$((after - before))" = 60 ] && [ "${dropped:-0}" -ge 1 ]; then r=0; else r=1; fi
check abandoned_request_not_run $r "texts scored while it waited: $((after - before)) (the busy request's 60), requests dropped unrun: ${dropped:-?}"
# A client that goes away while its request runs: the engine stops that run (its interrupt
# check sees every client of the batch gone) instead of finishing work nobody will read.
before=$(api localhost/v1/model | python3 -c 'import json,sys; print(json.load(sys.stdin)["texts_scored"])')
api --max-time 0.5 -X POST localhost/v1/classify -d @"$CLUSTER_DIR/busy.json" >/dev/null || true
for _ in $(seq 1 100); do
  stopped=$(api localhost/metrics | awk '/^zeroshot_errors_total\{kind="interrupted"\}/ {print $2}')
  [ -n "$stopped" ] && break; sleep 0.1
done
after=$(api localhost/v1/model | python3 -c 'import json,sys; print(json.load(sys.stdin)["texts_scored"])')
if [ "${stopped:-0}" -ge 1 ] && [ "$after" = "$before" ]; then r=0; else r=1; fi
check abandoned_run_stopped $r "runs stopped because every client left: ${stopped:-none}; texts scored meanwhile: $((after - before))"
# /v1/classify with aliases: a label's log-probability is the log-sum-exp of its forms' (each
# form scored as a label by the same server), and "top" lists the k most probable labels.
out=$(api -X POST localhost/v1/classify -d '{"texts":["快递三天了还没到"],"labels":["物流问题","商品质量","售后体验"],"aliases":{"物流问题":["快递慢","没发货"]},"top":2}')
forms=$(api -X POST localhost/v1/classify -d '{"texts":["快递三天了还没到"],"labels":["物流问题","快递慢","没发货","商品质量","售后体验"]}')
if python3 - "$out" "$forms" <<'PY'
import json, math, sys
got = json.loads(sys.argv[1])["results"][0]
forms = json.loads(sys.argv[2])["results"][0]["logprobs"]
want = [math.log(sum(math.exp(x) for x in forms[:3])), forms[3], forms[4]]
assert all(abs(a - b) < 1e-6 for a, b in zip(got["logprobs"], want)), (got["logprobs"], want)
labels = ["物流问题", "商品质量", "售后体验"]
order = sorted(range(3), key=lambda i: -got["probs"][i])[:2]
assert got["top"] == [{"label": labels[i], "score": got["probs"][i]} for i in order], got["top"]
assert set(got["scores"]) == set(labels)
PY
then r=0; else r=1; fi
check v1_classify_aliases_and_top $r "$(printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["label"], r["top"])' 2>&1 | head -c 160)"
bad alias_refused_as_label 400 '"about":"labels"' -X POST localhost/v1/classify -d '{"texts":["x"],"labels":["物流问题","商品质量"],"aliases":{"物流问题":["商品质量"]}}'
bad alias_of_no_label 400 'aliases' -X POST localhost/v1/classify -d '{"texts":["x"],"labels":["物流问题"],"aliases":{"退货":["退款"]}}'
bad top_not_a_count 400 'top' -X POST localhost/v1/classify -d '{"texts":["x"],"labels":["a","b"],"top":-1}'
# /v1/generate: greedy and seeded calls repeat themselves token for token; n outputs.
gen() { api -X POST localhost/v1/generate -d "$1"; }
greedy='{"prompt":"抽取关键词：快递三天了还没到","max_new_tokens":12}'
seeded='{"prompt":"好评，下次还来买","n":3,"temperature":1,"top_k":50,"top_p":0.95,"max_new_tokens":12,"seed":7}'
if python3 - "$(gen "$greedy")" "$(gen "$greedy")" "$(gen "$seeded")" "$(gen "$seeded")" "$(gen "${seeded%7\}}8}")" <<'PY'
import json, sys
g1, g2, s1, s2, s3 = (json.loads(a) for a in sys.argv[1:])
assert g1["tokens"] == g2["tokens"] and len(g1["outputs"]) == 1 and 1 <= len(g1["tokens"][0]) <= 12, (g1, g2)
assert g1["input_tokens"] > 0 and g1["truncated"] is False and g1["random_model"]
assert s1["tokens"] == s2["tokens"] and s1["outputs"] == s2["outputs"], (s1, s2)
assert len(s1["outputs"]) == 3 and len(s1["tokens"]) == 3 and all(1 <= len(t) <= 12 for t in s1["tokens"])
assert s3["tokens"] != s1["tokens"], "another seed, other outputs"
PY
then r=0; else r=1; fi
check v1_generate_repeats $r "greedy twice, seed 7 twice (3 outputs), seed 8: $(gen "$greedy" | head -c 100)"
bad generate_bad_n 400 'whole number from 1 to 64' -X POST localhost/v1/generate -d '{"prompt":"x","n":65}'
bad generate_over_new_tokens_limit 400 'max-new-tokens-limit' -X POST localhost/v1/generate -d '{"prompt":"x","n":2,"max_new_tokens":131073}'
bad generate_bad_seed 400 'seed' -X POST localhost/v1/generate -d '{"prompt":"x","seed":-1}'
bad generate_bad_top_p 400 'top_p' -X POST localhost/v1/generate -d '{"prompt":"x","top_p":0}'
# A client that goes away mid-generation (64 sampled outputs of up to 4096 tokens: minutes of
# work) frees the engine: the generation stops between decoder steps and the next call runs.
interrupted() { api localhost/metrics | awk '/^zeroshot_errors_total\{kind="interrupted"\}/ {print $2}'; }
before=$(interrupted)
api --max-time 0.5 -X POST localhost/v1/generate -d '{"prompt":"为以下的文本生成标题：快递三天了还没到","n":64,"temperature":1,"max_new_tokens":4096}' >/dev/null || true
t0=$(date +%s%N)
out=$(gen '{"prompt":"x","max_new_tokens":4}')
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
after=$(interrupted)
if [ "$ms" -lt 2000 ] && [ "${after:-0}" -gt "${before:-0}" ] && printf '%s' "$out" | grep -q '"outputs"'; then r=0; else r=1; fi
check generation_cancelled $r "the next call answered ${ms} ms after the client left (bound 2000 ms); runs stopped: ${before:-0} -> ${after:-0}"
metrics=$(api localhost/metrics)
if printf '%s' "$metrics" | grep -q 'zeroshot_requests_total{endpoint="/v1/generate",status="200"}' && printf '%s' "$metrics" | grep -q '^zeroshot_generated_tokens_total [1-9]'; then r=0; else r=1; fi
check generate_metrics $r "$(printf '%s' "$metrics" | grep -E '^zeroshot_(generat|requests_total\{endpoint="/v1/generate")' | tr '\n' ' ')"
metrics=$(api localhost/metrics)
if printf '%s' "$metrics" | grep -q '^zeroshot_request_seconds_bucket' && printf '%s' "$metrics" | grep -q 'zeroshot_requests_total{endpoint="/augment",status="200"}'; then r=0; else r=1; fi
check metrics $r "$(printf '%s' "$metrics" | grep -c '^zeroshot_') series lines"
kill -TERM "$server_pid"; rc=0; wait "$server_pid" || rc=$?; server_pid=
if [ "$rc" = 0 ] && [ ! -e "$sock" ]; then r=0; else r=1; fi; check sigterm $r "exit status $rc, socket removed: $([ ! -e "$sock" ] && echo yes || echo no)"

echo "== SQL in server mode"
# A small queue, so that one request of a batch can overflow it (53000 below).
start_server --max-queue-texts 32
psql_ -c "SET client_min_messages = error" -c "CREATE EXTENSION pg_zeroshot" >/dev/null
# In-process answers first, then the same calls through the server.
cp "$REPO/tests/server/calls.sql" "$CLUSTER_DIR/calls.sql"
chown postgres "$CLUSTER_DIR/calls.sql" 2>/dev/null || true
inproc=$(psql_ -f "$CLUSTER_DIR/calls.sql" 2>&1)
# /v1/generate answers what the engine gives in-process (zs_generate before zs.server is set),
# greedy and seeded.
same=0
for args in "max_new_tokens => 12|{\"max_new_tokens\":12}" \
  "n => 3, temperature => 1, top_k => 50, top_p => 0.95, max_new_tokens => 12, seed => 7|{\"n\":3,\"temperature\":1,\"top_k\":50,\"top_p\":0.95,\"max_new_tokens\":12,\"seed\":7}"; do
  sql=${args%%|*}; json=${args#*|}
  engine=$(psql_ -c "SELECT string_agg(g, '|') FROM zs_generate('抽取关键词：快递三天了还没到', $sql) g")
  http=$(api -X POST localhost/v1/generate -d "{\"prompt\":\"抽取关键词：快递三天了还没到\",${json#\{}" | python3 -c 'import json,sys; print("|".join(json.load(sys.stdin)["outputs"]))')
  if [ -n "$engine" ] && [ "$engine" = "$http" ]; then same=$((same + 1)); fi
done
if [ "$same" = 2 ]; then r=0; else r=1; fi
check v1_generate_equals_engine $r "greedy and seeded, zs_generate in-process against POST /v1/generate: $same of 2 equal ($(printf '%s' "$http" | head -c 60))"
psql_ -c "LOAD 'pg_zeroshot'" -c "ALTER SYSTEM SET zs.server = 'unix:$sock'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
served=$(psql_ -f "$CLUSTER_DIR/calls.sql" 2>&1)
if [ "$inproc" = "$served" ] && [ -n "$served" ]; then r=0; else r=1; fi
check same_answers $r "$(printf '%s' "$served" | tr '\n' '|' | cut -c1-160)"
out=$(psql_ -c "SELECT zs_model_info()->>'mode', zs_model_info()->>'model_id', (zs_model_info()->>'texts_scored')::int" 2>&1)
if [ "$out" = "server|pg_zeroshot/tiny-random-mt5|0" ]; then r=0; else r=1; fi; check model_info_server_mode $r "$out"
# The server's full queue is 53000 in SQL, with its hint (not a proxy's 08001).
msg=$(psql_ -v VERBOSITY=sqlstate -c "SET zs.batch_size = 64" -c "SELECT count(*) FROM zs_classify_batch((SELECT array_agg('第' || g || '条') FROM generate_series(1, 64) g), ARRAY['a','b'])" 2>&1 || true)
hint=$(psql_ -c "SET zs.batch_size = 64" -c "SELECT count(*) FROM zs_classify_batch((SELECT array_agg('第' || g || '条') FROM generate_series(1, 64) g), ARRAY['a','b'])" 2>&1 | grep -o 'HINT:.*' || true)
if [ "$msg" = "ERROR:  53000" ] && printf '%s' "$hint" | grep -q 'queue is full'; then r=0; else r=1; fi
check queue_full_in_sql $r "$msg; $hint"
# Every session's counters on the server are for roles that may see the server's activity.
out=$(psql_ -c "CREATE ROLE zs_plain" -c "GRANT pg_read_all_stats TO postgres" \
  -c "SELECT zs_model_info() ? 'server_texts_scored', zs_model_info() ? 'queue_texts'" \
  -c "SET ROLE zs_plain" -c "SELECT zs_model_info() ? 'server_texts_scored', zs_model_info() ? 'queue_texts', zs_model_info()->>'mode'" -c "RESET ROLE" -c "DROP ROLE zs_plain" 2>&1 | tr '\n' ' ')
if [ "$out" = "t|t f|f|server " ]; then r=0; else r=1; fi; check server_counters_hidden $r "superuser, then a plain role: $out"
# A backend that classifies through the server loads no model.
kb() { echo "(regexp_match(pg_read_file('/proc/self/status'), '$1:\\s+(\\d+)'))[1]::bigint"; }
rss=$(psql_ -c "SET client_min_messages = error" -c "SELECT count(*) FROM zs_classify_batch((SELECT array_agg('第' || g || '条评论') FROM generate_series(1, 200) g), ARRAY['物流问题','商品质量','售后体验'])" -c "SELECT $(kb VmHWM)" | tail -1)
if [ "$((rss / 1024))" -lt 50 ]; then r=0; else r=1; fi; check backend_without_model $r "peak RSS of a backend that scored 200 texts: $((rss / 1024)) MiB; bound 50 MiB"
psql_ -c "SET client_min_messages = error" -c "CREATE TABLE t (id int PRIMARY KEY, body text, label text)" \
  -c "INSERT INTO t SELECT g, '第' || g || '条：快递太慢', NULL FROM generate_series(1, 30) g" \
  -c "CALL zs_label_table('t', 'body', 'label', '{物流问题,商品质量}', 7, trust_owner => true)" >/dev/null
out=$(psql_ -c "SELECT count(label) || ' ' || bool_and(label = zs_classify(body, '{物流问题,商品质量}')) FROM t")
if [ "$out" = "30 true" ]; then r=0; else r=1; fi; check backfill_through_server $r "$out"
# Cancel: statement_timeout ends a long call within 0.5 s; the server drops the request.
t0=$(date +%s%N)
msg=$(psql_ -c "SET statement_timeout = '200ms'" -c "SET zs.max_input_tokens = 2048" \
  -c "SELECT count(*) FROM zs_classify_batch((SELECT array_agg(repeat('很长的评论', 400) || g) FROM generate_series(1, 16) g), (SELECT array_agg('标签' || g) FROM generate_series(1, 250) g))" 2>&1 || true)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -lt 700 ] && printf '%s' "$msg" | grep -q 'statement timeout'; then r=0; else r=1; fi
check cancel_in_server_mode $r "ended ${ms} ms after start with a 200 ms timeout; bound 700 ms: $(printf '%s' "$msg" | head -1)"
# The server dies mid-request: a clean error, the database does not restart; down: 08001; back: works.
psql_ -c "SET zs.max_input_tokens = 2048" -v VERBOSITY=sqlstate \
  -c "SELECT count(*) FROM zs_classify_batch((SELECT array_agg(repeat('很长的评论', 400) || g) FROM generate_series(1, 16) g), (SELECT array_agg('标签' || g) FROM generate_series(1, 250) g))" >"$CLUSTER_DIR/killed.out" 2>&1 &
victim=$!
sleep 1
# Rust's runtime catches the first SIGSEGV (its handler for stack overflows) and, finding no
# faulting address, goes on: a second one ends the process, as a real fault would at once.
kill -SEGV "$server_pid"; sleep 0.2; kill -SEGV "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true; server_pid=
wait "$victim" || true
msg=$(cat "$CLUSTER_DIR/killed.out")
if [ "$msg" = "ERROR:  08006" ]; then r=0; else r=1; fi; check server_killed_mid_request $r "$msg"
msg=$(psql_ -v VERBOSITY=sqlstate -c "SELECT zs_classify('文本', ARRAY['a','b'])" 2>&1 || true)
if [ "$msg" = "ERROR:  08001" ]; then r=0; else r=1; fi; check server_down $r "$msg"
if ! grep -Eq 'terminated by signal|PANIC|all server processes terminated' "$CLUSTER_DIR/server.log"; then r=0; else r=1; fi
check no_database_restart $r "the postmaster log has no crash or restart"
rm -f "$sock"
start_server
out=$(psql_ -c "SET client_min_messages = error" -c "SELECT zs_classify('文本', ARRAY['a','b']) IN ('a','b')" 2>&1 || true)
if [ "$out" = t ]; then r=0; else r=1; fi; check server_back $r "the next call after a restart: $out"
stop_server

echo "server: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
