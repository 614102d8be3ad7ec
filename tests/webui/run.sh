#!/usr/bin/env bash
# The WebUI at `GET /` of `zeroshot serve`, in a real browser (Debian's Chromium, driven by
# playwright-core: tests/webui/drive.mjs) against the tiny test model:
#   the page and its assets through curl: content types, Content-Security-Policy, nosniff,
#   no-cache, nothing loaded from elsewhere, no inline script or style, counted in /metrics;
#   in the browser: a clean load (no console error, no failed request); one text with three
#   labels (three bars, percentages summing to 100 %, the highlighted label the one
#   POST /v1/classify gives node for the same input), top-k, hostile labels shown literally
#   with their quotes doubled in the SQL shown, the batch flow against a direct API call,
#   aliases and top-k sent to /v1/classify (the bars its top labels), the Generate part (every
#   knob sent to /v1/generate, the outputs those of a direct call with the same seed, greedy
#   too, the zs_generate SQL), the server's errors and a network error in the alert element; a
#   screenshot;
#   with --token-file: the page loads without the token, the API refuses without it (the 401
#   shown), works once it is typed in, and the token stays in the tab's sessionStorage.
# Needs /usr/bin/chromium (apt package chromium) and playwright-core, installed from
# tests/webui/package-lock.json into target/webui-node (done here when missing).
# Prints "webui: N passed, M failed"; a screenshot is kept in $OUT_DIR (target/webui).
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
zeroshot=${ZS_ZEROSHOT_BIN:-$REPO/target/debug/zeroshot}
model=$REPO/tests/fixtures/tiny-mt5
node_dir=${WEBUI_NODE_DIR:-$REPO/target/webui-node}
export OUT_DIR=${OUT_DIR:-$REPO/target/webui}
export ZS_CHROMIUM=${ZS_CHROMIUM:-/usr/bin/chromium}
export WEBUI_NODE_DIR=$node_dir
work=$(mktemp -d)
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap 'status=$?; stop_server; if [ "$status" -ne 0 ]; then echo "webui: stopped (exit $status); the server log ends:"; tail -n 20 "$work/serve.log" 2>/dev/null; fi; rm -rf "$work"' EXIT
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}

[ -x "$zeroshot" ] || { echo "webui: $zeroshot is missing: cargo build -p zeroshot-cli"; exit 2; }
[ -x "$ZS_CHROMIUM" ] || { echo "webui: $ZS_CHROMIUM is missing: apt-get install chromium"; exit 2; }
# playwright-core as the lock pins it; installed again when the lock changed.
if ! cmp -s "$REPO/tests/webui/package-lock.json" "$node_dir/package-lock.json" || [ ! -d "$node_dir/node_modules/playwright-core" ]; then
  mkdir -p "$node_dir"
  cp "$REPO/tests/webui/package.json" "$REPO/tests/webui/package-lock.json" "$node_dir/"
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
mkdir -p "$OUT_DIR"

# The server on a free port (127.0.0.1:0; the address it took is in its log).
start_server() { # extra args
  : >"$work/serve.log"
  ORT_DYLIB_PATH=$ORT_LIB "$zeroshot" serve --model-dir "$model" --socket "$work/s.sock" --listen 127.0.0.1:0 "$@" >>"$work/serve.log" 2>&1 &
  server_pid=$!
  url=
  for _ in $(seq 1 600); do
    url=$(sed -n 's|^zeroshot serve: listening on \(http://[0-9.:]*\)$|\1/|p' "$work/serve.log")
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$url" ] || { echo "webui: the server did not start"; exit 1; }
}
drive() { # ARGS...: drive.mjs's checks, counted with these
  local rc=0
  node "$REPO/tests/webui/drive.mjs" "$url" "$@" >"$work/drive.out" 2>&1 || rc=$?
  cat "$work/drive.out"
  passed=$((passed + $(grep -c '^ok ' "$work/drive.out" || true)))
  failed=$((failed + $(grep -c '^FAIL ' "$work/drive.out" || true)))
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$work/drive.out"; then check drive_exit 1 "drive.mjs exited $rc"; fi
}

echo "== the page and its assets"
start_server
headers() { curl -s --max-time 10 -D - -o "$work/body" "$@" | tr -d '\r'; }
for asset in "/ text/html; charset=utf-8" "/app.js text/javascript; charset=utf-8" "/style.css text/css; charset=utf-8" "/favicon.svg image/svg+xml"; do
  path=${asset%% *}; type=${asset#* }
  h=$(headers "${url%/}$path")
  if printf '%s\n' "$h" | grep -qx 'HTTP/1.1 200 OK' \
    && printf '%s\n' "$h" | grep -qix "content-type: $type" \
    && printf '%s\n' "$h" | grep -qix "content-security-policy: default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" \
    && printf '%s\n' "$h" | grep -qix 'x-content-type-options: nosniff' \
    && printf '%s\n' "$h" | grep -qix 'cache-control: no-cache' \
    && [ -s "$work/body" ]; then r=0; else r=1; fi
  check "headers_$path" $r "$(printf '%s' "$h" | grep -iE '^(HTTP|content-type|content-security-policy|x-content-type-options|cache-control)' | tr '\n' '|')"
done
# Nothing from elsewhere (the server is often offline), and nothing inline for the CSP to block.
src=$REPO/crates/zeroshot-server/src/webui
outside=$(grep -nE 'https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(' "$src"/index.html "$src"/style.css "$src"/app.js | grep -v '^\S*:[0-9]*:\s*//' || true)
inline=$(grep -nEi '<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=|javascript:' "$src/index.html" || true)
if [ -z "$outside" ] && [ -z "$inline" ]; then r=0; else r=1; fi
check self_contained $r "references to other hosts: ${outside:-none}; inline script, style or handlers: ${inline:-none}"
inner=$(grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|\balert\(' "$src/app.js" || true)
if [ -z "$inner" ]; then r=0; else r=1; fi; check no_html_sinks $r "${inner:-app.js writes no HTML and opens no alert()}"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${url}nope"); if [ "$code" = 404 ]; then r=0; else r=1; fi
check other_paths_404 $r "GET /nope: $code"

echo "== in the browser, no token"
drive
m=$(curl -s --max-time 10 "${url}metrics")
if printf '%s' "$m" | grep -q '^zeroshot_requests_total{endpoint="/",status="200"}' \
  && printf '%s' "$m" | grep -q '^zeroshot_requests_total{endpoint="/app.js",status="200"}' \
  && printf '%s' "$m" | grep -q '^zeroshot_requests_total{endpoint="/style.css",status="200"}'; then r=0; else r=1; fi
check metrics_count_the_page $r "$(printf '%s' "$m" | grep -E 'endpoint="/(app.js|style.css)?"' | tr '\n' ' ')"
stop_server

echo "== in the browser, with --token-file"
token=webui-test-token-$RANDOM$RANDOM
printf '%s\n' "$token" >"$work/token"
start_server --token-file "$work/token"
codes="$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$url") $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${url}app.js") $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST "${url}v1/classify" -d '{"texts":["x"],"labels":["a","b"]}') $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${url}metrics") $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${url}nope")"
if [ "$codes" = "200 200 401 401 401" ]; then r=0; else r=1; fi
check token_guards_the_api_not_the_page $r "no token: GET / , /app.js, POST /v1/classify, GET /metrics, /nope: $codes"
drive --token "$token"
stop_server

echo "a screenshot is kept with the test output: $OUT_DIR/webui.png"
echo "webui: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
