//! The web app (`web/`, built into `web/dist/`), served beside the API by the embedded server and
//! the container's HTTP mode. On AWS the app lives in S3 behind the CloudFront distribution instead
//! (`template.yaml`, `deploy/web.sh`); no Lambda function serves it.
//!
//! [`in_front_of`] puts the app in front of the API's router ([`InFront`]) and answers these
//! requests before the API sees them (GET and HEAD only):
//!
//! * `/config.json`: the [`Settings`], so one build of the app runs against any deployment;
//! * a file of the build ([`files`]): `/` is `index.html`, `/assets/*` (hashed names) may be cached
//!   for a year, everything else is revalidated on each use;
//! * any other path outside the API from a client that accepts `text/html` (a browser navigating):
//!   `index.html`, so a deep link such as `/events/evt_demo` opens the app, which routes in the
//!   browser.
//!
//! Everything else goes on to the API: its routes, unknown `/api/...` paths (the contract's JSON
//! 404), a missing `/assets/` file (a 404, never a page in place of a script), and any request of
//! a client that does not ask for HTML. The app's responses carry the API's
//! [`SECURITY_HEADERS`](tacos_http::SECURITY_HEADERS) with one change: the page's
//! [`page_policy`] instead of the API's `default-src 'none'`.

pub mod files;
mod serve;
mod settings;

pub use serve::{in_front_of, page_policy, InFront, PAGE_POLICY};
pub use settings::{Settings, SettingsError, API_BASE_URL_VAR, WS_URL_VAR};
