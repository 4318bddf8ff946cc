//! The parts of the Bot Framework Activity schema chatdesk reads and writes, as
//! Microsoft's Bot Framework and Direct Line 3.0 define them
//! (<https://github.com/microsoft/botframework-sdk/blob/main/specs/botframework-activity/botframework-activity.md>).
//! Fields chatdesk does not use are kept where a client needs them back (`channelData`)
//! and otherwise ignored on the way in.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One activity, in either direction. Unknown fields a client sends are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `message`, `typing`, `endOfConversation`, `event`, ...
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// ISO 8601 in UTC, from the server's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    /// Bot Framework: who the activity is for (the bot, on the way in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `markdown` or `plain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    /// A card action's value (`messageBack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// `list` or `carousel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<SuggestedActions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    /// The client's own data, echoed back unchanged (Web Chat's `clientActivityID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    /// Teams: where replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
}

impl Activity {
    /// `channelData.clientActivityID`: the id Web Chat gives a message it sends, and
    /// looks for on the way back to mark it sent.
    pub fn client_activity_id(&self) -> Option<&str> {
        self.channel_data
            .as_ref()
            .and_then(|d| d.get("clientActivityID"))
            .and_then(Value::as_str)
    }
}

/// Who sent an activity. `role` is `user` or `bot`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Teams: the person's Microsoft Entra object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

/// The conversation an activity belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationAccount {
    pub id: String,
}

/// A card or a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The content type of a hero card attachment.
pub const HERO_CARD: &str = "application/vnd.microsoft.card.hero";

/// A hero card: a title, some text and buttons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeroCard {
    pub title: String,
    pub text: String,
    pub buttons: Vec<CardAction>,
}

/// A button. chatdesk's are `messageBack`: clicked, the client posts a message activity
/// carrying `value` (and `text`, which chatdesk does not read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Buttons shown under the last message until the person writes (Web Chat shows them only
/// while the bot's message is the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestedActions {
    pub actions: Vec<CardAction>,
}

/// What a Direct Line client receives, from a poll or on its stream: activities and the
/// watermark to resume after (a string, as clients send it back verbatim).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivitySet {
    pub activities: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}
