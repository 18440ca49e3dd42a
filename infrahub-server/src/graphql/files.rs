//! Files of nodes whose kind inherits `CoreFileObject`, as upstream 1.11 handles them: the
//! content comes as a GraphQL multipart upload (`file: Upload` beside `data` in the kind's
//! create, update and upsert mutations), goes to the object store under a new identifier, and
//! the node's read-only `file_name`, `checksum` (SHA-1), `file_size`, `file_type` and
//! `storage_id` say what it is. `GET /api/storage/files/...` reads it back (see
//! `rest::storage`).

use async_graphql::{Error, UploadValue};
use infrahub_core::engine::{FILE_OBJECT, StoredFile};
use infrahub_core::schema::ModelSchema;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use sha1::{Digest, Sha1};

use super::RequestContext;

/// Largest file accepted, as upstream's default `storage.max_file_size` (50 MB).
pub(crate) const MAX_FILE_SIZE: usize = 50 * 1024 * 1024;

/// Whether nodes of `model` carry a file.
pub(crate) fn carries_file(model: &ModelSchema) -> bool {
    model.inherit_from.iter().any(|g| g == FILE_OBJECT)
}

/// Stores an uploaded file and describes it.
pub(crate) async fn store_upload(
    request: &RequestContext,
    upload: UploadValue,
) -> Result<StoredFile, Error> {
    let content = upload.content;
    if content.len() > MAX_FILE_SIZE {
        return Err(Error::new(format!(
            "File size ({} bytes) exceeds maximum allowed size ({} MB)",
            content.len(),
            MAX_FILE_SIZE / (1024 * 1024)
        )));
    }
    let storage_id = infrahub_graph::NodeId::now_v7().to_string();
    let checksum = hex(&Sha1::digest(&content));
    let media_type = media_type(&content, &upload.filename, upload.content_type.as_deref());
    let name = if upload.filename.is_empty() {
        storage_id.clone()
    } else {
        upload.filename.clone()
    };
    let size = content.len() as u64;
    request
        .state
        .objects
        .put(
            &ObjectPath::from(storage_id.as_str()),
            PutPayload::from(content),
        )
        .await
        .map_err(|e| Error::new(format!("the file could not be stored: {e}")))?;
    Ok(StoredFile {
        name,
        checksum,
        size,
        media_type,
        storage_id,
    })
}

/// Removes stored content no node holds (its write was refused).
pub(crate) async fn forget(request: &RequestContext, storage_id: &str) {
    if let Err(error) = request
        .state
        .objects
        .delete(&ObjectPath::from(storage_id))
        .await
    {
        tracing::warn!(%error, storage_id, "removing the content of a refused write failed");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The media type of a file: from its first bytes for common binary formats, else from its
/// name for text, else what the upload said, else `application/octet-stream`.
pub(crate) fn media_type(content: &[u8], name: &str, declared: Option<&str>) -> String {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"%PDF", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| content.starts_with(magic)) {
        return (*kind).to_string();
    }
    let head = &content[..content.len().min(2048)];
    let text = !head.contains(&0) && std::str::from_utf8(head).is_ok();
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if text {
        let by_name = match extension.as_str() {
            "txt" | "log" | "cfg" | "conf" => Some("text/plain"),
            "csv" => Some("text/csv"),
            "json" => Some("application/json"),
            "yaml" | "yml" => Some("application/yaml"),
            "xml" => Some("application/xml"),
            "html" | "htm" => Some("text/html"),
            "md" => Some("text/markdown"),
            "toml" => Some("application/toml"),
            _ => None,
        };
        if let Some(kind) = by_name {
            return kind.to_string();
        }
    }
    match declared {
        Some(kind) if !kind.is_empty() && kind.is_ascii() && !kind.contains(['\r', '\n']) => {
            kind.to_string()
        }
        _ if text => "text/plain".to_string(),
        _ => "application/octet-stream".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_content_then_name() {
        assert_eq!(media_type(b"%PDF-1.4 x", "a.txt", None), "application/pdf");
        assert_eq!(media_type(b"\x89PNG\r\n\x1a\n..", "x", None), "image/png");
        assert_eq!(media_type(b"a,b\n1,2\n", "t.csv", None), "text/csv");
        assert_eq!(media_type(b"hello", "t", None), "text/plain");
        assert_eq!(
            media_type(b"\x00\x01\x02", "t.bin", Some("application/x-thing")),
            "application/x-thing"
        );
        assert_eq!(
            media_type(b"\x00\x01", "t.bin", None),
            "application/octet-stream"
        );
        assert_eq!(
            media_type(b"\x00\x01", "t.bin", Some("bad\r\nheader")),
            "application/octet-stream"
        );
    }
}
