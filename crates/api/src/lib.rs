//! The healthcare scheduling HTTP server: actix-web handlers over the domain, scheduling,
//! persistence and auth crates, with an OpenAPI document and an offline Swagger UI.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod audit;
pub mod bodies;
pub mod booking;
pub mod callers;
pub mod cli;
pub mod coalesce;
pub mod conditional;
pub mod config;
pub mod dispatch;
pub mod egress;
pub mod error;
pub mod extract;
pub mod fhir_answers;
pub mod forwarded;
pub mod ical;
pub mod idempotency;
pub mod mailer;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod read_routing;
pub mod request_id;
pub mod routes;
pub mod state;
pub mod tasks;
pub mod webhook_signing;

pub use app::Application;
pub use config::{Cli, Command, Config};
