-- A shared database: what a plain role can do to a superuser and to other roles through the
-- extension, and cannot (README, "Security and limits"). Roles zs_alice (who may create in
-- public, as the owner of a database's public schema may) and zs_bob.
SET client_min_messages = error;
-- (psql's VERBOSITY stays set across \c; the server's client_min_messages does not.)
\set VERBOSITY sqlstate
\set labels '''{物流问题,商品质量,售后体验}'''
CREATE ROLE zs_alice LOGIN;
CREATE ROLE zs_bob LOGIN;
GRANT CREATE ON SCHEMA public TO zs_alice;

-- 1. The install schema: the extension's own, owned by a superuser, CREATE for nobody else;
-- every function of the extension is in it.
SELECT n.nspname, r.rolsuper AS owner_is_superuser,
       has_schema_privilege('zs_alice', n.oid, 'CREATE') AS alice_may_create,
       has_schema_privilege('zs_alice', n.oid, 'USAGE') AS alice_may_use
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'zeroshot';
SELECT DISTINCT n.nspname AS schema_of_every_function
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_zeroshot';

-- Alice cannot add to it; in public she adds overloads: one a superuser's unqualified call
-- would pick (PostgreSQL resolves across the whole search_path), and two that made every
-- zs_label_table call of the unfixed code fail (42725) or run hers.
SET ROLE zs_alice;
CREATE FUNCTION zeroshot.zs_classify(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'HIJACKED as ' || current_user $$;
CREATE FUNCTION public.zs_classify(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'HIJACKED as ' || current_user $$;
CREATE FUNCTION public.zs_in_transaction_block(x int DEFAULT 0) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
CREATE FUNCTION public.zs_classify_batch(bodies text[], labels text[], x int DEFAULT 0)
RETURNS TABLE(ord int, label text, score real, scores jsonb)
LANGUAGE sql AS $$ SELECT g, 'HIJACKED as ' || current_user, 1::real, '{}'::jsonb FROM generate_subscripts(bodies, 1) g $$;
CREATE FUNCTION public.zs_label_key(integer, anyelement, x int DEFAULT 0) RETURNS anyelement LANGUAGE sql AS $$ SELECT $2 $$;
RESET ROLE;
-- A qualified call runs the extension's function; an unqualified one with public first on
-- the path runs alice's (why README says to qualify, or keep such schemas off the path).
SELECT zeroshot.zs_classify('快递', '{物流,质量}') IN ('物流', '质量') AS qualified_call_is_ours;
SELECT zs_classify('快递', '{物流,质量}') AS unqualified_call_with_public_first;
-- zs_label_table calls only what is in the extension's schema or pg_catalog.
CREATE TABLE su_table (id int PRIMARY KEY, body text, label text);
INSERT INTO su_table SELECT g, '第' || g || '件：快递三天了还没到', NULL FROM generate_series(1, 7) g;
CALL zeroshot.zs_label_table('su_table', 'body', 'label', :labels, 2, trust_owner => true);
SELECT count(label) AS labelled, bool_and(label = ANY (:labels)) AS labels_are_ours FROM su_table;
-- Operators the procedure's own expressions would pick from public, where pg_catalog has only
-- a polymorphic one (text[] || text, xid[] || xid) or, with public first on the path, an
-- exact one (int8 + int8): each makes its caller a superuser if it can.
SET ROLE zs_alice;
CREATE FUNCTION public.make_me_super() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE zs_alice SUPERUSER';
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION public.cat_text(a text[], b text) RETURNS text[] LANGUAGE sql AS $$ SELECT CASE WHEN public.make_me_super() THEN pg_catalog.array_append(a, b) END $$;
CREATE OPERATOR public.|| (leftarg = text[], rightarg = text, function = public.cat_text);
CREATE FUNCTION public.cat_xid(a xid[], b xid) RETURNS xid[] LANGUAGE sql AS $$ SELECT CASE WHEN public.make_me_super() THEN pg_catalog.array_append(a, b) END $$;
CREATE OPERATOR public.|| (leftarg = xid[], rightarg = xid, function = public.cat_xid);
CREATE FUNCTION public.plus(a int8, b int8) RETURNS int8 LANGUAGE sql AS $$ SELECT CASE WHEN public.make_me_super() THEN a OPERATOR(pg_catalog.+) b END $$;
CREATE OPERATOR public.+ (leftarg = int8, rightarg = int8, function = public.plus);
RESET ROLE;
UPDATE su_table SET label = NULL;
SET search_path = public, pg_catalog, zeroshot;
CALL zeroshot.zs_label_table('su_table', 'body', 'label', :labels, 2, trust_owner => true);
RESET search_path;
SELECT count(label) AS labelled, (SELECT rolsuper FROM pg_roles WHERE rolname = 'zs_alice') AS alice_became_superuser FROM su_table;
DROP FUNCTION public.zs_classify(text, text), public.zs_in_transaction_block(int), public.zs_classify_batch(text[], text[], int),
              public.zs_label_key(integer, anyelement, int), public.cat_text(text[], text), public.cat_xid(xid[], xid),
              public.plus(int8, int8), public.make_me_super() CASCADE;

-- A schema named like the extension's that someone made beforehand is refused unless a
-- superuser owns it, only superusers may CREATE in it, and it is empty.
CREATE DATABASE zs_schema_check;
\c zs_schema_check
SET client_min_messages = error;
CREATE SCHEMA zeroshot AUTHORIZATION zs_alice;
CREATE EXTENSION pg_zeroshot;
ALTER SCHEMA zeroshot OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA zeroshot TO zs_alice;
CREATE EXTENSION pg_zeroshot;
REVOKE CREATE ON SCHEMA zeroshot FROM zs_alice;
CREATE TABLE zeroshot.planted (x int);
CREATE EXTENSION pg_zeroshot;
DROP TABLE zeroshot.planted;
-- Default privileges of the installing role would grant bob the run log as it is made.
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO zs_bob;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO zs_bob;
CREATE EXTENSION pg_zeroshot;
SELECT has_schema_privilege('zs_alice', 'zeroshot', 'CREATE') AS alice_may_create,
       has_schema_privilege('zs_alice', 'zeroshot', 'USAGE') AS alice_may_use;
SELECT has_table_privilege('zs_bob', 'zeroshot.zs_label_run_log', 'SELECT') AS bob_reads_log,
       has_table_privilege('zs_bob', 'zeroshot.zs_label_run_log', 'UPDATE') AS bob_writes_log,
       has_sequence_privilege('zs_bob', 'zeroshot.zs_label_run_log_run_id_seq', 'UPDATE') AS bob_sets_sequence,
       has_table_privilege('zs_bob', 'zeroshot.zs_label_runs', 'SELECT') AS bob_reads_view,
       has_table_privilege('zs_bob', 'zeroshot.zs_label_runs', 'UPDATE') AS bob_writes_view;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM zs_bob;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM zs_bob;
\c zs_regress
SET client_min_messages = error;
DROP DATABASE zs_schema_check;

-- 2. Keys of types a table owner made, with casts to and from text, an input path and a
-- domain check of hers that record every call: a superuser's backfill (trusting her, as a
-- DBA who has read her triggers would) labels every row in several batches and runs none of
-- it. The unfixed code cast keys to text and back (alice's cast ran as superuser), failed at
-- the second batch for enum, array, range and composite keys, and lost rows of float keys.
SET ROLE zs_alice;
CREATE TABLE public.alice_calls (run_as text, what text);
CREATE FUNCTION public.alice_spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.alice_calls VALUES (current_user, what); RETURN true; END $$;
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE FUNCTION public.mood_to_text(public.mood) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.alice_spy('cast mood to text'); RETURN format('%s', $1); END $$;
CREATE CAST (public.mood AS text) WITH FUNCTION public.mood_to_text(public.mood);
CREATE FUNCTION public.text_to_mood(text) RETURNS public.mood LANGUAGE plpgsql AS $$
BEGIN PERFORM public.alice_spy('cast text to mood');
      RETURN (SELECT m FROM unnest(enum_range(NULL::public.mood)) m WHERE format('%s', m) = $1); END $$;
CREATE CAST (text AS public.mood) WITH FUNCTION public.text_to_mood(text);
CREATE DOMAIN public.checked_int AS int CHECK (public.alice_spy('domain check') AND VALUE > 0);
CREATE TYPE public.pair AS (a int, b public.checked_int);
CREATE TABLE public.k_enum (k public.mood, n int, body text, label text, PRIMARY KEY (k, n));
INSERT INTO public.k_enum SELECT m, g, m || ' 第' || g || '条：价格太贵了', NULL
FROM unnest(enum_range(NULL::public.mood)) m, generate_series(1, 4) g;
CREATE TABLE public.k_domain (k public.checked_int PRIMARY KEY, body text, label text);
INSERT INTO public.k_domain SELECT g, '第' || g || '条：买回来两天就坏了', NULL FROM generate_series(1, 11) g;
CREATE TABLE public.k_array (k int[] PRIMARY KEY, body text, label text);
INSERT INTO public.k_array SELECT ARRAY[g % 3, g], '第' || g || '条：客服态度很好', NULL FROM generate_series(1, 11) g;
CREATE TABLE public.k_range (k int4range PRIMARY KEY, body text, label text);
INSERT INTO public.k_range SELECT int4range(g, g + g % 4 + 1), '第' || g || '条：发货太慢了', NULL FROM generate_series(1, 11) g;
CREATE TABLE public.k_composite (k public.pair PRIMARY KEY, body text, label text);
INSERT INTO public.k_composite SELECT ROW(g % 2, g)::public.pair, '第' || g || '条：退货很顺利', NULL FROM generate_series(1, 11) g;
CREATE TABLE public.k_float (k float8 PRIMARY KEY, body text, label text);
INSERT INTO public.k_float SELECT 1 + g * 1e-15, '第' || g || '条：质量不错', NULL FROM generate_series(1, 11) g;
RESET ROLE;
TRUNCATE public.alice_calls;
-- Digits a text round trip would lose: 1 + g * 1e-15 prints as 1 for every g.
SET extra_float_digits = -15;
CALL zs_label_table('public.k_enum', 'body', 'label', :labels, 5, trust_owner => true);
CALL zs_label_table('public.k_domain', 'body', 'label', :labels, 3, trust_owner => true);
CALL zs_label_table('public.k_array', 'body', 'label', :labels, 3, trust_owner => true);
CALL zs_label_table('public.k_range', 'body', 'label', :labels, 3, trust_owner => true);
CALL zs_label_table('public.k_composite', 'body', 'label', :labels, 3, trust_owner => true);
CALL zs_label_table('public.k_float', 'body', 'label', :labels, 3, trust_owner => true);
RESET extra_float_digits;
SELECT 'enum' AS key, count(*) AS rows, count(label) AS labelled FROM public.k_enum
UNION ALL SELECT 'domain', count(*), count(label) FROM public.k_domain
UNION ALL SELECT 'array', count(*), count(label) FROM public.k_array
UNION ALL SELECT 'range', count(*), count(label) FROM public.k_range
UNION ALL SELECT 'composite', count(*), count(label) FROM public.k_composite
UNION ALL SELECT 'float8', count(*), count(label) FROM public.k_float;
SELECT table_name, status, rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id DESC LIMIT 6;
SELECT count(*) AS calls_of_alices_code FROM public.alice_calls;
-- The kept key comes back only as the type it was kept as: never as a domain over it, whose
-- checks it never met (-5 as a positive int).
SELECT zeroshot.zs_label_key_keep(1, -5);
SELECT zeroshot.zs_label_key(1, NULL::public.checked_int);
SELECT zeroshot.zs_label_key(1, NULL::int) AS same_type_comes_back;
CREATE TYPE zs_pair2 AS (a int8, b int8);
SELECT zeroshot.zs_label_key_keep(2, ROW(1, 2)::zs_pair2);
ALTER TYPE zs_pair2 ALTER ATTRIBUTE a TYPE text;
SELECT zeroshot.zs_label_key(2, NULL::zs_pair2);
SELECT zeroshot.zs_label_key_reset();
DROP TYPE zs_pair2;

-- 3. An UPDATE runs the table's code (triggers, checks, index expressions, policies and what
-- they call) as the caller. A privileged caller is refused (42501) unless it says
-- trust_owner => true: a superuser, also on its own table, also after SET ROLE to the owner
-- (the owner's code could RESET ROLE), a role with the power to read server files, a login
-- that may SET ROLE to a superuser, CREATEROLE and BYPASSRLS logins after SET ROLE to alice.
-- Alice, logged in as herself, may; so may a trusting superuser.
SET ROLE zs_alice;
CREATE TABLE public.alice_t (id int PRIMARY KEY, body text, label text);
INSERT INTO public.alice_t SELECT g, '第' || g || '条：快递丢了', NULL FROM generate_series(1, 5) g;
RESET ROLE;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
SET ROLE zs_alice;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
RESET ROLE;
CREATE TABLE su_own (id int PRIMARY KEY, body text, label text);
INSERT INTO su_own VALUES (1, '快递太慢'), (2, '质量很差');
CALL zs_label_table('su_own', 'body', 'label', :labels);
GRANT pg_read_server_files TO zs_bob;
GRANT SELECT, UPDATE ON public.alice_t TO zs_bob;
CREATE ROLE zs_super_member SUPERUSER NOLOGIN;
CREATE ROLE zs_admin LOGIN NOINHERIT;
GRANT zs_super_member TO zs_admin;
GRANT SELECT, UPDATE ON public.alice_t TO zs_admin;
-- Logins with CREATEROLE or BYPASSRLS that become alice with SET ROLE: still privileged.
CREATE ROLE zs_creator LOGIN CREATEROLE;
CREATE ROLE zs_bypasser LOGIN BYPASSRLS;
GRANT zs_alice TO zs_creator, zs_bypasser;
\c - zs_bob
SET client_min_messages = error;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
\c - zs_admin
SET client_min_messages = error;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
\c - zs_creator
SET client_min_messages = error;
SET ROLE zs_alice;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
\c - zs_bypasser
SET client_min_messages = error;
SET ROLE zs_alice;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
\c - postgres
SET client_min_messages = error;
SELECT (SELECT count(label) FROM public.alice_t) + (SELECT count(label) FROM su_own) AS labelled_by_refused_calls;
\c - zs_alice
SET client_min_messages = error;
CALL zs_label_table('public.alice_t', 'body', 'label', :labels);
\c - postgres
SET client_min_messages = error;
REVOKE pg_read_server_files FROM zs_bob;
REVOKE ALL ON public.alice_t FROM zs_admin;
DROP ROLE zs_admin, zs_super_member, zs_creator, zs_bypasser;
CALL zs_label_table('su_own', 'body', 'label', :labels, trust_owner => true);
SELECT (SELECT count(label) FROM public.alice_t) AS labelled_by_alice, (SELECT count(label) FROM su_own) AS labelled_when_trusted;
DROP TABLE su_own;
CREATE TABLE su_parted (id int, body text, label text) PARTITION BY RANGE (id);
CREATE TABLE su_parted_1 PARTITION OF su_parted FOR VALUES FROM (0) TO (10);
CREATE TABLE su_parted_2 PARTITION OF su_parted FOR VALUES FROM (10) TO (20);
ALTER TABLE su_parted_2 OWNER TO zs_alice;
INSERT INTO su_parted SELECT g, '第' || g || '条', NULL FROM generate_series(1, 15) g;
CALL zs_label_table('su_parted', 'body', 'label', :labels);
CALL zs_label_table('su_parted', 'body', 'label', :labels, trust_owner => true);
SELECT count(label) AS labelled_when_trusted FROM su_parted;
-- The table lock a batch takes is refused to a role that may not write the table.
\c - zs_bob
SET client_min_messages = error;
SELECT zeroshot.zs_label_lock_table('su_parted'::regclass);
SELECT zeroshot.zs_label_lock_table('pg_catalog.pg_authid'::regclass);
\c - postgres
SET client_min_messages = error;

-- 4. The run log. Alice's run fails on her own trigger with row content in its message: she
-- sees the error; bob sees that a run of hers failed, not where or why; nobody reads the
-- underlying table directly.
SET ROLE zs_alice;
CREATE TABLE public.patients (id int PRIMARY KEY, body text, label text);
INSERT INTO public.patients VALUES (1, '患者身份证号 110101199003077777，快递未到', NULL);
CREATE FUNCTION public.patients_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'cannot label row %', NEW.body; END $$;
CREATE TRIGGER guard BEFORE UPDATE ON public.patients FOR EACH ROW EXECUTE FUNCTION public.patients_guard();
\c - zs_alice
SET client_min_messages = error;
CALL zs_label_table('public.patients', 'body', 'label', :labels);
SELECT status, table_name, error LIKE 'P0001: cannot label row 患者身份证号 110101199003077777%' AS alice_sees_her_error
FROM zs_label_runs WHERE run_by = 'zs_alice' ORDER BY run_id DESC LIMIT 1;
\c - zs_bob
SET client_min_messages = error;
SELECT status, table_name, text_column, label_column, labels, error
FROM zs_label_runs WHERE run_by = 'zs_alice' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) FROM zeroshot.zs_label_run_log;
\c - postgres
SET client_min_messages = error;
-- A run is touched only with the secret token of the call that started it: bob, in a session
-- of his own, cannot mark alice's unfinished run done (the unfixed code trusted a backend PID,
-- which a role that reconnects long enough gets again), nor start a run as alice.
SET ROLE zs_alice;
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, :labels, 8, 5, 'zs_alice',
                                   '5f0e7a52-3c1d-4f6b-9a8e-2b7c4d1e9f00') AS alice_run \gset
\c - zs_bob
SET client_min_messages = error;
SELECT zeroshot.zs_label_run_progress(:alice_run, gen_random_uuid(), 999, 0);
SELECT zeroshot.zs_label_run_finish(:alice_run, gen_random_uuid(), 5, 0, NULL, NULL);
SELECT status, rows_done FROM zs_label_runs WHERE run_id = :alice_run;
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, :labels, 8, 5, 'zs_alice', gen_random_uuid());
\c - postgres
SET client_min_messages = error;
SET ROLE zs_alice;
SELECT zeroshot.zs_label_run_finish(:alice_run, '5f0e7a52-3c1d-4f6b-9a8e-2b7c4d1e9f00', 5, 0, NULL, NULL);
SELECT status, rows_done FROM zs_label_runs WHERE run_id = :alice_run;
-- What one role can write there is bounded: no label set zs_classify would refuse, no
-- negative count, at most 100 unfinished runs, and only its newest 100 finished ones stay.
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL,
       (SELECT array_agg('类别' || g) FROM generate_series(1, 300000) g), 8, 5, 'zs_alice', gen_random_uuid());
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, ARRAY[repeat('长', 100000)], 8, 5, 'zs_alice', gen_random_uuid());
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, :labels, 8, -5, 'zs_alice', gen_random_uuid());
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, :labels, 0, 5, 'zs_alice', gen_random_uuid());
SET client_min_messages = warning;
\set VERBOSITY terse
DO $$
DECLARE accepted int := 0;
BEGIN
    FOR i IN 1 .. 150 LOOP
        BEGIN
            PERFORM zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, '{a,b}', 8, 5, 'zs_alice', gen_random_uuid());
            accepted := accepted + 1;
        EXCEPTION WHEN program_limit_exceeded THEN NULL;
        END;
    END LOOP;
    RAISE WARNING 'accepted % of 150 unfinished runs in one statement', accepted;
END $$;
SET client_min_messages = error;
\set VERBOSITY sqlstate
SELECT zeroshot.zs_label_run_start('public.patients', 'body', 'label', NULL, '{a,b}', 8, 5, 'zs_alice', gen_random_uuid()) > 0 AS next_statement_may_start;
SELECT count(*) AS alices_runs_kept, count(*) FILTER (WHERE status = 'abandoned') AS abandoned
FROM zs_label_runs WHERE run_by = 'zs_alice';
RESET ROLE;

-- 5. The trigger refuses to write the label over the text it reads (22023), and says what it
-- is when called directly (0A000).
CREATE TABLE trig_same (id int, body text);
CREATE TRIGGER same_column BEFORE INSERT ON trig_same FOR EACH ROW
EXECUTE FUNCTION zs_label_trigger('body', 'body', '物流问题,商品质量');
INSERT INTO trig_same VALUES (1, '快递三天了还没到');
SELECT count(*) AS rows_written FROM trig_same;
SELECT zs_label_trigger();

-- 6. An inheritance parent whose children repeat its key values: every row of the tree is
-- labelled once (rows are found by tableoid and ctid there; the parent's key does not cover
-- its children).
CREATE TABLE inh_parent (id int PRIMARY KEY, body text, label text);
CREATE TABLE inh_child_a () INHERITS (inh_parent);
CREATE TABLE inh_child_b () INHERITS (inh_parent);
INSERT INTO inh_parent SELECT g, '父表第' || g || '条：快递太慢', NULL FROM generate_series(1, 4) g;
INSERT INTO inh_child_a SELECT g, '子表甲第' || g || '条：质量很差', NULL FROM generate_series(1, 4) g;
INSERT INTO inh_child_b SELECT g, '子表乙第' || g || '条：售后很好', NULL FROM generate_series(1, 4) g;
CALL zs_label_table('inh_parent', 'body', 'label', :labels, 3, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled, bool_and(label = zs_classify(body, :labels)) AS same_as_zs_classify
FROM inh_parent;
SELECT status, rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

-- 7. A table without a key whose owner's trigger keeps one row's label NULL: the row is read
-- and counted once, not again after every batch, and the run ends.
CREATE TABLE kept_null (body text, label text);
INSERT INTO kept_null SELECT '第' || g || '条：价格太贵了', NULL FROM generate_series(1, 9) g;
INSERT INTO kept_null VALUES ('保持为空', NULL);
CREATE FUNCTION keep_null() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.body = '保持为空' THEN NEW.label := NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER keep_null BEFORE UPDATE ON kept_null FOR EACH ROW EXECUTE FUNCTION keep_null();
CALL zs_label_table('kept_null', 'body', 'label', :labels, 2, trust_owner => true);
SELECT count(*) AS rows, count(label) AS labelled FROM kept_null;
SELECT status, rows_total, rows_done, rows_skipped FROM zs_label_runs ORDER BY run_id DESC LIMIT 1;

DROP TABLE public.alice_t, public.patients, public.k_enum, public.k_domain, public.k_array, public.k_range,
           public.k_composite, public.k_float, public.alice_calls, su_parted;
DROP FUNCTION public.alice_spy(text), public.patients_guard(),
              public.mood_to_text(public.mood), public.text_to_mood(text) CASCADE;
DROP TYPE public.pair;
DROP DOMAIN public.checked_int;
DROP TYPE public.mood;
DELETE FROM zeroshot.zs_label_run_log WHERE run_by IN ('zs_alice', 'zs_bob');
REVOKE CREATE ON SCHEMA public FROM zs_alice;
DROP ROLE zs_alice;
DROP ROLE zs_bob;
