//! Encryption at rest (SPEC §6): an opt-in keyring of AES-256-GCM keys.
//!
//! The keyring is JSON, `{"current": "k2", "keys": {"k1": "<base64 of 32
//! bytes>", "k2": "…"}}`, read from exactly one of
//! `RELAY_ENCRYPTION_KEYRING` (the JSON itself),
//! `RELAY_ENCRYPTION_KEYRING_PATH` (a file holding it) or the config
//! file's `[encryption] keyring_path`. New values are sealed with the
//! `current` key; every key in `keys` can open what it sealed, so a key can
//! be rotated (`relay re-encrypt`) without downtime.
//!
//! A sealed value is stored as text,
//! `enc:<key_id>:<base64 nonce>:<base64 ciphertext+tag>` (standard base64
//! with padding, RFC 4648 §4): a random 96-bit nonce per value (NIST SP
//! 800-38D §8.2.2; keep a key under 2^32 values) and the 128-bit tag
//! appended to the ciphertext. The associated data is `relay:` plus the
//! column (`relay:messages.content`), so a value copied into another
//! column does not open.
//!
//! Encrypted columns ([`Field`]): message and channel-message content, task
//! description and result, audit parameters, webhook secrets. Without a
//! keyring they hold plain text; a plain value that itself starts with
//! `enc:` or `raw:` is stored behind a `raw:` escape so no message can pass for ciphertext.
//!
//! The store applies this inside SQL: [`register`] installs
//! `relay_seal(column, value)` and `relay_open(column, value)` on its
//! connection, so every read and write of those columns goes through one
//! place.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorCode, Result};

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "enc:";
/// The prefix that escapes a plain value starting with `enc:` or `raw:`.
pub const ESCAPE_PREFIX: &str = "raw:";
/// Key length in bytes (AES-256).
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// The environment variable holding the keyring JSON.
pub const ENV_KEYRING: &str = "RELAY_ENCRYPTION_KEYRING";
/// The environment variable naming a keyring file.
pub const ENV_KEYRING_PATH: &str = "RELAY_ENCRYPTION_KEYRING_PATH";

/// A column whose values are encrypted under a keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `messages.content`.
    MessageContent,
    /// `channel_messages.content`.
    ChannelMessageContent,
    /// `tasks.description`.
    TaskDescription,
    /// `tasks.result`.
    TaskResult,
    /// `audit.params`.
    AuditParams,
    /// `webhooks.secret`: the HMAC key of a webhook's signatures (SPEC §7).
    WebhookSecret,
}

impl Field {
    /// Every encrypted column, in the order `relay re-encrypt` visits them.
    pub const ALL: [Field; 6] = [
        Self::MessageContent,
        Self::ChannelMessageContent,
        Self::TaskDescription,
        Self::TaskResult,
        Self::AuditParams,
        Self::WebhookSecret,
    ];

    /// `table.column`, as SQL names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessageContent => "messages.content",
            Self::ChannelMessageContent => "channel_messages.content",
            Self::TaskDescription => "tasks.description",
            Self::TaskResult => "tasks.result",
            Self::AuditParams => "audit.params",
            Self::WebhookSecret => "webhooks.secret",
        }
    }

    /// The table.
    pub fn table(self) -> &'static str {
        self.name().split_once('.').map_or("", |(t, _)| t)
    }

    /// The column.
    pub fn column(self) -> &'static str {
        self.name().split_once('.').map_or("", |(_, c)| c)
    }

    /// The field named `table.column`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    fn aad(self) -> &'static [u8] {
        match self {
            Self::MessageContent => b"relay:messages.content",
            Self::ChannelMessageContent => b"relay:channel_messages.content",
            Self::TaskDescription => b"relay:tasks.description",
            Self::TaskResult => b"relay:tasks.result",
            Self::AuditParams => b"relay:audit.params",
            Self::WebhookSecret => b"relay:webhooks.secret",
        }
    }
}

/// A parsed keyring: the current key id and every key by id. Its `Debug`
/// shows key ids only, never key material. The AES key schedules are
/// zeroed on drop (the `aes` crate's `zeroize` feature), and so are the
/// decoded key bytes.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, Aes256Gcm>,
    /// Per key id, the search-index key derived from it ([`IndexKey`]).
    index_keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringJson {
    current: String,
    keys: BTreeMap<String, String>,
}

/// Whether `id` is a valid key id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Keyring {
    /// Parses keyring JSON. `source` names where it came from, for errors.
    ///
    /// Errors ([`ErrorCode::Validation`]; never quoting key material):
    /// malformed JSON or unknown fields, no keys, a bad key id, a key that
    /// is not standard base64 of exactly 32 bytes, a `current` that is not
    /// in `keys`.
    pub fn from_json(text: &str, source: &str) -> Result<Self> {
        let bad = |what: String| Error::validation(format!("the encryption keyring from {source} {what}"));
        let parsed: KeyringJson = serde_json::from_str(text).map_err(|e| {
            // Only where, never serde's own message: it can quote a value,
            // and a value here may be a key.
            let what = match e.classify() {
                serde_json::error::Category::Data => "does not have the keyring's shape",
                serde_json::error::Category::Eof => "is cut short",
                _ => "is not valid JSON",
            };
            bad(format!(
                "{what} (line {}, column {}); expected {{\"current\": \"k1\", \"keys\": {{\"k1\": \"<base64 of 32 bytes>\"}}}}",
                e.line(),
                e.column()
            ))
        })?;
        if parsed.keys.is_empty() {
            return Err(bad("has no keys".into()));
        }
        let mut keys = BTreeMap::new();
        let mut index_keys = BTreeMap::new();
        for (id, b64) in parsed.keys {
            if !valid_key_id(&id) {
                // Not quoted: a key pasted where its id belongs would be.
                return Err(bad(format!(
                    "has a key id of {} characters that is not 1-64 letters, digits, '.', '_' or '-'",
                    id.chars().count()
                )));
            }
            let bytes = BASE64
                .decode(b64.trim())
                .map(Zeroizing::new)
                .map_err(|_| bad(format!("has a key {id:?} that is not standard base64")))?;
            if bytes.len() != KEY_BYTES {
                return Err(bad(format!(
                    "has a key {id:?} of {} bytes; AES-256 keys are {KEY_BYTES} bytes (generate one with `openssl rand -base64 32`)",
                    bytes.len()
                )));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).expect("the length was checked");
            index_keys.insert(id.clone(), derive_index_key(&bytes));
            keys.insert(id, cipher);
        }
        if !keys.contains_key(&parsed.current) {
            let named = if valid_key_id(&parsed.current) {
                format!("{:?}", parsed.current)
            } else {
                "a malformed id".to_owned()
            };
            return Err(bad(format!("names current key {named}, which is not in keys")));
        }
        Ok(Self {
            current: parsed.current,
            keys,
            index_keys,
        })
    }

    /// The id of the key new values are sealed with.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Every key id, sorted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether the keyring holds key `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Seals `plaintext` for `field` with the current key.
    pub fn seal(&self, field: Field, plaintext: &str) -> String {
        self.seal_with(&self.current, field, plaintext)
            .expect("the current key is in the keyring")
    }

    /// Seals `plaintext` for `field` with key `id`.
    ///
    /// Errors: [`ErrorCode::Validation`] when the keyring has no key `id`.
    pub fn seal_with(&self, id: &str, field: Field, plaintext: &str) -> Result<String> {
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| Error::validation(format!("the keyring has no key {id:?}")))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: field.aad(),
                },
            )
            .map_err(|_| Error::internal("AES-GCM refused to encrypt"))?;
        Ok(format!(
            "{SEALED_PREFIX}{id}:{}:{}",
            BASE64.encode(nonce),
            BASE64.encode(sealed)
        ))
    }

    /// Opens a value stored as `enc:<key_id>:<nonce>:<ciphertext>`.
    ///
    /// Errors ([`ErrorCode::CorruptStore`]): the value is not in that
    /// form, its key is not in the keyring, or authentication fails (the
    /// wrong key under that id, or the value was altered or moved).
    pub fn open(&self, field: Field, stored: &str) -> Result<String> {
        let (id, nonce, sealed) = parse_sealed(stored).ok_or_else(|| malformed(field))?;
        let cipher = self.keys.get(id).ok_or_else(|| missing_key(field, id))?;
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: field.aad(),
                },
            )
            .map_err(|_| {
                Error::new(
                    ErrorCode::CorruptStore,
                    format!(
                        "a value in {} does not decrypt under key {id:?}: the keyring's {id:?} is not the key \
                         it was sealed with, or the value was altered",
                        field.name()
                    ),
                )
            })?;
        String::from_utf8(plain).map_err(|_| malformed(field))
    }
}

fn malformed(field: Field) -> Error {
    Error::new(
        ErrorCode::CorruptStore,
        format!("a value in {} looks encrypted but is malformed", field.name()),
    )
}

fn missing_key(field: Field, id: &str) -> Error {
    Error::new(
        ErrorCode::CorruptStore,
        format!(
            "a value in {} is encrypted with key {id:?}, which the configured keyring does not hold; \
             add key {id:?} to the keyring (see `relay doctor`)",
            field.name()
        ),
    )
}

/// The key id of a stored value (`Some("k1")` for `enc:k1:…`), or `None`
/// for a plain value.
pub fn key_id(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(SEALED_PREFIX)?;
    rest.split_once(':').map(|(id, _)| id)
}

fn parse_sealed(stored: &str) -> Option<(&str, [u8; NONCE_BYTES], Vec<u8>)> {
    let mut parts = stored.strip_prefix(SEALED_PREFIX)?.splitn(3, ':');
    let (id, nonce, sealed) = (parts.next()?, parts.next()?, parts.next()?);
    let nonce: [u8; NONCE_BYTES] = BASE64.decode(nonce).ok()?.try_into().ok()?;
    let sealed = BASE64.decode(sealed).ok()?;
    (sealed.len() >= TAG_BYTES).then_some((id, nonce, sealed))
}

/// How the store writes and reads the encrypted columns: through a
/// keyring, or as (escaped) plain text when none is configured.
#[derive(Debug, Clone, Default)]
pub struct Codec {
    keyring: Option<Arc<Keyring>>,
}

impl Codec {
    /// A codec sealing with `keyring`, or plain without one.
    pub fn new(keyring: Option<Arc<Keyring>>) -> Self {
        Self { keyring }
    }

    /// The keyring, if any.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// What to store for `plaintext` in `field`: sealed under the current
    /// key, or plain (escaped when it starts with `enc:` or `raw:`).
    pub fn encode<'a>(&self, field: Field, plaintext: &'a str) -> Cow<'a, str> {
        match &self.keyring {
            Some(k) => Cow::Owned(k.seal(field, plaintext)),
            None if plaintext.starts_with(SEALED_PREFIX) || plaintext.starts_with(ESCAPE_PREFIX) => {
                Cow::Owned(format!("{ESCAPE_PREFIX}{plaintext}"))
            }
            None => Cow::Borrowed(plaintext),
        }
    }

    /// The plain text of a stored value.
    ///
    /// Errors ([`ErrorCode::CorruptStore`]): a sealed value with no
    /// keyring configured, or one [`Keyring::open`] refuses.
    pub fn decode<'a>(&self, field: Field, stored: &'a str) -> Result<Cow<'a, str>> {
        if let Some(plain) = stored.strip_prefix(ESCAPE_PREFIX) {
            return Ok(Cow::Borrowed(plain));
        }
        if !stored.starts_with(SEALED_PREFIX) {
            return Ok(Cow::Borrowed(stored));
        }
        match &self.keyring {
            Some(k) => k.open(field, stored).map(Cow::Owned),
            None => Err(Error::new(
                ErrorCode::CorruptStore,
                format!(
                    "{} holds encrypted values but no keyring is configured; set {ENV_KEYRING_PATH} \
                     (or {ENV_KEYRING}, or [encryption] keyring_path in the config file)",
                    field.name()
                ),
            )),
        }
    }
}

/// What HMAC-SHA256 under a keyring key signs to derive that key's
/// search-index key: the index never uses an encryption key directly.
const INDEX_KEY_INFO: &[u8] = b"relay:search-index:v1";

/// Bytes of HMAC-SHA256 kept per indexed word (64 bits: among a million
/// distinct words, the chance of any two colliding is about 3 in 10^8,
/// and a collision only adds a false match).
pub const INDEX_TERM_BYTES: usize = 8;

fn derive_index_key(key: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(INDEX_KEY_INFO);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The key that turns words into search-index terms under a keyring
/// (SPEC §9: no plaintext index reaches the disk). A term is the first
/// [`INDEX_TERM_BYTES`] of HMAC-SHA256(index key, word), as lowercase
/// hex (16 characters: one token for any FTS5 tokenizer). The index key
/// is HMAC-SHA256(keyring key, `relay:search-index:v1`), so each keyring
/// key has its own and none is used for two purposes. Equal words give
/// equal terms: the index shows which messages share a word and how often
/// a term occurs, never the word itself.
#[derive(Clone)]
pub struct IndexKey {
    mac: hmac::Hmac<sha2::Sha256>,
}

impl std::fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexKey(..)")
    }
}

impl IndexKey {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            mac: <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).expect("HMAC takes a key of any length"),
        }
    }

    /// The index term of `word` (16 lowercase hex characters).
    pub fn term(&self, word: &str) -> String {
        use hmac::Mac;
        let mut mac = self.mac.clone();
        mac.update(word.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(INDEX_TERM_BYTES * 2);
        for b in &digest[..INDEX_TERM_BYTES] {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        out
    }

    /// The terms of the space-separated `words`, in order, space-separated
    /// (each distinct word hashed once).
    pub fn terms(&self, words: &str) -> String {
        let mut seen: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
        let mut out = String::with_capacity(words.len() * 2);
        for word in words.split(' ').filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(seen.entry(word).or_insert_with(|| self.term(word)));
        }
        out
    }
}

impl Keyring {
    /// The search-index key derived from key `id`, if the keyring holds it.
    pub fn index_key(&self, id: &str) -> Option<IndexKey> {
        self.index_keys.get(id).map(|k| IndexKey::new(k))
    }
}

impl Codec {
    /// How the search index stores the space-separated `words`: without a
    /// keyring, the words themselves; with one, their terms under the
    /// index key of `key` (`None`: the current key) — see [`IndexKey`].
    ///
    /// Errors: [`ErrorCode::Validation`] when `key` is given and the
    /// keyring (or the lack of one) does not hold it.
    pub fn index_terms(&self, key: Option<&str>, words: &str) -> Result<String> {
        match (&self.keyring, key) {
            (None, None) => Ok(words.to_owned()),
            (None, Some(id)) => Err(Error::validation(format!(
                "indexing under key {id:?} needs an encryption keyring holding it"
            ))),
            (Some(k), key) => {
                let id = key.unwrap_or(&k.current);
                let index = k
                    .index_key(id)
                    .ok_or_else(|| Error::validation(format!("the keyring has no key {id:?}")))?;
                Ok(index.terms(words))
            }
        }
    }

    /// Every form the space-separated `words` may have been indexed in:
    /// the words themselves first (stored before a keyring was
    /// configured), then their terms under each key of the keyring, by
    /// key id. A search looks for any of them.
    pub fn index_forms(&self, words: &str) -> Vec<String> {
        let mut forms = vec![words.to_owned()];
        if let Some(k) = &self.keyring {
            for id in k.key_ids() {
                if let Some(index) = k.index_key(id) {
                    forms.push(index.terms(words));
                }
            }
        }
        forms
    }
}

/// Installs the search index's SQL functions on `conn`:
/// `relay_index_terms(key, words)` ([`Codec::index_terms`]; `key` NULL:
/// the current key) and `relay_index_forms(words)` ([`Codec::index_forms`],
/// joined by newlines). `words` is space-separated, as the search module
/// tokenizes; NULL passes through.
fn register_index(conn: &rusqlite::Connection, codec: Codec) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY | FunctionFlags::SQLITE_DETERMINISTIC;
    let terms_codec = codec.clone();
    conn.create_scalar_function("relay_index_terms", 2, flags, move |ctx| {
        let key = ctx.get::<Option<String>>(0)?;
        let Some(words) = ctx.get::<Option<String>>(1)? else {
            return Ok(None);
        };
        terms_codec.index_terms(key.as_deref(), &words).map(Some).map_err(user)
    })?;
    conn.create_scalar_function("relay_index_forms", 1, flags, move |ctx| {
        let Some(words) = ctx.get::<Option<String>>(0)? else {
            return Ok(None);
        };
        Ok(Some(codec.index_forms(&words).join("\n")))
    })
}

/// Installs `relay_seal(column, value)` and `relay_open(column, value)` on
/// `conn`: the SQL face of [`Codec::encode`] and [`Codec::decode`] (and
/// the search index's `relay_index_terms` and `relay_index_forms`, and
/// its ranking function `relay_rank`). Both
/// pass NULL through; `column` is `table.column` of a [`Field`]. Errors
/// surface as rusqlite errors whose message is the [`Error`]'s display
/// (`CODE: text`), which `From<rusqlite::Error>` turns back into the code.
pub fn register(conn: &rusqlite::Connection, codec: Codec) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    register_index(conn, codec.clone())?;
    crate::store::search::register_rank(conn)?;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY;
    let field_of = |ctx: &rusqlite::functions::Context<'_>| -> rusqlite::Result<Field> {
        let name = ctx
            .get_raw(0)
            .as_str()
            .map_err(|e| user(Error::internal(e.to_string())))?;
        Field::parse(name).ok_or_else(|| user(Error::internal(format!("{name} is not an encrypted column"))))
    };
    let seal_codec = codec.clone();
    conn.create_scalar_function("relay_seal", 2, flags, move |ctx| {
        let field = field_of(ctx)?;
        let Some(value) = ctx.get::<Option<String>>(1)? else {
            return Ok(None);
        };
        Ok(Some(seal_codec.encode(field, &value).into_owned()))
    })?;
    conn.create_scalar_function(
        "relay_open",
        2,
        flags | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let field = field_of(ctx)?;
            let raw = ctx.get_raw(1);
            if raw == rusqlite::types::ValueRef::Null {
                return Ok(None);
            }
            let stored = raw.as_str().map_err(|e| user(Error::internal(e.to_string())))?;
            codec
                .decode(field, stored)
                .map(|plain| Some(plain.into_owned()))
                .map_err(user)
        },
    )
}

fn user(err: Error) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(err))
}

/// Where a keyring comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyringSource {
    /// `RELAY_ENCRYPTION_KEYRING`: the JSON itself.
    Env(String),
    /// `RELAY_ENCRYPTION_KEYRING_PATH`: a file.
    EnvPath(PathBuf),
    /// The config file's `[encryption] keyring_path`.
    Config(PathBuf),
}

impl std::fmt::Debug for KeyringSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl KeyringSource {
    /// Where the keyring comes from, for messages: never its content.
    pub fn describe(&self) -> String {
        match self {
            Self::Env(_) => ENV_KEYRING.to_owned(),
            Self::EnvPath(p) => format!("{ENV_KEYRING_PATH} ({})", p.display()),
            Self::Config(p) => format!("the config file's keyring_path ({})", p.display()),
        }
    }

    /// The keyring file, for a file source.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Env(_) => None,
            Self::EnvPath(p) | Self::Config(p) => Some(p),
        }
    }

    /// Reads and parses the keyring.
    ///
    /// Errors ([`ErrorCode::Validation`]): an unreadable file, or what
    /// [`Keyring::from_json`] refuses.
    pub fn load(&self) -> Result<Keyring> {
        let text =
            match self {
                Self::Env(json) => Cow::Borrowed(json.as_str()),
                Self::EnvPath(p) | Self::Config(p) => Cow::Owned(std::fs::read_to_string(p).map_err(|e| {
                    Error::validation(format!("cannot read the encryption keyring {}: {e}", p.display()))
                })?),
            };
        Keyring::from_json(&text, &self.describe())
    }
}

/// The keyring from at most one source.
///
/// Errors ([`ErrorCode::Validation`], exit 2): more than one source is
/// set, or the one set does not load ([`KeyringSource::load`]).
pub fn load(sources: &[KeyringSource]) -> Result<Option<(Keyring, KeyringSource)>> {
    match sources {
        [] => Ok(None),
        [one] => Ok(Some((one.load()?, one.clone()))),
        many => Err(Error::validation(format!(
            "the encryption keyring is set in more than one place ({}); keep exactly one",
            many.iter().map(KeyringSource::describe).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A new random 32-byte key, base64: what `relay init --encrypt` writes.
pub fn generate_key() -> String {
    BASE64.encode(Aes256Gcm::generate_key(&mut OsRng))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str, ids: &[&str]) -> Keyring {
        let keys: serde_json::Map<_, _> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.to_string(), BASE64.encode([i as u8 + 1; 32]).into()))
            .collect();
        Keyring::from_json(
            &serde_json::json!({"current": current, "keys": keys}).to_string(),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_format() {
        let k = ring("k2", &["k1", "k2"]);
        let sealed = k.seal(Field::MessageContent, "héllo");
        let parts: Vec<&str> = sealed.splitn(4, ':').collect();
        assert_eq!(parts[..2], ["enc", "k2"]);
        assert_eq!(BASE64.decode(parts[2]).unwrap().len(), NONCE_BYTES);
        assert_eq!(BASE64.decode(parts[3]).unwrap().len(), "héllo".len() + TAG_BYTES);
        assert_eq!(k.open(Field::MessageContent, &sealed).unwrap(), "héllo");
        assert_eq!(key_id(&sealed), Some("k2"));
        // Fresh nonce per value.
        assert_ne!(sealed, k.seal(Field::MessageContent, "héllo"));
        let old = k.seal_with("k1", Field::TaskResult, "r").unwrap();
        assert_eq!(k.open(Field::TaskResult, &old).unwrap(), "r");
    }

    #[test]
    fn wrong_column_wrong_key_and_tampering_are_refused() {
        let k = ring("k1", &["k1"]);
        let sealed = k.seal(Field::MessageContent, "secret");
        assert_eq!(
            k.open(Field::TaskResult, &sealed).unwrap_err().code,
            ErrorCode::CorruptStore
        );
        let other = ring("k1", &["x", "k1"]); // a different key under the same id
        assert_eq!(
            other.open(Field::MessageContent, &sealed).unwrap_err().code,
            ErrorCode::CorruptStore
        );
        let missing = ring("k9", &["k9"]);
        assert!(
            missing
                .open(Field::MessageContent, &sealed)
                .unwrap_err()
                .message
                .contains("\"k1\"")
        );
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            k.open(Field::MessageContent, &tampered).unwrap_err().code,
            ErrorCode::CorruptStore
        );
        assert!(k.open(Field::MessageContent, "enc:k1:nonsense").is_err());
    }

    #[test]
    fn bad_keyrings_are_refused_without_echoing_keys() {
        let key = BASE64.encode([7u8; 32]);
        let short = BASE64.encode([7u8; 16]);
        for (json, needle) in [
            ("{not json".to_string(), "not valid JSON"),
            (format!(r#"{{"current":"a","keys":"{key}"}}"#), "shape"),
            (format!(r#""{key}""#), "shape"),
            (
                format!(r#"{{"current":"{key}","keys":{{"a":"{key}"}}}}"#),
                "malformed id",
            ),
            (format!(r#"{{"current":"a","keys":{{"{key}":"a"}}}}"#), "44 characters"),
            (r#"{"current":"a","keys":{}}"#.to_string(), "no keys"),
            (format!(r#"{{"current":"b","keys":{{"a":"{key}"}}}}"#), "not in keys"),
            (format!(r#"{{"current":"a","keys":{{"a":"{short}"}}}}"#), "16 bytes"),
            (
                r#"{"current":"a","keys":{"a":"!!!"}}"#.to_string(),
                "not standard base64",
            ),
            (
                format!(r#"{{"current":"a:b","keys":{{"a:b":"{key}"}}}}"#),
                "3 characters",
            ),
            (
                format!(r#"{{"current":"a","keys":{{"a":"{key}"}},"extra":1}}"#),
                "shape",
            ),
        ] {
            let err = Keyring::from_json(&json, "test").unwrap_err();
            assert_eq!(err.code, ErrorCode::Validation, "{json}");
            assert!(err.message.contains(needle), "{json}: {}", err.message);
            assert!(!err.message.contains(&key) && !err.message.contains(&short));
        }
        let debug = format!("{:?}", ring("k1", &["k1"]));
        assert!(debug.contains("k1") && !debug.contains(&BASE64.encode([1u8; 32])));
    }

    #[test]
    fn codec_escapes_plain_values_that_look_sealed() {
        let plain = Codec::default();
        for text in ["hello", "enc:k1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==", "raw:x", ""] {
            let stored = plain.encode(Field::MessageContent, text);
            assert_eq!(plain.decode(Field::MessageContent, &stored).unwrap(), text);
        }
        assert_eq!(plain.encode(Field::MessageContent, "hello"), "hello");
        let k = Arc::new(ring("k1", &["k1"]));
        let sealing = Codec::new(Some(k));
        let stored = sealing.encode(Field::AuditParams, "raw:x");
        assert!(stored.starts_with("enc:k1:"));
        assert_eq!(sealing.decode(Field::AuditParams, &stored).unwrap(), "raw:x");
        // Plain rows written before the keyring still read.
        assert_eq!(sealing.decode(Field::AuditParams, "old").unwrap(), "old");
        assert_eq!(
            plain.decode(Field::AuditParams, &stored).unwrap_err().code,
            ErrorCode::CorruptStore
        );
    }

    #[test]
    fn more_than_one_source_is_refused() {
        let a = KeyringSource::Env("{}".into());
        let b = KeyringSource::EnvPath("/k.json".into());
        let err = load(&[a.clone(), b]).unwrap_err();
        assert!(err.message.contains("more than one place"));
        assert!(!format!("{a:?}").contains("{}"));
        assert!(load(&[]).unwrap().is_none());
        let generated = generate_key();
        assert_eq!(BASE64.decode(generated).unwrap().len(), KEY_BYTES);
    }
}
