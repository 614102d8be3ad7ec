-- The calls whose answers tests/server/run.sh and haproxy.sh compare between modes and paths.
SET client_min_messages = error;
SELECT zs_classify('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验']);
SELECT zs_classify_scores('买回来两天就坏了', ARRAY['物流问题','商品质量','售后体验'])->>'label';
SELECT string_agg(label || ':' || round(score::numeric, 5), ' ' ORDER BY ord) FROM zs_classify_batch(ARRAY['甲','乙',NULL,'丙'], ARRAY['物流问题','商品质量']);
SELECT string_agg(g, '|') FROM zs_generate('抽取关键词：快递三天了还没到', max_new_tokens => 8) g;
SELECT string_agg(g, '|') FROM zs_generate('好评，下次还来买', n => 3, temperature => 1, top_k => 50, top_p => 0.95, max_new_tokens => 8, seed => 7) g;
SELECT string_agg(label || ':' || round(score::numeric, 5), ' ' ORDER BY rank) FROM zs_classify_top('快递三天了还没到', ARRAY['物流问题','商品质量','售后体验'], 2, aliases => '{"物流问题": ["快递慢"]}');
SET zs.score_mode = greedy;
SELECT zs_classify_scores('客服态度很好', ARRAY['物流问题','物流','商品质量'])::text;
SET zs.score_mode = exact;
SET zs.temperature = 3;
SELECT round((zs_classify_scores('价格太贵了', ARRAY['物流问题','商品质量'])->>'score')::numeric, 6);
