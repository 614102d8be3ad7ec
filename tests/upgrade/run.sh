#!/usr/bin/env bash
# ALTER EXTENSION pg_zeroshot UPDATE from 0.1.0 to 0.2.0, and pg_dump / restore, on a temporary
# cluster with the installed extension (scripts/install-extension, which installs the released
# 0.1.0 script and sql/pg_zeroshot--0.1.0--0.2.0.sql beside 0.2.0's):
#   1. a server as the 0.1.0 package left it (0.1.0's control file: no fixed schema, so
#      CREATE EXTENSION installs into public): a table labelled by zs_label_trigger, a
#      materialized view over zs_classify_scores, zs_label_table runs in zs_label_runs, a plain
#      role using them;
#   2. the package upgraded (0.2.0's control file and scripts, as scripts/install-extension
#      installs them) and ALTER EXTENSION pg_zeroshot UPDATE: everything moved to zeroshot,
#      nothing left in public, the extension's objects (members, definitions, privileges,
#      dependencies) the same as a fresh 0.2.0 CREATE EXTENSION's; the trigger, the view, the
#      run log and zs_label_table work; no row changed;
#   3. the update refused, and nothing changed, where a zeroshot schema is not safe (owned by
#      or open to a plain role, or holding other objects) or a user's view reads 0.1.0's run
#      log table; accepted once fixed;
#   4. 0.1.0 installed with 0.2.0's control file (it lands in zeroshot) and updated in place;
#   5. pg_dump of the updated database (custom format, pg_restore) and of a fresh 0.2.0 one
#      with the same objects (plain, psql) restored into new databases: the extension, the
#      trigger, the view, the run log (pg_extension_config_dump) and its sequence come back.
# The library is 0.2.0's throughout: 0.1.0's SQL runs on it as a user's does between the package
# upgrade and ALTER EXTENSION UPDATE. Prints "upgrade: N passed, M failed"; exits non-zero on a
# failure.
set -euo pipefail
# Unqualified calls find the functions in public (0.1.0) or zeroshot (0.2.0); warnings (the
# test model's random weights) stay out of the outputs the checks compare.
export PGOPTIONS="-c search_path=public,zeroshot -c client_min_messages=error"
. "$(dirname "$0")/../../scripts/common.sh"
port=${ZS_UPGRADE_TEST_PORT:-54339}
real_pg_config=$PG_CONFIG
bindir=$("$real_pg_config" --bindir)
sharedir=$("$real_pg_config" --sharedir)
pkglibdir=$("$real_pg_config" --pkglibdir)
for f in pg_zeroshot--0.1.0.sql pg_zeroshot--0.1.0--0.2.0.sql pg_zeroshot--0.2.0.sql pg_zeroshot.control; do
  if [ ! -f "$sharedir/extension/$f" ]; then
    echo "upgrade: $sharedir/extension/$f is missing (scripts/install-extension installs it)"; exit 1
  fi
done
work=$(mktemp -d /tmp/pg_zeroshot_upgrade.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# A PostgreSQL installation of its own, the same files as the real one, so that its extension
# folder can be the 0.1.0 package's and then the upgraded one's. PostgreSQL finds its share and
# library folders relative to its own program (a copy, not a link, which it would resolve).
root=$work/root
ext=$root$sharedir/extension
mkdir -p "$root$bindir" "$root$pkglibdir" "$ext"
cp "$bindir/postgres" "$bindir/pg_ctl" "$bindir/initdb" "$root$bindir/"
for f in "$pkglibdir"/*; do ln -s "$f" "$root$pkglibdir/"; done
for f in "$sharedir"/*; do [ "${f##*/}" = extension ] || ln -s "$f" "$root$sharedir/"; done
for f in "$sharedir"/extension/*; do
  case ${f##*/} in pg_zeroshot.control | pg_zeroshot--*) ;; *) ln -s "$f" "$ext/" ;; esac
done
# The 0.1.0 package: its control file (commit d2a7ada's, version filled in) and install script.
cat > "$ext/pg_zeroshot.control" <<'EOF'
comment = 'Zero-shot classification of Chinese text with mT5 in ONNX Runtime'
default_version = '0.1.0'
module_pathname = '$libdir/pg_zeroshot'
relocatable = false
superuser = true
trusted = false
encoding = UTF8
EOF
install -m 0644 "$sharedir/extension/pg_zeroshot--0.1.0.sql" "$ext/"
# cluster.sh takes its programs from `$PG_CONFIG --bindir`: this installation's.
cat > "$work/pg_config" <<EOF
#!/bin/sh
if [ "\$1" = --bindir ]; then echo "$root$bindir"; else exec "$real_pg_config" "\$@"; fi
EOF
chmod 755 "$work/pg_config"
PG_CONFIG=$work/pg_config
. "$REPO/scripts/cluster.sh"
cluster_start "$port"
trap 'cluster_stop; rm -rf "$work"' EXIT
# A working directory psql may enter (CI's clone need not be one for postgres).
cd "$CLUSTER_DIR"
t0=$(date +%s)

psql_() { # DB, then psql arguments
  local db=$1; shift
  psql -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER_HOST" -p "$port" -U postgres -d "$db" "$@"
}
q() { psql_ "$1" -At -c "$2"; }
passed=0
failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($3)"; else failed=$((failed + 1)); echo "FAIL $1 ($3)"; fi
}
same() { # same NAME GOT WANT
  if [ "$2" = "$3" ]; then check "$1" 0 "$(printf '%s' "$2" | head -c 100 | tr '\n' ' ')"
  else check "$1" 1 "got '$(printf '%s' "$2" | tr '\n' ' ')', want '$(printf '%s' "$3" | tr '\n' ' ')'"; fi
}
labels='{物流问题,商品质量,售后体验}'

# Everything that makes up the extension in a database, without OIDs, for diff: the extension
# row and what it depends on, its members, and for each member and what is part of one (the
# table's index, constraints, row types, the view's rule): definitions, owners, privileges and
# initial privileges, comments, dependencies; and the schema zeroshot.
describe() { # DB
  psql_ "$1" -At <<'SQL'
SET search_path = pg_catalog;
WITH RECURSIVE e AS (SELECT x.* FROM pg_extension x WHERE x.extname = 'pg_zeroshot'),
ours(classid, objid) AS (
    SELECT d.classid, d.objid FROM pg_depend d, e
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
  UNION
    SELECT d.classid, d.objid FROM pg_depend d JOIN ours o ON d.refclassid = o.classid AND d.refobjid = o.objid
     WHERE d.deptype IN ('i', 'a')),
rels AS (SELECT c.* FROM pg_class c JOIN ours o ON o.classid = 'pg_class'::regclass AND o.objid = c.oid)
SELECT line FROM (
  SELECT format('extension %s %s schema %s owner %s relocatable %s config %s conditions %s',
                e.extname, e.extversion, e.extnamespace::regnamespace, e.extowner::regrole, e.extrelocatable,
                (SELECT string_agg(c::regclass::text, ',' ORDER BY n) FROM unnest(e.extconfig) WITH ORDINALITY AS u(c, n)),
                e.extcondition) FROM e
  UNION ALL
  SELECT format('extension depends on %s (%s)', pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
    FROM pg_depend d, e WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid
  UNION ALL
  SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
    FROM pg_depend d, e WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
  UNION ALL
  SELECT format('dependency %s -> %s (%s)', pg_describe_object(d.classid, d.objid, d.objsubid),
                pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
    FROM pg_depend d JOIN ours o ON d.classid = o.classid AND d.objid = o.objid
  UNION ALL
  SELECT format(E'routine %s owner %s acl %s leakproof %s comment %s\n%s', p.oid::regprocedure, p.proowner::regrole,
                p.proacl, p.proleakproof, obj_description(p.oid, 'pg_proc'), pg_get_functiondef(p.oid))
    FROM pg_proc p JOIN ours o ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
  UNION ALL
  SELECT format('relation %s kind %s owner %s acl %s options %s persistence %s comment %s', c.oid::regclass, c.relkind,
                c.relowner::regrole, c.relacl, c.reloptions, c.relpersistence, obj_description(c.oid, 'pg_class'))
    FROM rels c
  UNION ALL
  SELECT format('column %s.%s %s %s not null %s default %s acl %s', a.attrelid::regclass, a.attnum, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attacl)
    FROM pg_attribute a JOIN rels c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s %s %s', x.conrelid::regclass, x.conname, pg_get_constraintdef(x.oid))
    FROM pg_constraint x JOIN rels c ON c.oid = x.conrelid
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM pg_index i JOIN rels c ON c.oid = i.indrelid
  UNION ALL
  SELECT format(E'view %s\n%s', c.oid::regclass, pg_get_viewdef(c.oid)) FROM rels c WHERE c.relkind = 'v'
  UNION ALL
  SELECT format('sequence %s %s start %s increment %s max %s min %s cache %s cycle %s', s.seqrelid::regclass,
                s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
    FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
  UNION ALL
  SELECT format('type %s kind %s owner %s acl %s', t.oid::regtype, t.typtype, t.typowner::regrole, t.typacl)
    FROM pg_type t WHERE t.typnamespace = 'zeroshot'::regnamespace
  UNION ALL
  SELECT format('initial privileges of %s (%s) %s', pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs)
    FROM pg_init_privs i
   WHERE (i.classoid, i.objoid) IN (SELECT classid, objid FROM ours)
      OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = 'zeroshot'::regnamespace)
  UNION ALL
  SELECT format('schema %s owner %s acl %s comment %s member %s', n.nspname, n.nspowner::regrole, n.nspacl,
                obj_description(n.oid, 'pg_namespace'),
                EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e'))
    FROM pg_namespace n WHERE n.nspname = 'zeroshot'
) AS all_lines(line)
WHERE line NOT LIKE '%pg_toast%'   -- the run log's TOAST table: named by its OID
ORDER BY line COLLATE "C";
SQL
}
same_as_fresh() { # NAME DB: the extension in DB described as in the fresh 0.2.0 database
  describe "$2" > "$work/$2.desc"
  if diff -u "$work/fresh.desc" "$work/$2.desc" > "$work/$2.diff"; then
    check "$1" 0 "$(wc -l < "$work/$2.desc") lines of catalog description equal"
  else
    check "$1" 1 "differs from the fresh install:"; head -n 60 "$work/$2.diff"
  fi
}

# The user's objects, as 0.1.0's README shows them: labelled on write by the trigger, a
# dashboard's materialized view, a backlog labelled by zs_label_table, a plain role.
user_objects="
CREATE TABLE tickets (id int PRIMARY KEY, body text, label text);
CREATE TRIGGER label_on_write BEFORE INSERT OR UPDATE ON tickets
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题,商品质量,售后体验');
INSERT INTO tickets SELECT g, '第' || g || '条：' || (ARRAY['快递三天了还没到','买回来两天就坏了','客服态度很好','价格太贵了'])[1 + g % 4], NULL
FROM generate_series(1, 12) g;
CREATE MATERIALIZED VIEW ticket_labels AS
SELECT id, zs_classify_scores(body, ARRAY['物流问题','商品质量','售后体验']) AS result FROM tickets;
CREATE TABLE backlog (id int PRIMARY KEY, body text, label text);
INSERT INTO backlog SELECT g, '第' || g || '条：' || (ARRAY['发货太慢','质量很差','退款很快'])[1 + g % 3], NULL
FROM generate_series(1, 25) g;
GRANT SELECT, INSERT, UPDATE ON tickets, backlog TO clerk;
GRANT SELECT ON ticket_labels TO clerk;
"
rows() { q "$1" "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM $2 t"; }
# The run log's columns both versions have, as text, for comparison.
run_cols="run_id, table_name, text_column, label_column, scores_column, labels, batch_rows, run_by, backend_pid, status, started, updated, rows_total, rows_done, rows_skipped, rows_per_s, finished, seconds, error"

echo "== 1. the 0.1.0 package"
q postgres "CREATE ROLE clerk LOGIN" >/dev/null
for db in upd refuse; do
  q postgres "CREATE DATABASE $db" >/dev/null
  q "$db" "CREATE EXTENSION pg_zeroshot VERSION '0.1.0'" >/dev/null
done
same "0.1.0 installs into public (its control file fixes no schema)" \
  "$(q upd "SELECT extversion || ' ' || extnamespace::regnamespace || ' ' || (SELECT pronamespace::regnamespace FROM pg_proc WHERE proname = 'zs_classify') FROM pg_extension WHERE extname = 'pg_zeroshot'")" \
  "0.1.0 public public"
psql_ upd -c "$user_objects" >/dev/null
psql_ upd -c "CALL zs_label_table('backlog', 'body', 'label', '$labels', 10)"
# A run that failed and one whose backend died, as 0.1.0 recorded them.
psql_ upd >/dev/null <<'SQL'
INSERT INTO zs_label_runs (table_name, text_column, label_column, scores_column, labels, batch_rows, run_by, backend_pid,
                           status, started, updated, rows_total, rows_done, rows_skipped, rows_per_s, finished, seconds, error)
VALUES ('public.backlog', 'body', 'label', 'scores', '{a,b}', 64, 'clerk', 4242, 'failed', '2026-11-20 10:00:00+00',
        '2026-11-20 10:00:05+00', 100, 64, 1, 12.8, '2026-11-20 10:00:05+00', 5, '22001: value too long for type character varying(2)'),
       ('public.backlog', 'body', 'label', NULL, '{a,b}', 256, 'postgres', 4243, 'running', '2026-11-20 11:00:00+00',
        '2026-11-20 11:00:01+00', 1000, 256, 0, NULL, NULL, NULL, NULL);
SQL
psql_ upd -U clerk -c "INSERT INTO tickets VALUES (13, '快递员态度很差', NULL)"
same "0.1.0: the trigger labels rows, the backfill labelled the backlog" \
  "$(q upd "SELECT count(label) FROM tickets") $(q upd "SELECT count(label) FROM backlog") $(q upd "SELECT string_agg(status || ':' || rows_done, ' ' ORDER BY run_id) FROM zs_label_runs")" \
  "13 25 done:25 failed:64 running:256"
psql_ refuse -c "CREATE VIEW my_runs AS SELECT run_id, status FROM zs_label_runs" \
  -c "CREATE TABLE run_notes (run_id bigint REFERENCES zs_label_runs, note text)" >/dev/null
# 0.1.0 in a schema whose name needs quoting.
q postgres "CREATE DATABASE odd" >/dev/null
q odd "CREATE SCHEMA \"Zs App\"; CREATE EXTENSION pg_zeroshot VERSION '0.1.0' SCHEMA \"Zs App\"" >/dev/null
psql_ odd -c "CREATE TABLE b (id int PRIMARY KEY, body text, label text)" \
  -c "INSERT INTO b SELECT g, '第' || g || '条：发货太慢', NULL FROM generate_series(1, 5) g" \
  -c "SET search_path = public, \"Zs App\"" -c "CALL zs_label_table('b', 'body', 'label', '$labels')" >/dev/null
odd_runs=$(q odd "SELECT $run_cols FROM \"Zs App\".zs_label_runs ORDER BY run_id")
# A dump of a database still at 0.1.0, for a restore under 0.2.0 below.
"$bindir/pg_dump" -h "$CLUSTER_HOST" -p "$port" -U postgres -Fc -f "$work/v010.dump" upd
q upd "REFRESH MATERIALIZED VIEW ticket_labels" >/dev/null
before_tickets=$(rows upd tickets)
before_backlog=$(rows upd backlog)
before_view=$(rows upd ticket_labels)
before_runs=$(q upd "SELECT $run_cols FROM zs_label_runs ORDER BY run_id")
before_seq=$(q upd "SELECT last_value FROM zs_label_runs_run_id_seq")
before_oids=$(q upd "SELECT string_agg(p.oid::text, ' ' ORDER BY p.proname) FROM pg_proc p WHERE p.proname IN ('zs_classify', 'zs_classify_scores', 'zs_classify_batch', 'zs_label_trigger', 'zs_model_info', 'zs_in_transaction_block')")
before_tgfoid=$(q upd "SELECT tgfoid FROM pg_trigger WHERE tgname = 'label_on_write'")

echo "== 2. the package upgraded; ALTER EXTENSION pg_zeroshot UPDATE"
install -m 0644 "$sharedir/extension/pg_zeroshot.control" "$sharedir/extension/pg_zeroshot--0.2.0.sql" \
  "$sharedir/extension/pg_zeroshot--0.1.0--0.2.0.sql" "$ext/"
same "0.1.0's functions work on the new library before the update" \
  "$(q upd "SELECT zs_classify('快递三天了还没到', '$labels') IS NOT NULL AND zs_model_info() IS NOT NULL")" t
q postgres "CREATE DATABASE fresh" >/dev/null
q fresh "CREATE EXTENSION pg_zeroshot" >/dev/null
describe fresh > "$work/fresh.desc"
same "a fresh CREATE EXTENSION gives 0.2.0 in zeroshot" \
  "$(q fresh "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_zeroshot'")" "0.2.0 zeroshot"
rc=0; psql_ upd -c "ALTER EXTENSION pg_zeroshot UPDATE" >"$work/update.out" 2>&1 || rc=$?
check "ALTER EXTENSION pg_zeroshot UPDATE" "$rc" "$(tr '\n' ' ' < "$work/update.out")"
same "the extension is 0.2.0, its schema zeroshot" \
  "$(q upd "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_zeroshot'")" "0.2.0 zeroshot"
same "every member is in zeroshot; nothing of it is left in public" \
  "$(q upd "SELECT count(*) FILTER (WHERE (pg_identify_object(d.classid, d.objid, 0)).schema IS DISTINCT FROM 'zeroshot') || ' ' || (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'zs\_%') || ' ' || (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'zs\_%') FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid WHERE e.extname = 'pg_zeroshot' AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'")" \
  "0 0 0"
same_as_fresh "the extension's objects, definitions and privileges equal a fresh 0.2.0 install's" upd
same "the kept functions and the trigger's function keep their OIDs" \
  "$(q upd "SELECT string_agg(p.oid::text, ' ' ORDER BY p.proname) FROM pg_proc p WHERE p.proname IN ('zs_classify', 'zs_classify_scores', 'zs_classify_batch', 'zs_label_trigger', 'zs_model_info', 'zs_in_transaction_block') AND p.pronargs <= 2") $(q upd "SELECT tgfoid FROM pg_trigger WHERE tgname = 'label_on_write'")" \
  "$before_oids $before_tgfoid"
same "no row of the user's tables changed" "$(rows upd tickets) $(rows upd backlog)" "$before_tickets $before_backlog"
q upd "REFRESH MATERIALIZED VIEW ticket_labels" >/dev/null
same "REFRESH MATERIALIZED VIEW works and gives the same rows" "$(rows upd ticket_labels)" "$before_view"
same "the run log's rows, through zs_label_runs" "$(q upd "SELECT $run_cols FROM zs_label_runs ORDER BY run_id")" "$before_runs"
same "columns 0.1.0 lacked: backend_start NULL, a session token each" \
  "$(q upd "SELECT count(*) FILTER (WHERE backend_start IS NULL) || ' ' || count(DISTINCT session_token) FROM zeroshot.zs_label_run_log")" "3 3"
psql_ upd -U clerk -c "INSERT INTO tickets VALUES (14, '东西坏了要退货', NULL)"
psql_ upd -c "INSERT INTO tickets VALUES (15, '物流太慢了', NULL)"
same "the trigger labels new rows (a plain role's and a superuser's), as zs_classify does" \
  "$(q upd "SELECT string_agg((label = zs_classify(body, '$labels'))::text, ' ' ORDER BY id) FROM tickets WHERE id >= 14")" "true true"
same "the plain role reads zs_label_runs (progress only of others' runs)" \
  "$(psql_ upd -U clerk -At -c "SELECT string_agg(run_id || ':' || status || ':' || coalesce(table_name, '-'), ' ' ORDER BY run_id) FROM zs_label_runs")" \
  "1:done:- 2:failed:public.backlog 3:running:-"
q upd "INSERT INTO backlog SELECT g, '第' || g || '条：发货太慢', NULL FROM generate_series(26, 40) g" >/dev/null
psql_ upd -U clerk -c "CALL zs_label_table('backlog', 'body', 'label', '$labels', 10)"
same "zs_label_table works after the update (a plain role)" \
  "$(q upd "SELECT count(*) FILTER (WHERE label IS NULL) || ' ' || count(*) FILTER (WHERE label <> zs_classify(body, '$labels')) FROM backlog")" "0 0"
same "its run id goes on from 0.1.0's sequence; the dead 0.1.0 run is marked abandoned" \
  "$(q upd "SELECT string_agg(run_id || ':' || status || ':' || rows_done, ' ' ORDER BY run_id) FROM zs_label_runs WHERE run_id > 2")" \
  "3:abandoned:256 $((before_seq + 1)):done:15"
q upd "INSERT INTO tickets VALUES (16, '客服很耐心', NULL)" >/dev/null
psql_ upd -c "CALL zs_label_table('tickets', 'body', 'label', '$labels', 10, trust_owner => true)"
same "a superuser's zs_label_table after the update" "$(q upd "SELECT status || ' ' || rows_done FROM zs_label_runs ORDER BY run_id DESC LIMIT 1")" "done 0"

echo "== 3. refused where the zeroshot schema is not safe, or a view reads 0.1.0's run log table"
refused() { # NAME WANT-IN-ERROR: ALTER EXTENSION UPDATE in refuse fails with it, and changes nothing
  local rc=0
  psql_ refuse -c "ALTER EXTENSION pg_zeroshot UPDATE" >"$work/refuse.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$2" "$work/refuse.out" \
     && [ "$(q refuse "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_zeroshot'")" = "0.1.0 public" ]; then
    check "$1" 0 "$(grep -m1 ERROR "$work/refuse.out")"
  else
    check "$1" 1 "rc $rc: $(tr '\n' ' ' < "$work/refuse.out")"
  fi
}
refused "a user's view and foreign key on 0.1.0's zs_label_runs stop the update" "objects depend on 0.1.0's run log table public.zs_label_runs, which 0.2.0 replaces with the view zeroshot.zs_label_runs: constraint run_notes_run_id_fkey on table run_notes, view my_runs"
q refuse "DROP VIEW my_runs; DROP TABLE run_notes; CREATE SCHEMA zeroshot; CREATE FUNCTION zeroshot.zs_classify(text, text) RETURNS text LANGUAGE sql AS 'SELECT 1::text'" >/dev/null
refused "a zeroshot schema holding another object" 'schema zeroshot is not empty (pg_proc)'
q refuse "DROP FUNCTION zeroshot.zs_classify(text, text); GRANT CREATE ON SCHEMA zeroshot TO clerk" >/dev/null
refused "a zeroshot schema a plain role may create objects in" 'clerk may create objects in schema zeroshot'
q refuse "REVOKE CREATE ON SCHEMA zeroshot FROM clerk; ALTER SCHEMA zeroshot OWNER TO clerk" >/dev/null
refused "a zeroshot schema a plain role owns" 'schema zeroshot is owned by clerk, who is not a superuser'
q refuse "ALTER SCHEMA zeroshot OWNER TO postgres" >/dev/null
rc=0; psql_ refuse -c "ALTER EXTENSION pg_zeroshot UPDATE" >"$work/update.out" 2>&1 || rc=$?
check "accepted into a superuser's empty zeroshot schema" "$rc" "$(tr '\n' ' ' < "$work/update.out")"
same_as_fresh "and equal to a fresh install" refuse

echo "== 4. 0.1.0 installed elsewhere: a schema whose name needs quoting; zeroshot itself"
rc=0; psql_ odd -c "ALTER EXTENSION pg_zeroshot UPDATE" >"$work/update.out" 2>&1 || rc=$?
check "ALTER EXTENSION UPDATE from schema \"Zs App\"" "$rc" "$(tr '\n' ' ' < "$work/update.out")"
same_as_fresh "equal to a fresh install" odd
same "its run log kept; nothing left in \"Zs App\"" \
  "$(q odd "SELECT $run_cols FROM zs_label_runs ORDER BY run_id") $(q odd "SELECT count(*) FROM pg_class WHERE relnamespace = '\"Zs App\"'::regnamespace") $(q odd "SELECT count(*) FROM pg_proc WHERE pronamespace = '\"Zs App\"'::regnamespace")" \
  "$odd_runs 0 0"
q postgres "CREATE DATABASE inplace" >/dev/null
q inplace "CREATE EXTENSION pg_zeroshot VERSION '0.1.0'" >/dev/null
same "0.1.0 lands in zeroshot under 0.2.0's control file" \
  "$(q inplace "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_zeroshot'")" "0.1.0 zeroshot"
psql_ inplace -c "$user_objects" >/dev/null
psql_ inplace -c "CALL zs_label_table('backlog', 'body', 'label', '$labels', 10)"
inplace_runs=$(q inplace "SELECT $run_cols FROM zs_label_runs ORDER BY run_id")
rc=0; psql_ inplace -c "ALTER EXTENSION pg_zeroshot UPDATE" >"$work/update.out" 2>&1 || rc=$?
check "ALTER EXTENSION UPDATE in zeroshot" "$rc" "$(tr '\n' ' ' < "$work/update.out")"
same_as_fresh "equal to a fresh install" inplace
same "its run log kept" "$(q inplace "SELECT $run_cols FROM zs_label_runs ORDER BY run_id")" "$inplace_runs"

echo "== 5. pg_dump and restore"
# A dump of a database still at 0.1.0 says CREATE EXTENSION pg_zeroshot WITH SCHEMA public, which
# 0.2.0's control file refuses: update before dumping (README in sql/released).
q postgres "CREATE DATABASE v010_restored" >/dev/null
rc=0; "$bindir/pg_restore" -h "$CLUSTER_HOST" -p "$port" -U postgres -d v010_restored --exit-on-error "$work/v010.dump" 2>"$work/restore.err" || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'extension "pg_zeroshot" must be installed in schema "zeroshot"' "$work/restore.err"; then r=0; else r=1; fi
check "a 0.1.0 database's dump does not restore under 0.2.0 (known: update first)" "$r" "$(grep -m1 ERROR "$work/restore.err")"
q upd "REFRESH MATERIALIZED VIEW ticket_labels" >/dev/null
# The fresh 0.2.0 database gets the same objects (its trigger and view over zeroshot's functions).
psql_ fresh -c "$user_objects" >/dev/null
psql_ fresh -c "CALL zs_label_table('backlog', 'body', 'label', '$labels', 10, trust_owner => true)"
same "the run log and its sequence are marked for pg_dump (pg_extension_config_dump)" \
  "$(q fresh "SET search_path = pg_catalog; SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'pg_zeroshot'")" \
  "{zeroshot.zs_label_run_log,zeroshot.zs_label_run_log_run_id_seq}"
"$bindir/pg_dump" -h "$CLUSTER_HOST" -p "$port" -U postgres -Fc -f "$work/upd.dump" upd
"$bindir/pg_dump" -h "$CLUSTER_HOST" -p "$port" -U postgres -f "$work/fresh.sql" fresh
q postgres "CREATE DATABASE upd_restored" >/dev/null
q postgres "CREATE DATABASE fresh_restored" >/dev/null
same "both dumps hold the run log's rows and its sequence's value" \
  "$("$bindir/pg_restore" -l "$work/upd.dump" | grep -cE 'TABLE DATA zeroshot zs_label_run_log |SEQUENCE SET zeroshot zs_label_run_log_run_id_seq ') $(grep -cE '^COPY zeroshot\.zs_label_run_log |^SELECT pg_catalog\.setval\(.zeroshot\.zs_label_run_log_run_id_seq.' "$work/fresh.sql")" "2 2"
rc=0; "$bindir/pg_restore" -h "$CLUSTER_HOST" -p "$port" -U postgres -d upd_restored --exit-on-error "$work/upd.dump" 2>"$work/restore.err" || rc=$?
check "pg_restore of the updated database's dump (custom format)" "$rc" "$(grep -v WARNING "$work/restore.err" | grep -m3 -E 'ERROR|error' | tr '\n' ' ')"
rc=0; psql_ fresh_restored -f "$work/fresh.sql" >/dev/null 2>"$work/restore.err" || rc=$?
check "psql restore of a fresh 0.2.0 database's dump (plain)" "$rc" "$(grep -m3 ERROR "$work/restore.err" | tr '\n' ' ')"
for pair in upd:upd_restored fresh:fresh_restored; do
  src=${pair%%:*}; dst=${pair#*:}
  same_as_fresh "$dst: the extension comes back as a fresh install's" "$dst"
  same "$dst: the user's rows and the view's rows" \
    "$(rows "$dst" tickets) $(rows "$dst" backlog) $(rows "$dst" ticket_labels)" \
    "$(rows "$src" tickets) $(rows "$src" backlog) $(rows "$src" ticket_labels)"
  same "$dst: the run log, every column" \
    "$(q "$dst" "SELECT l FROM zeroshot.zs_label_run_log l ORDER BY run_id")" \
    "$(q "$src" "SELECT l FROM zeroshot.zs_label_run_log l ORDER BY run_id")"
  same "$dst: the run log's sequence" \
    "$(q "$dst" "SELECT last_value || ' ' || is_called FROM zeroshot.zs_label_run_log_run_id_seq")" \
    "$(q "$src" "SELECT last_value || ' ' || is_called FROM zeroshot.zs_label_run_log_run_id_seq")"
  q "$dst" "REFRESH MATERIALIZED VIEW ticket_labels" >/dev/null
  same "$dst: REFRESH MATERIALIZED VIEW gives the same rows" "$(rows "$dst" ticket_labels)" "$(rows "$src" ticket_labels)"
  psql_ "$dst" -U clerk -c "INSERT INTO tickets VALUES (100, '包装破损了', NULL)"
  same "$dst: the trigger labels a new row; classification works" \
    "$(q "$dst" "SELECT label = zs_classify(body, '$labels') FROM tickets WHERE id = 100")" t
  last=$(q "$src" "SELECT last_value FROM zeroshot.zs_label_run_log_run_id_seq")
  q "$dst" "UPDATE backlog SET label = NULL WHERE id <= 3" >/dev/null
  psql_ "$dst" -U clerk -c "CALL zs_label_table('backlog', 'body', 'label', '$labels', 10)"
  same "$dst: zs_label_table runs, its run id after the restored ones" \
    "$(q "$dst" "SELECT run_id || ' ' || status || ' ' || rows_done FROM zs_label_runs ORDER BY run_id DESC LIMIT 1")" "$((last + 1)) done 3"
done

if grep -qE 'terminated by signal|PANIC' "$CLUSTER_DIR/server.log"; then r=1; else r=0; fi
check "the server never crashed" "$r" "no 'terminated by signal' or PANIC in its log"
echo "upgrade: $passed passed, $failed failed ($(($(date +%s) - t0)) s)"
[ "$failed" -eq 0 ]
