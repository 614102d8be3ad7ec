-- pg_zeroshot 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_zeroshot UPDATE).
--
-- 0.1.0 lived in the schema it was installed in (usually public); 0.2.0 lives in the schema
-- zeroshot, which pg_zeroshot.control fixes, and keeps its run log in zs_label_run_log behind
-- the view zs_label_runs. This script turns a 0.1.0 installation into what CREATE EXTENSION
-- pg_zeroshot gives at 0.2.0: the same objects, with the same definitions and privileges, in
-- zeroshot, recorded as the extension's schema. What users made keeps working:
--   - the functions 0.2.0 keeps with the same arguments (zs_classify, zs_classify_scores,
--     zs_classify_batch, zs_model_info, zs_label_trigger, zs_in_transaction_block) are moved
--     with ALTER FUNCTION ... SET SCHEMA, which keeps their OIDs, then given 0.2.0's
--     definitions with CREATE OR REPLACE: triggers, views, materialized views, column defaults
--     and SQL-standard function bodies that use them refer to them by OID and go on working.
--     (Unqualified calls in the text of PL/pgSQL functions or in applications need zeroshot on
--     the search_path: README, "Where the functions live".)
--   - the run log's rows are copied from 0.1.0's table zs_label_runs into zs_label_run_log,
--     with their run ids, and its sequence goes on from where 0.1.0's was. Columns 0.1.0 did not
--     have: backend_start is NULL (an unfinished run is marked 'abandoned' by the next
--     zs_label_table call, as 0.2.0 does for any run whose backend stopped: 0.1.0's procedure
--     cannot go on once its helpers are replaced); session_token is a new random UUID (nobody
--     holds it, so no call can report progress on an old run). Values 0.2.0's checks refuse,
--     which only a direct call of 0.1.0's zs_label_run_start could have written, are raised to
--     the nearest allowed (batch_rows 1, counts 0).
--   - the helpers and the procedure whose arguments changed (zs_label_run_start,
--     zs_label_run_progress, zs_label_run_finish, zs_label_table) are dropped and made again:
--     nothing can depend on them but SQL-standard function bodies, and a DROP that finds one
--     stops the update. So does, at the start and naming them, anything of a user's that
--     depends on 0.1.0's table zs_label_runs (a view over it, a foreign key to it): drop it,
--     update, and make it again over the view zeroshot.zs_label_runs.
-- Objects this script makes are owned by the role that runs it (a superuser); moved ones keep
-- their owner and any GRANT or REVOKE a user made on them. ASCII only, like the install script.
--
-- @extschema@ is the schema 0.1.0 was installed in: ALTER EXTENSION UPDATE keeps an
-- extension's recorded schema, and runs the script with search_path set to it. Every name
-- below is qualified until the search_path is set to zeroshot.

-- A user's objects that depend on 0.1.0's run log table (a view over it, a foreign key to it, a
-- default taking its sequence) would stop its DROP at the end: said first, with what to do.
DO $deps$
DECLARE
    old_table pg_catalog.oid := '@extschema@.zs_label_runs'::pg_catalog.regclass;
    dependents text;
BEGIN
    -- The table and what is part of it: its row type, index, constraints, default, sequence.
    WITH parts(classid, objid) AS (
        SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, old_table
        UNION ALL
        SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, c.reltype
          FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) old_table
        UNION ALL
        SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
         WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) old_table
           AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['i', 'a']::"char"[]))
    SELECT pg_catalog.string_agg(DISTINCT
               CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                    THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass,
                             (SELECT w.ev_class FROM pg_catalog.pg_rewrite w WHERE w.oid OPERATOR(pg_catalog.=) d.objid), 0)
                    ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END, ', ')
      INTO dependents
      FROM pg_catalog.pg_depend d
      JOIN parts p ON d.refclassid OPERATOR(pg_catalog.=) p.classid AND d.refobjid OPERATOR(pg_catalog.=) p.objid
     WHERE d.deptype OPERATOR(pg_catalog.=) 'n'
       AND NOT EXISTS (SELECT 1 FROM parts q
                        WHERE q.classid OPERATOR(pg_catalog.=) d.classid AND q.objid OPERATOR(pg_catalog.=) d.objid);
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'pg_zeroshot: objects depend on 0.1.0''s run log table %, which 0.2.0 replaces with the view zeroshot.zs_label_runs: %',
                '@extschema@.zs_label_runs', dependents
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop them, ALTER EXTENSION pg_zeroshot UPDATE again, then make them again over zeroshot.zs_label_runs (the runs keep their ids).';
    END IF;
END
$deps$;

-- The schema zeroshot, checked as 0.2.0's CREATE EXTENSION checks it (sql/install_schema.sql):
-- only a superuser may own it and create objects in it, and it holds nothing but this
-- extension's objects (it may be the schema 0.1.0 was installed in). Made when missing; as in
-- CREATE EXTENSION, the schema is not a member of the extension (DROP EXTENSION leaves it).
DO $check$
DECLARE
    ext_oid pg_catalog.oid;
    schema_oid pg_catalog.oid;
    schema_name text := 'zeroshot';
    owner_name name;
    owner_super boolean;
    creator text;
    catalog text;
    schema_column text;
    occupied boolean;
BEGIN
    SELECT e.oid INTO ext_oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_zeroshot';
    SELECT n.oid, r.rolname, r.rolsuper INTO schema_oid, owner_name, owner_super
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) schema_name;
    IF schema_oid IS NULL THEN
        CREATE SCHEMA zeroshot;
        ALTER EXTENSION pg_zeroshot DROP SCHEMA zeroshot;
        RETURN;
    END IF;
    IF NOT owner_super THEN
        RAISE EXCEPTION 'pg_zeroshot: schema % is owned by %, who is not a superuser', schema_name, owner_name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('The extension must live where only superusers can create objects. Drop or rename schema %I, or make a superuser its owner, then ALTER EXTENSION pg_zeroshot UPDATE again.', schema_name);
    END IF;
    SELECT COALESCE(g.rolname, 'PUBLIC') INTO creator
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) AS a
      LEFT JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE n.oid OPERATOR(pg_catalog.=) schema_oid AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND (g.oid IS NULL OR NOT g.rolsuper)
     LIMIT 1;
    IF creator IS NOT NULL THEN
        RAISE EXCEPTION 'pg_zeroshot: % may create objects in schema %', creator, schema_name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM %s, then ALTER EXTENSION pg_zeroshot UPDATE again.', schema_name, creator);
    END IF;
    -- Every catalog of objects that live in a schema, with its schema column: an object there
    -- must be a member of the extension or part of one (an index, a row type, a sequence).
    FOR catalog, schema_column IN
        VALUES ('pg_class', 'relnamespace'), ('pg_proc', 'pronamespace'), ('pg_type', 'typnamespace'),
               ('pg_operator', 'oprnamespace'), ('pg_collation', 'collnamespace'),
               ('pg_conversion', 'connamespace'), ('pg_opfamily', 'opfnamespace'),
               ('pg_opclass', 'opcnamespace'), ('pg_ts_config', 'cfgnamespace'),
               ('pg_ts_dict', 'dictnamespace'), ('pg_ts_parser', 'prsnamespace'),
               ('pg_ts_template', 'tmplnamespace'), ('pg_statistic_ext', 'stxnamespace')
    LOOP
        EXECUTE pg_catalog.format(
            'WITH RECURSIVE ours(classid, objid) AS ('
            '    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d'
            '     WHERE d.refclassid OPERATOR(pg_catalog.=) ''pg_catalog.pg_extension''::pg_catalog.regclass'
            '       AND d.refobjid OPERATOR(pg_catalog.=) $2 AND d.deptype OPERATOR(pg_catalog.=) ''e'''
            '  UNION'
            '    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d'
            '      JOIN ours o ON d.refclassid OPERATOR(pg_catalog.=) o.classid AND d.refobjid OPERATOR(pg_catalog.=) o.objid'
            '     WHERE d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY[''i'', ''a'']::"char"[]))'
            ' SELECT EXISTS (SELECT 1 FROM pg_catalog.%I x WHERE x.%I OPERATOR(pg_catalog.=) $1'
            '                   AND NOT EXISTS (SELECT 1 FROM ours o'
            '                                    WHERE o.classid OPERATOR(pg_catalog.=) ''pg_catalog.%I''::pg_catalog.regclass'
            '                                      AND o.objid OPERATOR(pg_catalog.=) x.oid))',
            catalog, schema_column, catalog)
           INTO occupied USING schema_oid, ext_oid;
        IF occupied THEN
            RAISE EXCEPTION 'pg_zeroshot: schema % is not empty (%)', schema_name, catalog
                USING ERRCODE = 'object_in_use',
                      HINT = 'The extension installs into a schema of its own; move the objects in it elsewhere first, then ALTER EXTENSION pg_zeroshot UPDATE again.';
        END IF;
    END LOOP;
END
$check$;
-- Every role may call the functions (each checks what it may do); nobody but the owner may
-- create anything here.
REVOKE ALL ON SCHEMA zeroshot FROM PUBLIC;
GRANT USAGE ON SCHEMA zeroshot TO PUBLIC;

-- The extension's recorded schema becomes zeroshot: ALTER EXTENSION UPDATE never changes it,
-- and pg_dump writes it into CREATE EXTENSION ... WITH SCHEMA, which a restore must be able to
-- run against 0.2.0's control file (schema = zeroshot). The extension depends on its schema,
-- as CREATE EXTENSION records it.
UPDATE pg_catalog.pg_depend
   SET refobjid = 'zeroshot'::pg_catalog.regnamespace
 WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND objid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_zeroshot')
   AND refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND refobjid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace;
UPDATE pg_catalog.pg_extension
   SET extnamespace = 'zeroshot'::pg_catalog.regnamespace
 WHERE extname OPERATOR(pg_catalog.=) 'pg_zeroshot';

-- 0.1.0's routines whose arguments changed: dropped (0.2.0's are made below). The run log
-- table is renamed out of the way of the view that takes its name (0.1.0 may have been
-- installed in zeroshot itself); its rows are copied below.
DROP PROCEDURE @extschema@.zs_label_table(pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text[],
                                          pg_catalog.int4, pg_catalog.name);
DROP FUNCTION @extschema@.zs_label_run_start(pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.name,
                                             pg_catalog.text[], pg_catalog.int4, pg_catalog.int8, pg_catalog.name);
DROP FUNCTION @extschema@.zs_label_run_progress(pg_catalog.int8, pg_catalog.int8, pg_catalog.int8);
DROP FUNCTION @extschema@.zs_label_run_finish(pg_catalog.int8, pg_catalog.int8, pg_catalog.int8, pg_catalog.text, pg_catalog.text);
ALTER TABLE @extschema@.zs_label_runs RENAME TO zs_label_runs_0_1_0;

-- The functions 0.2.0 keeps: moved (same OIDs), then given 0.2.0's definitions below.
DO $move$
BEGIN
    IF '@extschema@'::pg_catalog.regnamespace OPERATOR(pg_catalog.<>) 'zeroshot'::pg_catalog.regnamespace THEN
        ALTER FUNCTION @extschema@.zs_classify(pg_catalog.text, pg_catalog.text[]) SET SCHEMA zeroshot;
        ALTER FUNCTION @extschema@.zs_classify_batch(pg_catalog.text[], pg_catalog.text[]) SET SCHEMA zeroshot;
        ALTER FUNCTION @extschema@.zs_classify_scores(pg_catalog.text, pg_catalog.text[]) SET SCHEMA zeroshot;
        ALTER FUNCTION @extschema@.zs_in_transaction_block() SET SCHEMA zeroshot;
        ALTER FUNCTION @extschema@.zs_model_info() SET SCHEMA zeroshot;
        ALTER FUNCTION @extschema@.zs_label_trigger() SET SCHEMA zeroshot;
    END IF;
END
$move$;

-- From here on, as CREATE EXTENSION runs 0.2.0's script: objects are made in zeroshot. (SET
-- LOCAL: ALTER EXTENSION restores the search_path when the script ends.)
SET LOCAL search_path = zeroshot;

-- The C functions, as 0.2.0's script defines them (pgrx writes them; CREATE OR REPLACE keeps
-- the OIDs of the moved ones). 0.2.0 makes the classifiers PARALLEL RESTRICTED and calls the
-- trigger through zs_label_trigger_checked.
CREATE OR REPLACE FUNCTION "zs_classify"(
	"body" text, /* DbText < '_ > */
	"labels" text[] /* Array < '_, DbText < '_ > > */
) RETURNS text /* ServerText */
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_wrapper';

CREATE OR REPLACE FUNCTION "zs_classify_batch"(
	"bodies" text[], /* Array < '_, DbText < '_ > > */
	"labels" text[] /* Array < '_, DbText < '_ > > */
) RETURNS TABLE (
	"ord" INT,  /* i32 */
	"label" text,  /* Option < ServerText > */
	"score" real,  /* Option < f32 > */
	"scores" jsonb  /* Option < ServerJsonb > */
)
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_batch_wrapper';

CREATE OR REPLACE FUNCTION "zs_classify_scores"(
	"body" text, /* DbText < '_ > */
	"labels" text[] /* Array < '_, DbText < '_ > > */
) RETURNS jsonb /* ServerJsonb */
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_scores_wrapper';

CREATE OR REPLACE FUNCTION "zs_in_transaction_block"() RETURNS bool /* bool */
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_in_transaction_block_wrapper';

CREATE OR REPLACE FUNCTION "zs_model_info"() RETURNS jsonb /* JsonB */
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_model_info_wrapper';

CREATE OR REPLACE FUNCTION zs_label_trigger() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'zs_label_trigger_checked';

CREATE  FUNCTION "zs_label_lock_table"(
	"relid" oid /* pg_sys :: Oid */
) RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_label_lock_table_wrapper';

-- New in 0.2.0: the aliases overloads of the classifiers, zs_classify_top and zs_generate.
CREATE  FUNCTION "zs_classify"(
	"body" text, /* Option < DbText < '_ > > */
	"labels" text[], /* :: std :: option :: Option < Array < '_, DbText < '_ > > > */
	"aliases" jsonb /* Option < JsonB > */
) RETURNS text /* Option < ServerText > */
STABLE PARALLEL RESTRICTED 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_aliases_wrapper';

CREATE  FUNCTION "zs_classify_scores"(
	"body" text, /* Option < DbText < '_ > > */
	"labels" text[], /* :: std :: option :: Option < Array < '_, DbText < '_ > > > */
	"aliases" jsonb /* Option < JsonB > */
) RETURNS jsonb /* Option < ServerJsonb > */
STABLE PARALLEL RESTRICTED 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_scores_aliases_wrapper';

CREATE  FUNCTION "zs_classify_batch"(
	"bodies" text[], /* :: std :: option :: Option < Array < '_, DbText < '_ > > > */
	"labels" text[], /* :: std :: option :: Option < Array < '_, DbText < '_ > > > */
	"aliases" jsonb /* Option < JsonB > */
) RETURNS TABLE (
	"ord" INT,  /* i32 */
	"label" text,  /* Option < ServerText > */
	"score" real,  /* Option < f32 > */
	"scores" jsonb  /* Option < ServerJsonb > */
)
STABLE PARALLEL RESTRICTED 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_batch_aliases_wrapper';

CREATE  FUNCTION "zs_classify_top"(
	"body" text, /* Option < DbText < '_ > > */
	"labels" text[], /* :: std :: option :: Option < Array < '_, DbText < '_ > > > */
	"k" INT DEFAULT 3, /* Option < i32 > */
	"min_score" real DEFAULT 0, /* Option < f32 > */
	"aliases" jsonb DEFAULT NULL /* Option < JsonB > */
) RETURNS TABLE (
	"rank" INT,  /* i32 */
	"label" text,  /* ServerText */
	"score" real  /* f32 */
)
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_classify_top_wrapper';

CREATE  FUNCTION "zs_generate"(
	"prompt" text, /* Option < DbText < '_ > > */
	"n" INT DEFAULT 1, /* Option < i32 > */
	"temperature" double precision DEFAULT 0, /* Option < f64 > */
	"top_k" INT DEFAULT 0, /* Option < i32 > */
	"top_p" double precision DEFAULT 1, /* Option < f64 > */
	"max_new_tokens" INT DEFAULT 64, /* Option < i32 > */
	"seed" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS SETOF text /* ServerText */
VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'zs_generate_wrapper';

-- ---- 0.2.0's sql/zs_label_table.sql, with @extschema@ written as zeroshot ---------------------
-- zs_label_table: labels the rows of a table whose label column is NULL, batch by batch
-- through zs_classify_batch, committing after each batch; zs_label_runs: one row per run,
-- updated at each commit. README "Labelling an existing table" says how to use them.
--
-- Where things live: every object is in the extension's own schema, which only its owner (a
-- superuser) may create objects in (checked at install: sql/install_schema.sql). Every call
-- from here is schema-qualified to it or to pg_catalog, with arguments of the exact types, so
-- that no function or operator another role creates can be chosen instead.
--
-- search_path: a procedure that commits can have neither a SET clause nor SECURITY DEFINER,
-- so zs_label_table runs with the caller's search_path. Its own body qualifies every
-- function, operator (OPERATOR(pg_catalog.+)) and type it uses; everything else is in helper
-- functions with search_path = pg_catalog, pg_temp (zs_label_plan, zs_label_batch_guard,
-- zs_label_caller_privileged), and every identifier written into SQL is quoted (%I) from the
-- catalogs. The run-log helpers are SECURITY DEFINER with a fixed search_path.
--
-- Keys: the last key a batch read is kept in the backend in its own type and bytes
-- (zs_label_key_keep, zs_label_key: src/api/label_table.rs), never through text: a cast or
-- input function of the table owner's type would run as the caller.

-- One row per run, written only by the helpers below. Nobody reads it directly but its owner:
-- zs_label_runs shows it to everyone, with the call's details and error text to the roles
-- allowed to see them.
CREATE TABLE zs_label_run_log (
    run_id        bigserial PRIMARY KEY,
    table_name    text NOT NULL,
    text_column   name NOT NULL,
    label_column  name NOT NULL,
    scores_column name,
    labels        text[] NOT NULL,
    batch_rows    integer NOT NULL CHECK (batch_rows >= 1),
    run_by        name NOT NULL,
    backend_pid   integer NOT NULL,
    -- With the PID, what identifies the backend (PIDs are reused).
    backend_start timestamptz,
    -- A secret of the procedure's call: progress and finish are accepted only with it.
    session_token uuid NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'abandoned')),
    started       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    rows_total    bigint NOT NULL CHECK (rows_total >= 0),
    rows_done     bigint NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    rows_skipped  bigint NOT NULL DEFAULT 0 CHECK (rows_skipped >= 0),
    rows_per_s    double precision,
    finished      timestamptz,
    seconds       double precision,
    error         text
);
CREATE INDEX zs_label_run_log_run_by ON zs_label_run_log (run_by, run_id);
COMMENT ON TABLE zs_label_run_log IS
    'pg_zeroshot: one row per zs_label_table run (read it through zs_label_runs)';
REVOKE ALL ON zs_label_run_log FROM PUBLIC;
REVOKE ALL ON SEQUENCE zs_label_run_log_run_id_seq FROM PUBLIC;
-- pg_dump keeps the runs (and the sequence, so that run ids go on after a restore).
SELECT pg_catalog.pg_extension_config_dump('zs_label_run_log', '');
SELECT pg_catalog.pg_extension_config_dump('zs_label_run_log_run_id_seq', '');

-- The run log as every role sees it, as pg_stat_activity shows sessions: the progress of
-- every run; which table, columns and labels only to members of the role that ran it and of
-- pg_read_all_stats; the error text (which can hold row content) only to members of that
-- role. A view runs the functions in it as the role that reads it.
CREATE VIEW zs_label_runs WITH (security_barrier) AS
SELECT r.run_id,
       CASE WHEN s.sees_call THEN r.table_name END AS table_name,
       CASE WHEN s.sees_call THEN r.text_column END AS text_column,
       CASE WHEN s.sees_call THEN r.label_column END AS label_column,
       CASE WHEN s.sees_call THEN r.scores_column END AS scores_column,
       CASE WHEN s.sees_call THEN r.labels END AS labels,
       r.batch_rows, r.run_by, r.backend_pid, r.status, r.started, r.updated,
       r.rows_total, r.rows_done, r.rows_skipped, r.rows_per_s, r.finished, r.seconds,
       CASE WHEN m.is_runner THEN r.error END AS error
  FROM zeroshot.zs_label_run_log AS r
 CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS o
                        WHERE o.rolname OPERATOR(pg_catalog.=) r.run_by
                          AND pg_catalog.pg_has_role(o.oid, 'USAGE'))) AS m(is_runner)
 CROSS JOIN LATERAL (
        SELECT m.is_runner OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')) AS s(sees_call);
COMMENT ON VIEW zs_label_runs IS
    'pg_zeroshot: one row per zs_label_table run, updated at each commit';
REVOKE ALL ON zs_label_runs FROM PUBLIC;
GRANT SELECT ON zs_label_runs TO PUBLIC;

-- The last key a batch read, kept in the backend between batches (src/api/label_table.rs).
-- Any role may call them: they touch only the calling backend's memory, at most 32 values of
-- 64 kB.
CREATE FUNCTION zs_label_key_keep(key_column integer, value anyelement) RETURNS boolean
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'zs_label_key_keep';
CREATE FUNCTION zs_label_key(key_column integer, proto anyelement) RETURNS anyelement
LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'zs_label_key';
CREATE FUNCTION zs_label_key_reset() RETURNS boolean
LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'zs_label_key_reset';

-- Starts a run: checks that run_by is the caller (a role the session may become) and may
-- UPDATE the label column, bounds what the call may write (any role can call this directly),
-- marks runs whose backend no longer runs them as abandoned (a crash or
-- pg_terminate_backend leaves them 'running'), and returns the new run's id. The log keeps
-- each role's newest 100 finished runs and at most 100 unfinished ones.
CREATE FUNCTION zs_label_run_start(tbl regclass, text_column name, label_column name, scores_column name,
                                   labels text[], batch_rows integer, rows_total bigint, run_by name,
                                   session_token uuid)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    now_ts timestamptz := pg_catalog.clock_timestamp();
    max_labels integer;
    my_start timestamptz;
BEGIN
    IF run_by IS NULL OR NOT pg_catalog.pg_has_role(session_user, run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_run_start: % is not the calling role', run_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF tbl IS NULL OR label_column IS NULL OR text_column IS NULL
       OR NOT pg_catalog.has_column_privilege(run_by, tbl::pg_catalog.oid, label_column::pg_catalog.text, 'UPDATE') THEN
        RAISE EXCEPTION 'pg_zeroshot: permission denied: % may not UPDATE column % of %', run_by, label_column, tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The same bounds zs_classify puts on a label set before reading it (the library is loaded
    -- first, so that its superuser-only limit is the server's, not a placeholder).
    PERFORM zeroshot.zs_in_transaction_block();
    max_labels := pg_catalog.current_setting('zs.max_input_tokens_limit')::pg_catalog.int4;
    IF labels IS NULL OR pg_catalog.cardinality(labels) < 1
       OR pg_catalog.cardinality(labels) > max_labels
       OR (SELECT pg_catalog.sum(pg_catalog.octet_length(l)) FROM pg_catalog.unnest(labels) AS l)
          > max_labels * 64 THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_run_start: the label array must have 1 to % labels of at most % bytes in all',
                max_labels, max_labels * 64
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 OR rows_total IS NULL
       OR rows_total < 0 OR session_token IS NULL THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_run_start: batch_rows must be at least 1, rows_total at least 0, and session_token set'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Rows another transaction holds (a start not yet committed) are left for a later call:
    -- waiting for them would let any role hang every backfill of the database.
    UPDATE zeroshot.zs_label_run_log r
       SET status = 'abandoned', finished = r.updated,
           seconds = pg_catalog.date_part('epoch', r.updated - r.started),
           error = 'the backend stopped running it without finishing (terminated, crashed, or an error between batches)'
     WHERE r.run_id IN (SELECT l.run_id FROM zeroshot.zs_label_run_log l WHERE l.finished IS NULL FOR UPDATE SKIP LOCKED)
       AND r.finished IS NULL
       -- Still running it: its backend (same PID, same start) is busy with a statement that
       -- began before the run (the CALL). With track_activities off (state 'disabled') it cannot
       -- tell: not marked.
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                        WHERE a.pid = r.backend_pid
                          AND a.backend_start = r.backend_start
                          AND (a.state IS NULL OR a.state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)'))
                          AND (a.query_start IS NULL OR a.query_start <= r.started));
    -- What one role can leave here: its newest 100 finished runs ...
    DELETE FROM zeroshot.zs_label_run_log d
     WHERE d.run_id IN (SELECT o.run_id FROM zeroshot.zs_label_run_log o
                         WHERE o.run_by = zs_label_run_start.run_by AND o.finished IS NOT NULL
                         ORDER BY o.run_id DESC OFFSET 99);
    -- ... and 100 unfinished ones (each is a call under way, or will be marked abandoned).
    IF (SELECT pg_catalog.count(*) FROM zeroshot.zs_label_run_log o
         WHERE o.run_by = zs_label_run_start.run_by AND o.finished IS NULL) >= 100 THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_run_start: % has 100 unfinished runs already', run_by
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    SELECT a.backend_start INTO my_start FROM pg_catalog.pg_stat_activity a
     WHERE a.pid = pg_catalog.pg_backend_pid();
    INSERT INTO zeroshot.zs_label_run_log (table_name, text_column, label_column, scores_column, labels,
                                              batch_rows, run_by, backend_pid, backend_start, session_token,
                                              started, updated, rows_total)
    VALUES (tbl::pg_catalog.text, text_column, label_column, scores_column, labels,
            batch_rows, run_by, pg_catalog.pg_backend_pid(), my_start, session_token, now_ts, now_ts, rows_total)
    RETURNING run_id INTO id;
    RETURN id;
END
$$;

-- Progress of a running run (in the batch's transaction, so that it commits with the batch):
-- only with the session token the run was started with.
CREATE FUNCTION zs_label_run_progress(run_id bigint, session_token uuid, rows_done bigint, rows_skipped bigint)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE zeroshot.zs_label_run_log r
       SET rows_done = $3, rows_skipped = $4,
           rows_total = GREATEST(r.rows_total, $3 + $4),
           updated = pg_catalog.clock_timestamp(),
           rows_per_s = $3 / NULLIF(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started), 0)
     WHERE r.run_id = $1 AND r.session_token = $2 AND r.finished IS NULL
$$;

-- The end of a run (only with its session token): totals and time; the error (SQLSTATE and
-- message, at most 2,000 characters) if it stopped on one ('cancelled' for 57014: cancel or
-- statement_timeout).
CREATE FUNCTION zs_label_run_finish(run_id bigint, session_token uuid, rows_done bigint, rows_skipped bigint,
                                    error_sqlstate text, error_message text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE zeroshot.zs_label_run_log r
       SET rows_done = $3, rows_skipped = $4,
           rows_total = CASE WHEN $5 IS NULL THEN $3 + $4 ELSE GREATEST(r.rows_total, $3 + $4) END,
           updated = pg_catalog.clock_timestamp(),
           finished = pg_catalog.clock_timestamp(),
           seconds = pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started),
           rows_per_s = $3 / NULLIF(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started), 0),
           status = CASE WHEN $5 IS NULL THEN 'done' WHEN $5 = '57014' THEN 'cancelled' ELSE 'failed' END,
           error = CASE WHEN $5 IS NULL THEN NULL
                        ELSE pg_catalog.left($5, 5) || ': ' || pg_catalog.left($6, 2000) END
     WHERE r.run_id = $1 AND r.session_token = $2 AND r.finished IS NULL
$$;

-- Whether the caller is privileged: whether the role it logged in as, its session role or its
-- current role can act as (is a member of, or is) a role that is a superuser, has CREATEROLE,
-- BYPASSRLS or REPLICATION, that holds a grant on a setting (GRANT SET / ALTER SYSTEM ON
-- PARAMETER), or is one of the roles that read or write server files, run server programs,
-- or read or write all data. (EXECUTE granted on a function only superusers may call by
-- default, such as pg_read_file, is not seen: README says so.) Code of another role that such a caller runs
-- could SET ROLE to any of these, or use them as it is.
CREATE FUNCTION zs_label_caller_privileged() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM pg_roles p
         CROSS JOIN (VALUES ((SELECT a.usesysid FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())),
                            ((SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user)),
                            ((SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user))) AS c(member)
         WHERE c.member IS NOT NULL
           AND (p.rolsuper OR p.rolcreaterole OR p.rolbypassrls OR p.rolreplication
                OR p.rolname IN ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files',
                                 'pg_write_all_data', 'pg_read_all_data')
                -- A grant to SET or ALTER SYSTEM a superuser-only setting (a library to load, an
                -- archive command to run).
                OR EXISTS (SELECT 1 FROM pg_parameter_acl pa, aclexplode(pa.paracl) AS g WHERE g.grantee = p.oid))
           AND pg_has_role(c.member, p.oid, 'MEMBER'))
$$;

-- Everything zs_label_table decides before its first batch, in a function of its own: a
-- function can have a fixed search_path, a procedure that commits cannot. It checks the call
-- (NULLs, the table, the columns and their types, privileges, whose code a privileged caller
-- would run) and writes the batch statement: `first_sql` for the first batch, `next_sql` for
-- the ones after it (which start after the kept key), and `count_sql` for the rows to label.
CREATE FUNCTION zs_label_plan(tbl regclass, text_column name, label_column name, labels text[],
                              batch_rows integer, scores_column name, trust_owner boolean,
                              OUT rel text, OUT relid oid, OUT by_ctid boolean,
                              OUT first_sql text, OUT next_sql text, OUT count_sql text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $plan$
DECLARE
    relkind "char";
    has_children boolean;
    col record;
    text_att int2;
    label_att int2;
    scores_att int2;
    base oid;
    -- The key: quoted expressions on t, a NULL of each one's type for zs_label_key (taken
    -- from the column itself: a type named in SQL could be renamed and replaced under us),
    -- and the btree operators of each.
    key_exprs text[];
    key_protos text[];
    key_lt text[];
    key_gt text[];
    key_eq text[];
    n_keys int4;
    gt_cond text;
    order_asc text;
    order_desc text;
    batch_cols text;
    keep_keys text;
    match_cond text;
    set_list text;
    sql_head text;
    sql_tail text;
BEGIN
    IF tbl IS NULL OR text_column IS NULL OR label_column IS NULL OR labels IS NULL OR trust_owner IS NULL THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: tbl, text_column, label_column, labels and trust_owner must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: batch_rows must be at least 1, got %', batch_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    relid := tbl;
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind INTO rel, relkind
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) relid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: relation with OID % does not exist', relid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: % is not a table', rel
            USING ERRCODE = 'wrong_object_type';
    END IF;

    -- The columns: they exist, and their types (or the base types of their domains) fit.
    FOR col IN
        SELECT v.role, v.colname, a.attnum, a.atttypid
          FROM (VALUES (1, text_column), (2, label_column), (3, scores_column)) AS v(role, colname)
          LEFT JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) relid AND a.attname OPERATOR(pg_catalog.=) v.colname
                AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         WHERE v.colname IS NOT NULL
         ORDER BY v.role
    LOOP
        IF col.attnum IS NULL THEN
            RAISE EXCEPTION 'pg_zeroshot: zs_label_table: column "%" of % does not exist', col.colname, rel
                USING ERRCODE = 'undefined_column';
        END IF;
        base := col.atttypid;
        WHILE (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) base) OPERATOR(pg_catalog.=) 'd' LOOP
            base := (SELECT t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) base);
        END LOOP;
        IF col.role = 1 AND base NOT IN ('pg_catalog.text'::pg_catalog.regtype::pg_catalog.oid, 'pg_catalog.varchar'::pg_catalog.regtype::pg_catalog.oid,
                                         'pg_catalog.bpchar'::pg_catalog.regtype::pg_catalog.oid) THEN
            RAISE EXCEPTION 'pg_zeroshot: zs_label_table: text column "%" of % is of type %, not text', col.colname, rel,
                    pg_catalog.format_type(col.atttypid, NULL)
                USING ERRCODE = 'datatype_mismatch', HINT = 'text, varchar, char or a domain over one of them.';
        ELSIF col.role = 2 AND base NOT IN ('pg_catalog.text'::pg_catalog.regtype::pg_catalog.oid, 'pg_catalog.varchar'::pg_catalog.regtype::pg_catalog.oid) THEN
            RAISE EXCEPTION 'pg_zeroshot: zs_label_table: label column "%" of % is of type %, not text', col.colname, rel,
                    pg_catalog.format_type(col.atttypid, NULL)
                USING ERRCODE = 'datatype_mismatch', HINT = 'text, varchar or a domain over one of them.';
        ELSIF col.role = 3 AND base OPERATOR(pg_catalog.<>) 'pg_catalog.jsonb'::pg_catalog.regtype::pg_catalog.oid THEN
            RAISE EXCEPTION 'pg_zeroshot: zs_label_table: scores column "%" of % is of type %, not jsonb', col.colname, rel,
                    pg_catalog.format_type(col.atttypid, NULL)
                USING ERRCODE = 'datatype_mismatch', HINT = 'jsonb or a domain over it.';
        END IF;
        CASE col.role WHEN 1 THEN text_att := col.attnum; WHEN 2 THEN label_att := col.attnum; ELSE scores_att := col.attnum; END CASE;
    END LOOP;
    IF text_att = label_att OR text_att = scores_att OR label_att = scores_att THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: the text, label and scores columns must be different columns'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The key: the primary key's columns with the operators of its index's opclasses, else
    -- (tableoid, ctid). Keyset pagination on it: each batch starts after the last key read,
    -- so the run ends even when rows are skipped (NULL text, changed since read). An
    -- inheritance parent's primary key does not cover its children's rows (they may repeat its
    -- values): (tableoid, ctid) there too.
    has_children := EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent OPERATOR(pg_catalog.=) relid);
    IF relkind = 'p' OR NOT has_children THEN
        SELECT pg_catalog.array_agg(pg_catalog.format('t.%I', a.attname) ORDER BY k.j),
               pg_catalog.array_agg(pg_catalog.format('(SELECT x.%I FROM %s AS x LIMIT 0)', a.attname, rel) ORDER BY k.j),
               pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', ltn.nspname, lto.oprname) ORDER BY k.j),
               pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', gtn.nspname, gto.oprname) ORDER BY k.j),
               pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', eqn.nspname, eqo.oprname) ORDER BY k.j)
          INTO key_exprs, key_protos, key_lt, key_gt, key_eq
          FROM pg_catalog.pg_index x
          CROSS JOIN LATERAL pg_catalog.generate_series(0, x.indnkeyatts - 1) AS k(j)
          JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) x.indrelid AND a.attnum OPERATOR(pg_catalog.=) x.indkey[k.j]
          JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) x.indclass[k.j]
          JOIN pg_catalog.pg_amop lt ON lt.amopfamily OPERATOR(pg_catalog.=) oc.opcfamily AND lt.amoplefttype OPERATOR(pg_catalog.=) oc.opcintype
                                    AND lt.amoprighttype OPERATOR(pg_catalog.=) oc.opcintype AND lt.amopstrategy = 1
          JOIN pg_catalog.pg_operator lto ON lto.oid OPERATOR(pg_catalog.=) lt.amopopr
          JOIN pg_catalog.pg_namespace ltn ON ltn.oid OPERATOR(pg_catalog.=) lto.oprnamespace
          JOIN pg_catalog.pg_amop gt ON gt.amopfamily OPERATOR(pg_catalog.=) oc.opcfamily AND gt.amoplefttype OPERATOR(pg_catalog.=) oc.opcintype
                                    AND gt.amoprighttype OPERATOR(pg_catalog.=) oc.opcintype AND gt.amopstrategy = 5
          JOIN pg_catalog.pg_operator gto ON gto.oid OPERATOR(pg_catalog.=) gt.amopopr
          JOIN pg_catalog.pg_namespace gtn ON gtn.oid OPERATOR(pg_catalog.=) gto.oprnamespace
          JOIN pg_catalog.pg_amop eq ON eq.amopfamily OPERATOR(pg_catalog.=) oc.opcfamily AND eq.amoplefttype OPERATOR(pg_catalog.=) oc.opcintype
                                    AND eq.amoprighttype OPERATOR(pg_catalog.=) oc.opcintype AND eq.amopstrategy = 3
          JOIN pg_catalog.pg_operator eqo ON eqo.oid OPERATOR(pg_catalog.=) eq.amopopr
          JOIN pg_catalog.pg_namespace eqn ON eqn.oid OPERATOR(pg_catalog.=) eqo.oprnamespace
         WHERE x.indrelid OPERATOR(pg_catalog.=) relid AND x.indisprimary;
    END IF;
    by_ctid := key_exprs IS NULL;
    IF by_ctid THEN
        IF relkind = 'r' AND NOT has_children THEN
            key_exprs := ARRAY['t.ctid'];
            key_protos := ARRAY['NULL::pg_catalog.tid'];
            key_lt := ARRAY['OPERATOR(pg_catalog.<)'];
            key_gt := ARRAY['OPERATOR(pg_catalog.>)'];
            key_eq := ARRAY['OPERATOR(pg_catalog.=)'];
        ELSE
            key_exprs := ARRAY['t.tableoid', 't.ctid'];
            key_protos := ARRAY['NULL::pg_catalog.oid', 'NULL::pg_catalog.tid'];
            key_lt := ARRAY['OPERATOR(pg_catalog.<)', 'OPERATOR(pg_catalog.<)'];
            key_gt := ARRAY['OPERATOR(pg_catalog.>)', 'OPERATOR(pg_catalog.>)'];
            key_eq := ARRAY['OPERATOR(pg_catalog.=)', 'OPERATOR(pg_catalog.=)'];
        END IF;
    END IF;
    n_keys := pg_catalog.array_length(key_exprs, 1);
    -- Privileges, before any work: SELECT on what is read, UPDATE on what is written.
    IF NOT pg_catalog.has_column_privilege(relid, text_att, 'SELECT')
       OR NOT pg_catalog.has_column_privilege(relid, label_att, 'SELECT')
       OR NOT pg_catalog.has_column_privilege(relid, label_att, 'UPDATE')
       OR (scores_att IS NOT NULL AND NOT pg_catalog.has_column_privilege(relid, scores_att, 'UPDATE'))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_index x, pg_catalog.unnest(x.indkey::pg_catalog.int2[]) AS k(attnum)
                   WHERE x.indrelid OPERATOR(pg_catalog.=) relid AND x.indisprimary
                     AND NOT pg_catalog.has_column_privilege(relid, k.attnum, 'SELECT')) THEN
        RAISE EXCEPTION 'pg_zeroshot: permission denied: zs_label_table on % needs SELECT on columns %, % and the primary key, and UPDATE on %',
                rel, pg_catalog.quote_ident(text_column), pg_catalog.quote_ident(label_column),
                pg_catalog.concat_ws(' and ', pg_catalog.quote_ident(label_column), pg_catalog.quote_ident(scores_column))
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- An UPDATE runs code as the caller: the table's triggers, its constraints, index
    -- expressions and row security policies (and whatever those call: other roles' views,
    -- functions, the support functions of column types), the checks of the written columns'
    -- domains. No catalog walk can prove that none of it belongs to another role (a first
    -- version tried, and a review got superuser through four kinds of code it missed), so a
    -- privileged caller runs it only when it says so: trust_owner => true.
    IF zeroshot.zs_label_caller_privileged() AND NOT trust_owner THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: an UPDATE of % runs its triggers, checks, index expressions and policies, and whatever they call, as you, a privileged role', rel
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Run it in a session logged in as the table''s owner, a role with no more privileges than the job needs (SET ROLE is no boundary: code can RESET ROLE), or pass trust_owner => true if you trust every role that owns the table, its schema, its partitions, or any code an UPDATE of it runs.';
    END IF;

    -- One statement per batch: read batch_rows rows after the last key, score them in one
    -- zs_classify_batch call, and write each label only where the row's text is still the
    -- text that was scored and its label still NULL (an UPDATE re-checks both on the row's
    -- newest version, so a row changed or deleted meanwhile is skipped, never given a stale
    -- label). Returns rows read, rows labelled, the transaction id of rows written but left
    -- NULL (by a trigger), and keeps the last key read (zs_label_key_keep).
    order_asc := '';
    order_desc := '';
    batch_cols := '';
    match_cond := '';
    keep_keys := '';
    FOR i IN 1 .. n_keys LOOP
        order_asc := order_asc || pg_catalog.format('%s%s USING %s', CASE WHEN i > 1 THEN ', ' END, key_exprs[i], key_lt[i]);
        order_desc := order_desc || pg_catalog.format('%sb.k%s USING %s', CASE WHEN i > 1 THEN ', ' END, i, key_gt[i]);
        batch_cols := batch_cols || pg_catalog.format('%s AS k%s, ', key_exprs[i], i);
        match_cond := match_cond || pg_catalog.format('%s %s s.k%s AND ', key_exprs[i], key_eq[i], i);
        keep_keys := keep_keys || pg_catalog.format(', zeroshot.zs_label_key_keep(%s, l.k%s)', i, i);
    END LOOP;
    IF n_keys = 1 THEN
        gt_cond := pg_catalog.format('%s %s zeroshot.zs_label_key(1, %s)', key_exprs[1], key_gt[1], key_protos[1]);
    ELSIF (SELECT pg_catalog.count(DISTINCT g) FROM pg_catalog.unnest(key_gt) AS g) = 1 THEN
        -- A row comparison, which an index scan on the key can start from.
        gt_cond := pg_catalog.format('ROW(%s) %s ROW(%s)', pg_catalog.array_to_string(key_exprs, ', '), key_gt[1],
                       (SELECT pg_catalog.string_agg(pg_catalog.format('zeroshot.zs_label_key(%s, %s)', j, key_protos[j]), ', ' ORDER BY j)
                          FROM pg_catalog.generate_series(1, n_keys) AS j));
    ELSE
        -- Operators of several schemas: the same order, spelled out.
        gt_cond := (SELECT pg_catalog.string_agg(
                        '(' || COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format('%s %s zeroshot.zs_label_key(%s, %s)', key_exprs[m], key_eq[m], m, key_protos[m]) || ' AND ', '' ORDER BY m)
                                  FROM pg_catalog.generate_series(1, j - 1) AS m), '')
                            || pg_catalog.format('%s %s zeroshot.zs_label_key(%s, %s)', key_exprs[j], key_gt[j], j, key_protos[j]) || ')',
                        ' OR ' ORDER BY j)
                      FROM pg_catalog.generate_series(1, n_keys) AS j);
    END IF;
    IF by_ctid THEN
        gt_cond := gt_cond || ' AND NOT (t.xmin OPERATOR(pg_catalog.=) ANY ($3))';
    END IF;
    set_list := pg_catalog.format('%I = s.new_label', label_column);
    IF scores_column IS NOT NULL THEN
        set_list := set_list || pg_catalog.format(', %I = s.new_scores', scores_column);
    END IF;
    sql_head := pg_catalog.format(
        'WITH batch AS MATERIALIZED ('
        '  SELECT %s t.%I::pg_catalog.text AS body FROM %s AS t'
        '  WHERE t.%I IS NULL AND t.%I IS NOT NULL AND ',
        batch_cols, text_column, rel, label_column, text_column);
    sql_tail := pg_catalog.format(
        '  ORDER BY %s LIMIT $1'
        '), numbered AS MATERIALIZED ('
        '  SELECT b.*, pg_catalog.row_number() OVER () AS ord FROM batch AS b'
        '), scored AS MATERIALIZED ('
        '  SELECT n.*, c.label AS new_label, c.scores AS new_scores'
        '  FROM numbered AS n JOIN zeroshot.zs_classify_batch('
        '    (SELECT pg_catalog.array_agg(n2.body ORDER BY n2.ord) FROM numbered AS n2), $2) AS c'
        '  ON c.ord::pg_catalog.int8 OPERATOR(pg_catalog.=) n.ord'
        '), written AS ('
        '  UPDATE %s AS t SET %s FROM scored AS s'
        '  WHERE %s t.%I IS NULL'
        '    AND t.%I::pg_catalog.text COLLATE pg_catalog."C" OPERATOR(pg_catalog.=) s.body'
        '  RETURNING t.%I IS NOT NULL AS labelled, t.xmin AS row_xmin'
        ')'
        ' SELECT (SELECT pg_catalog.count(*) FROM numbered), (SELECT pg_catalog.count(*) FROM written AS w WHERE w.labelled),'
        '        (SELECT w.row_xmin FROM written AS w WHERE NOT w.labelled LIMIT 1),'
        '        (SELECT pg_catalog.num_nulls(NULL%s) FROM (SELECT b.* FROM batch AS b ORDER BY %s LIMIT 1) AS l)',
        order_asc, rel, set_list, match_cond, label_column, text_column, label_column, keep_keys, order_desc);

    first_sql := sql_head || CASE WHEN by_ctid THEN 'NOT (t.xmin OPERATOR(pg_catalog.=) ANY ($3))' ELSE 'true' END || sql_tail;
    next_sql := sql_head || gt_cond || sql_tail;
    count_sql := format('SELECT pg_catalog.count(*) FROM %s AS t WHERE t.%I IS NULL AND t.%I IS NOT NULL',
                        rel, label_column, text_column);
END
$plan$;

-- Before each batch, in the batch's transaction: the table behind the name is still the one
-- the run started on (a DROP and CREATE by its schema's owner), under a ROW EXCLUSIVE lock on
-- the table and all its partitions and children (zs_label_lock_table: what the batch's UPDATE
-- takes anyway), which keeps them as they are until the batch commits.
CREATE FUNCTION zs_label_batch_guard(relid oid, rel text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $guard$
BEGIN
    PERFORM zeroshot.zs_label_lock_table(relid);
    IF to_regclass(rel) IS DISTINCT FROM relid::regclass THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: % is no longer the table the run started on', rel
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$guard$;

CREATE PROCEDURE zs_label_table(tbl regclass, text_column name, label_column name, labels text[],
                                batch_rows integer DEFAULT 256, scores_column name DEFAULT NULL,
                                trust_owner boolean DEFAULT false)
LANGUAGE plpgsql
AS $proc$
DECLARE
    -- A procedure that commits runs with the caller's search_path: every type here is
    -- qualified (looked up when the procedure is first compiled in a session), and every
    -- function and operator below is too, so that nothing in a schema another role can write
    -- is ever picked (zs_label_plan and zs_label_batch_guard, functions, have a fixed path).
    plan record;
    started_keys pg_catalog.bool := false;
    -- Rows a trigger kept NULL are written with these transaction ids; with ctid keys their
    -- new versions would come again after the last key read, and are not read again.
    kept_xids pg_catalog.xid[] := '{}';
    kept_xid pg_catalog.xid;
    token pg_catalog.uuid := pg_catalog.gen_random_uuid();
    run pg_catalog.int8;
    total pg_catalog.int8;
    done pg_catalog.int8 := 0;
    skipped pg_catalog.int8 := 0;
    n_read pg_catalog.int8;
    n_written pg_catalog.int8;
    t0 pg_catalog.timestamptz;
    last_notice pg_catalog.timestamptz;
    secs pg_catalog.float8;
    rate pg_catalog.float8;
    err_state pg_catalog.text;
    err_msg pg_catalog.text;
    err_detail pg_catalog.text;
BEGIN
    IF zeroshot.zs_in_transaction_block() THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table cannot run inside a transaction block'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'It commits after each batch: CALL it on its own, outside BEGIN ... COMMIT, outside an exception block, and not with other statements in one query string.';
    END IF;
    -- Fails (2D000) wherever else a commit is impossible, e.g. when called from a function,
    -- before any work is done.
    COMMIT;

    SELECT * INTO plan FROM zeroshot.zs_label_plan(tbl, text_column, label_column, labels, batch_rows,
                                                      scores_column, trust_owner);
    -- The labels are checked (and the model loaded) before the first batch.
    PERFORM pg_catalog.count(*) FROM zeroshot.zs_classify_batch(ARRAY[]::pg_catalog.text[], labels);
    PERFORM zeroshot.zs_label_batch_guard(plan.relid, plan.rel);
    EXECUTE plan.count_sql INTO total;
    run := zeroshot.zs_label_run_start(tbl, text_column, label_column, scores_column, labels, batch_rows,
                                          total, current_user, token);
    PERFORM zeroshot.zs_label_key_reset();
    COMMIT;
    t0 := pg_catalog.clock_timestamp();
    last_notice := t0;

    -- One statement per batch (zs_label_plan says what it does), each in a transaction of its
    -- own; an error rolls the batch back and is recorded in its place.
    LOOP
        BEGIN
            PERFORM zeroshot.zs_label_batch_guard(plan.relid, plan.rel);
            EXECUTE CASE WHEN started_keys THEN plan.next_sql ELSE plan.first_sql END
               INTO n_read, n_written, kept_xid USING batch_rows, labels, kept_xids;
            done := done OPERATOR(pg_catalog.+) n_written;
            skipped := skipped OPERATOR(pg_catalog.+) (n_read OPERATOR(pg_catalog.-) n_written);
            IF n_read OPERATOR(pg_catalog.>) 0 THEN
                PERFORM zeroshot.zs_label_run_progress(run, token, done, skipped);
            END IF;
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_msg = MESSAGE_TEXT,
                                    err_detail = PG_EXCEPTION_DETAIL;
            PERFORM zeroshot.zs_label_run_finish(run, token, done, skipped, err_state, err_msg);
        END;
        COMMIT;
        EXIT WHEN err_state IS NOT NULL OR n_read OPERATOR(pg_catalog.=) 0;
        started_keys := true;
        IF plan.by_ctid AND kept_xid IS NOT NULL THEN
            kept_xids := pg_catalog.array_append(kept_xids, kept_xid);
        END IF;
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) last_notice OPERATOR(pg_catalog.>=) '5 seconds'::pg_catalog.interval THEN
            last_notice := pg_catalog.clock_timestamp();
            secs := pg_catalog.date_part('epoch', last_notice OPERATOR(pg_catalog.-) t0);
            rate := done::pg_catalog.float8 OPERATOR(pg_catalog./) GREATEST(secs, 1e-6::pg_catalog.float8);
            total := GREATEST(total, done OPERATOR(pg_catalog.+) skipped);
            RAISE NOTICE 'pg_zeroshot: zs_label_table run %: % of % rows labelled (% %%), % rows/s, about % s left',
                run, done, total,
                pg_catalog.round(((100::pg_catalog.float8 OPERATOR(pg_catalog.*) (done OPERATOR(pg_catalog.+) skipped)::pg_catalog.float8)
                                  OPERATOR(pg_catalog./) GREATEST(total, 1)::pg_catalog.float8)::pg_catalog.numeric, 1),
                pg_catalog.round(rate::pg_catalog.numeric, 2),
                CASE WHEN rate OPERATOR(pg_catalog.>) 0::pg_catalog.float8
                     THEN pg_catalog.round(((total OPERATOR(pg_catalog.-) done OPERATOR(pg_catalog.-) skipped)::pg_catalog.float8
                                            OPERATOR(pg_catalog./) rate)::pg_catalog.numeric)::pg_catalog.text
                     ELSE '?' END;
        END IF;
    END LOOP;
    PERFORM zeroshot.zs_label_key_reset();

    IF err_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', CASE WHEN err_detail OPERATOR(pg_catalog.<>) '' THEN err_detail END,
                pg_catalog.format('zs_label_table run %s stopped after %s rows labelled; its batches so far are committed, and zs_label_runs says so.',
                                  run, done)),
            HINT = 'CALL zs_label_table again with the same arguments to resume.';
    END IF;
    PERFORM zeroshot.zs_label_run_finish(run, token, done, skipped, NULL, NULL);
    secs := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0);
    RAISE NOTICE 'pg_zeroshot: zs_label_table run % done: % rows labelled, % skipped (changed meanwhile, hidden by a row security policy, or left NULL by a trigger), in % s, % rows/s',
        run, done, skipped, pg_catalog.round(secs::pg_catalog.numeric, 1),
        pg_catalog.round((done::pg_catalog.float8 OPERATOR(pg_catalog./) GREATEST(secs, 1e-6::pg_catalog.float8))::pg_catalog.numeric, 2);
END
$proc$;

-- Default privileges (ALTER DEFAULT PRIVILEGES of the installing role, or of the schema) may
-- have granted the run log, its sequence or its view to other roles as they were made; only
-- the grants above stand.
DO $acl$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT DISTINCT c.oid::pg_catalog.regclass AS obj,
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END AS grantee
          FROM pg_catalog.pg_class c
         CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a
          LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'zeroshot'::pg_catalog.regnamespace
           AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', g.obj, g.grantee);
    END LOOP;
END
$acl$;
GRANT SELECT ON zs_label_runs TO PUBLIC;

COMMENT ON PROCEDURE zs_label_table(regclass, name, name, text[], integer, name, boolean) IS
    'pg_zeroshot: labels the rows whose label column is NULL, batch_rows at a time, committing after each batch; resumable';
-- ---- end of 0.2.0's sql/zs_label_table.sql ---------------------------------------------------

-- 0.1.0's runs, into 0.2.0's log (above), with their run ids; the sequence goes on from 0.1.0's.
INSERT INTO zeroshot.zs_label_run_log
       (run_id, table_name, text_column, label_column, scores_column, labels, batch_rows, run_by,
        backend_pid, backend_start, session_token, status, started, updated, rows_total, rows_done,
        rows_skipped, rows_per_s, finished, seconds, error)
SELECT r.run_id, r.table_name, r.text_column, r.label_column, r.scores_column, r.labels,
       GREATEST(r.batch_rows, 1), r.run_by, r.backend_pid, NULL, pg_catalog.gen_random_uuid(),
       r.status, r.started, r.updated, GREATEST(r.rows_total, 0), GREATEST(r.rows_done, 0),
       GREATEST(r.rows_skipped, 0), r.rows_per_s, r.finished, r.seconds, r.error
  FROM @extschema@.zs_label_runs_0_1_0 r
 ORDER BY r.run_id;
SELECT pg_catalog.setval('zeroshot.zs_label_run_log_run_id_seq', s.last_value, s.is_called)
  FROM @extschema@.zs_label_runs_run_id_seq s;
-- 0.1.0's table and sequence leave the extension first (which also takes them off the list
-- of tables pg_dump dumps the rows of), then go.
ALTER EXTENSION pg_zeroshot DROP SEQUENCE @extschema@.zs_label_runs_run_id_seq;
ALTER EXTENSION pg_zeroshot DROP TABLE @extschema@.zs_label_runs_0_1_0;
DROP TABLE @extschema@.zs_label_runs_0_1_0;
