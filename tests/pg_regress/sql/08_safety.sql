-- Hostile input from any role: every case is an error with its SQLSTATE (or a bounded,
-- correct answer), and the backend survives. Memory and cancel latency are measured by
-- tests/safety/run.sh; this file checks the answers and the errors.
SET client_min_messages = error;

-- Labels are checked as the tokenizer reads them (after its normaliser).
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'a\uFE50b','c'])$$) AS small_comma;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'a\uFE10b','c'])$$) AS vertical_comma;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'a\u2028b','c'])$$) AS line_separator;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'a\u0085b','c'])$$) AS next_line;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'a\u000Bb','c'])$$) AS vertical_tab;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'\u200B','c'])$$) AS zero_width_space;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'\uFEFF','c'])$$) AS bom;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['</s>','c'])$$) AS special_token;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['x</s>y','c'])$$) AS special_token_inside;
-- Labels the model cannot tell apart would split one probability in two.
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流问题','物流问题 '])$$) AS trailing_blank;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['ABC','ＡＢＣ'])$$) AS fullwidth;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'\u00E9', E'e\u0301'])$$) AS decomposed;
-- Two characters the test tokenizer (no byte fallback) reads as the same <unk>.
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流', E'\U00020000', '质量', E'\U00020001'])$$) AS same_tokens;
SELECT zs_classify('文本', ARRAY['abc','ABC']) IN ('abc','ABC') AS case_differs;

-- Huge label sets are refused before anything is prepared, and nothing is cached.
SELECT zs_try($$SELECT zs_classify('文本', (SELECT array_agg('类别' || g) FROM generate_series(1, 100000) g))$$)
    AS hundred_thousand_labels;
SELECT zs_try($$SELECT zs_classify('文本', (SELECT array_agg('类别' || g) FROM generate_series(1, 5000) g))$$)
    AS five_thousand_labels;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[repeat('长', 100000), 'b'])$$) AS one_huge_label;
-- Measured before anything is allocated for it: a 134-million-element array of NULLs (16 MB
-- in Postgres) would otherwise take gigabytes of the backend's own heap.
SELECT zs_try($$SELECT zs_classify('文本', array_fill(NULL::text, ARRAY[134217727]))$$) AS huge_null_array;
SELECT zs_try($$SELECT zs_classify('文本', array_fill(''::text, ARRAY[1000000]))$$) AS million_empty_labels;
-- zs_classify_batch reads its array a chunk at a time: a large array of NULL texts streams.
SELECT count(*) AS null_rows, count(label) AS labelled
FROM zs_classify_batch(array_fill(NULL::text, ARRAY[200000]), ARRAY['a','b']);
SELECT (zs_model_info()->>'label_sets_cached')::int <= 64 AS cache_entries_bounded,
       (zs_model_info()->>'label_cache_bytes')::int <= 8388608 AS cache_bytes_bounded;

-- A large text is read only as far as its prompt can use: the answer and every score are
-- those of a prefix that is already over the token budget.
SELECT zs_classify_scores(repeat('快递太慢了', 2000000), ARRAY['物流问题','商品质量'])
     = zs_classify_scores(repeat('快递太慢了', 2000), ARRAY['物流问题','商品质量']) AS large_text_same_scores;
SELECT count(*) AS rows, bool_and(label IS NOT NULL) AS all_labelled
FROM zs_classify_batch(ARRAY[repeat('质量', 3000000), '好'], ARRAY['物流问题','商品质量']);

-- What a plain role may set is capped.
CREATE ROLE zs_attacker;
SET ROLE zs_attacker;
SET zs.max_input_tokens = 65536;
SELECT zs_try($$SELECT zs_classify('快递太慢', ARRAY['a','b'])$$) AS over_token_limit;
SELECT zs_try($$SET zs.max_input_tokens_limit = 65536$$) AS raise_limit;
RESET zs.max_input_tokens;
SET zs.max_input_tokens = 2048;
SELECT zs_classify('快递太慢', ARRAY['a','b']) IN ('a','b') AS at_the_limit;
RESET zs.max_input_tokens;
SELECT zs_try($$SET zs.batch_rows = 65536$$) AS batch_rows_cap;
SET zs.threads = 256;
SELECT zs_classify('快递太慢', ARRAY['a','b']) IN ('a','b') AS threads_capped_at_cores;
SELECT (zs_model_info()->>'intra_op_threads')::int BETWEEN 1 AND 1024 AS threads_reported;
RESET zs.threads;
-- Server paths are not shown to a plain role, in zs_model_info() or in errors.
SELECT info->>'model_dir' AS model_dir, info->>'onnxruntime_library' AS library
FROM zs_model_info() AS info;
SELECT zs_try($$SET zs.cuda_mem_limit = 0$$) AS cuda_mem_limit_is_superuser_only;
RESET ROLE;
SELECT zs_model_info()->>'model_dir' LIKE '%/extension/pg_zeroshot/tiny-mt5' AS superuser_sees_path;
-- A superuser may raise the limit.
SET zs.max_input_tokens_limit = 4096;
SET zs.max_input_tokens = 4096;
SELECT zs_classify('快递太慢', ARRAY['a','b']) IN ('a','b') AS raised_limit;
RESET zs.max_input_tokens;
RESET zs.max_input_tokens_limit;
DROP ROLE zs_attacker;

-- The trigger is C: a function planted in a writable schema is never called by it.
CREATE SCHEMA evil;
CREATE FUNCTION evil.btrim(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
CREATE FUNCTION evil.string_to_array(text, text) RETURNS text[] LANGUAGE sql AS $$ SELECT ARRAY['hijacked'] $$;
SET search_path = evil, public, zeroshot;
CREATE TABLE public.hijack (id int, body text, label text);
CREATE TRIGGER t BEFORE INSERT ON public.hijack
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题,商品质量');
INSERT INTO public.hijack VALUES (1, '快递太慢');
SELECT label IN ('物流问题','商品质量') AS not_hijacked FROM public.hijack;
RESET search_path;
DROP TABLE hijack;
DROP SCHEMA evil CASCADE;

-- The trigger reads only its two columns; an UPDATE that keeps the text keeps the label.
CREATE TABLE docs (id int PRIMARY KEY, body text, label varchar(8), other int, blob bytea);
CREATE TRIGGER t BEFORE INSERT OR UPDATE ON docs
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题,商品质量');
INSERT INTO docs VALUES (1, '快递太慢', NULL, 0, NULL);
UPDATE docs SET label = 'manual' WHERE id = 1;
SELECT label AS kept_after_label_update FROM docs;
UPDATE docs SET other = 1 WHERE id = 1;
SELECT label AS kept_after_other_update FROM docs;
UPDATE docs SET body = '质量很好' WHERE id = 1;
SELECT label IN ('物流问题','商品质量') AS relabelled_after_text_update FROM docs;
UPDATE docs SET blob = decode(repeat('ab', 1000000), 'hex') WHERE id = 1;
SELECT label IN ('物流问题','商品质量') AS big_column_untouched, length(blob) FROM docs;
-- A label longer than a varchar(n) column is an error, not a silent overflow.
DROP TRIGGER t ON docs;
CREATE TRIGGER t BEFORE INSERT ON docs
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '一个很长很长很长的标签,另一个很长很长很长的标签');
SELECT zs_try($$INSERT INTO docs VALUES (2, '文本')$$) AS label_too_long;
-- A domain over varchar(n) keeps its length; a NOT NULL domain refuses a NULL label.
CREATE DOMAIN short_label AS varchar(3);
CREATE DOMAIN required_label AS text NOT NULL;
CREATE TABLE tagged (id int, body text, label short_label, tag required_label DEFAULT 'x');
CREATE TRIGGER t BEFORE INSERT ON tagged FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题,商品质量');
SELECT zs_try($$INSERT INTO tagged (id, body) VALUES (1, '文本')$$) AS domain_length;
DROP TRIGGER t ON tagged;
CREATE TRIGGER t BEFORE INSERT ON tagged FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'tag', '物流问题,商品质量');
SELECT zs_try($$INSERT INTO tagged (id, body) VALUES (2, NULL)$$) AS not_null_domain;
DROP TABLE tagged;
DROP DOMAIN short_label;
DROP DOMAIN required_label;
-- Columns of the wrong type.
DROP TRIGGER t ON docs;
CREATE TRIGGER t BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('other', 'label', 'a,b');
SELECT zs_try($$INSERT INTO docs VALUES (3, '文本')$$) AS text_column_not_text;
DROP TABLE docs;

-- The backend is still serving.
SELECT zs_classify('还在工作吗', ARRAY['是','否']) IN ('是','否') AS still_alive;
