//! The web frontend, driven through the real router on a real engine: pages rendered, forms
//! posted as a browser posts them (with the session cookie and the `Origin` header), and what
//! they changed read back through GraphQL. The browser-driven end-to-end test is
//! `tests/ui_browser.rs`.

#[path = "ui/common.rs"]
mod common;

#[path = "ui/session.rs"]
mod session;

#[path = "ui/objects.rs"]
mod objects;

#[path = "ui/branches.rs"]
mod branches;

#[path = "ui/schema.rs"]
mod schema;

#[path = "ui/account.rs"]
mod account;

#[path = "ui/tasks.rs"]
mod tasks;
