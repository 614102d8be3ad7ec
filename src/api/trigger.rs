//! zs_label_trigger(text_column, label_column, labels): a BEFORE INSERT OR UPDATE … FOR EACH
//! ROW trigger that writes zs_classify(NEW.text_column, labels) into NEW.label_column.
//!
//! Written against the row itself: it reads the text column (only as far as a prompt can
//! use it) and replaces the label column, and no other column is read or detoasted, so a
//! row with a large bytea costs what a row without one does. An UPDATE that leaves the
//! text as it was keeps the row's label (a backfill's write of the label, or an update of
//! another column, classifies nothing). It is C, not PL/pgSQL, so no search_path is
//! consulted: nothing a user creates in a schema can be called from it.
use std::ffi::CStr;
use std::num::NonZeroUsize;

use pgrx::prelude::*;
use pgrx::{pg_sys, IntoDatum, PgTupleDesc};
use zeroshot::tokenize::TEXT_CHARS_PER_TOKEN;

use crate::api::classify::{classify_texts, options};
use crate::error::{raise, OrReport, ZsError};
use crate::text::{db_bytes_to_utf8, DbText, ServerText};

/// A column the trigger reads or writes, found by name in the table's row type.
struct Column {
    attnum: NonZeroUsize,
    type_oid: pg_sys::Oid,
    base_type: pg_sys::Oid,
    typmod: i32,
}

/// The column named `name` (bytes in the database encoding, as CREATE TRIGGER stored them).
///
/// # Safety
/// `tupdesc` must be the trigger relation's tuple descriptor.
unsafe fn column(tupdesc: pg_sys::TupleDesc, name: &CStr, table: &str, role: &str) -> Column {
    let shown = || String::from_utf8_lossy(name.to_bytes()).into_owned();
    let attnum = unsafe { pg_sys::SPI_fnumber(tupdesc, name.as_ptr()) };
    let Some(attnum) = usize::try_from(attnum).ok().and_then(NonZeroUsize::new) else {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("{role} column \"{}\" of zs_label_trigger does not exist in {table}", shown()),
        )
    };
    // SAFETY: attnum is within 1..=natts (checked by the name lookup that found it).
    let att = unsafe { crate::pg_compat::tuple_desc_attr(tupdesc, attnum.get() - 1) };
    if att.attisdropped {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("{role} column \"{}\" of zs_label_trigger does not exist in {table}", shown()),
        )
    }
    // A domain's own typmod is -1: the base type's (a varchar(n)'s n) comes with it.
    let mut typmod = att.atttypmod;
    let base_type = unsafe { pg_sys::getBaseTypeAndTypmod(att.atttypid, &mut typmod) };
    if base_type != pg_sys::TEXTOID && base_type != pg_sys::VARCHAROID {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("{role} column \"{}\" of {table} must be text or varchar (or a domain over them)", shown()),
        )
    }
    Column { attnum, type_oid: att.atttypid, base_type, typmod }
}

/// The text column's value as UTF-8, read only as far as a prompt of `max_tokens` can use.
///
/// # Safety
/// `datum` must be a non-null text datum of the row being written.
unsafe fn text_prefix(datum: pg_sys::Datum, max_tokens: usize) -> Result<String, ZsError> {
    let max_chars = max_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN);
    // Enough bytes for max_chars + 2 whole characters in the widest character of the encoding.
    // SQL_ASCII says one byte per character, but holds UTF-8: read 4 bytes per character there.
    let width = unsafe { pg_sys::pg_database_encoding_max_length() }.max(if sql_ascii() { 4 } else { 1 });
    let max_bytes = (max_chars + 2).saturating_mul(width as usize);
    let slice =
        unsafe { pg_sys::pg_detoast_datum_slice(datum.cast_mut_ptr(), 0, max_bytes.min(i32::MAX as usize) as i32) };
    unsafe { DbText::from_varlena(slice) }.to_utf8(Some(max_chars))
}

fn sql_ascii() -> bool {
    crate::text::database_encoding() == pg_sys::pg_enc::PG_SQL_ASCII as i32
}

/// The label as a value of the label column: its domain's checks run, and a varchar(n) too
/// short for it is an error rather than a silent overflow.
fn label_datum(label: &str, column: &Column, name: &str) -> pg_sys::Datum {
    if column.base_type == pg_sys::VARCHAROID && column.typmod >= pg_sys::VARHDRSZ as i32 {
        let max = (column.typmod - pg_sys::VARHDRSZ as i32) as usize;
        if label.chars().count() > max {
            raise(
                PgSqlErrorCode::ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
                format!("label {label:?} is longer than column \"{name}\" allows (varchar({max}))"),
            )
        }
    }
    let datum = ServerText::new(label).into_datum().expect("a label is never NULL");
    if column.type_oid != column.base_type {
        // SAFETY: a text datum checked against the column's domain (raises on violation).
        unsafe { pg_sys::domain_check(datum, false, column.type_oid, std::ptr::null_mut(), std::ptr::null_mut()) };
    }
    datum
}

/// Whether two varlena datums have the same bytes, without detoasting: an untouched column
/// keeps its TOAST pointer, so equal bytes mean an unchanged text (different bytes may still
/// be the same text, stored differently; the row is then classified again, which is safe).
///
/// # Safety
/// Both must be non-null varlena datums.
unsafe fn same_varlena(a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
    let (a, b) = (a.cast_mut_ptr::<pg_sys::varlena>(), b.cast_mut_ptr::<pg_sys::varlena>());
    unsafe {
        let (len_a, len_b) = (pgrx::varlena::varsize_any(a), pgrx::varlena::varsize_any(b));
        len_a == len_b
            && std::slice::from_raw_parts(a.cast::<u8>(), len_a) == std::slice::from_raw_parts(b.cast::<u8>(), len_b)
    }
}

/// The function Postgres calls: called any other way than as a trigger (`SELECT
/// zs_label_trigger()`), it says so with the error PL/pgSQL gives, instead of the internal
/// error of pgrx's wrapper.
///
/// # Safety
/// Called by Postgres's function manager with a valid `fcinfo`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn zs_label_trigger_checked(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: fcinfo is valid; context, when set, is a Node.
    let called_as_trigger = unsafe {
        let context = (*fcinfo).context;
        !context.is_null() && (*context).type_ == pg_sys::NodeTag::T_TriggerData
    };
    if !called_as_trigger {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "trigger functions can only be called as triggers (zs_label_trigger)".into(),
        )
    }
    // SAFETY: a trigger call, as pgrx's wrapper requires.
    unsafe { zs_label_trigger_wrapper(fcinfo) }
}

finfo_v1!(pg_finfo_zs_label_trigger_checked);

#[pg_trigger(sql = r#"
CREATE FUNCTION zs_label_trigger() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'zs_label_trigger_checked';
"#)]
fn zs_label_trigger<'a>(trigger: &'a PgTrigger<'a>) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ZsError> {
    let data = trigger.trigger_data();
    let event = data.tg_event;
    let op = event & pg_sys::TRIGGER_EVENT_OPMASK;
    let is_update = op == pg_sys::TRIGGER_EVENT_UPDATE;
    if event & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_BEFORE
        || event & pg_sys::TRIGGER_EVENT_ROW == 0
        || !(op == pg_sys::TRIGGER_EVENT_INSERT || is_update)
    {
        raise(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "zs_label_trigger must be a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger".into(),
        )
    }
    // SAFETY: Postgres passes a valid TriggerData for the duration of the call.
    let (tg, rel) = unsafe { (&*data.tg_trigger, &*data.tg_relation) };
    if tg.tgnargs != 3 {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("zs_label_trigger takes 3 arguments (text_column, label_column, labels), got {}", tg.tgnargs),
        )
    }
    // SAFETY: tgargs holds tgnargs NUL-terminated strings.
    let args: Vec<&CStr> = (0..3).map(|i| unsafe { CStr::from_ptr(*tg.tgargs.add(i)) }).collect();
    let table = trigger.table_name().unwrap_or_else(|_| "the table".into());
    let tupdesc = rel.rd_att;
    // SAFETY: tupdesc is the relation's.
    let (text_col, label_col) =
        unsafe { (column(tupdesc, args[0], &table, "text"), column(tupdesc, args[1], &table, "label")) };
    if text_col.attnum == label_col.attnum {
        // The label would replace the text it was computed from.
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("zs_label_trigger on {table}: the text and label columns must be different columns"),
        )
    }
    let (new_tuple, old_tuple) =
        if is_update { (data.tg_newtuple, data.tg_trigtuple) } else { (data.tg_trigtuple, std::ptr::null_mut()) };
    // SAFETY: the row and its descriptor are the trigger's.
    let text = unsafe { pgrx::heap_getattr_raw(new_tuple, text_col.attnum, tupdesc) };
    if is_update {
        // SAFETY: as above, for the old row.
        let old_text = unsafe { pgrx::heap_getattr_raw(old_tuple, text_col.attnum, tupdesc) };
        let unchanged = match (text, old_text) {
            (None, None) => true,
            // Byte-equal datums (an untouched column keeps its TOAST pointer): no detoasting.
            (Some(a), Some(b)) => unsafe { same_varlena(a, b) },
            _ => false,
        };
        if unchanged {
            return Ok(trigger.new());
        }
    }
    let label = match text {
        None => None,
        Some(datum) => {
            let opts = options().or_report();
            let labels: Vec<String> =
                db_bytes_to_utf8(args[2].to_bytes()).or_report().split(',').map(|l| l.trim().to_string()).collect();
            // SAFETY: a non-null text datum of the new row.
            let text = unsafe { text_prefix(datum, opts.max_input_tokens) }.or_report();
            let forms = zeroshot::LabelForms::new(labels, Vec::new()).or_report();
            let result = classify_texts(&[&text], &forms, &opts).or_report();
            Some(forms.labels[result[0].best].clone())
        }
    };
    let label_name = String::from_utf8_lossy(args[1].to_bytes()).into_owned();
    let mut is_null = label.is_none();
    let mut value = match label {
        Some(l) => label_datum(&l, &label_col, &label_name),
        None => {
            if label_col.type_oid != label_col.base_type {
                // A NULL label meets the domain's checks too (NOT NULL).
                // SAFETY: a NULL value checked against the column's domain (raises on violation).
                unsafe {
                    pg_sys::domain_check(
                        pg_sys::Datum::from(0),
                        true,
                        label_col.type_oid,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                };
            }
            pg_sys::Datum::from(0)
        }
    };
    let mut attnum = label_col.attnum.get() as i32;
    // SAFETY: replaces one column of the new row; the other columns' datums (TOAST pointers
    // included) are carried over as they are.
    let modified =
        // Raw pointers: PostgreSQL 18 declares these arrays const, 15 does not.
        unsafe {
            pg_sys::heap_modify_tuple_by_cols(
                new_tuple,
                tupdesc,
                1,
                std::ptr::addr_of_mut!(attnum),
                std::ptr::addr_of_mut!(value),
                std::ptr::addr_of_mut!(is_null),
            )
        };
    // SAFETY: the modified row has the relation's descriptor and lives in the trigger's context.
    Ok(Some(unsafe { PgHeapTuple::from_heap_tuple(PgTupleDesc::from_pg_unchecked(tupdesc), modified) }))
}
