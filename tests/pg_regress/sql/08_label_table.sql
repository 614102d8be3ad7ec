-- zs_label_table: labels the NULL-labelled rows of a table through zs_classify_batch,
-- committing after each batch. Interruption and concurrency (two sessions) are in
-- tests/backfill/concurrency.sh; this file checks answers, table shapes, errors,
-- permissions, the run log and the trigger's agreement with the backfill.
-- client_min_messages = error hides the progress NOTICEs (they carry timings) and the
-- random-weights warning; errors are shown tersely with their SQLSTATE.
SET client_min_messages = error;
\set VERBOSITY terse
\set labels '''{物流问题,商品质量,售后体验}'''

-- The basic run: 48 rows to label, 2 NULL texts, 2 rows labelled already, batches of 8.
CREATE TABLE bf (id int PRIMARY KEY, body text, label text, scores jsonb);
INSERT INTO bf
SELECT g, '第' || g || '条：' || (ARRAY['快递三天了还没到','买回来两天就坏了','客服态度很好，退货很顺利','价格太贵了'])[1 + g % 4], NULL, NULL
FROM generate_series(1, 52) g;
UPDATE bf SET body = NULL WHERE id IN (7, 21);
UPDATE bf SET label = 'by hand', scores = '{"kept": true}' WHERE id IN (3, 30);
CALL zs_label_table('bf', 'body', 'label', :labels, 8, 'scores', trust_owner => true);
SELECT count(*) FILTER (WHERE label IS NULL) AS unlabelled,
       count(*) FILTER (WHERE body IS NULL AND label IS NULL AND scores IS NULL) AS null_texts_left_null,
       count(*) FILTER (WHERE label = 'by hand' AND scores = '{"kept": true}') AS labelled_rows_untouched,
       count(*) FILTER (WHERE label = ANY (:labels)) AS labelled
FROM bf;
-- Its answers are zs_classify's, row by row, and scores_column holds zs_classify_scores
-- within float rounding (texts share ONNX Runtime runs), compared number by number.
SELECT count(*) AS rows,
       bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify,
       bool_and(scores->>'label' = label) AS scores_label,
       bool_and(abs((scores->>'score')::float8 - (one->>'score')::float8) < 1e-6) AS score_within_1e6,
       bool_and((SELECT count(*) FROM jsonb_object_keys(scores->'scores')) = 3
                AND (SELECT max(abs((scores->'scores'->>k)::float8 - (one->'scores'->>k)::float8))
                       FROM jsonb_object_keys(one->'scores') AS k) < 1e-6) AS scores_within_1e6
FROM bf CROSS JOIN LATERAL zs_classify_scores(body, :labels) AS one
WHERE label <> 'by hand';
-- The run log: one row, finished, with its totals.
SELECT table_name, text_column, label_column, scores_column, labels, batch_rows, run_by = current_user AS run_by_me,
       backend_pid = pg_backend_pid() AS my_backend, status, rows_total, rows_done, rows_skipped,
       finished >= started AS finished, seconds >= 0 AS timed, rows_per_s > 0 AS rate, error
FROM zs_label_runs ORDER BY run_id;
-- A second call has nothing left to do and ends at once.
CALL zs_label_table('bf', 'body', 'label', :labels, 8, 'scores', trust_owner => true);
SELECT run_id, status, rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id;
-- Resuming: rows whose label is NULL again are the only ones labelled.
UPDATE bf SET label = NULL, scores = NULL WHERE id IN (10, 40);
UPDATE bf SET body = '新的文本：质量太差' WHERE id = 40;
CALL zs_label_table('bf', 'body', 'label', :labels, 8, 'scores', trust_owner => true);
SELECT rows_done FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;
SELECT id, label = zs_classify(body, :labels) AS relabelled FROM bf WHERE id IN (10, 40) ORDER BY id;

-- No primary key: rows are found by (ctid), re-checked by text; duplicate texts too.
-- The text column is varchar, the label column a varchar.
CREATE TABLE nopk (body varchar(100), label varchar(20));
INSERT INTO nopk SELECT '没有主键的第' || (g % 7) || '条评论', NULL FROM generate_series(1, 30) g;
INSERT INTO nopk VALUES (NULL, NULL);
CALL zs_label_table('nopk', 'body', 'label', :labels, 4, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled, bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM nopk;

-- A composite primary key (text, int) and a text column that is a domain over text.
CREATE DOMAIN zs_review_text AS text CHECK (VALUE <> '');
CREATE TABLE comp (shop text, n int, body zs_review_text, label text, PRIMARY KEY (shop, n));
INSERT INTO comp SELECT s, g, s || '店的第' || g || '条：发货太慢了', NULL
FROM unnest(ARRAY['北京','上海','b"q','A']) AS s, generate_series(1, 9) AS g;
CALL zs_label_table('comp', 'body', 'label', :labels, 5, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled, bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM comp;
SELECT rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

-- Keys whose btree operators are not pg_catalog's (citext's, in the schema it is installed
-- in): a citext key, and a (citext, int) key, whose order the procedure then spells out
-- column by column. Case-insensitive order, as citext's index has it.
CREATE EXTENSION citext;
CREATE TABLE ci1 (code citext PRIMARY KEY, body text, label text);
INSERT INTO ci1 SELECT c, c || '号：价格太贵了', NULL
FROM unnest(ARRAY['a','B','c','D','e','F','g','H','i','J','k']) AS c;
CALL zs_label_table('ci1', 'body', 'label', :labels, 3, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled, bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM ci1;
CREATE TABLE ci2 (code citext, n int, body text, label text, PRIMARY KEY (code, n));
INSERT INTO ci2 SELECT c, g, c || '号第' || g || '条：价格太贵了', NULL
FROM unnest(ARRAY['a','B','c','D']) AS c, generate_series(1, 6) AS g;
CALL zs_label_table('ci2', 'body', 'label', :labels, 5, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled, bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM ci2;
SELECT rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

-- Partitioned tables: with a primary key (it includes the partition key), and without one
-- (rows are found by tableoid and ctid across partitions).
CREATE TABLE parted (region text, id int, body text, label text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE parted_north PARTITION OF parted FOR VALUES IN ('north');
CREATE TABLE parted_south PARTITION OF parted FOR VALUES IN ('south');
INSERT INTO parted SELECT r, g, r || ' 第' || g || '单：商品质量不错', NULL
FROM unnest(ARRAY['north','south']) AS r, generate_series(1, 13) AS g;
CALL zs_label_table('parted', 'body', 'label', :labels, 6, trust_owner => true);
SELECT tableoid::regclass AS part, count(*) AS rows, count(label) AS labelled,
       bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM parted GROUP BY 1 ORDER BY 1;
CREATE TABLE parted_nopk (day int, body text, label text) PARTITION BY RANGE (day);
CREATE TABLE parted_nopk_1 PARTITION OF parted_nopk FOR VALUES FROM (1) TO (10);
CREATE TABLE parted_nopk_2 PARTITION OF parted_nopk FOR VALUES FROM (10) TO (20);
INSERT INTO parted_nopk SELECT g, '第' || g || '天的反馈', NULL FROM generate_series(1, 19) g;
INSERT INTO parted_nopk SELECT g, '第' || g || '天的反馈', NULL FROM generate_series(1, 19) g;  -- duplicates
CALL zs_label_table('parted_nopk', 'body', 'label', :labels, 7, trust_owner => true);
SELECT tableoid::regclass AS part, count(*) AS rows, count(label) AS labelled,
       bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM parted_nopk GROUP BY 1 ORDER BY 1;

-- Only NULL texts: the run ends with nothing done.
CREATE TABLE only_null (id int PRIMARY KEY, body text, label text);
INSERT INTO only_null SELECT g, NULL, NULL FROM generate_series(1, 5) g;
CALL zs_label_table('only_null', 'body', 'label', :labels, 2, trust_owner => true);
SELECT count(label) AS labelled FROM only_null;
SELECT status, rows_total, rows_done FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

-- Errors, each with its SQLSTATE, before any work: nothing is written and no run is logged.
CREATE TABLE errs (id int PRIMARY KEY, body text, label text, n int, j json);
INSERT INTO errs VALUES (1, '文本', NULL, 1, NULL);
SELECT count(*) AS runs_before FROM zs_label_runs \gset
CALL zs_label_table('errs', 'nope', 'label', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS missing_text_column;
CALL zs_label_table('errs', 'body', 'nope', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS missing_label_column;
CALL zs_label_table('errs', 'body', 'label', :labels, 8, 'nope', trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS missing_scores_column;
CALL zs_label_table('errs', 'n', 'label', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS int_text_column;
CALL zs_label_table('errs', 'body', 'n', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS int_label_column;
CALL zs_label_table('errs', 'body', 'label', :labels, 8, 'j', trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS json_scores_column;
CALL zs_label_table('errs', 'body', 'body', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS same_column;
CALL zs_label_table('errs', 'body', 'label', :labels, 0, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS zero_batch_rows;
CALL zs_label_table('errs', 'body', 'label', ARRAY['物流问题','物流问题'], trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS duplicate_labels;
CALL zs_label_table('errs', 'body', 'label', ARRAY['物流问题', NULL], trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS null_label;
CALL zs_label_table('no_such_table', 'body', 'label', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS missing_table;
CREATE VIEW errs_view AS SELECT * FROM errs;
CALL zs_label_table('errs_view', 'body', 'label', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS a_view;
-- Inside a transaction block it cannot commit: refused before any work.
BEGIN;
CALL zs_label_table('errs', 'body', 'label', :labels, trust_owner => true);
ROLLBACK;
SELECT :'LAST_ERROR_SQLSTATE' AS in_transaction_block;
-- Several statements in one query string are one transaction too.
SELECT 1 AS one \; CALL zs_label_table('errs', 'body', 'label', :labels);
SELECT :'LAST_ERROR_SQLSTATE' AS in_query_string;
-- Inside an exception block (a subtransaction, as in zs_try): refused the same way.
SELECT zs_try($$CALL zs_label_table('errs', 'body', 'label', '{物流问题,商品质量}')$$) AS in_exception_block;
-- Called from a function (an atomic context): its first COMMIT fails, before any work.
CREATE FUNCTION call_label_table() RETURNS void LANGUAGE plpgsql AS $$
BEGIN CALL zs_label_table('errs', 'body', 'label', '{物流问题,商品质量}'); END $$;
SELECT call_label_table();
SELECT :'LAST_ERROR_SQLSTATE' AS from_a_function;
SELECT count(label) AS nothing_written FROM errs;
SELECT count(*) - :runs_before AS no_run_logged FROM zs_label_runs;

-- Permissions: a role with SELECT but not UPDATE gets 42501 and nothing is written; so does
-- one that may UPDATE the label column but not the scores column. zs_label_runs is readable
-- by all and written only through the procedure.
CREATE ROLE zs_reader LOGIN;
CREATE TABLE perm (id int PRIMARY KEY, body text, label text, scores jsonb, other int);
INSERT INTO perm SELECT g, '权限测试' || g, NULL, NULL, 0 FROM generate_series(1, 5) g;
GRANT SELECT ON perm TO zs_reader;
GRANT UPDATE (other) ON perm TO zs_reader;
SET ROLE zs_reader;
CALL zs_label_table('perm', 'body', 'label', :labels, trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS select_only;
RESET ROLE;
GRANT UPDATE (label) ON perm TO zs_reader;
SET ROLE zs_reader;
CALL zs_label_table('perm', 'body', 'label', :labels, 2, 'scores', trust_owner => true);
SELECT :'LAST_ERROR_SQLSTATE' AS no_update_on_scores;
RESET ROLE;
-- Logged in as zs_reader (SET ROLE would leave the superuser's session_user).
\c - zs_reader
SET client_min_messages = error;
SELECT count(*) > 0 AS can_read_runs FROM zs_label_runs;
SELECT zs_try($$INSERT INTO zeroshot.zs_label_run_log (table_name, text_column, label_column, labels, batch_rows, run_by, backend_pid, session_token, started, updated, rows_total) VALUES ('x', 'a', 'b', '{c}', 1, 'zs_reader', 1, gen_random_uuid(), now(), now(), 0)$$) AS insert_runs;
SELECT zs_try($$UPDATE zeroshot.zs_label_run_log SET error = 'forged'$$) AS update_runs;
SELECT zs_try($$DELETE FROM zeroshot.zs_label_run_log$$) AS delete_runs;
SELECT zs_try($$UPDATE zs_label_runs SET error = 'forged'$$) AS update_view;
SELECT zs_try($$SELECT zs_label_run_start('perm', 'body', 'label', NULL, '{a,b}', 1, 0, 'postgres', gen_random_uuid())$$) AS start_as_another_role;
SELECT zs_try($$SELECT zs_label_run_start('perm', 'body', 'body', NULL, '{a,b}', 1, 0, 'zs_reader', gen_random_uuid())$$) AS start_without_update;
-- Finished runs are never written again, whoever asks.
SELECT max(run_id) AS last_run FROM zs_label_runs WHERE run_by = 'postgres' \gset
SELECT zs_label_run_finish(:last_run, gen_random_uuid(), 999, 0, 'XX000', 'forged'), zs_label_run_progress(:last_run, gen_random_uuid(), 999, 0);
\c - postgres
SET client_min_messages = error;
SELECT count(label) AS nothing_written FROM perm;
SELECT count(*) AS forged FROM zs_label_runs WHERE rows_done = 999 OR error = 'XX000: forged';
-- With UPDATE on both columns it works, and the run is logged under the role that ran it.
GRANT UPDATE (scores) ON perm TO zs_reader;
SET ROLE zs_reader;
CALL zs_label_table('perm', 'body', 'label', :labels, 2, 'scores', trust_owner => true);
RESET ROLE;
SELECT count(label) AS labelled, count(scores) AS scored FROM perm;
SELECT run_by, status, rows_done FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

-- Trigger and backfill agree: with zs_label_trigger on the table, the backfill classifies
-- each row once (the trigger does not classify again on the backfill's UPDATE of the
-- label), and neither does an UPDATE of another column; a change of the text relabels.
-- zs_model_info()->'texts_scored' counts the texts this backend scored.
CREATE TABLE trig (id int PRIMARY KEY, body text, label text, other int DEFAULT 0);
INSERT INTO trig SELECT g, '触发器' || g || '：快递很快', NULL FROM generate_series(1, 20) g;
CREATE TRIGGER label_on_write BEFORE INSERT OR UPDATE ON trig
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题,商品质量,售后体验');
CREATE TABLE trig_writes (id int);
CREATE FUNCTION trig_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO trig_writes VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER count_writes AFTER UPDATE OF label ON trig FOR EACH ROW
WHEN (OLD.label IS DISTINCT FROM NEW.label) EXECUTE FUNCTION trig_count();
SELECT (zs_model_info()->>'texts_scored')::int AS calls0 \gset
CALL zs_label_table('trig', 'body', 'label', :labels, 6, trust_owner => true);
SELECT (zs_model_info()->>'texts_scored')::int - :calls0 AS texts_scored_by_backfill;
SELECT (SELECT count(*) FROM trig_writes) AS label_writes,
       (SELECT count(DISTINCT id) FROM trig_writes) AS rows_written,
       (SELECT bool_and(label = zs_classify(body, :labels)) FROM trig) AS same_as_zs_classify;
SELECT (zs_model_info()->>'texts_scored')::int AS calls1 \gset
UPDATE trig SET other = 1;
UPDATE trig SET label = 'by hand' WHERE id = 1;
SELECT (zs_model_info()->>'texts_scored')::int - :calls1 AS texts_scored_by_other_updates,
       (SELECT label FROM trig WHERE id = 1) AS hand_label_kept;
UPDATE trig SET body = '质量太差，要退货' WHERE id IN (1, 2);
SELECT (zs_model_info()->>'texts_scored')::int - :calls1 AS texts_scored_after_text_change;
SELECT (SELECT bool_and(label = zs_classify(body, :labels)) FROM trig) AS relabelled;
UPDATE trig SET body = NULL WHERE id = 3;
SELECT label IS NULL AS null_text_null_label FROM trig WHERE id = 3;

-- search_path hygiene: operators that would shadow pg_catalog's for the types the procedure
-- compares, created in public (on the search_path), are never called.
CREATE FUNCTION public.zs_hijack_vt(varchar, text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION public.zs_hijack_or(oid, regclass) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION public.zs_hijack_ii(int8, int4) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = public.zs_hijack_vt);
CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = text, FUNCTION = public.zs_hijack_vt);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.zs_hijack_or);
CREATE OPERATOR public.> (LEFTARG = int8, RIGHTARG = int4, FUNCTION = public.zs_hijack_ii);
CREATE TABLE hij (code varchar(10) PRIMARY KEY, body varchar(50), label text);
INSERT INTO hij SELECT 'c' || g, '劫持测试' || g, NULL FROM generate_series(1, 12) g;
CALL zs_label_table('hij', 'body', 'label', :labels, 5, trust_owner => true);
SELECT count(label) AS labelled FROM hij;
DROP OPERATOR public.= (varchar, text);
DROP OPERATOR public.> (varchar, text);
DROP OPERATOR public.= (oid, regclass);
DROP OPERATOR public.> (int8, int4);

-- The end state of the run log: every run finished and none failed.
SELECT status, count(*) AS runs, bool_and(finished IS NOT NULL) AS all_finished, sum(rows_done) AS rows_done
FROM zs_label_runs GROUP BY status ORDER BY status;
-- pg_dump keeps the run log (the extension marks it as configuration).
SELECT extcondition IS NOT NULL AS dumped, array_length(extconfig, 1) AS config_objects
FROM pg_extension WHERE extname = 'pg_zeroshot';
