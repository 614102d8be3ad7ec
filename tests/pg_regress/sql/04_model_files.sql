-- A broken zs.model_dir or ONNX Runtime library gives an error naming the file and the
-- setting, and the next call after the setting is fixed works in the same session.
-- (scripts/pg-regress prepares the broken directories under /tmp/pg_zeroshot_regress.)
-- Loading is a backend's own only in-process: scripts/pg-regress's server mode skips this file
-- (there the server's model, device and files decide: tests/server).
SET client_min_messages = error;

-- ONNX Runtime is loaded on first use, so this session starts with a wrong library path.
SET zs.onnxruntime_library = '/nonexistent/libonnxruntime.so';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS missing_library;
-- A file that is no shared library: the loader's own message.
SET zs.onnxruntime_library = '/tmp/pg_zeroshot_regress/missing_file/config.json';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS not_a_library;
RESET zs.onnxruntime_library;
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS library_fixed;

SET zs.model_dir = '/nonexistent/model';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS missing_dir;
SET zs.model_dir = '/tmp/pg_zeroshot_regress/missing_file';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS missing_file;
SET zs.model_dir = '/tmp/pg_zeroshot_regress/corrupt_tree';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) LIKE 'XX000: pg_zeroshot: ONNX Runtime failed to load /tmp/pg_zeroshot_regress/corrupt_tree/decoder_tree_model.onnx: %' AS corrupt_tree;
-- Exact mode runs the encoder and the tree graph only; the step graphs open for greedy mode.
SET zs.model_dir = '/tmp/pg_zeroshot_regress/corrupt_onnx';
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS exact_without_step_graphs;
SET zs.score_mode = 'greedy';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) LIKE 'XX000: pg_zeroshot: ONNX Runtime failed to load /tmp/pg_zeroshot_regress/corrupt_onnx/decoder_with_past_model.onnx: %' AS corrupt_onnx;
RESET zs.score_mode;
SET zs.model_dir = '/tmp/pg_zeroshot_regress/bad_config';
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS absurd_config;
SET zs.model_dir = '/tmp/pg_zeroshot_regress/bad_manifest';
SET zs.verify_checksums = on;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) AS manifest_path_outside;
RESET zs.verify_checksums;
RESET zs.model_dir;
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS model_fixed;

-- zs.share_weights needs the ORT-format copies, which the bundled test model does not have.
SET zs.share_weights = on;
SELECT regexp_replace(zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$), ': /.*$', '') AS share_weights_without_ort;
RESET zs.share_weights;
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS works_again;
SELECT zs_model_info()->>'shares_weights' AS shares_weights;

-- zs.device = 'cuda' on a machine without CUDA: an error that says so; auto falls back.
SET zs.device = 'cuda';
SELECT regexp_replace(zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$), ':.*$', '') AS cuda_sqlstate,
       zs_try($$SELECT zs_classify('文本', ARRAY['正面','负面'])$$) LIKE '%zs.device is cuda but the CUDA execution provider could not be used%' AS says_cuda;
SET zs.device = 'auto';
SELECT zs_model_info()->>'execution_provider' AS auto_provider;
RESET zs.device;

-- A model file's path in an error is not shown to a plain role.
CREATE ROLE zs_no_paths;
SET ROLE zs_no_paths;
SET zs.share_weights = on;
SELECT zs_try($$SELECT zs_classify('文本', ARRAY['a','b'])$$) AS error_without_paths;
RESET zs.share_weights;
RESET ROLE;
DROP ROLE zs_no_paths;
