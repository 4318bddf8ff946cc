//! End-to-end tests over real HTTP and WebSockets, each scenario on SQLite and PostgreSQL.

mod helpers;

mod access;
mod bad_input;
mod knowledge;
mod pages;
mod queue;
mod reconnect;
mod service;
mod story;
