//! A short-lived in-memory memory of credentials already checked, so that a client sending the
//! same API token or access token on every request costs no database read.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a checked credential is trusted without reading the database again. A deleted
/// token, a deactivated account or a renamed account takes effect after at most this long
/// (or at once after [`AuthCache::clear`]).
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(10);

/// Above this many entries, expired ones are dropped on insert.
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

#[derive(Debug)]
struct Timed<V> {
    value: V,
    stored: Instant,
}

/// A map whose entries are forgotten [`AUTH_CACHE_TTL`] after they were stored.
#[derive(Debug)]
struct TtlMap<K, V> {
    entries: RwLock<HashMap<K, Timed<V>>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn new() -> Self {
        TtlMap {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(key)?;
        (entry.stored.elapsed() < AUTH_CACHE_TTL).then(|| entry.value.clone())
    }

    fn insert(&self, key: K, value: V) {
        // A poisoned lock only means another request panicked mid-insert: skip caching.
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, entry| entry.stored.elapsed() < AUTH_CACHE_TTL);
        }
        entries.insert(
            key,
            Timed {
                value,
                stored: Instant::now(),
            },
        );
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// Credentials checked recently: API token to account, and account to name and status.
///
/// Only successful lookups are kept; an unknown token is looked up again on every request.
#[derive(Debug)]
pub struct AuthCache {
    tokens: TtlMap<String, TokenEntry>,
    accounts: TtlMap<String, AccountEntry>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            tokens: TtlMap::new(),
            accounts: TtlMap::new(),
        }
    }
}

impl AuthCache {
    /// Forgets every cached credential, so that the next request reads the database; call it
    /// after deleting a token or changing an account to make the change take effect at once.
    pub fn clear(&self) {
        self.tokens.clear();
        self.accounts.clear();
    }

    pub(crate) fn token(&self, token: &str) -> Option<TokenEntry> {
        self.tokens.get(token)
    }

    pub(crate) fn store_token(&self, token: &str, entry: TokenEntry) {
        self.tokens.insert(token.to_string(), entry);
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<AccountEntry> {
        self.accounts.get(account_id)
    }

    pub(crate) fn store_account(&self, account_id: &str, entry: AccountEntry) {
        self.accounts.insert(account_id.to_string(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_returned_until_cleared() {
        let cache = AuthCache::default();
        assert_eq!(cache.token("t"), None);
        let entry = TokenEntry {
            account_id: "a".into(),
            expires_at: None,
        };
        cache.store_token("t", entry.clone());
        cache.store_account(
            "a",
            AccountEntry {
                name: "admin".into(),
                active: true,
            },
        );
        assert_eq!(cache.token("t"), Some(entry));
        assert_eq!(cache.account("a").map(|a| a.name), Some("admin".into()));
        cache.clear();
        assert_eq!(cache.token("t"), None);
        assert_eq!(cache.account("a"), None);
    }

    #[test]
    fn old_entries_are_not_returned() {
        let map: TtlMap<String, u8> = TtlMap::new();
        map.insert("k".into(), 1);
        let mut entries = map.entries.write().unwrap();
        let entry = entries.get_mut("k").unwrap();
        entry.stored = Instant::now()
            .checked_sub(AUTH_CACHE_TTL + Duration::from_secs(1))
            .unwrap();
        drop(entries);
        assert_eq!(map.get("k"), None);
    }
}
