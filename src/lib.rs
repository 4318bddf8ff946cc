//! chatdesk: a chatbot-first chat engine with live-analyst handoff for IT service desks.
//!
//! How the crate is laid out, from the inside out:
//! - [`domain`]: types and rules (roles, the chat state machine, availability labels).
//!   No I/O.
//! - [`knowledge`]: articles and the rankers that turn a description into suggestions.
//! - [`store`]: storage behind one trait, on SQLite or PostgreSQL.
//! - [`events`] and [`bus`]: what happened in a chat, as frames, and the bus that carries
//!   them to sockets (and, later, to other instances).
//! - [`engine`]: the product's behaviour, using all of the above; no HTTP in it.
//! - [`http`]: the thin axum layer (REST, WebSocket, health, metrics).
//! - [`startup`]: wiring it together and running until shutdown; [`config`] for settings.
//! - [`rank`]: the `chatdesk rank` batch command used for evaluation.

pub mod bus;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod http;
pub mod knowledge;
pub mod metrics;
pub mod rank;
pub mod startup;
pub mod store;
