//! The SQL functions.

/// The `pg_finfo_NAME` symbols that declare C functions written by hand (not through
/// `#[pg_extern]`) as version-1 functions to Postgres.
macro_rules! finfo_v1 {
    ($($name:ident),*) => {$(
        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $name() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1_API: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }
    )*};
}

pub(crate) mod classify;
mod generate;
mod info;
mod label_table;
mod trigger;
