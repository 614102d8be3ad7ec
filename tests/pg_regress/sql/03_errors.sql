-- Bad input gets a clear error with the right SQLSTATE, and the backend survives.
SET client_min_messages = error;

SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流问题', NULL])$$) AS null_label;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[]::text[])$$) AS empty_array;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流问题','商品质量','物流问题'])$$) AS duplicate;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流问题',''])$$) AS empty_label;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流问题','  '])$$) AS blank_label;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流,问题'])$$) AS comma;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['物流，问题'])$$) AS fullwidth_comma;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY[E'物流\n问题'])$$) AS newline;
SELECT zs_try($$SELECT * FROM zs_classify_batch(ARRAY['a'], ARRAY['x', NULL])$$) AS batch_null_label;
-- Plain form of one error, with its hint.
SELECT zs_classify('文本', ARRAY['物流问题','物流问题']);

-- More labels than fit in zs.max_input_tokens: 54000 with the token counts.
SET zs.max_input_tokens = 40;
SELECT zs_try($$SELECT zs_classify('文本', (SELECT array_agg('类别' || g) FROM generate_series(1, 30) g))$$) AS too_many_labels;
RESET zs.max_input_tokens;

-- Superuser-only settings: a plain user may not point the server at files or libraries.
CREATE ROLE zs_plain_user;
SET ROLE zs_plain_user;
SELECT zs_try($$SET zs.model_dir = '/tmp'$$) AS set_model_dir;
SELECT zs_try($$SET zs.onnxruntime_library = '/tmp/lib.so'$$) AS set_library;
SELECT zs_try($$SET zs.verify_checksums = on$$) AS set_verify;
SELECT zs_try($$SET zs.keep_arenas = on$$) AS set_keep_arenas;
-- ... but may use the functions and the per-session settings.
SET zs.temperature = 2;
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS plain_user_can_classify;
RESET ROLE;
RESET zs.temperature;
DROP ROLE zs_plain_user;

-- Out-of-range settings are refused by Postgres itself.
SELECT zs_try($$SET zs.temperature = 0$$) AS zero_temperature;
SELECT zs_try($$SET zs.device = 'tpu'$$) AS bad_device;

-- The backend is still serving.
SELECT zs_classify('还在工作吗', ARRAY['是','否']) IN ('是','否') AS still_alive;
