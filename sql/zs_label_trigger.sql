-- zs_label_trigger(text_column, label_column, labels): a BEFORE INSERT OR UPDATE ... FOR EACH
-- ROW trigger that writes zs_classify(NEW.text_column, labels) into NEW.label_column, on
-- INSERT and on an UPDATE that changes the text column (IS DISTINCT FROM).
-- `labels` is one comma-separated string ('物流问题,商品质量,售后体验'); blanks around each
-- label are trimmed. A NULL text gives a NULL label. Written in PL/pgSQL because it
-- reads and writes columns by name, which jsonb does for any row type.
CREATE FUNCTION zs_label_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = @extschema@, pg_catalog
AS $$
DECLARE
    row_json jsonb;
    labels text[];
BEGIN
    IF TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_trigger must be a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    IF TG_NARGS <> 3 THEN
        RAISE EXCEPTION 'pg_zeroshot: zs_label_trigger takes 3 arguments (text_column, label_column, labels), got %', TG_NARGS
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    row_json := to_jsonb(NEW);
    IF NOT row_json ? TG_ARGV[0] THEN
        RAISE EXCEPTION 'pg_zeroshot: column "%" of zs_label_trigger does not exist in %', TG_ARGV[0], TG_TABLE_NAME
            USING ERRCODE = 'undefined_column';
    END IF;
    IF NOT row_json ? TG_ARGV[1] THEN
        RAISE EXCEPTION 'pg_zeroshot: column "%" of zs_label_trigger does not exist in %', TG_ARGV[1], TG_TABLE_NAME
            USING ERRCODE = 'undefined_column';
    END IF;
    -- On UPDATE, only a change of the text relabels: an UPDATE that leaves the text as it was
    -- (zs_label_table writing the label, a label set by hand, another column) keeps NEW's label
    -- and classifies nothing.
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[0]) IS NOT DISTINCT FROM (row_json ->> TG_ARGV[0]) THEN
        RETURN NEW;
    END IF;
    labels := ARRAY(SELECT btrim(l) FROM unnest(string_to_array(TG_ARGV[2], ',')) AS l);
    NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[1], zs_classify(row_json ->> TG_ARGV[0], labels)));
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION zs_label_trigger() IS
    'BEFORE INSERT OR UPDATE FOR EACH ROW trigger: zs_label_trigger(text_column, label_column, ''label1,label2,...'')';
