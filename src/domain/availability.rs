//! How analyst availability reads on the Chat option: the label users see before they
//! start a chat, and the status that drives it.

use serde::Serialize;

named_enum! {
    /// Whether an analyst takes chats; stored and sent in lowercase.
    #[strum(serialize_all = "lowercase")]
    pub enum PresenceStatus {
        Online,
        Offline,
    }
}

impl PresenceStatus {
    pub fn is_online(self) -> bool {
        self == Self::Online
    }
}

named_enum! {
    /// What the Chat option's label says: analysts free, all busy, or none online.
    #[strum(serialize_all = "lowercase")]
    pub enum AvailabilityStatus {
        Available,
        Busy,
        Offline,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub status: AvailabilityStatus,
    /// Online analysts with spare capacity.
    pub available_analysts: i64,
    pub online_analysts: i64,
    pub queue_length: i64,
    pub label: String,
}

impl Availability {
    pub fn new(online_analysts: i64, available_analysts: i64, queue_length: i64) -> Self {
        let (status, label) = if online_analysts == 0 {
            (
                AvailabilityStatus::Offline,
                "Chat: no analysts online".to_owned(),
            )
        } else if available_analysts == 0 {
            let waiting = match queue_length {
                0 => String::new(),
                n => format!(" ({n} waiting)"),
            };
            (
                AvailabilityStatus::Busy,
                format!("Chat: all analysts are busy{waiting}"),
            )
        } else {
            let noun = if available_analysts == 1 {
                "analyst"
            } else {
                "analysts"
            };
            (
                AvailabilityStatus::Available,
                format!("Chat: {available_analysts} {noun} available"),
            )
        };
        Self {
            status,
            available_analysts,
            online_analysts,
            queue_length,
            label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_like_the_product() {
        assert_eq!(Availability::new(0, 0, 0).label, "Chat: no analysts online");
        assert_eq!(
            Availability::new(2, 2, 0).label,
            "Chat: 2 analysts available"
        );
        assert_eq!(
            Availability::new(2, 1, 0).label,
            "Chat: 1 analyst available"
        );
        let busy = Availability::new(2, 0, 3);
        assert_eq!(busy.label, "Chat: all analysts are busy (3 waiting)");
        assert_eq!(busy.status, AvailabilityStatus::Busy);
        assert_eq!(
            Availability::new(1, 0, 0).label,
            "Chat: all analysts are busy"
        );
    }
}
