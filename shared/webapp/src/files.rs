//! The files of the web app's build (`web/dist/`), and how long browsers may keep each.
//!
//! Release builds (and so the container image) carry the files in the binary: the server needs no
//! directory beside it and cannot serve a build other than the one it was compiled with. Debug
//! builds read `web/dist/` (found from this crate's source directory, wherever the binary runs)
//! on each request, so a new `npm run build` shows without recompiling. Without a built app
//! (`web/dist/` missing at compile time) there are no files and only the API is served.

use std::borrow::Cow;

use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Dist;

/// The page every app route renders (the app routes in the browser).
pub const INDEX: &str = "index.html";

/// Where Vite writes the bundles, their content hash in their names.
pub const ASSETS_DIR: &str = "assets/";

/// How long a browser or CDN may reuse a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Named by the hash of its content: a new content is a new name, so keep it for a year.
    Immutable,
    /// `index.html` and the other unhashed files: revalidate every time (a 304 when unchanged),
    /// so a deployment shows at once.
    Revalidate,
}

impl Caching {
    pub fn header(self) -> &'static str {
        match self {
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Revalidate => "no-cache",
        }
    }
}

/// One file of the build.
pub struct File {
    pub body: Cow<'static, [u8]>,
    pub content_type: String,
    /// A strong validator: the first 128 bits of the content's SHA-256, quoted.
    pub etag: String,
    pub caching: Caching,
}

/// The file at `path` (relative to `web/dist/`, no leading slash); `""` is `index.html`.
/// Paths with empty, `.` or `..` segments name no file.
pub fn find(path: &str) -> Option<File> {
    let path = if path.is_empty() { INDEX } else { path };
    if path
        .split('/')
        .any(|segment| matches!(segment, "" | "." | "..") || segment.contains('\\'))
    {
        return None;
    }
    let file = Dist::get(path)?;
    let mime = file.metadata.mimetype();
    let content_type = if is_text(mime) && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    Some(File {
        etag: format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16])),
        content_type,
        caching: if path.starts_with(ASSETS_DIR) {
            Caching::Immutable
        } else {
            Caching::Revalidate
        },
        body: file.data,
    })
}

/// The paths of every file of the build.
pub fn paths() -> impl Iterator<Item = Cow<'static, str>> {
    Dist::iter()
}

/// Whether this binary has the app at all.
pub fn is_built() -> bool {
    Dist::get(INDEX).is_some()
}

fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "image/svg+xml"
        )
}
