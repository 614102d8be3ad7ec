-- statement_timeout (and so cancel) stops a long zs_classify_batch between chunks of
-- zs.batch_size texts, and the backend goes on serving.
SET client_min_messages = error;
SELECT zs_classify('预热', ARRAY['a','b']) IS NOT NULL AS warm;
SET zs.batch_size = 4;
SET statement_timeout = '300ms';
SELECT count(*) FROM zs_classify_batch(
    (SELECT array_agg('这是一条很长的评论，用来测试取消。第' || g || '条') FROM generate_series(1, 20000) g),
    (SELECT array_agg('类别' || g) FROM generate_series(1, 50) g));
RESET statement_timeout;
SELECT zs_classify('取消之后还能用吗', ARRAY['能','不能']) IN ('能','不能') AS works_after_cancel;
