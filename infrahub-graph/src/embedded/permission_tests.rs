use std::os::unix::fs::PermissionsExt;

use super::*;

#[test]
fn the_store_files_are_readable_by_their_owner_only() {
    let dir = std::env::temp_dir().join(format!("infrahub-modes-{}", uuid::Uuid::new_v4()));
    let store = EmbeddedGraph::open(&dir.join("graph"), EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mode = |name: &str| {
        std::fs::metadata(dir.join("graph").join(name))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o777)
    };
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("graph.redb"), 0o600);
    assert_eq!(mode("graph.journal"), 0o600);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
