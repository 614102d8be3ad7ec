-- Runs first in CREATE EXTENSION: the schema the extension installs into (`zeroshot`, fixed by
-- pg_zeroshot.control) must be one where nobody but a superuser can create objects. Anyone who
-- can create objects there can add an overload of a function or operator that a superuser's
-- call would pick instead of ours (README, "Security and limits"). CREATE EXTENSION makes the
-- schema when it does not exist; a schema someone made beforehand is accepted only when a
-- superuser owns it, only superusers may CREATE in it, and it is empty.
DO $check$
DECLARE
    schema_oid pg_catalog.oid;
    schema_name text := pg_catalog.current_schema();
    owner_name name;
    owner_super boolean;
    creator text;
    catalog text;
    schema_column text;
    occupied boolean;
BEGIN
    SELECT n.oid, r.rolname, r.rolsuper INTO schema_oid, owner_name, owner_super
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) schema_name;
    IF NOT owner_super THEN
        RAISE EXCEPTION 'pg_zeroshot: schema % is owned by %, who is not a superuser', schema_name, owner_name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('The extension must live where only superusers can create objects. Drop or rename schema %I, or make a superuser its owner and empty it, then CREATE EXTENSION again.', schema_name);
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
                  HINT = pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM %s, then CREATE EXTENSION again.', schema_name, creator);
    END IF;
    -- Every catalog of objects that live in a schema, with its schema column.
    FOR catalog, schema_column IN
        VALUES ('pg_class', 'relnamespace'), ('pg_proc', 'pronamespace'), ('pg_type', 'typnamespace'),
               ('pg_operator', 'oprnamespace'), ('pg_collation', 'collnamespace'),
               ('pg_conversion', 'connamespace'), ('pg_opfamily', 'opfnamespace'),
               ('pg_opclass', 'opcnamespace'), ('pg_ts_config', 'cfgnamespace'),
               ('pg_ts_dict', 'dictnamespace'), ('pg_ts_parser', 'prsnamespace'),
               ('pg_ts_template', 'tmplnamespace'), ('pg_statistic_ext', 'stxnamespace')
    LOOP
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM pg_catalog.%I WHERE %I OPERATOR(pg_catalog.=) $1)',
                                  catalog, schema_column)
           INTO occupied USING schema_oid;
        IF occupied THEN
            RAISE EXCEPTION 'pg_zeroshot: schema % is not empty (%)', schema_name, catalog
                USING ERRCODE = 'object_in_use',
                      HINT = 'The extension installs into a schema of its own; move the objects in it elsewhere first.';
        END IF;
    END LOOP;
END
$check$;
-- Every role may call the functions (each checks what it may do); nobody but the owner may
-- create anything here.
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
