//! Files exchanged in a chat. They are stored in the attachments store (a folder or a
//! bucket, see [`crate::store::objects`]) under a random name with a SHA-256 checksum,
//! typed from their content (never from the name a client sends), and become part of the
//! call.

use std::path::Path;
use std::time::Duration;

use chardetng::{Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use sha2::{Digest, Sha256};

use super::ChatService;
use super::lifecycle::author_of;
use crate::domain::chat::may_post;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{AttachmentId, ChatId};
use crate::domain::message::AttachmentInfo;
use crate::domain::user::User;
use crate::engine::core::refused;
use crate::error::{Error, Result};
use crate::events::Frame;
use crate::store::objects::ByteStream;
use crate::store::{AttachmentRecord, NewEvent};

/// How old an object without a row must be before it is swept: older than any upload in
/// progress...
const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// ...and how old at most: the hourly sweep looks back a day (an orphan is left by a
/// crash between writing the object and committing its row, which a sweep soon after
/// the restart finds).
const ORPHAN_WINDOW: Duration = Duration::from_secs(25 * 3600);

/// An uploaded file as received.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A file to send back, with the name and type to send it as.
pub struct Download {
    pub body: ByteStream,
    pub name: String,
    pub content_type: String,
    pub size: i64,
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

/// What the content is, judged from its bytes: a known format by its signature (programs
/// are refused), else text in whichever common encoding it reads as (`text/plain`, with
/// a `charset` unless UTF-8), else `application/octet-stream`.
pub fn sniff(bytes: &[u8]) -> Result<String> {
    if let Some(t) = infer::get(bytes) {
        if t.matcher_type() == infer::MatcherType::App {
            return Err(Error::UnsupportedMedia(
                format!("programs ({}) cannot be sent in a chat", t.mime_type()).into(),
            ));
        }
        return Ok(t.mime_type().to_owned());
    }
    Ok(match text_encoding(bytes) {
        Some(encoding) if encoding == UTF_8 => "text/plain".to_owned(),
        Some(encoding) => format!(
            "text/plain; charset={}",
            encoding.name().to_ascii_lowercase()
        ),
        None => "application/octet-stream".to_owned(),
    })
}

/// The encoding in which `bytes` read as text, if there is one. A byte-order mark names
/// it (Windows PowerShell writes UTF-16LE with one when output is redirected); without
/// one, UTF-16 by its zero bytes, then UTF-8, then the legacy encoding Mozilla's
/// detector (`chardetng`) guesses (Windows-1252 for most European text).
fn text_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    match Encoding::for_bom(bytes) {
        // UTF-8 with a byte-order mark is UTF-8, judged as UTF-8 is below.
        Some((encoding, bom)) if encoding != UTF_8 => {
            return reads_as_text(encoding, &bytes[bom..]).then_some(encoding);
        }
        _ => {}
    }
    // Before UTF-8: Latin text in UTF-16 is valid UTF-8 too, with a NUL in every other byte.
    if let Some(encoding) = utf16_by_zero_bytes(bytes).filter(|e| reads_as_text(e, bytes)) {
        return Some(encoding);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return Some(UTF_8);
    }
    let mut detector = chardetng::EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, Utf8Detection::Allow);
    reads_as_text(encoding, bytes).then_some(encoding)
}

/// UTF-16 without a byte-order mark, when at least a third of the code units have a zero
/// high byte (as Latin text does) on one side and none on the other.
fn utf16_by_zero_bytes(bytes: &[u8]) -> Option<&'static Encoding> {
    if bytes.len() < 4 || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.len() / 2;
    let zeros = |offset: usize| {
        bytes
            .iter()
            .skip(offset)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (zeros(0), zeros(1));
    if odd * 3 >= units && even == 0 {
        Some(UTF_16LE)
    } else if even * 3 >= units && odd == 0 {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Whether `bytes` decode in `encoding` without errors and without control characters
/// other than line ends, tabs, form feeds, escapes (colour codes in logs) and DOS's
/// end-of-file mark.
fn reads_as_text(encoding: &'static Encoding, bytes: &[u8]) -> bool {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    !had_errors
        && !text.is_empty()
        && text.chars().all(|c| {
            !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{0c}' | '\u{1b}' | '\u{1a}')
        })
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
    // `text/plain; charset=utf-16le` keeps the promise of `.txt`.
    let essence = detected.split(';').next().unwrap_or(detected).trim();
    match promised_type(name) {
        Some(promised) if promised != essence => Err(Error::invalid(
            "file",
            format!("the file is named {name:?} but its content is {detected}"),
        )),
        _ => Ok(()),
    }
}

impl ChatService {
    /// Stores a file sent in a chat and adds it to the call.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, size = upload.bytes.len()), err(level = "debug"))]
    pub async fn attach(
        &self,
        user: &User,
        chat_id: ChatId,
        upload: Upload,
    ) -> Result<AttachmentInfo> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        may_post(party, chat.status).map_err(refused)?;
        let (name, content_type, upload) = self.checked(user, upload).await?;
        let id = AttachmentId::random();
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        let size = upload.bytes.len() as i64;
        self.files
            .save(&id, upload.bytes.into())
            .await
            .map_err(|e| Error::internal("saving an attachment", e))?;
        let now = self.core.now();
        let info = AttachmentInfo {
            id: id.clone(),
            name: name.clone(),
            size,
            content_type: content_type.clone(),
        };
        let author = author_of(user, party);
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
            .core
            .store
            .add_attachment(
                &record,
                &NewEvent {
                    event: ChatEvent::Attachment {
                        attachment: info.clone(),
                        author,
                    },
                    now,
                },
            )
            .await;
        match stored {
            Ok(appended) => {
                self.core.publish(Frame::of_event(&appended.event));
                Ok(info)
            }
            Err(e) => {
                self.files.remove(&id).await;
                Err(e.into())
            }
        }
    }

    /// The upload with its safe name and its detected content type, once it is not empty,
    /// within the size limit, what its name says it is, and within `user`'s daily quota
    /// (which it then uses up).
    async fn checked(&self, user: &User, upload: Upload) -> Result<(String, String, Upload)> {
        if upload.bytes.is_empty() {
            return Err(Error::invalid("file", "the file is empty"));
        }
        let limit = self.core.settings.limits.attachment_max_bytes;
        if upload.bytes.len() > limit {
            return Err(Error::TooLarge(
                format!("files may be at most {limit} bytes").into(),
            ));
        }
        let name = safe_name(&upload.name);
        // Judging text decodes the whole file: off the async workers.
        let (content_type, upload) =
            tokio::task::spawn_blocking(move || (sniff(&upload.bytes), upload))
                .await
                .map_err(|e| Error::internal("typing an attachment", e))?;
        let content_type = content_type?;
        check_name_matches(&name, &content_type)?;
        let size = upload.bytes.len();
        let per_day = self.core.settings.limits.upload_bytes_per_day;
        if size as u64 > per_day {
            return Err(Error::TooLarge(
                format!(
                    "files may be at most {per_day} bytes: what one person may upload in a day"
                )
                .into(),
            ));
        }
        if let Err(wait) = self
            .limits
            .upload_bytes
            .take_n(&user.id, size as f64, self.core.now())
            .await?
        {
            return Err(Error::quota_exceeded(
                format!(
                    "you may upload {per_day} bytes a day, and this file does not fit in what is left today"
                ),
                wait,
            ));
        }
        Ok((name, content_type, upload))
    }

    /// A file for someone who may see its call: the call's user or an analyst.
    pub async fn download(&self, user: &User, attachment_id: &str) -> Result<Download> {
        let attachment_id =
            AttachmentId::parse(attachment_id).map_err(|_| Error::NotFound("attachment"))?;
        let a = self
            .core
            .store
            .attachment(&attachment_id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        let call = self
            .core
            .store
            .call(a.call_id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        if call.user.id != user.id && !user.is_analyst() {
            return Err(Error::NotFound("attachment"));
        }
        self.stored_file(&a.id).await
    }

    /// A stored file, for a caller that has checked the right to it.
    pub(super) async fn stored_file(&self, id: &AttachmentId) -> Result<Download> {
        let a = self
            .core
            .store
            .attachment(id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        let body = self.files.read(&a.id).await.map_err(|e| {
            // The row commits only after its object is written: this is a lost file.
            Error::internal("reading an attachment", e)
        })?;
        Ok(Download {
            body,
            name: a.name,
            content_type: a.content_type,
            size: a.size,
        })
    }
}

impl ChatService {
    /// Deletes stored objects that no attachment row names (an upload whose row never
    /// committed) written between one and 25 hours ago; returns how many.
    ///
    /// # Errors
    /// The attachments store could not be listed.
    pub async fn sweep_orphan_files(&self) -> Result<u64> {
        let store = &self.core.store;
        let swept = self
            .files
            .sweep_orphans(ORPHAN_AGE, ORPHAN_WINDOW, |id| async move {
                match store.attachment(&id).await {
                    Ok(row) => Some(row.is_some()),
                    Err(e) => {
                        tracing::warn!(attachment = %id, error = %e, "could not check a stored file");
                        None
                    }
                }
            })
            .await
            .map_err(|e| Error::internal("listing the attachments store", e))?;
        Ok(swept)
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
            sniff(&[0x00, 0x81, 0xff, 0x00, 0x07, 0x9d]).unwrap(),
            "application/octet-stream"
        );
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        assert!(sniff(&elf).is_err());
        assert!(sniff(b"MZ\x90\0\x03\0\0\0").is_err());
    }

    #[test]
    fn text_in_the_common_encodings_is_text() {
        // PowerShell's redirected output: UTF-16LE with a byte-order mark.
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]).unwrap(),
            "text/plain; charset=utf-16le"
        );
        assert_eq!(
            sniff(&[0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]).unwrap(),
            "text/plain; charset=utf-16be"
        );
        let without_bom: Vec<u8> = "name,ok\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(sniff(&without_bom).unwrap(), "text/plain; charset=utf-16le");
        // "Renée" from Excel's CSV export: Windows-1252.
        assert_eq!(
            sniff(b"Ren\xe9e").unwrap(),
            "text/plain; charset=windows-1252"
        );
        assert_eq!(sniff(b"\xef\xbb\xbfbom").unwrap(), "text/plain");
        assert_eq!(sniff(b"\xef\xbb\xbf").unwrap(), "text/plain");
        assert_eq!(
            sniff(b"\xff\xfeE\x00R\x00R\x00\x1b\x00[\x001\x00m\x00\x1a\x00").unwrap(),
            "text/plain; charset=utf-16le",
            "a log with a colour code and DOS's end mark"
        );
        // A byte-order mark before what is not text in its encoding: a lone surrogate,
        // a control character.
        for junk in [&b"\xff\xfe\x00\xd8A\x00"[..], b"\xff\xfe\x01\x00\x02\x00"] {
            assert_eq!(sniff(junk).unwrap(), "application/octet-stream", "{junk:?}");
        }
        assert!(check_name_matches("users.csv", "text/plain; charset=windows-1252").is_ok());
    }

    #[test]
    fn a_name_that_lies_about_the_content_is_refused() {
        assert!(check_name_matches("photo.png", "text/plain").is_err());
        assert!(check_name_matches("notes.txt", "text/plain").is_ok());
        assert!(check_name_matches("data.bin", "application/octet-stream").is_ok());
    }
}
