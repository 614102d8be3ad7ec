//! Text between SQL and the engine, in any database encoding.
//!
//! Postgres hands us text in the database's encoding (UTF8, but also LATIN1, EUC_CN,
//! SQL_ASCII, …) and the engine reads UTF-8. pgrx's `&str` trusts the bytes to be UTF-8
//! (inside arrays without even checking), which crashes the server in a non-UTF-8
//! database. So every text that arrives here is `DbText`, raw bytes, and becomes UTF-8
//! only through Postgres's own conversion (`pg_server_to_any`, which validates, and
//! raises 22021 on bytes that are not text). Texts going back (labels, jsonb) are
//! converted to the database encoding the same way.
use std::ffi::CString;

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::UnboxDatum;
use pgrx::nullable::Nullable;
use pgrx::{pg_sys, FromDatum, IntoDatum};

use crate::error::ZsError;

/// A `text` (or `varchar`) value as Postgres stores it: bytes in the database encoding.
#[derive(Clone, Copy)]
pub struct DbText<'a> {
    bytes: &'a [u8],
}

impl<'a> DbText<'a> {
    /// The text as UTF-8: the whole of it, or its first `max_chars` characters and one more
    /// (so the engine can tell it was cut), converting and checking only those bytes.
    pub fn to_utf8(self, max_chars: Option<usize>) -> Result<String, ZsError> {
        let bytes = match max_chars {
            // SAFETY: `bytes` is a valid string in the database encoding, as Postgres stored it.
            Some(n) => {
                // SAFETY: the bytes are a string in the database encoding, as Postgres stored it.
                let keep = unsafe {
                    pg_sys::pg_mbcharcliplen(self.bytes.as_ptr().cast(), self.bytes.len() as i32, n as i32 + 1)
                };
                // pg_mblen trusts a last, incomplete character's first byte: never past the end.
                let mut cut = &self.bytes[..(keep.max(0) as usize).min(self.bytes.len())];
                if cut.len() < self.bytes.len() && database_encoding() == pg_sys::pg_enc::PG_SQL_ASCII as i32 {
                    // SQL_ASCII counts bytes, not characters: the cut may split a UTF-8
                    // character, which would then fail as invalid; end it before that one.
                    if let Err(e) = std::str::from_utf8(cut) {
                        if e.error_len().is_none() {
                            cut = &cut[..e.valid_up_to()];
                        }
                    }
                }
                cut
            }
            None => self.bytes,
        };
        db_bytes_to_utf8(bytes)
    }

    /// Bytes of the value in the database encoding.
    pub fn len(self) -> usize {
        self.bytes.len()
    }

    /// A label or argument: short by the checks that come before, converted whole.
    pub fn to_utf8_all(self) -> Result<String, ZsError> {
        self.to_utf8(None)
    }

    /// A value read from a detoasted `varlena`.
    ///
    /// # Safety
    /// `varlena` must point to a valid, detoasted text varlena that lives for `'a`.
    pub unsafe fn from_varlena(varlena: *const pg_sys::varlena) -> DbText<'a> {
        DbText { bytes: unsafe { pgrx::varlena::varlena_to_byte_slice(varlena) } }
    }
}

/// The database's encoding (a `pg_enc` value).
pub(crate) fn database_encoding() -> i32 {
    // SAFETY: reads the backend's database encoding.
    unsafe { pg_sys::GetDatabaseEncoding() }
}

/// Bytes in the database encoding to a UTF-8 `String`; Postgres raises 22021 for bytes
/// that are not valid in the database encoding, and we for any that are not UTF-8 after
/// (SQL_ASCII databases are not converted, only checked).
pub(crate) fn db_bytes_to_utf8(bytes: &[u8]) -> Result<String, ZsError> {
    String::from_utf8(convert(bytes, pg_sys::pg_server_to_any)).map_err(|_| ZsError::NotUtf8)
}

/// A message (or hint) for Postgres's error reporting, which takes a message's bytes to be
/// in the database encoding and converts them to the client's. Ours are UTF-8 and may quote
/// labels, column names or a model id: kept as they are in UTF8 and SQL_ASCII databases
/// (SQL_ASCII passes bytes through), and elsewhere with each non-ASCII character written as
/// `\uXXXX` (`\UXXXXXXXX` beyond the BMP, as in an `E''` string), so that it reads the
/// same in any client instead of turning into mojibake (LATIN1) or failing its conversion to
/// the client's encoding (EUC_CN). A message cannot be converted with Postgres's own
/// conversion: one that fails raises an error while the first is being reported.
pub(crate) fn message_for_server(message: String) -> String {
    let encoding = database_encoding();
    if message.is_ascii()
        || encoding == pg_sys::pg_enc::PG_UTF8 as i32
        || encoding == pg_sys::pg_enc::PG_SQL_ASCII as i32
    {
        return message;
    }
    escape_non_ascii(&message)
}

fn escape_non_ascii(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c as u32 {
            0..=0x7f => out.push(c),
            code @ 0x80..=0xffff => out.push_str(&format!("\\u{code:04X}")),
            code => out.push_str(&format!("\\U{code:08X}")),
        }
    }
    out
}

/// A UTF-8 string converted to the database encoding, as Postgres's own bytes.
fn to_server(text: &str) -> Vec<u8> {
    convert(text.as_bytes(), pg_sys::pg_any_to_server)
}

/// `bytes` through one of Postgres's conversions between the database encoding and UTF-8
/// (`pg_server_to_any` or `pg_any_to_server`, with UTF-8 as the other side).
fn convert(bytes: &[u8], conversion: unsafe fn(*const std::ffi::c_char, i32, i32) -> *mut std::ffi::c_char) -> Vec<u8> {
    if bytes.is_empty() {
        return Vec::new();
    }
    // SAFETY: the conversion reads `len` bytes and returns either its input or a palloc'd
    // NUL-terminated string; an invalid byte sequence raises an ERROR (caught by pgrx).
    unsafe {
        let out = conversion(bytes.as_ptr().cast(), bytes.len() as i32, pg_sys::pg_enc::PG_UTF8 as i32);
        if std::ptr::eq(out.cast::<u8>(), bytes.as_ptr()) {
            bytes.to_vec()
        } else {
            let converted = std::ffi::CStr::from_ptr(out).to_bytes().to_vec();
            pg_sys::pfree(out.cast());
            converted
        }
    }
}

impl<'a> FromDatum for DbText<'a> {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<DbText<'a>> {
        if is_null || datum.is_null() {
            return None;
        }
        // SAFETY: a text datum; detoasting allocates in the current (per-call) memory context.
        unsafe {
            let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            Some(DbText::from_varlena(varlena))
        }
    }
}

// SAFETY: array elements of type text are inline varlenas (arrays are detoasted whole).
unsafe impl UnboxDatum for DbText<'_> {
    type As<'src>
        = DbText<'src>
    where
        Self: 'src;
    unsafe fn unbox<'src>(datum: pgrx::datum::Datum<'src>) -> DbText<'src>
    where
        Self: 'src,
    {
        unsafe { DbText::from_varlena(datum.sans_lifetime().cast_mut_ptr()) }
    }
}

pgrx::impl_sql_translatable!(DbText<'_>, "text");

// SAFETY: arguments are unboxed through `FromDatum` above, which handles any text datum.
unsafe impl<'fcx> ArgAbi<'fcx> for DbText<'fcx> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum().unwrap_or_else(|| panic!("argument {index} must not be null")) }
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        unsafe { arg.unbox_arg_using_from_datum().into() }
    }
}

/// A `jsonb` argument, not yet read. pgrx's `JsonB` prints the value with `jsonb_out` (bytes in
/// the database encoding), trusts them to be UTF-8 and panics on JSON nested deeper than
/// serde's limit, and reads any size before the function can refuse it. This keeps the datum
/// until `to_value`, which measures it first, converts its text as `DbText` does, and reports
/// a bad value as an error.
#[derive(Clone, Copy)]
pub struct DbJsonb {
    datum: pg_sys::Datum,
}

impl DbJsonb {
    /// The value, if its stored size is at most `max_bytes` (else `Err(size)`, before it is
    /// detoasted); `Ok(Err(message))` when it is not JSON serde can read.
    pub fn to_value(self, max_bytes: usize) -> Result<Result<serde_json::Value, String>, ZsError> {
        // SAFETY: a jsonb datum of this call; reads its (possibly toasted) header only.
        let size = unsafe { pg_sys::toast_raw_datum_size(self.datum) };
        if size > max_bytes {
            return Err(ZsError::JsonTooLarge { bytes: size, max: max_bytes });
        }
        let (mut output, mut is_varlena) = (pg_sys::InvalidOid, false);
        // SAFETY: jsonb's output function, called on a jsonb datum; it returns a palloc'd C string
        // in the database encoding, freed below.
        let text = unsafe {
            pg_sys::getTypeOutputInfo(pg_sys::JSONBOID, &mut output, &mut is_varlena);
            let cstr = pg_sys::OidOutputFunctionCall(output, self.datum);
            let bytes = std::ffi::CStr::from_ptr(cstr).to_bytes().to_vec();
            pg_sys::pfree(cstr.cast());
            bytes
        };
        let text = db_bytes_to_utf8(&text)?;
        Ok(serde_json::from_str(&text).map_err(|e| e.to_string()))
    }
}

impl FromDatum for DbJsonb {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<DbJsonb> {
        if is_null || datum.is_null() {
            None
        } else {
            Some(DbJsonb { datum })
        }
    }
}

pgrx::impl_sql_translatable!(DbJsonb, "jsonb");

// SAFETY: arguments are unboxed through `FromDatum` above, which keeps the datum as it is.
unsafe impl<'fcx> ArgAbi<'fcx> for DbJsonb {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum().unwrap_or_else(|| panic!("argument {index} must not be null")) }
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        unsafe { arg.unbox_arg_using_from_datum().into() }
    }
}

/// `BoxRet` for a type whose `IntoDatum` makes the whole result (as pgrx does for `String`).
macro_rules! box_via_into_datum {
    ($ty:ty) => {
        // SAFETY: the datum is made in the function's return memory context by pgrx.
        unsafe impl BoxRet for $ty {
            unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
                match self.into_datum() {
                    Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
                    None => fcinfo.return_null(),
                }
            }
        }
    };
}

/// A text result, already in the database encoding.
pub struct ServerText(Vec<u8>);

impl ServerText {
    pub fn new(utf8: &str) -> ServerText {
        ServerText(to_server(utf8))
    }
}

impl IntoDatum for ServerText {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // SAFETY: copies the bytes into a palloc'd text varlena.
        let text = unsafe { pg_sys::cstring_to_text_with_len(self.0.as_ptr().cast(), self.0.len() as i32) };
        Some(pg_sys::Datum::from(text))
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::TEXTOID
    }
}

pgrx::impl_sql_translatable!(ServerText, "text");
box_via_into_datum!(ServerText);

/// A JSON document as `jsonb` in any database encoding. In UTF8 and SQL_ASCII databases the
/// UTF-8 text goes to `jsonb_in` as it is (SQL_ASCII has no conversion from Unicode escapes);
/// elsewhere non-ASCII characters are written as `\uXXXX` escapes, which `jsonb_in` turns into
/// the database encoding's characters.
pub struct ServerJsonb(pub serde_json::Value);

/// JSON text with every non-ASCII character escaped (it can only occur inside strings).
fn ascii_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

impl IntoDatum for ServerJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let encoding = database_encoding();
        let utf8_as_is = encoding == pg_sys::pg_enc::PG_UTF8 as i32 || encoding == pg_sys::pg_enc::PG_SQL_ASCII as i32;
        let json = if utf8_as_is { self.0.to_string() } else { ascii_json(&self.0) };
        let text = CString::new(json).expect("serde_json escapes NUL");
        // SAFETY: jsonb_in takes a NUL-terminated cstring datum.
        unsafe { pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(pg_sys::Datum::from(text.as_ptr()))]) }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

pgrx::impl_sql_translatable!(ServerJsonb, "jsonb");
box_via_into_datum!(ServerJsonb);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_escape_what_is_not_ascii() {
        assert_eq!(escape_non_ascii("label \"物流\" 😀 ok"), "label \"\\u7269\\u6D41\" \\U0001F600 ok");
    }

    #[test]
    fn json_is_ascii_with_escapes_that_read_back() {
        let v = serde_json::json!({"物流": 0.5, "é": "x\u{1F600}"});
        let text = ascii_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }
}
