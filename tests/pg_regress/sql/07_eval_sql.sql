-- tools/eval.sql on FewCLUE eprstmt with the tiny test model: every answer is inside the
-- label set, and the figures agree with `zeroshot eval` (the CLI test checks the same set).
-- (scripts/pg-regress copies the script and the data under /tmp/pg_zeroshot_regress.)
SET client_min_messages = error;
\set file /tmp/pg_zeroshot_regress/eprstmt.test_public.jsonl
\set text_field sentence
\set gold_field label
\set labels '{正面,负面}'
\set gold_map '{"Positive":"正面","Negative":"负面"}'
\set zs_eval_quiet 1
\i /tmp/pg_zeroshot_regress/eval.sql
SELECT rows, labels, in_label_pct, accuracy_pct BETWEEN 0 AND 100 AS accuracy_in_range,
       macro_f1_pct BETWEEN 0 AND 100 AS f1_in_range, rows_per_s > 0 AS timed
FROM zs_eval_result;
SELECT count(*) AS gold_outside_labels FROM zs_eval_pred WHERE gold <> ALL ('{正面,负面}'::text[]);
SELECT accuracy_pct, macro_f1_pct FROM zs_eval_result;
