//! What was read about credentials and permissions, kept until the next change to accounts,
//! tokens, sessions, groups, roles or permissions: a client sending the same API token or
//! access token on every request costs no database read, and a revocation takes effect on
//! the very next request.
//!
//! Every entry carries the *epoch* current when its lookup started; the engine's commit
//! observer bumps the epoch right after any such change is committed (see
//! [`AuthCache::invalidate`]), and an entry of an older epoch is never returned. A lookup that
//! raced with a change therefore stores an entry that is already stale.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use infrahub_core::permissions::PermissionSet;

/// Above this many entries, stale ones are dropped on insert; above four times as many, all.
const PRUNE_ABOVE: usize = 4096;

/// What an API token resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenEntry {
    /// The account the token belongs to.
    pub(crate) account_id: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub(crate) expires_at: Option<i64>,
}

/// What an account id resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccountEntry {
    /// The account name.
    pub(crate) name: String,
    /// Whether the account's status is `active`.
    pub(crate) active: bool,
}

struct Stamped<V> {
    value: V,
    epoch: u64,
}

/// A map whose entries are valid only in the epoch they were looked up in.
struct EpochMap<K, V> {
    entries: RwLock<HashMap<K, Stamped<V>>>,
}

impl<K: Eq + Hash, V: Clone> EpochMap<K, V> {
    fn new() -> Self {
        EpochMap {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get<Q>(&self, key: &Q, epoch: u64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(key)?;
        (entry.epoch == epoch).then(|| entry.value.clone())
    }

    fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    fn insert(&self, key: K, value: V, epoch: u64) {
        // A poisoned lock only means another request panicked mid-insert: skip caching.
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, entry| entry.epoch == epoch);
            if entries.len() >= 4 * PRUNE_ABOVE {
                entries.clear();
            }
        }
        entries.insert(key, Stamped { value, epoch });
    }
}

/// Credentials and permissions read recently: API token to account, account to name and
/// status, session ids that exist, and each account's permissions.
///
/// Only successful lookups are kept; an unknown token is looked up again on every request.
/// Its `Debug` form shows how many entries it holds, never a token.
pub struct AuthCache {
    epoch: AtomicU64,
    tokens: EpochMap<String, TokenEntry>,
    accounts: EpochMap<String, AccountEntry>,
    sessions: EpochMap<String, ()>,
    permissions: EpochMap<String, Arc<PermissionSet>>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("epoch", &self.epoch())
            .field("tokens", &self.tokens.len())
            .field("accounts", &self.accounts.len())
            .field("sessions", &self.sessions.len())
            .field("permissions", &self.permissions.len())
            .finish()
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            epoch: AtomicU64::new(0),
            tokens: EpochMap::new(),
            accounts: EpochMap::new(),
            sessions: EpochMap::new(),
            permissions: EpochMap::new(),
        }
    }
}

impl AuthCache {
    /// Makes every entry stale: the next request reads the database. The server calls it
    /// after each committed change to an account, token, session, group, role or permission.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The current epoch; read it before a lookup and store the result under it.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn token(&self, token: &str) -> Option<TokenEntry> {
        self.tokens.get(token, self.epoch())
    }

    pub(crate) fn store_token(&self, token: &str, entry: TokenEntry, epoch: u64) {
        self.tokens.insert(token.to_string(), entry, epoch);
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<AccountEntry> {
        self.accounts.get(account_id, self.epoch())
    }

    pub(crate) fn store_account(&self, account_id: &str, entry: AccountEntry, epoch: u64) {
        self.accounts.insert(account_id.to_string(), entry, epoch);
    }

    pub(crate) fn session_exists(&self, session_id: &str) -> bool {
        self.sessions.get(session_id, self.epoch()).is_some()
    }

    pub(crate) fn store_session(&self, session_id: &str, epoch: u64) {
        self.sessions.insert(session_id.to_string(), (), epoch);
    }

    pub(crate) fn permissions(&self, account_id: &str) -> Option<Arc<PermissionSet>> {
        self.permissions.get(account_id, self.epoch())
    }

    pub(crate) fn store_permissions(
        &self,
        account_id: &str,
        permissions: Arc<PermissionSet>,
        epoch: u64,
    ) {
        self.permissions
            .insert(account_id.to_string(), permissions, epoch);
    }
}

/// Whether a committed change to nodes of `kind` may change what credentials or permissions
/// resolve to. `inherits` tells the generics the kind inherits, when it is a known model.
pub(crate) fn concerns_credentials(kind: &str, inherits: &[String]) -> bool {
    const KINDS: [&str; 8] = [
        "CoreGenericAccount",
        "CoreAccount",
        "CoreAccountGroup",
        "CoreAccountRole",
        "CoreBasePermission",
        "CoreGlobalPermission",
        "CoreObjectPermission",
        "InternalAccountToken",
    ];
    let kind = kind.strip_prefix("Profile").unwrap_or(kind);
    kind == infrahub_core::engine::ANY_KIND
        || KINDS.contains(&kind)
        || kind == "InternalRefreshToken"
        || inherits
            .iter()
            .any(|generic| generic == "CoreGenericAccount")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_entry() -> TokenEntry {
        TokenEntry {
            account_id: "a".into(),
            expires_at: None,
        }
    }

    #[test]
    fn entries_are_returned_until_invalidated() {
        let cache = AuthCache::default();
        assert_eq!(cache.token("t"), None);
        let epoch = cache.epoch();
        cache.store_token("t", token_entry(), epoch);
        cache.store_account(
            "a",
            AccountEntry {
                name: "admin".into(),
                active: true,
            },
            epoch,
        );
        cache.store_session("s", epoch);
        assert_eq!(cache.token("t"), Some(token_entry()));
        assert_eq!(cache.account("a").map(|a| a.name), Some("admin".into()));
        assert!(cache.session_exists("s"));
        cache.invalidate();
        assert_eq!(cache.token("t"), None);
        assert_eq!(cache.account("a"), None);
        assert!(!cache.session_exists("s"));
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_stored_stale() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        // The token is read from the database, then deleted and the cache invalidated, and
        // only then is the (old) answer stored.
        cache.invalidate();
        cache.store_token("t", token_entry(), epoch);
        assert_eq!(cache.token("t"), None);
    }

    #[test]
    fn the_debug_form_shows_no_token() {
        let cache = AuthCache::default();
        cache.store_token("secret-token-value", token_entry(), cache.epoch());
        let text = format!("{cache:?}");
        assert!(!text.contains("secret-token-value"), "{text}");
        assert!(text.contains("tokens: 1"), "{text}");
    }

    #[test]
    fn credential_kinds_are_recognised() {
        for kind in [
            "CoreAccount",
            "InternalAccountToken",
            "InternalRefreshToken",
            "CoreAccountGroup",
            "CoreObjectPermission",
            "ProfileCoreAccount",
        ] {
            assert!(concerns_credentials(kind, &[]), "{kind}");
        }
        assert!(concerns_credentials(
            "TestRobot",
            &["CoreGenericAccount".to_string()]
        ));
        assert!(!concerns_credentials("BuiltinTag", &[]));
    }
}
