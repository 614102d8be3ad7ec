-- zs_label_table: labels the rows of a table whose label column is NULL, batch by batch
-- through zs_classify_batch, committing after each batch; zs_label_runs: one row per run,
-- updated at each commit. README "Labelling an existing table" says how to use them.
--
-- search_path: a procedure that commits can have neither a SET clause nor SECURITY DEFINER,
-- so zs_label_table runs with the caller's search_path. Every function it calls is
-- schema-qualified, every identifier it writes into SQL is quoted (%I) from the catalogs, and
-- every operator whose argument types pg_catalog does not match exactly is written as
-- OPERATOR(schema.op): a user who can create objects in a schema on the caller's path cannot
-- make it run theirs. The run-log helpers are SECURITY DEFINER with a fixed search_path.

-- One row per run. Readable by everyone (it names tables, columns and labels, nothing of the
-- rows); written only by the helpers below, each of which touches only the runs of the
-- backend that calls it.
CREATE TABLE zs_label_runs (
    run_id        bigserial PRIMARY KEY,
    table_name    text NOT NULL,
    text_column   name NOT NULL,
    label_column  name NOT NULL,
    scores_column name,
    labels        text[] NOT NULL,
    batch_rows    integer NOT NULL,
    run_by        name NOT NULL,
    backend_pid   integer NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'abandoned')),
    started       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    rows_total    bigint NOT NULL,
    rows_done     bigint NOT NULL DEFAULT 0,
    rows_skipped  bigint NOT NULL DEFAULT 0,
    rows_per_s    double precision,
    finished      timestamptz,
    seconds       double precision,
    error         text
);
COMMENT ON TABLE zs_label_runs IS
    'pg_zeroshot: one row per zs_label_table run, updated at each commit';
REVOKE ALL ON zs_label_runs FROM PUBLIC;
GRANT SELECT ON zs_label_runs TO PUBLIC;
REVOKE ALL ON SEQUENCE zs_label_runs_run_id_seq FROM PUBLIC;
-- pg_dump keeps the runs (and the sequence, so that run ids go on after a restore).
SELECT pg_catalog.pg_extension_config_dump('zs_label_runs', '');
SELECT pg_catalog.pg_extension_config_dump('zs_label_runs_run_id_seq', '');

-- Starts a run: checks that run_by is the caller (a role the session may become) and may
-- UPDATE the label column, marks runs whose backend no longer runs them as abandoned (a
-- crash or pg_terminate_backend leaves them 'running'), and returns the new run's id.
CREATE FUNCTION zs_label_run_start(tbl regclass, text_column name, label_column name, scores_column name,
                                   labels text[], batch_rows integer, rows_total bigint, run_by name)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    now_ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF run_by IS NULL OR NOT pg_catalog.pg_has_role(session_user, run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_run_start: % is not the calling role', run_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_catalog.has_column_privilege(run_by, tbl::pg_catalog.oid, label_column::pg_catalog.text, 'UPDATE') THEN
        RAISE EXCEPTION 'pg_zeroshot: permission denied: % may not UPDATE column % of %', run_by, label_column, tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE @extschema@.zs_label_runs r
       SET status = 'abandoned', finished = r.updated,
           seconds = pg_catalog.date_part('epoch', r.updated - r.started),
           error = 'the backend stopped running it without finishing (terminated, crashed, or an error between batches)'
     WHERE r.finished IS NULL
       -- Still running it: its backend is alive and busy with a statement that began before the
       -- run (the CALL). With track_activities off (state 'disabled') it cannot tell: not marked.
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                        WHERE a.pid = r.backend_pid AND a.backend_start <= r.started
                          AND (a.state IS NULL OR a.state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)'))
                          AND (a.query_start IS NULL OR a.query_start <= r.started));
    INSERT INTO @extschema@.zs_label_runs (table_name, text_column, label_column, scores_column, labels,
                                           batch_rows, run_by, backend_pid, started, updated, rows_total)
    VALUES (tbl::pg_catalog.text, text_column, label_column, scores_column, labels,
            batch_rows, run_by, pg_catalog.pg_backend_pid(), now_ts, now_ts, rows_total)
    RETURNING run_id INTO id;
    RETURN id;
END
$$;

-- Progress of a running run of this backend (in the batch's transaction, so that it commits
-- with the batch).
CREATE FUNCTION zs_label_run_progress(run_id bigint, rows_done bigint, rows_skipped bigint)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE @extschema@.zs_label_runs r
       SET rows_done = $2, rows_skipped = $3,
           rows_total = GREATEST(r.rows_total, $2 + $3),
           updated = pg_catalog.clock_timestamp(),
           rows_per_s = $2 / NULLIF(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started), 0)
     WHERE r.run_id = $1 AND r.backend_pid = pg_catalog.pg_backend_pid() AND r.finished IS NULL
$$;

-- The end of a run of this backend: totals and time; the error (SQLSTATE and message) if
-- it stopped on one ('cancelled' for 57014: cancel or statement_timeout).
CREATE FUNCTION zs_label_run_finish(run_id bigint, rows_done bigint, rows_skipped bigint,
                                    error_sqlstate text, error_message text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE @extschema@.zs_label_runs r
       SET rows_done = $2, rows_skipped = $3,
           rows_total = CASE WHEN $4 IS NULL THEN $2 + $3 ELSE GREATEST(r.rows_total, $2 + $3) END,
           updated = pg_catalog.clock_timestamp(),
           finished = pg_catalog.clock_timestamp(),
           seconds = pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started),
           rows_per_s = $2 / NULLIF(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - r.started), 0),
           status = CASE WHEN $4 IS NULL THEN 'done' WHEN $4 = '57014' THEN 'cancelled' ELSE 'failed' END,
           error = CASE WHEN $4 IS NULL THEN NULL ELSE $4 || ': ' || $5 END
     WHERE r.run_id = $1 AND r.backend_pid = pg_catalog.pg_backend_pid() AND r.finished IS NULL
$$;

CREATE PROCEDURE zs_label_table(tbl regclass, text_column name, label_column name, labels text[],
                                batch_rows integer DEFAULT 256, scores_column name DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
    relid pg_catalog.oid;
    rel text;                 -- schema.table, quoted
    relkind "char";
    has_children boolean;
    col record;
    text_att pg_catalog.int2;
    label_att pg_catalog.int2;
    scores_att pg_catalog.int2;
    base pg_catalog.oid;
    -- The key: quoted expressions on t, qualified types, and the btree operators of each.
    key_exprs text[];
    key_types text[];
    key_lt text[];
    key_gt text[];
    key_eq text[];
    n_keys integer;
    i integer;
    gt_cond text;
    order_asc text;
    order_desc text;
    batch_cols text;
    last_key_expr text;
    match_cond text;
    set_list text;
    sql_head text;
    sql_tail text;
    batch_sql text;
    last_key text[];
    new_key text[];
    run bigint;
    total bigint;
    done bigint := 0;
    skipped bigint := 0;
    n_read bigint;
    n_written bigint;
    t0 timestamptz;
    last_notice timestamptz;
    secs double precision;
    rate double precision;
    err_state text;
    err_msg text;
    err_detail text;
BEGIN
    IF @extschema@.zs_in_transaction_block() THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table cannot run inside a transaction block'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'It commits after each batch: CALL it on its own, outside BEGIN ... COMMIT, outside an exception block, and not with other statements in one query string.';
    END IF;
    -- Fails (2D000) wherever else a commit is impossible, e.g. when called from a function,
    -- before any work is done.
    COMMIT;

    IF tbl IS NULL OR text_column IS NULL OR label_column IS NULL OR labels IS NULL THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: tbl, text_column, label_column and labels must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_table: batch_rows must be at least 1, got %', batch_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    relid := tbl;
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind INTO rel, relkind
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = relid;
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
                 ON a.attrelid = relid AND a.attname = v.colname AND a.attnum > 0 AND NOT a.attisdropped
         WHERE v.colname IS NOT NULL
         ORDER BY v.role
    LOOP
        IF col.attnum IS NULL THEN
            RAISE EXCEPTION 'pg_zeroshot: zs_label_table: column "%" of % does not exist', col.colname, rel
                USING ERRCODE = 'undefined_column';
        END IF;
        base := col.atttypid;
        WHILE (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = base) = 'd' LOOP
            base := (SELECT t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = base);
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
        ELSIF col.role = 3 AND base <> 'pg_catalog.jsonb'::pg_catalog.regtype::pg_catalog.oid THEN
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
    -- so the run ends even when rows are skipped (NULL text, changed since read).
    SELECT pg_catalog.array_agg(pg_catalog.format('t.%I', a.attname) ORDER BY k.j),
           pg_catalog.array_agg(pg_catalog.format('%I.%I', tn.nspname, ty.typname) ORDER BY k.j),
           pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', ltn.nspname, lto.oprname) ORDER BY k.j),
           pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', gtn.nspname, gto.oprname) ORDER BY k.j),
           pg_catalog.array_agg(pg_catalog.format('OPERATOR(%I.%s)', eqn.nspname, eqo.oprname) ORDER BY k.j)
      INTO key_exprs, key_types, key_lt, key_gt, key_eq
      FROM pg_catalog.pg_index x
      CROSS JOIN LATERAL pg_catalog.generate_series(0, x.indnkeyatts - 1) AS k(j)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k.j]
      JOIN pg_catalog.pg_opclass oc ON oc.oid = x.indclass[k.j]
      JOIN pg_catalog.pg_type ty ON ty.oid = oc.opcintype
      JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace
      JOIN pg_catalog.pg_amop lt ON lt.amopfamily = oc.opcfamily AND lt.amoplefttype = oc.opcintype
                                AND lt.amoprighttype = oc.opcintype AND lt.amopstrategy = 1
      JOIN pg_catalog.pg_operator lto ON lto.oid = lt.amopopr
      JOIN pg_catalog.pg_namespace ltn ON ltn.oid = lto.oprnamespace
      JOIN pg_catalog.pg_amop gt ON gt.amopfamily = oc.opcfamily AND gt.amoplefttype = oc.opcintype
                                AND gt.amoprighttype = oc.opcintype AND gt.amopstrategy = 5
      JOIN pg_catalog.pg_operator gto ON gto.oid = gt.amopopr
      JOIN pg_catalog.pg_namespace gtn ON gtn.oid = gto.oprnamespace
      JOIN pg_catalog.pg_amop eq ON eq.amopfamily = oc.opcfamily AND eq.amoplefttype = oc.opcintype
                                AND eq.amoprighttype = oc.opcintype AND eq.amopstrategy = 3
      JOIN pg_catalog.pg_operator eqo ON eqo.oid = eq.amopopr
      JOIN pg_catalog.pg_namespace eqn ON eqn.oid = eqo.oprnamespace
     WHERE x.indrelid = relid AND x.indisprimary;
    IF key_exprs IS NULL THEN
        has_children := EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = relid);
        IF relkind = 'r' AND NOT has_children THEN
            key_exprs := ARRAY['t.ctid'];
            key_types := ARRAY['pg_catalog.tid'];
            key_lt := ARRAY['OPERATOR(pg_catalog.<)'];
            key_gt := ARRAY['OPERATOR(pg_catalog.>)'];
            key_eq := ARRAY['OPERATOR(pg_catalog.=)'];
        ELSE
            key_exprs := ARRAY['t.tableoid', 't.ctid'];
            key_types := ARRAY['pg_catalog.oid', 'pg_catalog.tid'];
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
                   WHERE x.indrelid = relid AND x.indisprimary
                     AND NOT pg_catalog.has_column_privilege(relid, k.attnum, 'SELECT')) THEN
        RAISE EXCEPTION 'pg_zeroshot: permission denied: zs_label_table on % needs SELECT on columns %, % and the primary key, and UPDATE on %',
                rel, pg_catalog.quote_ident(text_column), pg_catalog.quote_ident(label_column),
                pg_catalog.concat_ws(' and ', pg_catalog.quote_ident(label_column), pg_catalog.quote_ident(scores_column))
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- The labels are checked (and the model loaded) before the first batch.
    PERFORM pg_catalog.count(*) FROM @extschema@.zs_classify_batch(ARRAY[]::text[], labels);

    -- One statement per batch: read batch_rows rows after the last key, score them in one
    -- zs_classify_batch call, and write each label only where the row's text is still the
    -- text that was scored and its label still NULL (an UPDATE re-checks both on the row's
    -- newest version, so a row changed or deleted meanwhile is skipped, never given a stale
    -- label). Returns rows read, rows written and the last key read, as text.
    order_asc := '';
    order_desc := '';
    batch_cols := '';
    match_cond := '';
    last_key_expr := '';
    FOR i IN 1 .. n_keys LOOP
        order_asc := order_asc || pg_catalog.format('%s%s USING %s', CASE WHEN i > 1 THEN ', ' END, key_exprs[i], key_lt[i]);
        order_desc := order_desc || pg_catalog.format('%sb.k%s USING %s', CASE WHEN i > 1 THEN ', ' END, i, key_gt[i]);
        batch_cols := batch_cols || pg_catalog.format('%s AS k%s, ', key_exprs[i], i);
        match_cond := match_cond || pg_catalog.format('%s %s s.k%s AND ', key_exprs[i], key_eq[i], i);
        last_key_expr := last_key_expr || pg_catalog.format('%sb.k%s::pg_catalog.text', CASE WHEN i > 1 THEN ', ' END, i);
    END LOOP;
    IF n_keys = 1 THEN
        gt_cond := pg_catalog.format('%s %s $1[1]::%s', key_exprs[1], key_gt[1], key_types[1]);
    ELSIF (SELECT pg_catalog.count(DISTINCT g) FROM pg_catalog.unnest(key_gt) AS g) = 1 THEN
        -- A row comparison, which an index scan on the key can start from.
        gt_cond := pg_catalog.format('ROW(%s) %s ROW(%s)', pg_catalog.array_to_string(key_exprs, ', '), key_gt[1],
                       (SELECT pg_catalog.string_agg(pg_catalog.format('$1[%s]::%s', j, key_types[j]), ', ' ORDER BY j)
                          FROM pg_catalog.generate_series(1, n_keys) AS j));
    ELSE
        -- Operators of several schemas: the same order, spelled out.
        gt_cond := (SELECT pg_catalog.string_agg(
                        '(' || COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format('%s %s $1[%s]::%s', key_exprs[m], key_eq[m], m, key_types[m]) || ' AND ', '' ORDER BY m)
                                  FROM pg_catalog.generate_series(1, j - 1) AS m), '')
                            || pg_catalog.format('%s %s $1[%s]::%s', key_exprs[j], key_gt[j], j, key_types[j]) || ')',
                        ' OR ' ORDER BY j)
                      FROM pg_catalog.generate_series(1, n_keys) AS j);
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
        '  ORDER BY %s LIMIT $2'
        '), numbered AS MATERIALIZED ('
        '  SELECT b.*, pg_catalog.row_number() OVER () AS ord FROM batch AS b'
        '), scored AS MATERIALIZED ('
        '  SELECT n.*, c.label AS new_label, c.scores AS new_scores'
        '  FROM numbered AS n JOIN @extschema@.zs_classify_batch('
        '    (SELECT pg_catalog.array_agg(n2.body ORDER BY n2.ord) FROM numbered AS n2), $3) AS c'
        '  ON c.ord::pg_catalog.int8 OPERATOR(pg_catalog.=) n.ord'
        '), written AS ('
        '  UPDATE %s AS t SET %s FROM scored AS s'
        '  WHERE %s t.%I IS NULL'
        '    AND t.%I::pg_catalog.text COLLATE pg_catalog."C" OPERATOR(pg_catalog.=) s.body'
        '  RETURNING 1'
        ')'
        ' SELECT (SELECT pg_catalog.count(*) FROM numbered), (SELECT pg_catalog.count(*) FROM written),'
        '        (SELECT ARRAY[%s] FROM batch AS b ORDER BY %s LIMIT 1)',
        order_asc, rel, set_list, match_cond, label_column, text_column, last_key_expr, order_desc);

    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s AS t WHERE t.%I IS NULL AND t.%I IS NOT NULL',
                              rel, label_column, text_column) INTO total;
    run := @extschema@.zs_label_run_start(tbl, text_column, label_column, scores_column, labels, batch_rows,
                                          total, current_user);
    COMMIT;
    t0 := pg_catalog.clock_timestamp();
    last_notice := t0;

    LOOP
        batch_sql := sql_head || CASE WHEN last_key IS NULL THEN 'true' ELSE gt_cond END || sql_tail;
        BEGIN
            EXECUTE batch_sql INTO n_read, n_written, new_key USING last_key, batch_rows, labels;
            done := done + n_written;
            skipped := skipped + (n_read - n_written);
            IF n_read > 0 THEN
                PERFORM @extschema@.zs_label_run_progress(run, done, skipped);
            END IF;
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            -- The batch is rolled back; record the error in its place and commit that, then
            -- raise it again.
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_msg = MESSAGE_TEXT,
                                    err_detail = PG_EXCEPTION_DETAIL;
            PERFORM @extschema@.zs_label_run_finish(run, done, skipped, err_state, err_msg);
        END;
        COMMIT;
        EXIT WHEN err_state IS NOT NULL OR n_read = 0;
        last_key := new_key;
        IF pg_catalog.clock_timestamp() - last_notice >= interval '5 seconds' THEN
            last_notice := pg_catalog.clock_timestamp();
            secs := pg_catalog.date_part('epoch', last_notice - t0);
            rate := done::pg_catalog.float8 / GREATEST(secs, 1e-6::pg_catalog.float8);
            total := GREATEST(total, done + skipped);
            RAISE NOTICE 'pg_zeroshot: zs_label_table run %: % of % rows labelled (% %%), % rows/s, about % s left',
                run, done, total,
                pg_catalog.round((100::pg_catalog.float8 * (done + skipped)::pg_catalog.float8
                                  / GREATEST(total, 1)::pg_catalog.float8)::pg_catalog.numeric, 1),
                pg_catalog.round(rate::pg_catalog.numeric, 2),
                CASE WHEN rate > 0::pg_catalog.float8
                     THEN pg_catalog.round(((total - done - skipped)::pg_catalog.float8 / rate)::pg_catalog.numeric)::text
                     ELSE '?' END;
        END IF;
    END LOOP;

    IF err_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(err_detail, ''),
                pg_catalog.format('zs_label_table run %s stopped after %s rows labelled; its batches so far are committed, and zs_label_runs says so.',
                                  run, done)),
            HINT = 'CALL zs_label_table again with the same arguments to resume.';
    END IF;
    PERFORM @extschema@.zs_label_run_finish(run, done, skipped, NULL, NULL);
    secs := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - t0);
    RAISE NOTICE 'pg_zeroshot: zs_label_table run % done: % rows labelled, % skipped (changed or labelled meanwhile), in % s, % rows/s',
        run, done, skipped, pg_catalog.round(secs::pg_catalog.numeric, 1),
        pg_catalog.round((done::pg_catalog.float8 / GREATEST(secs, 1e-6::pg_catalog.float8))::pg_catalog.numeric, 2);
END
$proc$;

COMMENT ON PROCEDURE zs_label_table(regclass, name, name, text[], integer, name) IS
    'pg_zeroshot: labels the rows whose label column is NULL, batch_rows at a time, committing after each batch; resumable';
