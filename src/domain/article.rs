//! Where a knowledge article came from, which decides what a folder import may do to it.

named_enum! {
    /// Stored in lowercase: `file` (imported from `knowledge/`), `api` (written by an
    /// author), `deleted` (deleted by an author: kept as a tombstone so the folder does
    /// not bring it back).
    #[strum(serialize_all = "lowercase")]
    pub enum ArticleOrigin {
        File,
        Api,
        Deleted,
    }
}

impl ArticleOrigin {
    /// Whether importing the folder may add, change or remove the article.
    pub fn follows_folder(self) -> bool {
        self == Self::File
    }
}
