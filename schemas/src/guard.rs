//! Decoders of outside data that panic instead of returning an error.
//!
//! The parquet crate (60) panics on some corrupt files, e.g. a data page
//! whose dictionary page is missing ("Decoder for dict should have been
//! set": found by the `samples` fuzz target). Reads of untrusted Parquet run
//! under [`untrusted`]: such a panic becomes an error naming the file, and
//! its message is not printed (the one-line error says it). A panic of our
//! own code elsewhere still prints as usual.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use parquet::errors::ParquetError;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Run `f`, turning a panic inside it into an error.
pub fn untrusted<T>(f: impl FnOnce() -> T) -> Result<T, ParquetError> {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                prev(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        ParquetError::General(format!("the Parquet reader failed on corrupt data ({msg})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_the_rest_is_untouched() {
        assert_eq!(untrusted(|| 7).unwrap(), 7);
        let e = untrusted(|| -> u32 { panic!("bad page") }).unwrap_err();
        assert!(
            e.to_string().contains("failed on corrupt data (bad page)"),
            "{e}"
        );
        assert!(!QUIET.with(|q| q.get()));
    }
}
