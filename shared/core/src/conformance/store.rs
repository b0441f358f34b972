//! The store port's conformance suite: the semantics every [`Store`] adapter must have, run
//! against the in-process store and against DynamoDB (moto) by the `tests/` crate.
//!
//! Each check takes a fresh partition prefix so the suite can share one table with other tests.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use serde_json::json;

use crate::ports::store::{
    expires_at, key_of, ChangeListener, Condition, Item, ItemText, Key, SkRange, Store, StoreError,
    Update, Write,
};

fn item(key: &Key, attrs: serde_json::Value) -> Item {
    let mut item = attrs.as_object().cloned().unwrap_or_default();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item
}

fn fresh(prefix: &str) -> String {
    format!("conf#{prefix}#{}", uuid::Uuid::new_v4().simple())
}

/// Runs every check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn Store>) {
    puts_and_gets(&*store).await;
    puts_as_text(&*store).await;
    conditions(&*store).await;
    updates(&*store).await;
    transactions_are_all_or_nothing(&*store).await;
    queries(&*store).await;
    concurrent_conditional_writes_have_one_winner(store.clone()).await;
    concurrent_counters_lose_nothing(store.clone()).await;
    capped_counters(&*store).await;
    marks_on_a_capped_counter(&*store).await;
    claims_by_reference(&*store).await;
    concurrent_capped_adds_stay_within_the_cap(store.clone()).await;
    reported_changes_follow_the_store(store).await;
}

pub async fn puts_and_gets(store: &dyn Store) {
    let key = Key::new(fresh("get"), "A");
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "absent item reads as None"
    );
    let written = item(
        &key,
        json!({ "n": 1, "s": "x", "b": true, "l": ["a", "b"], "m": { "k": 2 }, "z": null }),
    );
    store.write(Write::put(written.clone())).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(written.clone()),
        "item reads back exactly"
    );
    // Lent (as an item or as its text), it decodes to what `get` returns, twice (a store that
    // keeps recent items lends the second from memory); and a record of a few of its
    // attributes decodes straight from it.
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Part {
        n: i64,
        l: Vec<String>,
    }
    for _ in 0..2 {
        let mut lent = None;
        store
            .read(&key, &mut |item| {
                lent =
                    Some(item.map(|i| (i.decode::<Item>().unwrap(), i.decode::<Part>().unwrap())))
            })
            .await
            .unwrap();
        let expected = Part {
            n: 1,
            l: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            lent,
            Some(Some((written.clone(), expected))),
            "read lends the item"
        );
    }
    let mut absent = Some(true);
    store
        .read(&Key::new(fresh("get"), "A"), &mut |item| {
            absent = item.map(|_| false)
        })
        .await
        .unwrap();
    assert_eq!(absent, None, "read lends nothing for an absent item");
    store
        .write(Write::Delete {
            key: key.clone(),
            condition: None,
        })
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None, "deleted item is gone");
}

/// An item written as its JSON text is the item that text holds, under the same conditions,
/// alone or in a transaction.
pub async fn puts_as_text(store: &dyn Store) {
    let key = Key::new(fresh("text"), "A");
    let written = item(
        &key,
        json!({ "n": 1, "s": "a \"quoted\" {text}", "m": { "expires_at": 5 }, "expires_at": 4_000_000_000u64 }),
    );
    let text = |item: &Item| {
        ItemText::new(
            key_of(item),
            serde_json::to_string(item).unwrap(),
            expires_at(item),
        )
    };
    store
        .write(Write::put_new_text(text(&written)))
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(written.clone()),
        "an item put as text reads back as its attributes"
    );
    let again = item(&key, json!({ "n": 2 }));
    assert!(
        matches!(
            store.write(Write::put_new_text(text(&again))).await,
            Err(StoreError::ConditionFailed { index: 0 })
        ),
        "put_new_text refuses an item that exists"
    );
    assert_eq!(store.get(&key).await.unwrap(), Some(written.clone()));

    let other = Key::new(key.pk.clone(), "B");
    let refused = store
        .transact(vec![
            Write::put_new_text(text(&item(&other, json!({ "n": 3 })))),
            Write::Check {
                key: key.clone(),
                condition: Condition::equals("n", 99),
            },
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { index: 1 })),
        "{refused:?}"
    );
    assert_eq!(
        store.get(&other).await.unwrap(),
        None,
        "a text put in a failed transaction is not written"
    );
    store
        .transact(vec![
            Write::PutText {
                item: text(&item(&other, json!({ "n": 3 }))),
                condition: None,
            },
            Write::Check {
                key: key.clone(),
                condition: Condition::equals("n", 1),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get(&other).await.unwrap(),
        Some(item(&other, json!({ "n": 3 }))),
        "a text put in a transaction that holds is written"
    );
}

pub async fn conditions(store: &dyn Store) {
    let key = Key::new(fresh("cond"), "A");
    let first = item(&key, json!({ "status": "AVAILABLE", "n": 5 }));
    store.write(Write::put_new(first.clone())).await.unwrap();
    assert_eq!(
        store.write(Write::put_new(first.clone())).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "put_new refuses an existing item"
    );
    let held = Update::new(key.clone())
        .set("status", "HELD")
        .when(Condition::equals("status", "AVAILABLE"));
    store.write(Write::Update(held.clone())).await.unwrap();
    assert_eq!(
        store.write(Write::Update(held)).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "equality condition"
    );
    let checks = [
        (Condition::AtLeast("n".into(), 5), true),
        (Condition::AtLeast("n".into(), 6), false),
        (Condition::LessThan("n".into(), 6), true),
        (Condition::LessThan("n".into(), 5), false),
        (Condition::GreaterThan("n".into(), 4), true),
        (Condition::GreaterThan("n".into(), 5), false),
        (Condition::GreaterThan("missing".into(), 0), false),
        (Condition::Missing("missing".into()), true),
        (Condition::Missing("n".into()), false),
        (Condition::Exists, true),
        (
            Condition::Or(vec![
                Condition::NotExists,
                Condition::equals("status", "HELD"),
            ]),
            true,
        ),
        (
            Condition::And(vec![
                Condition::Exists,
                Condition::equals("status", "AVAILABLE"),
            ]),
            false,
        ),
    ];
    for (condition, holds) in checks {
        let result = store
            .write(Write::Check {
                key: key.clone(),
                condition: condition.clone(),
            })
            .await;
        assert_eq!(result.is_ok(), holds, "check {condition:?}");
    }
    let absent = Key::new(fresh("cond"), "B");
    assert!(store
        .write(Write::Check {
            key: absent.clone(),
            condition: Condition::NotExists
        })
        .await
        .is_ok());
    assert!(store
        .write(Write::Check {
            key: absent.clone(),
            condition: Condition::Missing("n".into())
        })
        .await
        .is_ok());
    assert!(store
        .write(Write::Check {
            key: absent,
            condition: Condition::Exists
        })
        .await
        .is_err());
}

pub async fn updates(store: &dyn Store) {
    let key = Key::new(fresh("upd"), "A");
    let after = store
        .update(Update::new(key.clone()).add("count", 1))
        .await
        .unwrap();
    assert_eq!(
        after.get("count"),
        Some(&json!(1)),
        "add on an absent item starts at 0"
    );
    assert_eq!(key_of(&after), key);
    let after = store
        .update(Update::new(key.clone()).add("count", 2).set("name", "x"))
        .await
        .unwrap();
    assert_eq!(after.get("count"), Some(&json!(3)));
    let after = store
        .update(Update::new(key.clone()).remove("name"))
        .await
        .unwrap();
    assert_eq!(after.get("name"), None, "remove drops the attribute");
    let refused = store
        .update(
            Update::new(key.clone())
                .add("count", -5)
                .when(Condition::AtLeast("count".into(), 5)),
        )
        .await;
    assert_eq!(refused, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().get("count"),
        Some(&json!(3)),
        "refused update changes nothing"
    );

    // Raising a counter only if it is still below a target (the waiting room's hole closing),
    // on an absent item and on one below, at and above the target.
    let raise = |key: &Key, target: i64| {
        Write::Update(
            Update::new(key.clone())
                .set("count", target)
                .when(Condition::Or(vec![
                    Condition::NotExists,
                    Condition::LessThan("count".into(), target),
                ])),
        )
    };
    let counter = Key::new(fresh("raise"), "A");
    store.write(raise(&counter, 4)).await.unwrap();
    let count = |item: Option<Item>| item.unwrap().get("count").cloned();
    assert_eq!(
        count(store.get(&counter).await.unwrap()),
        Some(json!(4)),
        "a raise creates an absent counter"
    );
    store.write(raise(&counter, 6)).await.unwrap();
    assert_eq!(
        store.write(raise(&counter, 6)).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "no raise to where the counter already is"
    );
    assert_eq!(
        store.write(raise(&counter, 5)).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "a raise never lowers"
    );
    let after = store
        .update(Update::new(counter.clone()).add("count", 1))
        .await
        .unwrap();
    assert_eq!(
        after.get("count"),
        Some(&json!(7)),
        "adds go on from a raise"
    );
}

pub async fn transactions_are_all_or_nothing(store: &dyn Store) {
    let pk = fresh("txn");
    let a = Key::new(&pk, "A");
    let b = Key::new(&pk, "B");
    store
        .write(Write::put(item(&a, json!({ "v": 1 }))))
        .await
        .unwrap();
    let failing = vec![
        Write::Update(Update::new(a.clone()).set("v", 2)),
        Write::put_new(item(&b, json!({ "v": 1 }))),
        Write::Check {
            key: Key::new(&pk, "C"),
            condition: Condition::Exists,
        },
    ];
    assert_eq!(
        store.transact(failing).await,
        Err(StoreError::ConditionFailed { index: 2 }),
        "reports the failing write"
    );
    assert_eq!(
        store.get(&a).await.unwrap().unwrap().get("v"),
        Some(&json!(1)),
        "nothing applied"
    );
    assert_eq!(store.get(&b).await.unwrap(), None, "nothing applied");
    let passing = vec![
        Write::Update(Update::new(a.clone()).add("v", 1)),
        Write::put_new(item(&b, json!({ "v": 1 }))),
    ];
    store.transact(passing).await.unwrap();
    assert_eq!(
        store.get(&a).await.unwrap().unwrap().get("v"),
        Some(&json!(2))
    );
    assert!(store.get(&b).await.unwrap().is_some());
}

pub async fn queries(store: &dyn Store) {
    let pk = fresh("query");
    for sk in [
        "SEAT#A-1", "SEAT#A-2", "SEAT#B-1", "INV", "LEFT#003", "LEFT#007",
    ] {
        store
            .write(Write::put(item(
                &Key::new(&pk, sk),
                json!({ "sk_copy": sk }),
            )))
            .await
            .unwrap();
    }
    let sks = |items: Vec<Item>| {
        items
            .iter()
            .map(|i| i["sk"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sks(store.query(&pk, &SkRange::prefix("SEAT#")).await.unwrap()),
        ["SEAT#A-1", "SEAT#A-2", "SEAT#B-1"]
    );
    assert_eq!(
        sks(store
            .query(&pk, &SkRange::prefix("SEAT#").reverse().limit(1))
            .await
            .unwrap()),
        ["SEAT#B-1"]
    );
    assert_eq!(
        sks(store
            .query(
                &pk,
                &SkRange::prefix("LEFT#").between("LEFT#003", "LEFT#007")
            )
            .await
            .unwrap()),
        ["LEFT#003"]
    );
    assert_eq!(
        sks(store
            .query(
                &pk,
                &SkRange::prefix("LEFT#").to("LEFT#007").reverse().limit(1)
            )
            .await
            .unwrap()),
        ["LEFT#003"]
    );
    // Backwards a page at a time between two bounds, the upper one left out (how the waiting
    // room looks back for the leaver's marker that covers an order).
    for (from, to, found) in [
        ("LEFT#001", "LEFT#007", vec!["LEFT#003"]),
        ("LEFT#003", "LEFT#008", vec!["LEFT#007"]),
        ("LEFT#004", "LEFT#007", vec![]),
    ] {
        let range = SkRange::prefix("LEFT#")
            .between(from, to)
            .reverse()
            .limit(1);
        assert_eq!(
            sks(store.query(&pk, &range).await.unwrap()),
            found,
            "{from}..{to}"
        );
    }
    assert_eq!(
        store.query(&pk, &SkRange::default()).await.unwrap().len(),
        6
    );
    assert!(store
        .query(&fresh("empty"), &SkRange::default())
        .await
        .unwrap()
        .is_empty());
}

pub async fn concurrent_conditional_writes_have_one_winner(store: Arc<dyn Store>) {
    let key = Key::new(fresh("race"), "SEAT");
    store
        .write(Write::put(item(&key, json!({ "status": "AVAILABLE" }))))
        .await
        .unwrap();
    let attempts = (0..32).map(|i| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let take = Update::new(key)
                .set("status", "HELD")
                .set("by", i)
                .when(Condition::equals("status", "AVAILABLE"));
            store.write(Write::Update(take)).await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(winners, 1, "exactly one conditional write wins");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(Ok(()) | Err(StoreError::ConditionFailed { .. })))));
}

pub async fn concurrent_counters_lose_nothing(store: Arc<dyn Store>) {
    let key = Key::new(fresh("counter"), "SEQ");
    let adds = (0..40).map(|_| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            store
                .update(Update::new(key).add("count", 1))
                .await
                .unwrap()
        })
    });
    let mut seen: Vec<i64> = futures::future::join_all(adds)
        .await
        .into_iter()
        .map(|r| r.unwrap()["count"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<_>>(),
        "every increment returns a distinct new value"
    );
}

/// A counter raised by `n` only while it stays at most `cap`, created by the first raise (the
/// purchase cap per event and account): the raise inside a transaction, refused at its index
/// with nothing applied, and lowered again by an unconditional add.
fn capped_add(key: &Key, n: i64, cap: i64) -> Write {
    Write::Update(
        Update::new(key.clone())
            .add("tickets", n)
            .when(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("tickets".into(), cap - n + 1),
            ])),
    )
}

pub async fn capped_counters(store: &dyn Store) {
    let pk = fresh("cap");
    let counter = Key::new(&pk, "CAP");
    let other = Key::new(&pk, "OTHER");
    let tickets = |item: Option<Item>| item.and_then(|i| i.get("tickets").cloned());
    store
        .transact(vec![
            Write::put(item(&other, json!({ "v": 1 }))),
            capped_add(&counter, 3, 4),
        ])
        .await
        .unwrap();
    assert_eq!(
        tickets(store.get(&counter).await.unwrap()),
        Some(json!(3)),
        "a capped add creates an absent counter"
    );
    assert_eq!(
        store
            .transact(vec![
                Write::Update(Update::new(other.clone()).add("v", 1)),
                capped_add(&counter, 2, 4),
            ])
            .await,
        Err(StoreError::ConditionFailed { index: 1 }),
        "an add past the cap is refused at its index"
    );
    assert_eq!(
        store.get(&other).await.unwrap().unwrap().get("v"),
        Some(&json!(1)),
        "nothing of the refused transaction applied"
    );
    store.write(capped_add(&counter, 1, 4)).await.unwrap();
    assert_eq!(
        tickets(store.get(&counter).await.unwrap()),
        Some(json!(4)),
        "an add up to the cap passes"
    );
    store
        .write(Write::Update(
            Update::new(counter.clone()).add("tickets", -3),
        ))
        .await
        .unwrap();
    store.write(capped_add(&counter, 3, 4)).await.unwrap();
    assert_eq!(tickets(store.get(&counter).await.unwrap()), Some(json!(4)));
}

/// A capped add that also sets a mark only if it is not there, and drops other marks, in one
/// update: an account's purchase cap with the reservation tokens it used.
pub async fn marks_on_a_capped_counter(store: &dyn Store) {
    let pk = fresh("marks");
    let counter = Key::new(&pk, "CAP");
    let other = Key::new(&pk, "OTHER");
    let marked = |n: i64, mark: &str, drop: &[&str]| {
        let mut update = Update::new(counter.clone())
            .add("tickets", n)
            .set(mark, 1_000);
        for old in drop {
            update = update.remove(old);
        }
        Write::Update(update.when(Condition::And(vec![
            Condition::Missing(mark.into()),
            Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("tickets".into(), 4 - n + 1),
            ]),
        ])))
    };
    let marks = |item: Item| {
        let mut names: Vec<String> = item
            .keys()
            .filter(|k| k.starts_with("mark_"))
            .cloned()
            .collect();
        names.sort();
        (item.get("tickets").cloned(), names)
    };
    store.write(marked(1, "mark_a", &[])).await.unwrap();
    assert_eq!(
        marks(store.get(&counter).await.unwrap().unwrap()),
        (Some(json!(1)), vec!["mark_a".to_string()]),
        "an absent counter is created with its mark"
    );
    store
        .write(Write::put(item(&other, json!({ "v": 1 }))))
        .await
        .unwrap();
    assert_eq!(
        store
            .transact(vec![
                Write::Update(Update::new(other.clone()).add("v", 1)),
                marked(1, "mark_a", &[]),
            ])
            .await,
        Err(StoreError::ConditionFailed { index: 1 }),
        "a mark already there is refused at its index"
    );
    assert_eq!(
        store.get(&other).await.unwrap().unwrap().get("v"),
        Some(&json!(1)),
        "nothing of the refused transaction applied"
    );
    store
        .write(marked(2, "mark_b", &["mark_a", "mark_never_set"]))
        .await
        .unwrap();
    assert_eq!(
        marks(store.get(&counter).await.unwrap().unwrap()),
        (Some(json!(3)), vec!["mark_b".to_string()]),
        "the old mark dropped (and an absent one named without harm), the new one set"
    );
    assert_eq!(
        store.write(marked(2, "mark_c", &["mark_b"])).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "past the cap: refused, whatever the marks"
    );
    store.write(marked(1, "mark_a", &[])).await.unwrap();
    assert_eq!(
        marks(store.get(&counter).await.unwrap().unwrap()),
        (
            Some(json!(4)),
            vec!["mark_a".to_string(), "mark_b".to_string()]
        ),
        "a dropped mark may be set again"
    );
}

/// A put that claims an item only while it still names what was read (or is still absent): an
/// account's place in line.
pub async fn claims_by_reference(store: &dyn Store) {
    let key = Key::new(fresh("claim"), "PLACE");
    let claim = |token: &str, previous: Option<&str>| Write::Put {
        item: item(&key, json!({ "token": token })),
        condition: Some(match previous {
            None => Condition::NotExists,
            Some(previous) => Condition::equals("token", previous),
        }),
    };
    store.write(claim("a", None)).await.unwrap();
    assert_eq!(
        store.write(claim("b", None)).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "a claim of an absent item fails once it exists"
    );
    store.write(claim("b", Some("a"))).await.unwrap();
    assert_eq!(
        store.write(claim("c", Some("a"))).await,
        Err(StoreError::ConditionFailed { index: 0 }),
        "a claim on a stale read fails"
    );
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().get("token"),
        Some(&json!("b"))
    );
}

pub async fn concurrent_capped_adds_stay_within_the_cap(store: Arc<dyn Store>) {
    let key = Key::new(fresh("capped"), "CAP");
    let adds = (0..16).map(|_| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move { store.write(capped_add(&key, 2, 5)).await })
    });
    let results = futures::future::join_all(adds).await;
    let passed = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(passed, 2, "2 + 2 fit a cap of 5, a third 2 does not");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(Ok(()) | Err(StoreError::ConditionFailed { .. })))));
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().get("tickets"),
        Some(&json!(4))
    );
}

/// Records what a store reports of one partition, in order.
struct Recorder {
    pk: String,
    reports: Mutex<Vec<(Key, Option<Item>)>>,
}

impl ChangeListener for Recorder {
    fn watches(&self, key: &Key) -> bool {
        key.pk == self.pk
    }
    fn committed(&self, key: &Key, item: Option<&Item>) {
        self.reports.lock().push((key.clone(), item.cloned()));
    }
}

/// A store that reports its changes ([`Store::watch`]) reports each committed write once, with
/// the item as the write left it, before the writer is answered, and nothing of a write that
/// failed; replayed in order, the reports rebuild exactly what the store holds, under concurrent
/// writers too. Stores that do not report (DynamoDB) skip the check.
pub async fn reported_changes_follow_the_store(store: Arc<dyn Store>) {
    let pk = fresh("watch");
    let recorder = Arc::new(Recorder {
        pk: pk.clone(),
        reports: Mutex::default(),
    });
    let listener: Weak<dyn ChangeListener> = Arc::downgrade(&recorder) as _;
    if !store.watch(listener) {
        return;
    }
    let reported = |n: usize| recorder.reports.lock().len() == n;
    let a = Key::new(pk.clone(), "A");
    let b = Key::new(pk.clone(), "B");
    let a1 = item(&a, json!({ "status": "AVAILABLE" }));
    store.write(Write::put_new(a1.clone())).await.unwrap();
    assert_eq!(
        recorder.reports.lock().clone(),
        vec![(a.clone(), Some(a1.clone()))],
        "a put is reported, with its item, before the writer is answered"
    );
    let refused = store.write(Write::put_new(a1.clone())).await;
    assert!(refused.is_err());
    assert!(reported(1), "a failed condition reports nothing");
    let counted = store
        .update(Update::new(b.clone()).add("n", 2))
        .await
        .unwrap();
    assert_eq!(
        recorder.reports.lock().last().cloned(),
        Some((b.clone(), Some(counted))),
        "an update is reported with the item it left"
    );
    let refused = store
        .transact(vec![
            Write::Update(Update::new(a.clone()).set("status", "HELD")),
            Write::Check {
                key: b.clone(),
                condition: Condition::equals("n", 99),
            },
        ])
        .await;
    assert!(refused.is_err());
    assert!(
        reported(2),
        "a failed transaction reports none of its writes"
    );
    store
        .write(Write::Delete {
            key: b.clone(),
            condition: None,
        })
        .await
        .unwrap();
    assert_eq!(
        recorder.reports.lock().last().cloned(),
        Some((b.clone(), None)),
        "a delete is reported without an item"
    );
    let other = Key::new(fresh("unwatched"), "A");
    store
        .write(Write::put(item(&other, json!({}))))
        .await
        .unwrap();
    assert!(reported(3), "writes to keys not watched are not reported");
    let c = Key::new(pk.clone(), "C");
    let c1 = item(&c, json!({ "status": "AVAILABLE" }));
    let text = ItemText::new(c.clone(), serde_json::to_string(&c1).unwrap(), None);
    store.write(Write::put_new_text(text)).await.unwrap();
    assert_eq!(
        recorder.reports.lock().last().cloned(),
        Some((c.clone(), Some(c1))),
        "a put as text is reported with the item its text holds"
    );

    // Concurrent writers flipping the same items: the last report of each is what it holds.
    let seats: Vec<Key> = (0..4)
        .map(|n| Key::new(pk.clone(), format!("S{n}")))
        .collect();
    for seat in &seats {
        store
            .write(Write::put(item(
                seat,
                json!({ "status": "AVAILABLE", "n": 0 }),
            )))
            .await
            .unwrap();
    }
    let writers = (0..32).map(|w| {
        let store = store.clone();
        let seat = seats[w % seats.len()].clone();
        tokio::spawn(async move {
            for round in 0..10 {
                let (from, to) = match round % 2 {
                    0 => ("AVAILABLE", "HELD"),
                    _ => ("HELD", "AVAILABLE"),
                };
                let flip = Update::new(seat.clone())
                    .set("status", to)
                    .add("n", 1)
                    .when(Condition::equals("status", from));
                let _ = store.write(Write::Update(flip)).await;
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let mut replayed: HashMap<Key, Option<Item>> = HashMap::new();
    for (key, item) in recorder.reports.lock().iter() {
        replayed.insert(key.clone(), item.clone());
    }
    for key in seats.iter().chain([&a, &b, &c]) {
        assert_eq!(
            replayed.get(key).cloned().flatten(),
            store.get(key).await.unwrap(),
            "the reports, replayed in order, hold what the store holds ({key:?})"
        );
    }
}
