-- Databases in other encodings: texts and labels are converted, never trusted as UTF-8.
-- LATIN1 and EUC_CN work; SQL_ASCII bytes that are not UTF-8 are an error (22021);
-- MULE_INTERNAL installs and refuses calls; the backend survives all of it.
SET client_min_messages = error;
CREATE DATABASE zs_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE zs_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE zs_euc_cn ENCODING 'EUC_CN' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;

\c zs_latin1
SET client_min_messages = error;
SET client_encoding = 'UTF8';
CREATE EXTENSION pg_zeroshot;
SELECT zs_classify('café', ARRAY['é','b']) IN ('é','b') AS latin1_label;
SELECT zs_classify_scores('café', ARRAY['é','b'])->'scores' ? 'é' AS latin1_json_key;
-- Aliases (jsonb) are converted as texts are: their keys match the converted labels.
SELECT zs_classify('café', ARRAY['é','b'], aliases => '{"é": ["qualité"]}') IN ('é','b') AS latin1_aliases;
SELECT ord, label IN ('a','b') AS labelled FROM zs_classify_batch(ARRAY['ok', E'\xff'], ARRAY['a','b']) ORDER BY ord;
CREATE TABLE avis (id int, body text, label text);
CREATE TRIGGER t BEFORE INSERT ON avis FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', 'livraison,qualité');
INSERT INTO avis VALUES (1, 'colis arrivé en retard');
SELECT label IN ('livraison','qualité') AS latin1_trigger FROM avis;
-- An error that quotes a label: its non-ASCII characters are escaped (\uXXXX), not mojibake.
SELECT zs_classify('x', ARRAY['é','é']);

\c zs_sql_ascii
SET client_min_messages = error;
CREATE EXTENSION pg_zeroshot;
CREATE FUNCTION zs_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT zs_try($$SELECT zs_classify('x', ARRAY[E'\xe9','b'])$$) AS invalid_label;
SELECT zs_try($$SELECT * FROM zs_classify_batch(ARRAY['ok', E'\xff'], ARRAY['a','b'])$$) AS invalid_text;
SELECT zs_classify('plain ascii', ARRAY['a','b']) IN ('a','b') AS ascii_works;
-- UTF-8 held in SQL_ASCII: scores as jsonb, and a long text cut between characters.
SET client_encoding = 'UTF8';
SELECT zs_classify_scores('快递太慢', ARRAY['物流','商品'])->'scores' ? '物流' AS sql_ascii_json;
SELECT zs_classify(repeat('é', 5000), ARRAY['a','b']) IN ('a','b') AS sql_ascii_long_text;

\c zs_euc_cn
SET client_min_messages = error;
SET client_encoding = 'UTF8';
CREATE EXTENSION pg_zeroshot;
SELECT zs_classify('快递太慢了', ARRAY['物流问题','商品质量']) IN ('物流问题','商品质量') AS euc_cn_label;
SELECT zs_classify_scores('快递太慢了', ARRAY['物流问题','商品质量'])->>'label' IN ('物流问题','商品质量') AS euc_cn_json;
SELECT zs_classify('快递太慢了', ARRAY['物流问题','商品质量'], aliases => '{"物流问题": ["快递慢"]}') IN ('物流问题','商品质量') AS euc_cn_aliases;
SELECT (SELECT array_agg(label ORDER BY rank) FROM zs_classify_top('快递太慢了', ARRAY['物流问题','商品质量'], 2, aliases => '{"商品质量": ["做工"]}')) <@ ARRAY['物流问题','商品质量'] AS euc_cn_top;
-- Generated text goes back in the database encoding (here every character of the output fits;
-- one EUC_CN cannot hold would be 22P05, as for any conversion).
\set VERBOSITY sqlstate
SELECT count(*) FROM zs_generate('快递', max_new_tokens => 8);
\set VERBOSITY default
-- The same error in EUC_CN, where UTF-8 bytes in a message would fail the conversion to the client.
SELECT zs_classify('x', ARRAY['物流','物流']);

\c zs_regress
SET client_min_messages = error;
-- The same text gives the same answer in every encoding that can hold it (the client
-- speaks UTF-8 throughout; the server converts).
SELECT zs_classify('café', ARRAY['é','b']) AS utf8_answer \gset
\c zs_latin1
SET client_min_messages = error;
SET client_encoding = 'UTF8';
SELECT zs_classify('café', ARRAY['é','b']) = :'utf8_answer' AS same_answer_in_latin1;
-- MULE_INTERNAL: the extension installs (its script is ASCII, read in any encoding), and a
-- call fails cleanly, PostgreSQL having no conversion between it and UTF-8 (README).
\c zs_regress
SET client_min_messages = error;
CREATE DATABASE zs_mule ENCODING 'MULE_INTERNAL' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c zs_mule
SET client_min_messages = error;
CREATE EXTENSION pg_zeroshot;
\set VERBOSITY sqlstate
SELECT zs_classify('abc', ARRAY['a','b']);
\set VERBOSITY default
SELECT count(*) AS functions_installed FROM pg_proc WHERE pronamespace = 'zeroshot'::regnamespace;
\c zs_regress
SET client_min_messages = error;
DROP DATABASE zs_mule;
DROP DATABASE zs_latin1;
DROP DATABASE zs_sql_ascii;
DROP DATABASE zs_euc_cn;
SELECT zs_classify('还在工作吗', ARRAY['是','否']) IN ('是','否') AS still_alive;
