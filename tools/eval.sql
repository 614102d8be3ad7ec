-- Evaluate zs_classify on a labelled JSONL test set, in SQL: the same figures as
-- `zeroshot eval` (accuracy, macro-F1, share of answers inside the label set, rows/s).
--
--   psql -d mydb -v file=/path/eprstmt.test_public.jsonl -v text_field=sentence \
--        -v gold_field=label -v labels='{正面,负面}' \
--        -v gold_map='{"Positive":"正面","Negative":"负面"}' -f tools/eval.sql
--
-- file: a JSONL file readable by psql (it is loaded with \copy from the client side);
-- labels: a text[] literal; gold_map (optional): a JSON object renaming gold labels.
-- Leaves the predictions in temp table zs_eval_pred and the figures in zs_eval_result.
\set ON_ERROR_STOP on
\if :{?gold_map}
\else
\set gold_map '{}'
\endif

DROP TABLE IF EXISTS pg_temp.zs_eval_raw, pg_temp.zs_eval_rows, pg_temp.zs_eval_pred, pg_temp.zs_eval_result;
CREATE TEMP TABLE zs_eval_raw (line text);
-- CSV with control characters as quote and delimiter: each JSON line arrives untouched.
-- (\copy takes no variables, so the command is built in one and then run.)
\set zs_eval_copy '\\copy zs_eval_raw (line) FROM ' :'file' ' WITH (FORMAT csv, QUOTE E''\\x01'', DELIMITER E''\\x02'')'
:zs_eval_copy

CREATE TEMP TABLE zs_eval_rows AS
SELECT row_number() OVER () AS id,
       j ->> :'text_field' AS body,
       coalesce((:'gold_map')::jsonb ->> (j ->> :'gold_field'), j ->> :'gold_field') AS gold
FROM (SELECT line::jsonb AS j FROM zs_eval_raw WHERE btrim(line) <> '') AS r;

SELECT clock_timestamp() AS zs_eval_t0 \gset
CREATE TEMP TABLE zs_eval_pred AS
SELECT id, gold, zeroshot.zs_classify(body, (:'labels')::text[]) AS pred FROM zs_eval_rows;
SELECT extract(epoch FROM clock_timestamp() - :'zs_eval_t0'::timestamptz) AS zs_eval_seconds \gset

-- Macro-F1 over the labels that occur as gold or prediction, as `zeroshot eval` computes it.
CREATE TEMP TABLE zs_eval_result AS
WITH labels AS (SELECT unnest((:'labels')::text[]) AS label),
per_label AS (
    SELECT l.label,
           count(*) FILTER (WHERE p.gold = l.label AND p.pred = l.label) AS tp,
           count(*) FILTER (WHERE p.gold IS DISTINCT FROM l.label AND p.pred = l.label) AS fp,
           count(*) FILTER (WHERE p.gold = l.label AND p.pred IS DISTINCT FROM l.label) AS fn
    FROM labels l CROSS JOIN zs_eval_pred p
    GROUP BY l.label
)
SELECT (SELECT count(*) FROM zs_eval_pred) AS rows,
       (SELECT count(*) FROM labels) AS labels,
       round(100 * (SELECT avg((gold = pred)::int) FROM zs_eval_pred), 2) AS accuracy_pct,
       round(100 * (SELECT avg(CASE WHEN tp = 0 THEN 0 ELSE 2.0 * tp / (2 * tp + fp + fn) END)
                    FROM per_label WHERE tp + fp + fn > 0), 2) AS macro_f1_pct,
       round(100 * (SELECT avg((pred = ANY ((:'labels')::text[]))::int) FROM zs_eval_pred), 2) AS in_label_pct,
       round(((SELECT count(*) FROM zs_eval_pred) / greatest(:zs_eval_seconds, 1e-9))::numeric, 1) AS rows_per_s;

\if :{?zs_eval_quiet}
\else
SELECT * FROM zs_eval_result;
\endif
