//! What differs between the PostgreSQL versions the extension builds for (features pg15 to
//! pg18), in one place: each function here is the same question asked each version's way.
use pgrx::pg_sys;

/// The `index`th (0-based) attribute of a tuple descriptor. PostgreSQL 18 keeps a compact
/// array first and the full attributes behind it, reached through TupleDescAttr.
///
/// # Safety
/// `tupdesc` is a valid descriptor and `index` is below its natts.
pub unsafe fn tuple_desc_attr<'a>(tupdesc: pg_sys::TupleDesc, index: usize) -> &'a pg_sys::FormData_pg_attribute {
    #[cfg(feature = "pg18")]
    {
        &*pg_sys::TupleDescAttr(tupdesc, index as std::ffi::c_int)
    }
    #[cfg(not(feature = "pg18"))]
    {
        &*(*tupdesc).attrs.as_ptr().add(index)
    }
}

/// Whether `user` has USAGE on the schema `namespace` (pg_namespace_aclcheck until 15,
/// object_aclcheck from 16).
///
/// # Safety
/// A catalog lookup: in a transaction, on the backend's main thread.
pub unsafe fn namespace_usage(namespace: pg_sys::Oid, user: pg_sys::Oid) -> bool {
    let usage = pg_sys::ACL_USAGE as pg_sys::AclMode;
    #[cfg(feature = "pg15")]
    let result = pg_sys::pg_namespace_aclcheck(namespace, user, usage);
    #[cfg(not(feature = "pg15"))]
    let result = pg_sys::object_aclcheck(pg_sys::NamespaceRelationId, namespace, user, usage);
    result == pg_sys::AclResult::ACLCHECK_OK
}
