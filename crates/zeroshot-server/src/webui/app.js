// The WebUI of `zeroshot serve`: calls POST /v1/classify and POST /v1/generate from the
// browser and shows the answer, and the SQL that asks the database the same. Plain JS, no
// framework, no build step.
//
// Labels and texts are hostile input, and so is anything the server echoes: every such string
// goes into the page through textContent or createElement, never as HTML (and the page's
// Content-Security-Policy allows no inline script or style in any case).
"use strict";

(function () {
  const TOKEN_KEY = "zeroshot.token";
  const $ = (id) => document.getElementById(id);

  /** A message for the error element. */
  class ShownError extends Error {}

  /** An element with a class and text (as text, never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- the token: this tab's sessionStorage only --------------------------------------------

  function loadToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function saveToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // Storage refused (a private mode): the field still works for this page.
    }
  }

  // ---- the form's values ----------------------------------------------------------------------

  /** Labels split at "," or "，", trimmed; empty ones are kept, for the server to refuse by name. */
  function readLabels() {
    const value = $("labels").value;
    if (value.trim() === "") return [];
    return value.split(/[,，]/).map((label) => label.trim());
  }

  /** The temperature, or null (the server's default) when the field is empty. */
  function readTemperature() {
    const input = $("temperature");
    if (input.validity.badInput) throw new ShownError("温度不是数字。The temperature is not a number.");
    if (input.value.trim() === "") return null;
    const t = Number(input.value);
    if (!Number.isFinite(t)) throw new ShownError("温度不是数字。The temperature is not a number.");
    return t;
  }

  /** How many bars to show, or null for all. */
  function readTopK() {
    const input = $("topk");
    if (input.validity.badInput) throw new ShownError("显示数量不是数字。Top labels to show is not a number.");
    if (input.value.trim() === "") return null;
    const k = Number(input.value);
    if (!Number.isInteger(k) || k < 1) {
      throw new ShownError("显示数量须为正整数，或留空显示全部。Top labels to show must be a whole number ≥ 1, or empty for all.");
    }
    return k;
  }

  /**
   * Aliases, one label per line ("标签: 别名1, 别名2", either colon, either comma), as the
   * object /v1/classify and zs_classify take; null when the field is empty. The server checks
   * the labels and forms and names what it refuses.
   */
  function readAliases() {
    const aliases = {};
    let any = false;
    for (const line of $("aliases").value.split(/\r\n|\n|\r/)) {
      if (line.trim() === "") continue;
      const at = line.search(/[:：]/);
      if (at < 0) {
        throw new ShownError("别名每行写作「标签: 别名1, 别名2」。Write each line of aliases as \"label: alias1, alias2\": " + line);
      }
      const label = line.slice(0, at).trim();
      aliases[label] = line.slice(at + 1).split(/[,，]/).map((alias) => alias.trim());
      any = true;
    }
    return any ? aliases : null;
  }

  /**
   * A number field: null when empty (the server's default), else a number (a whole number when
   * `whole`); the range is the server's to check, so that its message is the one shown.
   */
  function readNumber(id, name, whole) {
    const input = $(id);
    const wrong = new ShownError(name + (whole ? " 须为整数。must be a whole number." : " 不是数字。is not a number."));
    if (input.validity.badInput) throw wrong;
    if (input.value.trim() === "") return null;
    const x = Number(input.value);
    if (!Number.isFinite(x) || (whole && !Number.isInteger(x))) throw wrong;
    return x;
  }

  // ---- errors -----------------------------------------------------------------------------------

  function showError(message) {
    const box = $("error");
    box.replaceChildren(el("strong", "", "出错了 Error: "), el("span", "error-message", message));
    box.hidden = false;
    // The batch flow's button is far below it.
    box.scrollIntoView({ block: "nearest" });
  }

  function clearError() {
    const box = $("error");
    box.replaceChildren();
    box.hidden = true;
  }

  // ---- the API ----------------------------------------------------------------------------------

  /** POST `path` with `body`; the answer, or a ShownError with the server's message. */
  async function post(path, body) {
    const headers = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    let response;
    let text;
    try {
      // Relative, so that the page works behind a proxy that serves it under a prefix.
      response = await fetch(path, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
      text = await response.text();
    } catch (e) {
      throw new ShownError("无法连接服务器。Cannot reach the server: " + (e && e.message ? e.message : String(e)));
    }
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch (e) {
      answer = null;
    }
    if (!response.ok) {
      let message = "HTTP " + response.status;
      if (answer && typeof answer.error === "string") {
        message += (typeof answer.kind === "string" ? " " + answer.kind : "") + ": " + answer.error;
      } else if (text) {
        message += ": " + text.slice(0, 500);
      }
      if (response.status === 401) message += "（请在上方填写访问令牌。Enter the server's token above.）";
      throw new ShownError(message);
    }
    if (!answer) throw new ShownError("服务器的回答无法读取。The server's answer cannot be read.");
    return answer;
  }

  /** POST /v1/classify; the results, one per text (each with its `top` labels when asked). */
  async function classify(texts, labels, temperature, aliases, top) {
    const body = { texts, labels };
    if (temperature !== null) body.temperature = temperature;
    if (aliases !== null) body.aliases = aliases;
    if (top !== null) body.top = top;
    const answer = await post("v1/classify", body);
    if (!Array.isArray(answer.results) || answer.results.length !== texts.length) {
      throw new ShownError("服务器的回答无法读取。The server's answer cannot be read.");
    }
    return answer.results;
  }

  /** POST /v1/generate; the answer with its `outputs`. */
  async function generate(prompt, knobs) {
    const body = { prompt };
    for (const [name, value] of Object.entries(knobs)) if (value !== null) body[name] = value;
    const answer = await post("v1/generate", body);
    if (!Array.isArray(answer.outputs) || answer.outputs.some((o) => typeof o !== "string")) {
      throw new ShownError("服务器的回答无法读取。The server's answer cannot be read.");
    }
    return answer;
  }

  // ---- SQL that asks the database the same -----------------------------------------------------

  /**
   * A SQL string literal for s, safe to paste into psql whatever standard_conforming_strings
   * is: a plain '…' literal (quotes doubled) when s has no backslash and no control character,
   * else an E'…' literal with those written as escapes (so no line break or tab is pasted raw).
   */
  function sqlLiteral(s) {
    if (!/[\\\u0000-\u001f\u007f]/.test(s)) return "'" + s.replace(/'/g, "''") + "'";
    let out = "";
    for (const ch of s) {
      switch (ch) {
        case "\\": out += "\\\\"; break;
        case "'": out += "''"; break;
        case "\n": out += "\\n"; break;
        case "\r": out += "\\r"; break;
        case "\t": out += "\\t"; break;
        case "\b": out += "\\b"; break;
        case "\f": out += "\\f"; break;
        default: {
          const code = ch.codePointAt(0);
          out += code < 0x20 || code === 0x7f ? "\\u" + code.toString(16).padStart(4, "0") : ch;
        }
      }
    }
    return "E'" + out + "'";
  }

  function sqlArray(items) {
    return "ARRAY[" + items.map(sqlLiteral).join(", ") + "]";
  }

  /** zs.temperature is a session setting (the functions take no temperature argument). */
  function sqlPreamble(temperature, strings) {
    const lines = [];
    if (strings.some((s) => s.includes("\u0000"))) {
      lines.push("-- 注意：含 NUL 字符，PostgreSQL 的 text 不能保存。Note: a NUL character, which PostgreSQL text cannot hold.");
    }
    if (temperature !== null) lines.push("SET zs.temperature = " + String(temperature) + ";");
    return lines;
  }

  /** The aliases as a jsonb literal, for the functions' aliases argument. */
  function sqlAliases(aliases) {
    return sqlLiteral(JSON.stringify(aliases)) + "::jsonb";
  }

  /** zs_classify_scores, or zs_classify_top for the top k; with the aliases if any. */
  function singleSql(text, labels, temperature, aliases, top) {
    const strings = [text, ...labels, ...(aliases ? [JSON.stringify(aliases)] : [])];
    const args = sqlLiteral(text) + ", " + sqlArray(labels);
    const call =
      top !== null
        ? "SELECT rank, label, score FROM zeroshot.zs_classify_top(" + args + ", " + String(top) +
          (aliases ? ", aliases => " + sqlAliases(aliases) : "") + ");"
        : "SELECT zeroshot.zs_classify_scores(" + args + (aliases ? ", " + sqlAliases(aliases) : "") + ");";
    return sqlPreamble(temperature, strings).concat([call]).join("\n");
  }

  function batchSql(texts, labels, temperature, aliases) {
    const strings = [...texts, ...labels, ...(aliases ? [JSON.stringify(aliases)] : [])];
    return sqlPreamble(temperature, strings)
      .concat([
        "SELECT ord, label, score",
        "FROM zeroshot.zs_classify_batch(",
        "  " + sqlArray(texts) + ",",
        "  " + sqlArray(labels) + (aliases ? "," : ");"),
        ...(aliases ? ["  " + sqlAliases(aliases) + ");"] : []),
      ])
      .join("\n");
  }

  /** zs_generate with the knobs the request named (the others are its defaults too). */
  function generateSql(prompt, knobs) {
    const args = [sqlLiteral(prompt)];
    for (const [name, value] of Object.entries(knobs)) if (value !== null) args.push(name + " => " + String(value));
    return sqlPreamble(null, [prompt]).concat(["SELECT g FROM zeroshot.zs_generate(" + args.join(", ") + ") g;"]).join("\n");
  }

  // ---- rendering ----------------------------------------------------------------------------

  function percent(p) {
    return typeof p === "number" && Number.isFinite(p) ? (p * 100).toFixed(1) + "%" : "—";
  }

  let lastSingle = null;

  /**
   * One bar per label, the top k by probability; the chosen label highlighted. The server's
   * `top` list (asked for `asked` labels) gives the order when it covers k; else the same rule
   * (most probable first, ties in label order) is applied here, as when k changes afterwards.
   */
  function renderBars(labels, result, k, asked) {
    const rows = labels.map((label, i) => {
      const p = Array.isArray(result.probs) ? result.probs[i] : null;
      return { label, i, p: typeof p === "number" ? p : null };
    });
    let shown;
    if (k !== null && asked === k && Array.isArray(result.top)) {
      shown = result.top.map((t) => rows[labels.indexOf(t.label)]).filter((row) => row !== undefined);
    } else {
      // Labels greedy mode did not score (null) go last.
      rows.sort((a, b) => (b.p === null ? -1 : b.p) - (a.p === null ? -1 : a.p) || a.i - b.i);
      shown = k === null ? rows : rows.slice(0, k);
    }
    const bars = $("bars");
    bars.replaceChildren();
    for (const row of shown) {
      const line = el("div", "bar-row");
      line.setAttribute("role", "listitem");
      if (row.i === result.best) {
        line.classList.add("best");
        line.setAttribute("aria-current", "true");
      }
      const name = el("span", "bar-label", row.label);
      name.title = row.label;
      const track = el("span", "bar-track");
      const fill = el("span", "bar-fill");
      fill.style.width = (row.p === null ? 0 : Math.max(0, Math.min(1, row.p)) * 100) + "%";
      track.append(fill);
      line.append(name, track, el("span", "bar-pct", row.p === null ? "未评分 not scored" : percent(row.p)));
      bars.append(line);
    }
  }

  function renderSingle() {
    if (!lastSingle) return;
    const { text, labels, temperature, aliases, top, result } = lastSingle;
    const best = $("best");
    best.replaceChildren(
      el("span", "", "最可能的标签 "),
      el("span", "en", "Best label "),
      el("mark", "best-label", String(result.label)),
      el("span", "best-score", " " + percent(result.score)),
    );
    $("truncated").hidden = !result.truncated;
    renderBars(labels, result, readTopK(), top);
    $("sql").textContent = singleSql(text, labels, temperature, aliases, top);
    $("single-result").hidden = false;
  }

  function renderBatch(texts, labels, temperature, aliases, results) {
    const body = $("batch-table").tBodies[0];
    body.replaceChildren();
    results.forEach((result, i) => {
      const tr = document.createElement("tr");
      const score = el("td", "num", percent(result.score));
      score.title = String(result.score);
      tr.append(el("td", "num", String(i + 1)), el("td", "text-cell", texts[i]), el("td", "", String(result.label)), score);
      body.append(tr);
    });
    $("batch-sql").textContent = batchSql(texts, labels, temperature, aliases);
    $("batch-result").hidden = false;
  }

  function renderGeneration(prompt, knobs, answer) {
    const list = $("gen-outputs");
    list.replaceChildren(...answer.outputs.map((output) => el("li", "output", output)));
    $("gen-meta").textContent =
      "提示词元 prompt tokens: " + String(answer.input_tokens) + (answer.truncated ? "（已截断 truncated）" : "");
    $("gen-sql").textContent = generateSql(prompt, knobs);
    $("generate-result").hidden = false;
  }

  // ---- the three flows ----------------------------------------------------------------------------

  let singleSeq = 0;
  let batchSeq = 0;

  async function runSingle(event) {
    event.preventDefault();
    const seq = ++singleSeq;
    const button = $("classify");
    clearError();
    try {
      const text = $("text").value;
      if (text.trim() === "") throw new ShownError("请输入文本。Enter a text.");
      const labels = readLabels();
      const temperature = readTemperature();
      const aliases = readAliases();
      const top = readTopK();
      button.disabled = true;
      $("single-result").setAttribute("aria-busy", "true");
      const [result] = await classify([text], labels, temperature, aliases, top);
      if (seq !== singleSeq) return;
      lastSingle = { text, labels, temperature, aliases, top, result };
      renderSingle();
    } catch (e) {
      if (seq !== singleSeq) return;
      lastSingle = null;
      $("single-result").hidden = true;
      showError(e instanceof ShownError ? e.message : "页面出错。The page failed: " + String(e));
    } finally {
      if (seq === singleSeq) {
        button.disabled = false;
        $("single-result").removeAttribute("aria-busy");
      }
    }
  }

  async function runBatch(event) {
    event.preventDefault();
    const seq = ++batchSeq;
    const button = $("batch-run");
    clearError();
    try {
      const texts = $("batch-texts").value.split(/\r\n|\n|\r/).filter((line) => line.trim() !== "");
      if (texts.length === 0) throw new ShownError("请输入至少一条文本。Enter at least one text, one per line.");
      const labels = readLabels();
      const temperature = readTemperature();
      const aliases = readAliases();
      button.disabled = true;
      $("batch-result").setAttribute("aria-busy", "true");
      const results = await classify(texts, labels, temperature, aliases, null);
      if (seq !== batchSeq) return;
      renderBatch(texts, labels, temperature, aliases, results);
    } catch (e) {
      if (seq !== batchSeq) return;
      $("batch-result").hidden = true;
      showError(e instanceof ShownError ? e.message : "页面出错。The page failed: " + String(e));
    } finally {
      if (seq === batchSeq) {
        button.disabled = false;
        $("batch-result").removeAttribute("aria-busy");
      }
    }
  }

  let generateSeq = 0;

  async function runGenerate(event) {
    event.preventDefault();
    const seq = ++generateSeq;
    const button = $("generate");
    clearError();
    try {
      const prompt = $("prompt").value;
      if (prompt.trim() === "") throw new ShownError("请输入提示。Enter a prompt.");
      // In zs_generate's order and with its argument names, for the SQL shown.
      const knobs = {
        n: readNumber("gen-n", "每条生成数 Outputs per text", true),
        temperature: readNumber("gen-temperature", "温度 Temperature", false),
        top_k: readNumber("gen-top-k", "Top-K", true),
        top_p: readNumber("gen-top-p", "Top-P", false),
        max_new_tokens: readNumber("gen-max-new-tokens", "最多新词元 Max new tokens", true),
        seed: readNumber("gen-seed", "随机种子 Seed", true),
      };
      button.disabled = true;
      $("generate-result").setAttribute("aria-busy", "true");
      const answer = await generate(prompt, knobs);
      if (seq !== generateSeq) return;
      renderGeneration(prompt, knobs, answer);
    } catch (e) {
      if (seq !== generateSeq) return;
      $("generate-result").hidden = true;
      showError(e instanceof ShownError ? e.message : "页面出错。The page failed: " + String(e));
    } finally {
      if (seq === generateSeq) {
        button.disabled = false;
        $("generate-result").removeAttribute("aria-busy");
      }
    }
  }

  function start() {
    $("bars").setAttribute("role", "list");
    const token = $("token");
    token.value = loadToken();
    token.addEventListener("input", () => saveToken(token.value.trim()));
    $("single-form").addEventListener("submit", runSingle);
    $("batch-form").addEventListener("submit", runBatch);
    $("generate-form").addEventListener("submit", runGenerate);
    // A new top-k redraws the last answer; no new request.
    $("topk").addEventListener("input", () => {
      try {
        renderSingle();
      } catch (e) {
        // An unfinished number: the next submit says what is wrong.
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
