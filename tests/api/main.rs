//! End-to-end tests over real HTTP and WebSockets, each scenario on SQLite and PostgreSQL.

mod helpers;
mod process;
mod proxy;
mod s3;

mod abuse;
mod access;
mod access_table;
mod assist;
mod bad_input;
mod calls_desk;
mod canned;
mod cluster;
mod crash;
mod directline;
mod faults;
mod gaps;
mod insights;
mod knowledge;
mod lifecycle;
mod limits;
mod liveness;
mod outage;
mod pages;
mod queue;
mod ratings;
mod reconnect;
mod service;
mod story;
mod teams;
mod traffic;
mod transfer;
mod webhooks;
