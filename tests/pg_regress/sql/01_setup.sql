-- The extension installs into a fresh database and works with no setting at all,
-- against the bundled tiny test model, with a warning that its labels mean nothing.
CREATE EXTENSION pg_zeroshot;

-- zs_try(sql): runs a statement and returns 'ok' or 'SQLSTATE: message', so that the
-- expected output shows each error's code (used by the other test files).
CREATE FUNCTION zs_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT zs_classify('快递三天了还没到，客服也不回消息', ARRAY['物流问题','商品质量','售后体验'])
       = ANY (ARRAY['物流问题','商品质量','售后体验']) AS answer_is_a_label;

SELECT info->>'model_id' AS model_id,
       info->>'random_weights' AS random_weights,
       info->>'warning' IS NOT NULL AS warns,
       info->>'execution_provider' AS provider,
       info->>'device_setting' AS device_setting,
       info->>'onnxruntime_version' AS ort_version,
       info->>'vocab_size' AS vocab_size,
       info->>'d_model' AS d_model,
       info->>'num_layers' AS num_layers,
       (info->>'load_ms')::float8 > 0 AS load_time_measured,
       (info->>'texts_scored')::int AS texts_scored,
       info->>'model_dir' LIKE '%/extension/pg_zeroshot/tiny-mt5' AS bundled_dir
FROM zs_model_info() AS info;

-- The bundled model scores exact mode in one decoder run (the tree graph); the step graphs open
-- when greedy mode first needs them, with the cache gather graph (the decoder cache stays in
-- ONNX Runtime).
SELECT zs_model_info()->'graphs' ? 'decoder_tree_model.onnx' AS tree_graph,
       zs_model_info()->'graphs' ? 'decoder_with_past_model.onnx' AS step_graphs_before_greedy;
SET zs.score_mode = 'greedy';
SELECT zs_classify('文本', ARRAY['正面','负面']) IN ('正面','负面') AS greedy;
RESET zs.score_mode;
SELECT zs_model_info()->'graphs' ? 'decoder_cache_gather.onnx' AS cache_gather_graph;

-- Every SQL function says STABLE/VOLATILE and PARALLEL SAFE/RESTRICTED on purpose.
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_zeroshot'
ORDER BY p.proname;

-- Settings and their defaults (but zs.server_autostart and zs.server_socket, which exist only
-- where the library is preloaded: scripts/pg-regress's server mode).
SELECT name, setting, context FROM pg_settings
WHERE name LIKE 'zs.%' AND name NOT IN ('zs.server_autostart', 'zs.server_socket') ORDER BY name;
