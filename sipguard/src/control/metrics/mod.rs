//! The Prometheus exporter: counters are read from the per-CPU maps at scrape time, never
//! copied on the packet path.
//!
//! [`mod@render`] turns the maps into the text format, [`activity`] is what the exporter learns
//! by sampling them over time ("silence is an alarm"), and [`http`] is the small, bounded
//! HTTP/1.1 responder that serves `GET /metrics`.
pub mod activity;
pub mod http;
pub mod render;

pub use activity::{Activity, SAMPLE_EVERY};
pub use http::{bind, serve};
pub use render::render;
