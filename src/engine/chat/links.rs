//! Links to a chat's files that open without other credentials for a while, for channels
//! whose clients fetch a file by its address (Direct Line's `contentUrl`). A link is the
//! attachment's id, an expiry and `HMAC-SHA256(key, "ID:EXPIRES")` in hex; the key is
//! kept in the database, so every instance honours the others' links.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::ChatService;
use super::files::Download;
use crate::domain::ids::AttachmentId;
use crate::error::{Error, Result};

/// A link lasts at least this long (seconds)...
pub const FILE_LINK_SECS: i64 = 3600;
/// ...and expiries are rounded up to a multiple of this, so that one file's links stay
/// the same for a while (clients cache by address).
const ROUND_SECS: i64 = 600;

/// The key's name among the database's shared secrets.
const KEY_NAME: &str = "file_link_hmac_sha256";

/// Signs links with the shared key, for links made now.
#[derive(Clone)]
pub struct FileLinks {
    key: Arc<[u8]>,
    expires: i64,
}

impl FileLinks {
    /// The query of a link to `id`: `expires=UNIX_SECONDS&sig=HEX`.
    pub fn query(&self, id: &AttachmentId) -> String {
        let sig = hex::encode(mac(&self.key, id, self.expires).finalize().into_bytes());
        format!("expires={}&sig={sig}", self.expires)
    }
}

fn mac(key: &[u8], id: &AttachmentId, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(id.as_str().as_bytes());
    mac.update(b":");
    mac.update(expires.to_string().as_bytes());
    mac
}

impl ChatService {
    async fn link_key(&self) -> Result<Arc<[u8]>> {
        self.link_key
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut fresh);
                let stored = self
                    .core
                    .store
                    .shared_secret(KEY_NAME, &hex::encode(fresh), self.core.now())
                    .await?;
                hex::decode(stored)
                    .map(Arc::from)
                    .map_err(|e| Error::internal("reading the stored file-link key", e))
            })
            .await
            .cloned()
    }

    /// A signer for links made now, which open for at least [`FILE_LINK_SECS`].
    pub async fn file_links(&self) -> Result<FileLinks> {
        let at_least = self.core.now() / 1000 + FILE_LINK_SECS;
        Ok(FileLinks {
            key: self.link_key().await?,
            expires: (at_least + ROUND_SECS - 1) / ROUND_SECS * ROUND_SECS,
        })
    }

    /// The file a link names, while the link is valid. Errors: `not_found` for an
    /// altered link, an expired one, or a file that is gone (all alike, so that links
    /// cannot be probed).
    pub async fn download_by_link(
        &self,
        attachment_id: &str,
        expires: i64,
        signature: &str,
    ) -> Result<Download> {
        let id = AttachmentId::parse(attachment_id).map_err(|_| Error::NotFound("file"))?;
        let signature = hex::decode(signature).map_err(|_| Error::NotFound("file"))?;
        let key = self.link_key().await?;
        mac(&key, &id, expires)
            .verify_slice(&signature)
            .map_err(|_| Error::NotFound("file"))?;
        if expires < self.core.now() / 1000 {
            return Err(Error::NotFound("file"));
        }
        self.stored_file(&id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_signs_its_file_and_its_expiry() {
        let key: Arc<[u8]> = Arc::from(&b"0123456789abcdef0123456789abcdef"[..]);
        let links = FileLinks {
            key: key.clone(),
            expires: 1_800,
        };
        let id = AttachmentId::random();
        let query = links.query(&id);
        let sig = query.rsplit_once("sig=").unwrap().1;
        let sig = hex::decode(sig).unwrap();
        assert!(mac(&key, &id, 1_800).verify_slice(&sig).is_ok());
        assert!(mac(&key, &id, 1_801).verify_slice(&sig).is_err());
        assert!(
            mac(&key, &AttachmentId::random(), 1_800)
                .verify_slice(&sig)
                .is_err()
        );
    }
}
