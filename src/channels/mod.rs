//! Channel adapters: the Bot Framework activity schema that Direct Line clients and Teams
//! speak, and the translation between chatdesk's typed chat events and activities. The
//! chat core knows nothing of these formats; nothing here knows HTTP or storage.

pub mod activity;
pub mod botframework;
pub mod conversations;
pub mod directline;
pub mod tokens;
pub mod translate;
