-- The model's other tasks and the release's knobs: zs_generate, zs_classify_top and label
-- aliases. (That greedy generation equals transformers' generate token for token, and that
-- scores with aliases equal PyTorch's, is checked by the engine's tests against the PyTorch
-- reference; here: the SQL surface, its limits and its errors.)
SET client_min_messages = error;

-- Greedy: one output by default; n outputs are n rows, all the same when greedy.
SELECT g FROM zs_generate('抽取关键词：' || chr(10) || '快递三天了还没到，物流信息一直不更新', max_new_tokens => 8) g;
SELECT count(*) AS rows, count(DISTINCT g) AS distinct_outputs
FROM zs_generate('为以下的文本生成标题：' || chr(10) || '这家店的衣服质量很好', n => 3, max_new_tokens => 8) g;
-- Sampling with a seed repeats itself; without one, calls differ.
SELECT (SELECT array_agg(g) FROM zs_generate('好评，下次还来买', n => 4, temperature => 1, top_k => 50, top_p => 0.95, max_new_tokens => 12, seed => 7) g)
     = (SELECT array_agg(g) FROM zs_generate('好评，下次还来买', n => 4, temperature => 1, top_k => 50, top_p => 0.95, max_new_tokens => 12, seed => 7) g)
       AS seeded_repeats,
       (SELECT array_agg(g) FROM zs_generate('好评，下次还来买', n => 4, temperature => 1, max_new_tokens => 12) g)
    <> (SELECT array_agg(g) FROM zs_generate('好评，下次还来买', n => 4, temperature => 1, max_new_tokens => 12) g)
       AS unseeded_differ;
-- VOLATILE (sampling without a seed draws anew each call), PARALLEL RESTRICTED.
SELECT provolatile, proparallel, proretset FROM pg_proc WHERE proname = 'zs_generate';
-- A NULL prompt gives no rows; NULL knobs, negative or out-of-range ones are refused.
SELECT count(*) FROM zs_generate(NULL);
\set VERBOSITY sqlstate
SELECT zs_generate('x', n => 0);
SELECT zs_generate('x', n => 65);
SELECT zs_generate('x', n => NULL);
SELECT zs_generate('x', top_k => -1);
SELECT zs_generate('x', temperature => -0.5);
SELECT zs_generate('x', temperature => 'NaN');
SELECT zs_generate('x', temperature => 101);
SELECT zs_generate('x', top_p => 0);
SELECT zs_generate('x', top_p => 1.5);
SELECT zs_generate('x', max_new_tokens => 0);
-- The tokens of a call in all (n x max_new_tokens) are capped by a superuser's setting, which
-- a plain role cannot raise.
SELECT zs_generate('x', max_new_tokens => 4097);
SELECT zs_generate('x', n => 64, max_new_tokens => 65);
\set VERBOSITY default
SELECT zs_generate('x', n => 64, max_new_tokens => 65);
CREATE ROLE zs_gen_plain;
GRANT USAGE ON SCHEMA zeroshot TO zs_gen_plain;
SET ROLE zs_gen_plain;
SET zs.max_new_tokens_limit = 1000;
RESET ROLE;
SET zs.max_new_tokens_limit = 10;
SELECT count(*) FROM zs_generate('x', n => 2, max_new_tokens => 5);
SELECT zs_generate('x', n => 3, max_new_tokens => 4);
RESET zs.max_new_tokens_limit;
-- n is also bounded by zs.batch_rows.
SET zs.batch_rows = 2;
SELECT zs_generate('x', n => 3);
RESET zs.batch_rows;

-- Top labels: the k most probable, ranked, with the scores zs_classify_scores gives.
SELECT t.rank, t.label,
       abs(t.score - (zs_classify_scores('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验','价格争议'])->'scores'->>t.label)::real) < 1e-6 AS same_score
FROM zs_classify_top('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验','价格争议'], 3) t ORDER BY t.rank;
SELECT (SELECT label FROM zs_classify_top('买回来两天就坏了', ARRAY['物流问题','商品质量','售后体验'], 1))
     = zs_classify('买回来两天就坏了', ARRAY['物流问题','商品质量','售后体验']) AS top1_is_the_answer;
-- Scores are in order; k larger than the labels gives every label; min_score filters.
SELECT count(*) AS all_labels, bool_and(score > 0) AS positive
FROM zs_classify_top('质量', ARRAY['a','b','c'], 10);
SELECT count(*) FROM zs_classify_top('质量', ARRAY['a','b','c'], 10, min_score => 0.99);
SELECT count(*) FROM zs_classify_top('质量', ARRAY['a','b','c'], 0);
SELECT count(*) FROM zs_classify_top(NULL, ARRAY['a','b','c']);
\set VERBOSITY sqlstate
SELECT * FROM zs_classify_top('质量', ARRAY['a','b','c'], -1);
SELECT * FROM zs_classify_top('质量', ARRAY['a','b','c'], 1, min_score => 'NaN');
\set VERBOSITY default

-- Aliases: every form is a candidate; answers and score keys are the canonical labels.
SELECT zs_classify('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验'],
                   aliases => '{"物流问题": ["快递慢", "没发货"], "售后体验": ["客服"]}')
       = ANY (ARRAY['物流问题','商品质量','售后体验']) AS is_label;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(s->'scores') k) AS keys,
       round((SELECT sum(v::text::float8) FROM jsonb_each(s->'scores') AS e(k, v))::numeric, 6) AS total
FROM zs_classify_scores('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验'],
                        aliases => '{"物流问题": ["快递慢", "没发货"]}') s;
-- An alias moves probability to its label: with aliases, 物流问题 scores more than without.
SELECT (zs_classify_scores('快递慢', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": ["快递慢"]}')->'scores'->>'物流问题')::float8
     > (zs_classify_scores('快递慢', ARRAY['物流问题','商品质量'])->'scores'->>'物流问题')::float8 AS alias_adds;
-- NULL aliases are none; the batch and top forms take them too.
SELECT zs_classify_scores('快递', ARRAY['物流问题','商品质量'], aliases => NULL)
     = zs_classify_scores('快递', ARRAY['物流问题','商品质量']) AS null_is_none;
SELECT ord, label FROM zs_classify_batch(ARRAY['快递慢', NULL], ARRAY['物流问题','商品质量'], aliases => '{"商品质量": ["做工"]}')
WHERE label IS NULL OR label IN ('物流问题','商品质量') ORDER BY ord;
SELECT count(*) FROM zs_classify_top('快递', ARRAY['物流问题','商品质量'], 5, aliases => '{"商品质量": ["做工"]}');
-- Refused: a form equal to another label or form (after the tokenizer's normalisation), a key
-- that is not a label, something that is not an object of string arrays.
\set VERBOSITY sqlstate
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": ["商品质量"]}');
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": ["ＡＢＣ"], "商品质量": ["ABC"]}');
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"其他": ["x"]}');
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '["x"]');
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": "快递慢"}');
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": [1]}');
-- Nested past what a JSON reader takes, or larger than any forms that fit: refused before use.
SELECT zs_classify('x', ARRAY['物流问题'], aliases => ('{"物流问题":' || repeat('[', 300) || repeat(']', 300) || '}')::jsonb);
SELECT zs_classify('x', ARRAY['物流问题'], aliases => jsonb_build_object('物流问题', jsonb_build_array(repeat('长', 200000))));
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => (SELECT jsonb_build_object('物流问题', jsonb_agg('别名' || g)) FROM generate_series(1, 600) g));
\set VERBOSITY default
SELECT zs_classify('x', ARRAY['物流问题','商品质量'], aliases => '{"其他": ["x"]}');
DROP OWNED BY zs_gen_plain;
DROP ROLE zs_gen_plain;
