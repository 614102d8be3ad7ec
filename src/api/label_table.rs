//! What the zs_label_table procedure (sql/zs_label_table.sql) cannot ask in PL/pgSQL.
use pgrx::prelude::*;

use crate::error::raise;

/// Whether the current statement runs inside a transaction block: after BEGIN, or as one of
/// several statements sent in one query string. zs_label_table commits after each batch and
/// cannot do so there; it asks first, to refuse with 25001 and a clear message before any work.
#[pg_extern(volatile, parallel_restricted)]
fn zs_in_transaction_block() -> bool {
    // SAFETY: reads the backend's transaction state; no side effect.
    unsafe { pg_sys::IsTransactionBlock() }
}

/// zs_label_lock_table(relid): ROW EXCLUSIVE on the table and every partition and child of it,
/// by OID, as the batch's UPDATE takes it (so no trigger can be attached, and the table not be
/// dropped or renamed, until the batch commits). LOCK TABLE would do it by name, and wants a
/// table-level privilege where a backfill needs only UPDATE on its columns: the caller must
/// hold UPDATE on some column of the table.
#[pg_extern(volatile, parallel_unsafe)]
fn zs_label_lock_table(relid: pg_sys::Oid) {
    fn gone() -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "zs_label_table: the table the run started on was dropped".into(),
        )
    }
    // catalog/pg_inherits.h, which pgrx's bindings leave out.
    extern "C-unwind" {
        fn find_all_inheritors(
            parent: pg_sys::Oid,
            lockmode: pg_sys::LOCKMODE,
            numparents: *mut *mut pg_sys::List,
        ) -> *mut pg_sys::List;
    }
    // SAFETY: catalog reads and locks for the current transaction, on the backend's thread.
    unsafe {
        if pg_sys::get_rel_name(relid).is_null() {
            gone()
        }
        let kind = pg_sys::get_rel_relkind(relid) as u8;
        if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
            raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, "zs_label_lock_table locks tables only".into());
        }
        // The privilege first, so that no role can lock a table it may not write (as LOCK TABLE
        // checks before it locks): on the table, or on a column (the table's check leaves
        // column privileges out).
        let (user, update) = (pg_sys::GetUserId(), pg_sys::ACL_UPDATE as pg_sys::AclMode);
        let schema_usage = crate::pg_compat::namespace_usage(pg_sys::get_rel_namespace(relid), user);
        let may_update = schema_usage
            && (pg_sys::pg_class_aclcheck(relid, user, update) == pg_sys::AclResult::ACLCHECK_OK
                || pg_sys::pg_attribute_aclcheck_all(relid, user, update, pg_sys::AclMaskHow::ACLMASK_ANY)
                    == pg_sys::AclResult::ACLCHECK_OK);
        if !may_update {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "permission denied: zs_label_table needs USAGE on the table's schema and UPDATE on a column of the table".into(),
            );
        }
        // The table, then (find_all_inheritors, which leaves the parent to its caller) every
        // partition and child. LockRelationOid takes in what committed while it waited: a table
        // dropped meanwhile is seen gone.
        let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        pg_sys::LockRelationOid(relid, lock);
        if pg_sys::get_rel_name(relid).is_null() {
            gone()
        }
        let tree =
            pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| find_all_inheritors(relid, lock, std::ptr::null_mut()));
        pg_sys::list_free(tree);
    }
}

/// The last key a zs_label_table batch read, one datum per key column, kept in the backend
/// from one batch's transaction to the next in its own type and bytes: never turned into text
/// and back, which runs casts and input functions the table's owner may have written (as the
/// caller, a superuser perhaps) and loses digits (a float8 with `extra_float_digits = 0`).
/// PL/pgSQL cannot hold it: a variable's type is fixed when a function is first run in a
/// session, and a key's type changes from table to table.
mod kept_keys {
    use std::cell::RefCell;

    use pgrx::pg_sys::{self, Datum, Oid};
    use pgrx::prelude::*;

    use crate::error::raise as error;

    /// At most this many key columns (Postgres's INDEX_MAX_KEYS).
    const MAX_COLUMNS: usize = 32;
    /// A key column's value above this size is refused: a primary key's values are at most a
    /// third of a page, and anything else a role sends only costs the backend memory.
    const MAX_BYTES: usize = 64 << 10;

    struct KeptKey {
        typoid: Oid,
        /// The layout of a composite type when the key was kept (0 for other types): a key
        /// read back after an ALTER TYPE would be read with another layout.
        layout: u64,
        datum: Datum,
        byval: bool,
    }

    /// The identifier of a composite type's current layout (0 for other types).
    ///
    /// # Safety
    /// `typoid` must be a valid type.
    unsafe fn layout(typoid: Oid) -> u64 {
        if !unsafe { pg_sys::type_is_rowtype(typoid) } {
            return 0;
        }
        // SAFETY: the type cache entry lives for the backend.
        unsafe { (*pg_sys::lookup_type_cache(typoid, pg_sys::TYPECACHE_TUPDESC as i32)).tupDesc_identifier }
    }

    thread_local! {
        static KEYS: RefCell<Vec<Option<KeptKey>>> = const { RefCell::new(Vec::new()) };
    }

    /// The argument's position checked: 1 to MAX_COLUMNS.
    fn slot(position: i32) -> usize {
        match usize::try_from(position) {
            Ok(p) if (1..=MAX_COLUMNS).contains(&p) => p - 1,
            _ => error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("key position {position} is not between 1 and {MAX_COLUMNS}"),
            ),
        }
    }

    /// The type of argument `n` (0-based) at this call site.
    ///
    /// # Safety
    /// `fcinfo` must be the function's call info.
    unsafe fn arg_type(fcinfo: pg_sys::FunctionCallInfo, n: i32) -> Oid {
        let typoid = unsafe { pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, n) };
        if typoid == pg_sys::InvalidOid {
            error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "could not determine the key's type".into())
        }
        typoid
    }

    /// The bytes a datum takes (utils/datum.c's datumGetSize, for a detoasted value).
    ///
    /// # Safety
    /// `value` must be a datum of a type with this `byval` and `len`, not TOASTed.
    unsafe fn datum_size(value: Datum, byval: bool, len: i16) -> usize {
        match (byval, len) {
            (true, _) => 0,
            (false, -1) => unsafe { pgrx::varlena::varsize_any(value.cast_mut_ptr()) },
            (false, -2) => unsafe { std::ffi::CStr::from_ptr(value.cast_mut_ptr()).to_bytes().len() + 1 },
            (false, n) => n.max(0) as usize,
        }
    }

    /// A copy of a datum in the current memory context (utils/datum.c's datumCopy).
    ///
    /// # Safety
    /// As for `datum_size`.
    unsafe fn datum_copy(value: Datum, byval: bool, len: i16) -> Datum {
        if byval {
            return value;
        }
        unsafe {
            let size = datum_size(value, byval, len);
            let copy = pg_sys::palloc(size);
            std::ptr::copy_nonoverlapping(value.cast_mut_ptr::<u8>(), copy.cast::<u8>(), size);
            Datum::from(copy)
        }
    }

    fn free(key: KeptKey) {
        if !key.byval {
            // SAFETY: copied into TopMemoryContext by keep, owned here alone.
            unsafe { pg_sys::pfree(key.datum.cast_mut_ptr()) };
        }
    }

    /// zs_label_key_keep(position, value): keeps `value` (a copy, detoasted) as column
    /// `position` of the last key. STRICT: a key column is never NULL.
    ///
    /// # Safety
    /// Called by Postgres's function manager.
    #[pg_guard]
    #[no_mangle]
    pub unsafe extern "C-unwind" fn zs_label_key_keep(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
        // SAFETY: a STRICT function of (integer, anyelement): both arguments are set.
        let (position, mut value, typoid) = unsafe {
            (
                (*(*fcinfo).args.as_ptr()).value.value() as i32,
                (*(*fcinfo).args.as_ptr().add(1)).value,
                arg_type(fcinfo, 1),
            )
        };
        let slot = slot(position);
        let (mut len, mut byval) = (0i16, false);
        // SAFETY: catalog lookups of a valid type; the datum is of that type.
        let copy = unsafe {
            pg_sys::get_typlenbyval(typoid, &mut len, &mut byval);
            if len == -1 {
                // A TOAST pointer would not outlive the batch's transaction.
                value = Datum::from(pg_sys::pg_detoast_datum(value.cast_mut_ptr()));
            }
            let size = datum_size(value, byval, len);
            if size > MAX_BYTES {
                error(
                    PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    format!("a key column's value of {size} bytes is over the {MAX_BYTES} bytes zs_label_table keeps"),
                )
            }
            let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
            let copy = datum_copy(value, byval, len);
            pg_sys::MemoryContextSwitchTo(old);
            copy
        };
        KEYS.with(|k| {
            let mut keys = k.borrow_mut();
            if keys.len() <= slot {
                keys.resize_with(slot + 1, || None);
            }
            // SAFETY: the argument's type.
            let layout = unsafe { layout(typoid) };
            if let Some(old) = keys[slot].replace(KeptKey { typoid, layout, datum: copy, byval }) {
                free(old);
            }
        });
        Datum::from(true)
    }

    /// zs_label_key(position, proto): column `position` of the kept key, which must have been
    /// kept as exactly `proto`'s type (a NULL of the key column, in the procedure): a value
    /// kept as a base type never comes back as a domain over it, whose checks it never met.
    /// Not STRICT: `proto` is NULL.
    ///
    /// # Safety
    /// Called by Postgres's function manager.
    #[pg_guard]
    #[no_mangle]
    pub unsafe extern "C-unwind" fn zs_label_key(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
        // SAFETY: two arguments, the first an integer (checked for NULL).
        let (position, wanted) = unsafe {
            let first = &*(*fcinfo).args.as_ptr();
            if first.isnull {
                error(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "key position is NULL".into())
            }
            (first.value.value() as i32, arg_type(fcinfo, 1))
        };
        let slot = slot(position);
        KEYS.with(|k| {
            let keys = k.borrow();
            let Some(key) = keys.get(slot).and_then(Option::as_ref) else {
                error(
                    PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("no key column {position} is kept in this session"),
                )
            };
            // SAFETY: catalog lookups of valid types; the copy is made in the caller's context.
            unsafe {
                if key.typoid != wanted {
                    error(
                        PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                        format!("key column {position} is kept as another type"),
                    )
                }
                if layout(wanted) != key.layout {
                    error(
                        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!("the type of key column {position} was altered since the key was kept"),
                    )
                }
                let (mut len, mut byval) = (0i16, false);
                pg_sys::get_typlenbyval(key.typoid, &mut len, &mut byval);
                datum_copy(key.datum, byval, len)
            }
        })
    }

    /// zs_label_key_reset(): forgets the kept key (at the start and end of a run).
    ///
    /// # Safety
    /// Called by Postgres's function manager.
    #[pg_guard]
    #[no_mangle]
    pub unsafe extern "C-unwind" fn zs_label_key_reset(_fcinfo: pg_sys::FunctionCallInfo) -> Datum {
        KEYS.with(|k| k.borrow_mut().drain(..).flatten().for_each(free));
        Datum::from(true)
    }

    finfo_v1!(pg_finfo_zs_label_key_keep, pg_finfo_zs_label_key, pg_finfo_zs_label_key_reset);
}
