//! Files exchanged in a chat. They are stored under the data dir with a random name and a
//! SHA-256 checksum, typed from their content (never from the name a client sends), and
//! become part of the call.

use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Engine;
use super::accounts::hex;
use crate::domain::chat::{Party, may_post};
use crate::domain::message::{Author, AuthorRole};
use crate::domain::now_millis;
use crate::domain::user::User;
use crate::error::{Error, Result};
use crate::events::{self, AttachmentInfo};
use crate::store::{AttachmentRecord, NewEvent, kind};

pub struct FileStore {
    dir: PathBuf,
}

/// An uploaded file as received.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A file to send back, with the name and type to send it as.
pub struct Download {
    pub path: PathBuf,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

impl FileStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Writes the bytes under `id` (via a temporary file, so no half-written file is ever
    /// visible) and returns their SHA-256.
    async fn save(&self, id: &str, bytes: &[u8]) -> std::io::Result<String> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let tmp = self.dir.join(format!(".{id}.part"));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, self.path(id)).await?;
        Ok(hex(&Sha256::digest(bytes)))
    }

    async fn remove(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }
}

/// Keeps the last path component, drops control characters and bounds the length.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// What the content is, judged from its bytes.
pub fn sniff(bytes: &[u8]) -> Result<String> {
    if let Some(t) = infer::get(bytes) {
        if t.matcher_type() == infer::MatcherType::App {
            return Err(Error::UnsupportedMedia(
                format!("programs ({}) cannot be sent in a chat", t.mime_type()).into(),
            ));
        }
        return Ok(t.mime_type().to_owned());
    }
    if std::str::from_utf8(bytes).is_ok() {
        Ok("text/plain".to_owned())
    } else {
        Ok("application/octet-stream".to_owned())
    }
}

/// The type a file name promises, for the extensions whose content can be recognised.
fn promised_type(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "txt" | "log" | "csv" | "md" | "json" => "text/plain",
        _ => return None,
    })
}

fn check_name_matches(name: &str, detected: &str) -> Result<()> {
    match promised_type(name) {
        Some(promised) if promised != detected => Err(Error::invalid(
            "file",
            format!("the file is named {name:?} but its content is {detected}"),
        )),
        _ => Ok(()),
    }
}

impl Engine {
    /// Stores a file sent in a chat and adds it to the call.
    #[tracing::instrument(skip_all, fields(chat_id = chat_id, size = upload.bytes.len()), err(level = "debug"))]
    pub async fn attach(
        &self,
        user: &User,
        chat_id: i64,
        upload: Upload,
    ) -> Result<AttachmentInfo> {
        let (chat, party) = self.chat_for(user, chat_id).await?;
        may_post(party, chat.status).map_err(|(c, m)| Error::conflict(c, m))?;
        if upload.bytes.is_empty() {
            return Err(Error::invalid("file", "the file is empty"));
        }
        let limit = self.settings.limits.attachment_max_bytes;
        if upload.bytes.len() > limit {
            return Err(Error::TooLarge(
                format!("files may be at most {limit} bytes").into(),
            ));
        }
        let name = safe_name(&upload.name);
        let content_type = sniff(&upload.bytes)?;
        check_name_matches(&name, &content_type)?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex(&raw);
        let sha256 =
            self.files.save(&id, &upload.bytes).await.map_err(|e| {
                Error::Internal(anyhow::Error::new(e).context("saving an attachment"))
            })?;
        let now = now_millis();
        let info = AttachmentInfo {
            id: id.clone(),
            name: name.clone(),
            size: upload.bytes.len() as i64,
            content_type: content_type.clone(),
        };
        let author = Author {
            role: if party == Party::Owner {
                AuthorRole::User
            } else {
                AuthorRole::Analyst
            },
            name: user.display_name.clone(),
            id: Some(user.id),
        };
        let payload = events::attachment_payload(&info, &author, now);
        let record = AttachmentRecord {
            id: id.clone(),
            call_id: chat.call_id,
            chat_id,
            uploader_id: user.id,
            name,
            content_type,
            size: info.size,
            sha256,
            created_at: now,
        };
        let stored = self
            .store
            .add_attachment(
                &record,
                &NewEvent {
                    kind: kind::ATTACHMENT,
                    author: Some(&author),
                    body: None,
                    client_id: None,
                    payload: Some(&payload),
                    now,
                },
            )
            .await;
        match stored {
            Ok(appended) => {
                self.publish_chat(chat_id, events::frame_of(&appended.event));
                Ok(info)
            }
            Err(e) => {
                self.files.remove(&id).await;
                Err(e)
            }
        }
    }

    /// A file for someone who may see its call: the call's user or an analyst.
    pub async fn download(&self, user: &User, attachment_id: &str) -> Result<Download> {
        let a = self
            .store
            .attachment(attachment_id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        let call = self
            .store
            .call(a.call_id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        if call.user.id != user.id && !user.is_analyst() {
            return Err(Error::NotFound("attachment"));
        }
        Ok(Download {
            path: self.files.path(&a.id),
            name: a.name,
            content_type: a.content_type,
            size: a.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(safe_name("a\u{0}b\n.txt"), "ab.txt");
        assert_eq!(safe_name(".."), "attachment");
        assert_eq!(safe_name(""), "attachment");
    }

    #[test]
    fn content_decides_the_type() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            "image/png"
        );
        assert_eq!(sniff(b"plain words").unwrap(), "text/plain");
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x00, 0x81]).unwrap(),
            "application/octet-stream"
        );
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        assert!(sniff(&elf).is_err());
        assert!(sniff(b"MZ\x90\0\x03\0\0\0").is_err());
    }

    #[test]
    fn a_name_that_lies_about_the_content_is_refused() {
        assert!(check_name_matches("photo.png", "text/plain").is_err());
        assert!(check_name_matches("notes.txt", "text/plain").is_ok());
        assert!(check_name_matches("data.bin", "application/octet-stream").is_ok());
    }
}
