// Drives the WebUI of `zeroshot serve` in Debian's Chromium through playwright-core, and
// checks what it shows against answers of the API asked directly from node (an independent
// client). Run by tests/webui/run.sh:
//   node drive.mjs URL                 a server without a token: the page, the three flows
//                                      (one text, with aliases and top-k too; a batch;
//                                      generation with its knobs), errors, hostile labels, a
//                                      screenshot in $OUT_DIR/webui.png
//   node drive.mjs URL --token TOKEN   a server with --token-file: the page loads without the
//                                      token, the API refuses without it (401 shown), works
//                                      once it is typed in; it stays in this tab only
// Prints "ok   NAME (DETAIL)" or "FAIL NAME (DETAIL)" per check; exits 1 if any failed.
import { createRequire } from "node:module";
import { mkdtempSync, mkdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const nodeDir = process.env.WEBUI_NODE_DIR;
if (!nodeDir) {
  console.error("drive.mjs: set WEBUI_NODE_DIR to the folder npm ci installed playwright-core into");
  process.exit(2);
}
const { chromium } = createRequire(path.join(nodeDir, "package.json"))("playwright-core");

const argv = process.argv.slice(2);
const base = argv[0];
const tokenAt = argv.indexOf("--token");
const token = tokenAt > 0 ? argv[tokenAt + 1] : null;
const outDir = process.env.OUT_DIR || path.join(process.cwd(), "target", "webui");
const executablePath = process.env.ZS_CHROMIUM || "/usr/bin/chromium";

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name} (${String(detail).replace(/\s+/g, " ").slice(0, 300)})`);
}

/** POST `endpoint` from node: status and body. */
async function post(endpoint, body, withToken = token) {
  const headers = { "Content-Type": "application/json" };
  if (withToken) headers.Authorization = `Bearer ${withToken}`;
  const response = await fetch(new URL(endpoint, base), { method: "POST", headers, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

/** POST /v1/classify from node: status and body. */
async function api(texts, labels, temperature, withToken = token, extra = {}) {
  const body = { texts, labels, ...extra };
  if (temperature !== null && temperature !== undefined) body.temperature = temperature;
  return post("v1/classify", body, withToken);
}

/** Clicks a flow's button and waits for its answer; the JSON body the page sent to `endpoint`. */
async function submitSeen(page, button, endpoint) {
  const sent = page.waitForRequest((r) => r.url().endsWith(endpoint) && r.method() === "POST");
  await submit(page, button);
  return JSON.parse((await sent).postData());
}

const ids = [
  "text", "labels", "temperature", "topk", "classify", "bars", "sql", "batch-texts", "batch-run",
  "batch-table", "batch-sql", "error", "token", "aliases", "prompt", "gen-temperature", "gen-top-k", "gen-top-p",
  "gen-n", "gen-max-new-tokens", "gen-seed", "generate", "gen-outputs", "gen-sql",
];

/** What the single flow shows. */
async function shownBars(page) {
  return page.$$eval("#bars .bar-row", (rows) =>
    rows.map((row) => ({
      label: row.querySelector(".bar-label").textContent,
      pct: parseFloat(row.querySelector(".bar-pct").textContent),
      width: parseFloat(row.querySelector(".bar-fill").style.width),
      best: row.classList.contains("best"),
    })),
  );
}

async function errorShown(page) {
  return page.$eval("#error", (e) => ({
    visible: !e.hidden && e.getBoundingClientRect().height > 0,
    role: e.getAttribute("role"),
    text: e.textContent,
  }));
}

/** Clicks a flow's button and waits for its answer (the button is enabled again). */
async function submit(page, button) {
  await page.click(`#${button}`);
  await page.waitForFunction((id) => !document.getElementById(id).disabled, button, { timeout: 60000 });
}

async function fillForm(page, { text, labels, temperature = "1", topk = "" }) {
  if (text !== undefined) await page.fill("#text", text);
  if (labels !== undefined) await page.fill("#labels", labels);
  await page.fill("#temperature", temperature);
  await page.fill("#topk", topk);
}

const close = (a, b, eps) => Math.abs(a - b) <= eps;

/** Compares the bars with the API's answer for the same labels. */
function barsMatch(bars, labels, answer, k) {
  const order = labels.map((l, i) => [l, answer.probs[i]]).sort((a, b) => b[1] - a[1]);
  const want = order.slice(0, k ?? labels.length);
  const problems = [];
  if (bars.length !== want.length) problems.push(`${bars.length} bars, want ${want.length}`);
  bars.forEach((bar, i) => {
    const [label, p] = want[i] || [];
    if (bar.label !== label) problems.push(`bar ${i + 1} is ${JSON.stringify(bar.label)}, want ${JSON.stringify(label)}`);
    if (!close(bar.pct, p * 100, 0.051)) problems.push(`bar ${i + 1} shows ${bar.pct}%, API ${p * 100}`);
    if (!close(bar.width, p * 100, 0.01)) problems.push(`bar ${i + 1} is ${bar.width}% wide, API ${p * 100}`);
    if (bar.best !== (label === answer.label)) problems.push(`bar ${i + 1} highlighted: ${bar.best}`);
  });
  return problems;
}

async function withBrowser(body) {
  const profile = mkdtempSync(path.join(tmpdir(), "zs-webui-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1100, height: 900 },
    locale: "zh-CN",
  });
  context.setDefaultTimeout(30000);
  try {
    await body(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A page with its console errors, script errors, failed requests and 4xx/5xx answers recorded. */
async function openPage(context) {
  const page = await context.newPage();
  const seen = { console: [], pageErrors: [], failedRequests: [], badResponses: [] };
  page.on("console", (m) => {
    if (m.type() === "error") seen.console.push(m.text());
  });
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => seen.failedRequests.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) seen.badResponses.push(`${r.status()} ${r.url()}`);
  });
  const response = await page.goto(base, { waitUntil: "networkidle" });
  return { page, seen, response };
}

function cleanLoad(seen) {
  return [...seen.console, ...seen.pageErrors, ...seen.failedRequests, ...seen.badResponses];
}

async function withoutToken(context) {
  const { page, seen, response } = await openPage(context);
  const loadProblems = cleanLoad(seen);
  check("page_loads", response.status() === 200 && loadProblems.length === 0,
    `GET / ${response.status()}, ${response.headers()["content-type"]}; console errors, failed requests, 4xx/5xx: ${JSON.stringify(loadProblems)}`);
  const missing = await page.evaluate((ids) => ids.filter((id) => !document.getElementById(id)), ids);
  const title = await page.title();
  check("elements_present", missing.length === 0 && title.includes("零样本"), `title ${JSON.stringify(title)}; missing ids: ${JSON.stringify(missing)}`);

  // One text, three labels (both commas), temperature 2, all bars.
  const text = "快递三天了还没到";
  const labels = ["物流问题", "商品质量", "售后体验"];
  await fillForm(page, { text, labels: "物流问题，商品质量,售后体验", temperature: "2" });
  await submit(page, "classify");
  let direct = await api([text], labels, 2);
  let answer = direct.body.results[0];
  let bars = await shownBars(page);
  let problems = barsMatch(bars, labels, answer, null);
  const sum = bars.reduce((s, b) => s + b.pct, 0);
  check("single_three_bars", direct.status === 200 && bars.length === 3 && problems.length === 0,
    `${bars.map((b) => `${b.label} ${b.pct}%${b.best ? " *" : ""}`).join(", ")}; API: ${answer.label} ${JSON.stringify(answer.probs)}; ${problems.join("; ")}`);
  check("percentages_sum_to_100", close(sum, 100, 0.3), `sum of the shown percentages ${sum.toFixed(2)}`);
  const best = await page.$$eval("#bars .bar-row.best .bar-label", (e) => e.map((x) => x.textContent));
  const mark = await page.textContent("#best .best-label");
  check("highlight_equals_api", best.length === 1 && best[0] === answer.label && mark === answer.label,
    `highlighted ${JSON.stringify(best)}, headline ${JSON.stringify(mark)}, POST /v1/classify from node: ${JSON.stringify(answer.label)}`);
  let sql = await page.textContent("#sql");
  let want = "SET zs.temperature = 2;\nSELECT zeroshot.zs_classify_scores('快递三天了还没到', ARRAY['物流问题', '商品质量', '售后体验']);";
  check("single_sql", sql === want, JSON.stringify(sql));
  check("no_errors_shown", (await errorShown(page)).visible === false, "the error element is hidden after a good answer");

  // Top 2 of the three.
  await fillForm(page, { temperature: "2", topk: "2" });
  await submit(page, "classify");
  bars = await shownBars(page);
  problems = barsMatch(bars, labels, answer, 2);
  check("topk_2_shows_2_bars", bars.length === 2 && problems.length === 0,
    `${bars.map((b) => `${b.label} ${b.pct}%`).join(", ")}; ${problems.join("; ")}`);

  // Hostile labels and text: shown as text, quotes doubled in the SQL, control characters escaped.
  const hostileLabels = ["好评", "差评<img src=x onerror=window.__pwned=1>", "it's \"ok\""];
  const hostileText = "他说'不错'\n第二行\tC:\\路径 <b>粗</b>";
  await fillForm(page, { text: hostileText, labels: hostileLabels.join("，"), temperature: "1" });
  await submit(page, "classify");
  direct = await api([hostileText], hostileLabels, 1);
  answer = direct.body.results[0];
  bars = await shownBars(page);
  problems = barsMatch(bars, hostileLabels, answer, null);
  const injected = await page.evaluate(() => ({
    img: document.querySelectorAll("img").length,
    b: document.querySelectorAll("main b").length,
    pwned: typeof window.__pwned,
    html: [...document.querySelectorAll("#bars .bar-label")].map((e) => e.innerHTML).join(" | "),
  }));
  check("hostile_labels_literal", direct.status === 200 && problems.length === 0 && injected.img === 0 && injected.b === 0 && injected.pwned === "undefined",
    `labels as shown: ${injected.html}; elements injected: img ${injected.img}, b ${injected.b}; handler ran: ${injected.pwned !== "undefined"}; ${problems.join("; ")}`);
  sql = await page.textContent("#sql");
  want = "SET zs.temperature = 1;\nSELECT zeroshot.zs_classify_scores(E'他说''不错''\\n第二行\\tC:\\\\路径 <b>粗</b>', ARRAY['好评', '差评<img src=x onerror=window.__pwned=1>', 'it''s \"ok\"']);";
  check("hostile_sql_escaped", sql === want, JSON.stringify(sql));

  // Batch: three texts, an empty line between them.
  const lines = ["快递三天了还没到", "买回来两天就坏了", "客服态度很好，退货很顺利"];
  await page.fill("#labels", labels.join(","));
  await page.fill("#batch-texts", `${lines[0]}\n\n${lines[1]}\n${lines[2]}\n`);
  await submit(page, "batch-run");
  direct = await api(lines, labels, 1);
  const rows = await page.$$eval("#batch-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const rowProblems = [];
  if (rows.length !== lines.length) rowProblems.push(`${rows.length} rows`);
  rows.forEach((row, i) => {
    const r = direct.body.results[i];
    if (!r) return;
    if (row[1] !== lines[i]) rowProblems.push(`row ${i + 1} text ${JSON.stringify(row[1])}`);
    if (row[2] !== r.label) rowProblems.push(`row ${i + 1} label ${row[2]}, API ${r.label}`);
    if (!close(parseFloat(row[3]), r.score * 100, 0.051)) rowProblems.push(`row ${i + 1} score ${row[3]}, API ${r.score}`);
  });
  check("batch_rows_equal_api", direct.status === 200 && rowProblems.length === 0,
    `${rows.map((r) => `${r[1]}→${r[2]} ${r[3]}`).join("; ")} ${rowProblems.join("; ")}`);
  sql = await page.textContent("#batch-sql");
  want = "SET zs.temperature = 1;\nSELECT ord, label, score\nFROM zeroshot.zs_classify_batch(\n  ARRAY['快递三天了还没到', '买回来两天就坏了', '客服态度很好，退货很顺利'],\n  ARRAY['物流问题', '商品质量', '售后体验']);";
  check("batch_sql", sql === want, JSON.stringify(sql));

  // Aliases and top-k: both sent to /v1/classify; the bars are the server's top labels.
  await fillForm(page, { text: lines[0], labels: labels.join(","), temperature: "1", topk: "2" });
  await page.fill("#aliases", "物流问题：快递慢，没发货\n\n商品质量: 坏了");
  const aliases = { 物流问题: ["快递慢", "没发货"], 商品质量: ["坏了"] };
  let sent = await submitSeen(page, "classify", "/v1/classify");
  direct = await api([lines[0]], labels, 1, token, { aliases, top: 2 });
  answer = direct.body.results[0];
  bars = await shownBars(page);
  const topShown = bars.map((b) => b.label);
  const topWanted = (answer.top || []).map((t) => t.label);
  check("aliases_and_top_sent", JSON.stringify(sent.aliases) === JSON.stringify(aliases) && sent.top === 2,
    `sent: aliases ${JSON.stringify(sent.aliases)}, top ${sent.top}`);
  check("top_bars_equal_api", direct.status === 200 && topWanted.length === 2 && JSON.stringify(topShown) === JSON.stringify(topWanted)
    && bars.every((b) => close(b.pct, answer.scores[b.label] * 100, 0.051)),
    `shown ${bars.map((b) => `${b.label} ${b.pct}%`).join(", ")}; API top ${JSON.stringify(answer.top)}`);
  sql = await page.textContent("#sql");
  want = "SELECT rank, label, score FROM zeroshot.zs_classify_top('快递三天了还没到', ARRAY['物流问题', '商品质量', '售后体验'], 2, aliases => '{\"物流问题\":[\"快递慢\",\"没发货\"],\"商品质量\":[\"坏了\"]}'::jsonb);";
  check("aliases_sql", sql === "SET zs.temperature = 1;\n" + want, JSON.stringify(sql));
  await page.fill("#aliases", "");

  // Generation: every knob is sent, the outputs are the API's for the same seed, and the SQL.
  const prompt = "为以下的文本生成标题：\n快递三天了还没到";
  await page.fill("#prompt", prompt);
  for (const [id, value] of [["gen-temperature", "1"], ["gen-top-k", "50"], ["gen-top-p", "0.95"], ["gen-n", "3"], ["gen-max-new-tokens", "8"], ["gen-seed", "7"]]) {
    await page.fill(`#${id}`, value);
  }
  sent = await submitSeen(page, "generate", "/v1/generate");
  const knobs = { n: 3, temperature: 1, top_k: 50, top_p: 0.95, max_new_tokens: 8, seed: 7 };
  let generated = await post("v1/generate", { prompt, ...knobs });
  let outputs = await page.$$eval("#gen-outputs li", (li) => li.map((x) => x.textContent));
  check("generate_knobs_sent", JSON.stringify(sent) === JSON.stringify({ prompt, ...knobs }), JSON.stringify(sent));
  check("generate_outputs_shown", generated.status === 200 && outputs.length === 3 && JSON.stringify(outputs) === JSON.stringify(generated.body.outputs),
    `shown ${JSON.stringify(outputs)}; API ${JSON.stringify(generated.body.outputs)}`);
  sql = await page.textContent("#gen-sql");
  want = "SELECT g FROM zeroshot.zs_generate(E'为以下的文本生成标题：\\n快递三天了还没到', n => 3, temperature => 1, top_k => 50, top_p => 0.95, max_new_tokens => 8, seed => 7) g;";
  check("generate_sql", sql === want, JSON.stringify(sql));
  // Greedy, no seed: one output, the API's.
  await page.fill("#gen-temperature", "0");
  await page.fill("#gen-n", "1");
  await page.fill("#gen-seed", "");
  sent = await submitSeen(page, "generate", "/v1/generate");
  generated = await post("v1/generate", { prompt, n: 1, temperature: 0, top_k: 50, top_p: 0.95, max_new_tokens: 8 });
  outputs = await page.$$eval("#gen-outputs li", (li) => li.map((x) => x.textContent));
  check("generate_greedy", !("seed" in sent) && outputs.length === 1 && outputs[0] === generated.body.outputs[0],
    `sent ${JSON.stringify(sent)}; shown ${JSON.stringify(outputs)}; API ${JSON.stringify(generated.body.outputs)}`);
  check("no_console_errors_in_good_flows", cleanLoad(seen).length === 0, JSON.stringify(cleanLoad(seen)));
  await page.screenshot({ path: path.join(outDir, "webui.png"), fullPage: true });
  check("screenshot", statSync(path.join(outDir, "webui.png")).size > 10000, path.join(outDir, "webui.png"));

  // Errors: the server's own message in the alert element, the stale answer gone.
  for (const [name, labelField, temperature, apiLabels, apiTemperature] of [
    ["error_empty_label", "物流问题,,商品质量", "1", ["物流问题", "", "商品质量"], 1],
    ["error_duplicate_label", "物流, 物流", "1", ["物流", "物流"], 1],
    ["error_temperature", "物流,质量", "0", ["物流", "质量"], 0],
  ]) {
    await fillForm(page, { text: "快递三天了还没到", labels: labelField, temperature });
    await submit(page, "classify");
    const e = await errorShown(page);
    const refused = await api(["快递三天了还没到"], apiLabels, apiTemperature);
    const stale = await page.$eval("#single-result", (r) => !r.hidden);
    check(name, e.visible && e.role === "alert" && refused.status === 400 && e.text.includes(refused.body.error) && e.text.includes("HTTP 400") && !stale,
      `shown: ${JSON.stringify(e.text)}; API ${refused.status}: ${JSON.stringify(refused.body.error)}; stale result shown: ${stale}`);
  }
  // The generation flow's errors land in the same element, the stale outputs gone.
  await page.fill("#gen-n", "65");
  await submit(page, "generate");
  let e = await errorShown(page);
  const genStale = await page.$eval("#generate-result", (r) => !r.hidden);
  check("generate_error_shown", e.visible && e.text.includes("HTTP 400") && e.text.includes('"n"') && !genStale,
    `shown: ${JSON.stringify(e.text)}; stale outputs shown: ${genStale}`);
  await page.fill("#gen-n", "1");
  // The batch flow's errors land in the same element.
  await fillForm(page, { labels: "甲,,乙" });
  await page.fill("#batch-texts", "一\n二");
  await submit(page, "batch-run");
  e = await errorShown(page);
  check("batch_error_shown", e.visible && e.text.includes("visible character"), JSON.stringify(e.text));
  // A network error (the request refused before it reaches the server).
  await page.route("**/v1/classify", (route) => route.abort("connectionrefused"));
  await fillForm(page, { text: "快递三天了还没到", labels: "物流,质量" });
  await submit(page, "classify");
  e = await errorShown(page);
  check("network_error_shown", e.visible && e.text.includes("无法连接服务器"), JSON.stringify(e.text));
  await page.unroute("**/v1/classify");
  // A good answer clears the error again; no alert() was ever opened.
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    d.dismiss();
  });
  await submit(page, "classify");
  e = await errorShown(page);
  bars = await shownBars(page);
  check("error_cleared_by_next_answer", !e.visible && bars.length === 2 && dialogs === 0, `error shown: ${e.visible}, bars: ${bars.length}, dialogs: ${dialogs}`);
  check("no_script_errors", seen.pageErrors.length === 0, JSON.stringify(seen.pageErrors));
}

async function withToken(context) {
  const { page, seen, response } = await openPage(context);
  const loadProblems = cleanLoad(seen);
  check("token_page_loads_without_token", response.status() === 200 && loadProblems.length === 0,
    `GET / ${response.status()} with no token; ${JSON.stringify(loadProblems)}`);
  const text = "买回来两天就坏了";
  const labels = ["物流问题", "商品质量", "售后体验"];
  await fillForm(page, { text, labels: labels.join("，") });
  await submit(page, "classify");
  const e = await errorShown(page);
  const refused = await api([text], labels, 1, null);
  check("token_refused_without_it", refused.status === 401 && e.visible && e.text.includes("HTTP 401") && e.text.includes(refused.body.error),
    `shown: ${JSON.stringify(e.text)}; API without a token: ${refused.status} ${JSON.stringify(refused.body.error)}`);
  await page.screenshot({ path: path.join(outDir, "webui-401.png"), fullPage: true });
  await page.fill("#token", token);
  await submit(page, "classify");
  const direct = await api([text], labels, 1);
  let bars = await shownBars(page);
  let problems = barsMatch(bars, labels, direct.body.results[0], null);
  const shown = await errorShown(page);
  check("token_typed_in_works", !shown.visible && direct.status === 200 && problems.length === 0,
    `${bars.map((b) => `${b.label} ${b.pct}%${b.best ? " *" : ""}`).join(", ")}; ${problems.join("; ")}`);
  const storage = await page.evaluate(() => ({
    session: sessionStorage.getItem("zeroshot.token"),
    local: localStorage.length,
    cookie: document.cookie,
  }));
  check("token_in_session_storage_only", storage.session === token && storage.local === 0 && storage.cookie === "",
    `sessionStorage has it: ${storage.session === token}; localStorage items: ${storage.local}; cookies: ${JSON.stringify(storage.cookie)}`);
  await page.reload({ waitUntil: "networkidle" });
  const kept = await page.inputValue("#token");
  await fillForm(page, { text, labels: labels.join(",") });
  await submit(page, "classify");
  bars = await shownBars(page);
  check("token_kept_on_reload", kept === token && bars.length === 3, `token field after reload filled: ${kept === token}; bars: ${bars.length}`);
  const other = await context.newPage();
  await other.goto(base, { waitUntil: "networkidle" });
  const elsewhere = await other.inputValue("#token");
  check("token_not_in_other_tabs", elsewhere === "", `token field in a new tab: ${JSON.stringify(elsewhere ? "(filled)" : "")}`);
  await other.close();
}

mkdirSync(outDir, { recursive: true });
try {
  await withBrowser(token ? withToken : withoutToken);
} catch (e) {
  check("drive_completed", false, e && e.stack ? e.stack : String(e));
}
process.exit(failed === 0 ? 0 : 1);
