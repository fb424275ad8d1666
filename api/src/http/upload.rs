//! Reading a `multipart/form-data` upload: a few short text parts and one file, which is
//! spooled to disk (hashed and size-checked) as it arrives.

use std::collections::BTreeMap;

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::StatusCode;

use super::state::App;
use crate::blobs::Spooled;
use crate::error::{Error, Result};

/// Most bytes of a text part.
const MAX_FIELD_BYTES: usize = 1024;

/// An upload read whole.
#[derive(Debug)]
pub struct Upload {
    /// The text parts by name.
    pub fields: BTreeMap<String, String>,
    /// The file, spooled.
    pub file: Spooled,
    /// The file's name as sent.
    pub filename: Option<String>,
    /// The file part's media type (default `application/octet-stream`).
    pub content_type: String,
}

fn malformed(e: MultipartError, limit: u64) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge { limit_bytes: limit }
    } else {
        Error::Malformed(format!("reading the multipart body: {}", e.body_text()))
    }
}

/// Reads an upload whose text parts are among `text_parts` and whose file part is `file`.
pub async fn read(
    app: &App,
    multipart: std::result::Result<Multipart, MultipartRejection>,
    text_parts: &[&str],
) -> Result<Upload> {
    let mut multipart = multipart.map_err(|_| {
        Error::UnsupportedMediaType("send the upload as multipart/form-data".to_owned())
    })?;
    let limit = app.config().max_document_bytes;
    let mut fields = BTreeMap::new();
    let mut file: Option<(Spooled, Option<String>, String)> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| malformed(e, limit))?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            if file.is_some() {
                return Err(Error::invalid("file", "send one file per upload"));
            }
            let filename = field.file_name().map(str::to_owned);
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let spooled = app
                .blobs()
                .spool(&mut field, limit)
                .await
                .map_err(|e| match e {
                    Error::Malformed(m) if m.contains("length limit") => {
                        Error::PayloadTooLarge { limit_bytes: limit }
                    }
                    other => other,
                })?;
            file = Some((spooled, filename, content_type));
        } else if text_parts.contains(&name.as_str()) {
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| malformed(e, limit))? {
                text.extend_from_slice(&chunk);
                if text.len() > MAX_FIELD_BYTES {
                    return Err(Error::invalid(name, "too long"));
                }
            }
            let text = String::from_utf8(text)
                .map_err(|_| Error::invalid(name.clone(), "must be UTF-8 text"))?;
            fields.insert(name, text);
        } else {
            return Err(Error::invalid(
                name,
                format!("unknown part; send {} and file", text_parts.join(", ")),
            ));
        }
    }
    let (file, filename, content_type) = file.ok_or_else(|| Error::invalid("file", "required"))?;
    Ok(Upload {
        fields,
        file,
        filename,
        content_type,
    })
}
