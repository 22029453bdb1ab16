//! The pure core of SCIM in idsync: schemas, attribute paths, the filter language, PATCH and resource
//! normalisation, and the operations idsync sends to targets. No I/O and no clock: everything here is
//! a function of its arguments.
#![forbid(unsafe_code)]

pub mod error;
pub mod eval;
pub mod filter;
pub mod hint;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;
pub mod target;
pub mod time;

pub use error::{ScimError, ScimResult, ScimType};
pub use filter::{CmpOp, Filter, FilterLimits};
pub use hint::Hint;
pub use path::{AttrPath, Namespace};
pub use schema::ResourceKind;

/// Source names appear in URLs and on the command line: lowercase letters, digits and inner dashes.
pub fn validate_source_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid source name: use 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash (for example 'entra-prod')"
        ))
    }
}
