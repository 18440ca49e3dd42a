//! Checks of the [`Cache`](crate::Cache) contract.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::{CacheHandle, ErrorKind, SetOptions};

/// A TTL the suite waits out.
const SHORT_TTL: Duration = Duration::from_secs(1);
/// How long after [`SHORT_TTL`] an expired key is checked.
const PAST_SHORT_TTL: Duration = Duration::from_millis(1600);

fn plain() -> SetOptions {
    SetOptions::default()
}

/// Round trips of binary values, overwrite, delete, `get_many` order, empty keys refused.
pub async fn get_set_delete(handle: CacheHandle) {
    let cache = handle.cache;
    assert_eq!(
        cache.get("missing").await.unwrap(),
        None,
        "a missing key reads as None"
    );
    let binary = [0u8, 255, 1, 10, 13, b':', b'*'];
    assert!(
        cache
            .set("workers:worker:1", &binary, plain())
            .await
            .unwrap(),
        "a plain set answers that it wrote"
    );
    assert_eq!(
        cache.get("workers:worker:1").await.unwrap().as_deref(),
        Some(&binary[..]),
        "a value reads back byte for byte"
    );
    assert!(
        cache
            .set("workers:worker:1", b"second", plain())
            .await
            .unwrap()
    );
    assert_eq!(
        cache.get("workers:worker:1").await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "set overwrites"
    );
    cache.set("b", b"", plain()).await.unwrap();
    assert_eq!(
        cache.get("b").await.unwrap().as_deref(),
        Some(&b""[..]),
        "an empty value is a value, not an absent key"
    );
    let keys: Vec<String> = ["b", "nothing", "workers:worker:1"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        cache.get_many(&keys).await.unwrap(),
        vec![Some(Vec::new()), None, Some(b"second".to_vec())],
        "get_many answers in the order of the keys, None for missing ones"
    );
    assert!(
        cache.get_many(&[]).await.unwrap().is_empty(),
        "get_many of no keys is empty"
    );
    assert!(
        cache.delete("workers:worker:1").await.unwrap(),
        "delete of a live key answers true"
    );
    assert_eq!(
        cache.get("workers:worker:1").await.unwrap(),
        None,
        "a deleted key reads as None"
    );
    assert!(
        !cache.delete("workers:worker:1").await.unwrap(),
        "delete of a missing key answers false"
    );
    let unicode = "security:oidc:provider:Ärger:state:é/ü?#[x] y";
    cache.set(unicode, b"u", plain()).await.unwrap();
    assert_eq!(
        cache.get(unicode).await.unwrap().as_deref(),
        Some(&b"u"[..]),
        "keys may hold any UTF-8 character"
    );
    for error in [
        cache.get("").await.unwrap_err(),
        cache.set("", b"x", plain()).await.unwrap_err(),
        cache.delete("").await.unwrap_err(),
    ] {
        assert_eq!(
            error.kind(),
            ErrorKind::InvalidInput,
            "empty keys are refused: {error}"
        );
    }
}

/// Expired keys are absent for every operation; a plain `set` clears the TTL; `increment`
/// keeps it.
pub async fn ttl_expiry(handle: CacheHandle) {
    let cache = handle.cache;
    let short = SetOptions::ttl(SHORT_TTL);
    cache.set("ttl:short", b"1", short).await.unwrap();
    cache
        .set("ttl:long", b"1", SetOptions::ttl(Duration::from_secs(60)))
        .await
        .unwrap();
    cache.set("ttl:none", b"1", plain()).await.unwrap();
    cache.set("ttl:cleared", b"1", short).await.unwrap();
    cache.set("ttl:cleared", b"2", plain()).await.unwrap();
    cache.set("ttl:if-absent", b"old", short).await.unwrap();
    cache.set("ttl:cas", b"old", short).await.unwrap();
    cache.set("ttl:counter", b"5", short).await.unwrap();
    assert_eq!(
        cache.increment("ttl:counter", 1).await.unwrap(),
        6,
        "increment adds to a live value"
    );
    cache.set("ttl:delete", b"1", short).await.unwrap();
    assert_eq!(
        cache.get("ttl:short").await.unwrap().as_deref(),
        Some(&b"1"[..]),
        "a key is there before its TTL"
    );
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        cache.get("ttl:short").await.unwrap(),
        None,
        "a key is gone after its TTL"
    );
    assert_eq!(
        cache.get("ttl:counter").await.unwrap(),
        None,
        "increment keeps the key's TTL"
    );
    assert!(
        cache.get("ttl:long").await.unwrap().is_some(),
        "a longer TTL is still running"
    );
    assert!(
        cache.get("ttl:none").await.unwrap().is_some(),
        "a key without TTL stays"
    );
    assert_eq!(
        cache.get("ttl:cleared").await.unwrap().as_deref(),
        Some(&b"2"[..]),
        "a plain set clears an earlier TTL"
    );
    let keys: BTreeSet<String> = cache
        .keys_with_prefix("ttl:")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        keys,
        ["ttl:cleared", "ttl:long", "ttl:none"]
            .map(String::from)
            .into(),
        "keys_with_prefix lists no expired key"
    );
    assert_eq!(
        cache
            .get_many(&["ttl:short".to_owned(), "ttl:none".to_owned()])
            .await
            .unwrap(),
        vec![None, Some(b"1".to_vec())],
        "get_many answers None for an expired key"
    );
    assert!(
        cache
            .set("ttl:if-absent", b"new", plain().if_absent())
            .await
            .unwrap(),
        "only_if_absent writes over an expired key"
    );
    assert!(
        cache
            .compare_and_set("ttl:cas", None, b"new", None)
            .await
            .unwrap(),
        "compare_and_set with expected None writes over an expired key"
    );
    assert_eq!(
        cache.increment("ttl:counter", 1).await.unwrap(),
        1,
        "increment of an expired key starts from 0"
    );
    assert!(
        !cache.delete("ttl:delete").await.unwrap(),
        "delete of an expired key answers false"
    );
}

/// `set` with `only_if_absent` writes once; among 16 racers exactly one wins.
pub async fn only_if_absent(handle: CacheHandle) {
    let cache = handle.cache;
    let once = SetOptions::default().if_absent();
    assert!(
        cache
            .set("workers:primary:api_server", b"a", once)
            .await
            .unwrap(),
        "the first writer wins"
    );
    assert!(
        !cache
            .set("workers:primary:api_server", b"b", once)
            .await
            .unwrap(),
        "a second only_if_absent write answers false"
    );
    assert_eq!(
        cache
            .get("workers:primary:api_server")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"a"[..]),
        "a refused only_if_absent write changes nothing"
    );
    let racers = (0..16u8).map(|racer| {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .set("race", &[racer], once)
                .await
                .unwrap()
                .then_some(racer)
        })
    });
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of 16 racing only_if_absent writes wins: {winners:?}"
    );
    assert_eq!(
        cache.get("race").await.unwrap(),
        Some(vec![winners[0]]),
        "the winner's value is stored"
    );
}

/// 16 tasks × 25 increments lose nothing; negative steps; non-integers refused.
pub async fn increment_atomic(handle: CacheHandle) {
    let cache = handle.cache;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    cache.increment("counter", 1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        cache.get("counter").await.unwrap().as_deref(),
        Some(&b"400"[..]),
        "16 tasks × 25 concurrent increments give 400, stored as decimal text"
    );
    assert_eq!(
        cache.increment("counter", -401).await.unwrap(),
        -1,
        "increment takes negative steps"
    );
    assert_eq!(
        cache.increment("fresh", 7).await.unwrap(),
        7,
        "a missing key counts from 0"
    );
    cache
        .set("text", b"abc", SetOptions::default())
        .await
        .unwrap();
    let error = cache.increment("text", 1).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::InvalidInput,
        "incrementing a non-integer is refused: {error}"
    );
    assert_eq!(
        cache.get("text").await.unwrap().as_deref(),
        Some(&b"abc"[..]),
        "a refused increment changes nothing"
    );
}

/// `compare_and_set` against an expected value or absence; 16 racers from one value: exactly
/// one wins.
pub async fn compare_and_set_races(handle: CacheHandle) {
    let cache = handle.cache;
    assert!(
        cache
            .compare_and_set("cas", None, b"v0", None)
            .await
            .unwrap(),
        "expected None writes a missing key"
    );
    assert!(
        !cache
            .compare_and_set("cas", None, b"v1", None)
            .await
            .unwrap(),
        "expected None refuses a present key"
    );
    assert!(
        !cache
            .compare_and_set("cas", Some(b"other"), b"v1", None)
            .await
            .unwrap(),
        "a wrong expected value refuses"
    );
    assert_eq!(
        cache.get("cas").await.unwrap().as_deref(),
        Some(&b"v0"[..]),
        "refusals change nothing"
    );
    let cache = Arc::clone(&cache);
    let racers: Vec<_> = (0..16u8)
        .map(|racer| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let new = [b'r', racer];
                cache
                    .compare_and_set("cas", Some(b"v0"), &new, None)
                    .await
                    .unwrap()
                    .then_some(new)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of 16 racing compare_and_set from one value wins"
    );
    assert_eq!(
        cache.get("cas").await.unwrap(),
        Some(winners[0].to_vec()),
        "the winner's value is stored"
    );
    assert!(
        cache
            .compare_and_set(
                "cas",
                Some(&winners[0]),
                b"ttl",
                Some(Duration::from_secs(1))
            )
            .await
            .unwrap(),
        "compare_and_set from the current value writes"
    );
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        cache.get("cas").await.unwrap(),
        None,
        "compare_and_set applies its TTL"
    );
}

/// The keys under a prefix, without the namespace; glob characters in keys are literal.
pub async fn keys_with_prefix(handle: CacheHandle) {
    let cache = handle.cache;
    for key in [
        "workers:active:api_server:worker:a",
        "workers:active:git_agent:worker:b",
        "workers:worker:a",
        "workersX",
        "webhook:1",
        "glob*[x]?",
        "globby",
        "lock.global.graph",
    ] {
        cache.set(key, b"1", SetOptions::default()).await.unwrap();
    }
    let listed = |prefix: &'static str| {
        let cache = cache.clone();
        async move {
            cache
                .keys_with_prefix(prefix)
                .await
                .unwrap()
                .into_iter()
                .collect::<BTreeSet<String>>()
        }
    };
    assert_eq!(
        listed("workers:active:").await,
        [
            "workers:active:api_server:worker:a",
            "workers:active:git_agent:worker:b"
        ]
        .map(String::from)
        .into(),
        "keys_with_prefix lists exactly the keys under the prefix"
    );
    assert_eq!(
        listed("workers").await.len(),
        4,
        "a prefix need not end at a separator"
    );
    assert_eq!(
        listed("glob*").await,
        ["glob*[x]?"].map(String::from).into(),
        "glob characters in a prefix are literal"
    );
    assert_eq!(
        listed("").await.len(),
        8,
        "the empty prefix lists every key of the namespace"
    );
    assert!(
        listed("nothing:").await.is_empty(),
        "an unused prefix lists nothing"
    );
}

/// Two namespaces on one service share neither keys nor locks.
pub async fn namespace_isolation(first: CacheHandle, second: CacheHandle) {
    first
        .cache
        .set("shared", b"first", SetOptions::default())
        .await
        .unwrap();
    assert_eq!(
        second.cache.get("shared").await.unwrap(),
        None,
        "a key of one namespace is invisible in another"
    );
    assert!(
        second
            .cache
            .set("shared", b"second", SetOptions::default().if_absent())
            .await
            .unwrap(),
        "only_if_absent ignores other namespaces"
    );
    assert_eq!(
        first.cache.get("shared").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(
        second.cache.keys_with_prefix("").await.unwrap(),
        vec!["shared".to_owned()],
        "keys_with_prefix lists only the namespace's keys, without the namespace"
    );
    assert!(second.cache.delete("shared").await.unwrap());
    assert!(
        first.cache.get("shared").await.unwrap().is_some(),
        "delete stays in its namespace"
    );
    let held = first.locks.try_acquire("global.graph").await.unwrap();
    assert!(held.is_some());
    let other = second.locks.try_acquire("global.graph").await.unwrap();
    assert!(
        other.is_some(),
        "a lock of one namespace does not block the same name in another"
    );
}
