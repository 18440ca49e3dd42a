// Where tests find OpsMill's public schema library (Apache-2.0, read in place, never copied
// into the repository): `INFRAHUB_SCHEMA_LIBRARY`, else `../shared/data/schema-library` beside
// the repository, else `.build/schema-library`, which `scripts/test.sh` clones from
// <https://github.com/opsmill/schema-library> when the network allows.
//
// Included by the tests that need it (`#[path = ...] mod library;`, or `include!` from
// another crate's unit tests).

use std::path::{Path, PathBuf};

/// The schema library's directory, if one of the places holds it.
pub(crate) fn schema_library() -> Option<PathBuf> {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("INFRAHUB_SCHEMA_LIBRARY")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            repository.join("../shared/data/schema-library"),
            repository.join(".build/schema-library"),
        ])
        .find(|dir| dir.join("base").is_dir())
}

/// The schema library, or `None` after printing why `test` skips. Under
/// `INFRAHUB_TEST_REQUIRE_SERVICES=1` (CI) a missing library fails the test instead.
pub(crate) fn schema_library_or_skip(test: &str) -> Option<PathBuf> {
    let found = schema_library();
    if found.is_none() {
        let how = "set INFRAHUB_SCHEMA_LIBRARY to a clone of https://github.com/opsmill/schema-library, or run ./scripts/test.sh with network access (it clones one into .build/schema-library)";
        if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{test}: the schema library is required and was not found: {how}");
        }
        eprintln!("{test}: skipped, the schema library was not found: {how}");
    }
    found
}
