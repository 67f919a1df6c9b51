//! The server's own signing keys in a PKCS#11 token (an HSM, SoftHSM2 in tests): the private half
//! never leaves the token, signing is C_Sign (CKM_EDDSA for Ed25519, CKM_ECDSA over the SHA-256
//! digest for P-256), and the public half is read from the token's public key object. Every signature
//! is checked against that public key before it is used, so a token that answers with garbage (or a
//! public object that belongs to another key) fails loudly instead of signing checkpoints nobody can
//! verify.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use registry_core::attest::keys::{KeyKind, PublicKey};

mod public;
mod uri;
use public::read_public;
pub use uri::{Pkcs11Uri, UriError};

/// A token PIN. Never printed: `Debug` shows `Pin(***)`, and no message includes it.
#[derive(Clone)]
pub struct Pin(String);

impl Pin {
    /// A PIN from its text (a trailing newline, as `echo` writes, is not part of it).
    pub fn new(text: &str) -> Self {
        Self(text.trim_end_matches(['\n', '\r']).to_owned())
    }

    /// Reads the PIN from `path`, refusing a file group or others can read or write (mode 0600, as
    /// for the key files it replaces).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let io = |e: std::io::Error| anyhow::anyhow!("PKCS#11 PIN file {}: {e}", path.display());
        // One open: the mode checked is the mode of the file read.
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mode = file.metadata().map_err(io)?.permissions().mode() & 0o777;
        anyhow::ensure!(
            mode & 0o077 == 0,
            "PKCS#11 PIN file {} is accessible to group or others (mode {mode:04o}): chmod 600 it",
            path.display()
        );
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let pin = Self::new(&text);
        anyhow::ensure!(!pin.0.is_empty(), "PKCS#11 PIN file {} is empty", path.display());
        Ok(pin)
    }

    fn auth(&self) -> AuthPin {
        AuthPin::from(self.0.clone())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Which module to load and how to log in to its tokens.
#[derive(Debug, Clone)]
pub struct Pkcs11Settings {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The user PIN.
    pub pin: Pin,
}

/// Why a token key could not be opened or used. No variant carries the PIN.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    /// The module does not load or does not initialise.
    #[error("cannot load the PKCS#11 module {module}: {reason}")]
    Module {
        /// Its path.
        module: String,
        /// What the loader or C_Initialize said.
        reason: String,
    },
    /// No token (or more than one) matches the URI.
    #[error("{count} tokens match {uri} in {module} (tokens present: {present})")]
    Token {
        /// The URI.
        uri: String,
        /// The module.
        module: String,
        /// How many matched.
        count: usize,
        /// Labels of the tokens present.
        present: String,
    },
    /// C_Login refused the PIN.
    #[error(
        "the PKCS#11 PIN for token {token:?} was refused ({rv}); check --pkcs11-pin-file / REGISTRY_PKCS11_PIN"
    )]
    Pin {
        /// Token label.
        token: String,
        /// CKR_PIN_INCORRECT, CKR_PIN_LOCKED, ...
        rv: String,
    },
    /// No private key (or more than one) matches the URI on the token.
    #[error("{count} private keys match {uri} on token {token:?} (need exactly one)")]
    Object {
        /// The URI.
        uri: String,
        /// Token label.
        token: String,
        /// How many matched.
        count: usize,
    },
    /// The private key has no public key object beside it (same label and id).
    #[error(
        "no public key object matches {uri} on token {token:?}: the server reads the public key from the token, so store it beside the private key (same object label and id)"
    )]
    NoPublicKey {
        /// The URI.
        uri: String,
        /// Token label.
        token: String,
    },
    /// A key of another algorithm than the purpose needs.
    #[error("the key {uri} is {found}; the {what} must be {want}")]
    KeyType {
        /// The URI.
        uri: String,
        /// What it is.
        found: String,
        /// What the key is for.
        what: String,
        /// What is accepted.
        want: String,
    },
    /// The token's signature does not verify with its public key.
    #[error(
        "the signature the token made with {uri} does not verify with its public key object (do the public and private objects belong to the same key?)"
    )]
    BadSignature {
        /// The URI.
        uri: String,
    },
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {op} for {uri}: {source}")]
    Call {
        /// What was being done.
        op: &'static str,
        /// The URI.
        uri: String,
        /// The library's error.
        source: CkError,
    },
}

/// One context per module and process: C_Initialize may run once, and both keys may share a token.
fn context(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let fail = |reason: String| Pkcs11Error::Module { module: module.display().to_string(), reason };
    let mut all =
        CONTEXTS.get_or_init(Mutex::default).lock().map_err(|_| fail("an earlier load panicked".into()))?;
    if let Some(c) = all.get(module) {
        return Ok(c.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| fail(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(format!("C_Initialize: {e}"))),
    }
    all.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}

/// A logged-in session and the private key's handle in it.
struct Live {
    session: Session,
    key: ObjectHandle,
}

/// A signing key in a token. One logged-in session per key, behind a mutex (PKCS#11 sessions are
/// single-threaded); the session is reopened once if the token dropped it.
pub struct TokenKey {
    ctx: Pkcs11,
    token: String,
    uri: Pkcs11Uri,
    pin: Pin,
    kind: KeyKind,
    /// The public key as the token stores it: 32 bytes (Ed25519) or the SEC1 point (P-256).
    raw_public: Vec<u8>,
    public: PublicKey,
    live: Mutex<Option<Live>>,
    /// Set once the token refused the PIN: never sent again (tokens lock, some wipe, after a few).
    pin_refused: Mutex<Option<String>>,
    /// The module, for messages.
    module: PathBuf,
    /// One signature at a time in the blocking pool (see `service::keys`).
    gate: std::sync::Arc<tokio::sync::Semaphore>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({} {} {})", self.uri, self.kind, self.public.key_id())
    }
}

impl TokenKey {
    /// Opens the key `uri` names with `settings`, checks it is one of `kinds` (`what` names its use
    /// in messages), and signs a test message with it.
    pub fn open(
        settings: &Pkcs11Settings,
        uri: &Pkcs11Uri,
        kinds: &[KeyKind],
        what: &str,
    ) -> Result<Self, Pkcs11Error> {
        let ctx = context(&settings.module)?;
        let call = |op| move |source| Pkcs11Error::Call { op, uri: uri.to_string(), source };
        let (slot, token) = find_token(&ctx, uri, &settings.module)?;
        let session = login(&ctx, slot, &token, &settings.pin, uri)?;
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, uri).map_err(call("C_FindObjects"))?;
        let key = match key.as_slice() {
            [k] => *k,
            found => {
                return Err(Pkcs11Error::Object { uri: uri.to_string(), token, count: found.len() });
            }
        };
        let public = find_one(&session, ObjectClass::PUBLIC_KEY, uri).map_err(call("C_FindObjects"))?;
        let [public] = public.as_slice() else {
            return Err(Pkcs11Error::NoPublicKey { uri: uri.to_string(), token });
        };
        let (kind, raw_public, public) = read_public(&session, *public, uri, kinds, what)?;
        let me = Self {
            ctx,
            token,
            uri: uri.clone(),
            pin: settings.pin.clone(),
            kind,
            raw_public,
            public,
            live: Mutex::new(Some(Live { session, key })),
            pin_refused: Mutex::new(None),
            module: settings.module.clone(),
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        };
        me.sign_blocking(b"registry-server: PKCS#11 key self-test")?;
        Ok(me)
    }

    /// The gate a caller holds while this key signs on the blocking pool.
    pub fn gate(&self) -> std::sync::Arc<tokio::sync::Semaphore> {
        self.gate.clone()
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public key, as read from the token.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The raw public key: 32 bytes for Ed25519.
    pub fn raw_public(&self) -> &[u8] {
        &self.raw_public
    }

    /// Signs `msg` in the token (blocking: call it from `spawn_blocking`). The signature is in the
    /// form [`registry_core::attest::keys::SigningKey::sign`] makes: 64 bytes (Ed25519) or DER ECDSA.
    pub fn sign_blocking(&self, msg: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let raw = match live.as_ref().map(|l| self.sign_in(l, msg)) {
            Some(Ok(sig)) => sig,
            Some(Err(e)) if !session_lost(&e) => return Err(self.call("C_Sign", e)),
            _ => {
                // The token forgot the session (restart, network HSM failover): find it again by
                // its URI (its slot may have changed) and log in again, once — unless it refused
                // the PIN before: a PIN is never retried.
                *live = None;
                let mut refused = self.pin_refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(rv) = refused.as_ref() {
                    return Err(Pkcs11Error::Pin { token: self.token.clone(), rv: rv.clone() });
                }
                let (slot, token) = find_token(&self.ctx, &self.uri, &self.module)?;
                if token != self.token {
                    return Err(Pkcs11Error::Object { uri: self.uri.to_string(), token, count: 0 });
                }
                let session = match login(&self.ctx, slot, &self.token, &self.pin, &self.uri) {
                    Err(Pkcs11Error::Pin { token, rv }) => {
                        *refused = Some(rv.clone());
                        return Err(Pkcs11Error::Pin { token, rv });
                    }
                    r => r?,
                };
                drop(refused);
                let key = find_one(&session, ObjectClass::PRIVATE_KEY, &self.uri)
                    .map_err(|e| self.call("C_FindObjects", e))?;
                let [key] = key.as_slice() else {
                    return Err(Pkcs11Error::Object {
                        uri: self.uri.to_string(),
                        token: self.token.clone(),
                        count: key.len(),
                    });
                };
                let l = live.insert(Live { session, key: *key });
                self.sign_in(l, msg).map_err(|e| self.call("C_Sign", e))?
            }
        };
        drop(live);
        let sig = match self.kind {
            KeyKind::Ed25519 => raw,
            KeyKind::P256 => p256::ecdsa::Signature::from_slice(&raw)
                .map_err(|_| Pkcs11Error::BadSignature { uri: self.uri.to_string() })?
                .to_der()
                .as_bytes()
                .to_vec(),
        };
        if !self.public.verify(msg, &sig) {
            return Err(Pkcs11Error::BadSignature { uri: self.uri.to_string() });
        }
        Ok(sig)
    }

    fn sign_in(&self, l: &Live, msg: &[u8]) -> Result<Vec<u8>, CkError> {
        match self.kind {
            KeyKind::Ed25519 => {
                l.session.sign(&Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)), l.key, msg)
            }
            // CKM_ECDSA signs a digest the caller computed (RFC 6979 / FIPS 186: SHA-256 for P-256).
            KeyKind::P256 => {
                l.session.sign(&Mechanism::Ecdsa, l.key, registry_core::Digest::of(msg).as_bytes())
            }
        }
    }

    fn call(&self, op: &'static str, source: CkError) -> Pkcs11Error {
        Pkcs11Error::Call { op, uri: self.uri.to_string(), source }
    }
}

fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent,
            _
        )
    )
}

fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri, module: &Path) -> Result<(Slot, String), Pkcs11Error> {
    let call = |op| move |source| Pkcs11Error::Call { op, uri: uri.to_string(), source };
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in ctx.get_slots_with_initialized_token().map_err(call("C_GetSlotList"))? {
        let info = ctx.get_token_info(slot).map_err(call("C_GetTokenInfo"))?;
        let label = info.label().trim_end().to_owned();
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have.trim_end());
        if wanted(&uri.token, &label)
            && wanted(&uri.manufacturer, info.manufacturer_id())
            && wanted(&uri.model, info.model())
            && wanted(&uri.serial, info.serial_number())
            && uri.slot_id.is_none_or(|s| s == slot.id())
        {
            matching.push((slot, label.clone()));
        }
        present.push(format!("{label:?}"));
    }
    match matching.len() {
        1 => Ok(matching.remove(0)),
        count => Err(Pkcs11Error::Token {
            uri: uri.to_string(),
            module: module.display().to_string(),
            count,
            present: if present.is_empty() { "none".into() } else { present.join(", ") },
        }),
    }
}

fn login(ctx: &Pkcs11, slot: Slot, token: &str, pin: &Pin, uri: &Pkcs11Uri) -> Result<Session, Pkcs11Error> {
    let call = |op| move |source| Pkcs11Error::Call { op, uri: uri.to_string(), source };
    let session = ctx.open_ro_session(slot).map_err(call("C_OpenSession"))?;
    match session.login(UserType::User, Some(&pin.auth())) {
        // The login state is per token and application: the other key's session may have logged in.
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinLenRange | RvError::PinExpired),
            _,
        )) => Err(Pkcs11Error::Pin { token: token.to_owned(), rv: format!("{rv:?}") }),
        Err(e) => Err(call("C_Login")(e)),
    }
}

fn find_one(session: &Session, class: ObjectClass, uri: &Pkcs11Uri) -> Result<Vec<ObjectHandle>, CkError> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    session.find_objects(&template)
}
