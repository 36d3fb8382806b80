//! The store against real SQLite files, each test in a directory of its own.

use super::*;
use crate::entity::{ActionLimits, ActivationResponse, Exec, KeyValue};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "whisk-store-{tag}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            now_millis()
        ));
        assert!(!dir.exists(), "{} is taken", dir.display());
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn action(namespace: &str, name: &str) -> Action {
    Action {
        namespace: namespace.into(),
        name: name.into(),
        version: "9.9.9".into(),
        publish: false,
        exec: Exec {
            kind: "nodejs:20".into(),
            code: Some(format!("function main() {{ return {{name: '{name}'}} }}")),
            binary: false,
            main: None,
            image: None,
        },
        parameters: vec![KeyValue::new("p", 1)],
        annotations: vec![KeyValue::new("exec", "nodejs:20")],
        limits: ActionLimits::default(),
        updated: 0,
    }
}

fn activation(namespace: &str, name: &str, id: u32, start: u64) -> Activation {
    Activation {
        namespace: namespace.into(),
        name: name.into(),
        subject: "guest".into(),
        activation_id: format!("{id:032x}"),
        start,
        end: start + 5,
        duration: 5,
        response: ActivationResponse::success(json!({"n": id})),
        logs: vec![format!("log of {id}")],
        version: "0.0.1".into(),
        publish: false,
        annotations: vec![KeyValue::new("path", format!("{namespace}/{name}"))],
        cause: None,
    }
}

fn names(actions: &[Action]) -> Vec<&str> {
    actions.iter().map(|a| a.name.as_str()).collect()
}

fn ids(records: &[Activation]) -> Vec<u32> {
    records
        .iter()
        .map(|a| u32::from_str_radix(&a.activation_id, 16).unwrap())
        .collect()
}

#[test]
fn open_creates_dir_file_and_schema() {
    let dir = TempDir::new("open");
    let nested = dir.0.join("a/b");
    let store = Store::open(&nested).unwrap();
    assert_eq!(store.path(), nested.join(DB_FILE));
    assert!(store.path().is_file());
    let conn = store.lock();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn open_refuses_a_newer_schema_and_names_the_file() {
    let dir = TempDir::new("newer");
    drop(Store::open(&dir.0).unwrap());
    let conn = Connection::open(dir.0.join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&dir.0).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1));
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.0.join(DB_FILE).display().to_string()),
        "{msg}"
    );
}

#[test]
fn open_names_the_dir_it_cannot_create() {
    let dir = TempDir::new("notdir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("sub")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("file/sub"), "{err}");
}

#[test]
fn actions_create_get_count_delete() {
    let dir = TempDir::new("actions");
    let store = Store::open(&dir.0).unwrap();
    let before = now_millis();
    let stored = store.put_action(action("guest", "hello"), false).unwrap();
    assert_eq!(stored.version, FIRST_VERSION);
    assert!(stored.updated >= before);
    assert_eq!(
        store.get_action("guest", "hello").unwrap(),
        Some(stored.clone())
    );
    assert_eq!(store.get_action("guest", "nope").unwrap(), None);
    assert_eq!(store.get_action("other", "hello").unwrap(), None);
    store.put_action(action("other", "hello"), false).unwrap();
    assert_eq!(store.count_actions("guest").unwrap(), 1);
    assert_eq!(store.count_actions("other").unwrap(), 1);
    assert_eq!(store.count_actions("empty").unwrap(), 0);

    assert_eq!(store.delete_action("guest", "hello").unwrap(), Some(stored));
    assert_eq!(store.delete_action("guest", "hello").unwrap(), None);
    assert_eq!(store.get_action("guest", "hello").unwrap(), None);
    assert_eq!(store.count_actions("guest").unwrap(), 0);
    assert_eq!(store.count_actions("other").unwrap(), 1);
}

#[test]
fn put_without_overwrite_conflicts_and_keeps_the_old() {
    let dir = TempDir::new("conflict");
    let store = Store::open(&dir.0).unwrap();
    let first = store.put_action(action("guest", "a"), false).unwrap();
    let mut changed = action("guest", "a");
    changed.publish = true;
    let err = store.put_action(changed, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { namespace, name } if namespace == "guest" && name == "a"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the action guest/a already exists");
    assert_eq!(store.get_action("guest", "a").unwrap(), Some(first));
}

#[test]
fn overwrite_bumps_the_version_and_takes_the_new_fields() {
    let dir = TempDir::new("overwrite");
    let store = Store::open(&dir.0).unwrap();
    // Overwrite of a missing action creates it at the first version.
    let v1 = store.put_action(action("guest", "a"), true).unwrap();
    assert_eq!(v1.version, "0.0.1");
    let mut changed = action("guest", "a");
    changed.publish = true;
    changed.limits.timeout = 1234;
    changed.exec.code = Some("new code".into());
    let v2 = store.put_action(changed, true).unwrap();
    assert_eq!(v2.version, "0.0.2");
    assert!(v2.publish);
    assert_eq!(v2.limits.timeout, 1234);
    assert!(v2.updated >= v1.updated);
    let v3 = store.put_action(action("guest", "a"), true).unwrap();
    assert_eq!(v3.version, "0.0.3");
    assert!(!v3.publish);
    assert_eq!(store.get_action("guest", "a").unwrap(), Some(v3));
    assert_eq!(store.count_actions("guest").unwrap(), 1);
}

#[test]
fn list_actions_newest_first_then_by_name_with_paging() {
    let dir = TempDir::new("list");
    let store = Store::open(&dir.0).unwrap();
    for name in ["c", "a", "b", "d", "e"] {
        store.put_action(action("guest", name), false).unwrap();
    }
    store.put_action(action("other", "x"), false).unwrap();
    // Give the rows known times so the order does not depend on the clock's resolution.
    {
        let conn = store.lock();
        for (name, updated) in [("a", 10), ("b", 30), ("c", 20), ("d", 30), ("e", 5)] {
            conn.execute(
                "UPDATE actions SET updated = ?1 WHERE namespace = 'guest' AND name = ?2",
                params![updated, name],
            )
            .unwrap();
        }
    }
    let all = store.list_actions("guest", 0, 0).unwrap();
    assert_eq!(names(&all), ["b", "d", "c", "a", "e"]);
    assert_eq!(
        names(&store.list_actions("guest", 0, 2).unwrap()),
        ["b", "d"]
    );
    assert_eq!(
        names(&store.list_actions("guest", 2, 2).unwrap()),
        ["c", "a"]
    );
    assert_eq!(names(&store.list_actions("guest", 4, 2).unwrap()), ["e"]);
    assert!(store.list_actions("guest", 5, 2).unwrap().is_empty());
    assert!(store.list_actions("nobody", 0, 10).unwrap().is_empty());
    assert_eq!(names(&store.list_actions("other", 0, 10).unwrap()), ["x"]);
}

#[test]
fn activations_filter_order_and_page() {
    let dir = TempDir::new("activations");
    let store = Store::open(&dir.0).unwrap();
    // id, name, start
    let rows = [
        (1, "a", 100),
        (2, "b", 200),
        (3, "a", 300),
        (4, "b", 400),
        (5, "a", 500),
        (6, "a", 500),
    ];
    for (id, name, start) in rows {
        store
            .put_activation(&activation("guest", name, id, start))
            .unwrap();
    }
    store
        .put_activation(&activation("other", "a", 7, 450))
        .unwrap();

    let q = ActivationQuery::default();
    let all = store.list_activations("guest", &q).unwrap();
    // Newest first; equal starts by activation id, descending.
    assert_eq!(ids(&all), [6, 5, 4, 3, 2, 1]);
    assert_eq!(all[5], activation("guest", "a", 1, 100));
    assert_eq!(store.count_activations("guest", &q).unwrap(), 6);

    let name_a = ActivationQuery {
        name: Some("a".into()),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_activations("guest", &name_a).unwrap()),
        [6, 5, 3, 1]
    );
    assert_eq!(store.count_activations("guest", &name_a).unwrap(), 4);

    let window = ActivationQuery {
        since: Some(200),
        upto: Some(400),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_activations("guest", &window).unwrap()),
        [4, 3, 2]
    );
    assert_eq!(store.count_activations("guest", &window).unwrap(), 3);

    let since_only = ActivationQuery {
        since: Some(401),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_activations("guest", &since_only).unwrap()),
        [6, 5]
    );
    let upto_only = ActivationQuery {
        upto: Some(199),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_activations("guest", &upto_only).unwrap()),
        [1]
    );

    let a_in_window = ActivationQuery {
        name: Some("a".into()),
        since: Some(200),
        upto: Some(500),
        skip: 1,
        limit: 1,
    };
    assert_eq!(
        ids(&store.list_activations("guest", &a_in_window).unwrap()),
        [5]
    );
    // Counting ignores skip and limit.
    assert_eq!(store.count_activations("guest", &a_in_window).unwrap(), 3);

    let page = |skip, limit| {
        let q = ActivationQuery {
            skip,
            limit,
            ..Default::default()
        };
        ids(&store.list_activations("guest", &q).unwrap())
    };
    assert_eq!(page(0, 2), [6, 5]);
    assert_eq!(page(2, 2), [4, 3]);
    assert_eq!(page(4, 2), [2, 1]);
    assert!(page(6, 2).is_empty());

    assert_eq!(ids(&store.list_activations("other", &q).unwrap()), [7]);
    assert_eq!(
        store
            .count_activations(
                "guest",
                &ActivationQuery {
                    name: Some("zzz".into()),
                    ..Default::default()
                }
            )
            .unwrap(),
        0
    );
}

#[test]
fn get_activation_by_namespace_and_id() {
    let dir = TempDir::new("getact");
    let store = Store::open(&dir.0).unwrap();
    let mut record = activation("guest", "a", 42, 1000);
    record.cause = Some("c".repeat(32));
    record.response = ActivationResponse::application_error("no");
    store.put_activation(&record).unwrap();
    assert_eq!(
        store
            .get_activation("guest", &record.activation_id)
            .unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store
            .get_activation("other", &record.activation_id)
            .unwrap(),
        None
    );
    assert_eq!(store.get_activation("guest", "missing").unwrap(), None);
    // Putting the same id again replaces the record.
    record.logs.push("more".into());
    store.put_activation(&record).unwrap();
    assert_eq!(
        store
            .get_activation("guest", &record.activation_id)
            .unwrap(),
        Some(record)
    );
    assert_eq!(
        store
            .count_activations("guest", &ActivationQuery::default())
            .unwrap(),
        1
    );
}

#[test]
fn everything_survives_reopening() {
    let dir = TempDir::new("reopen");
    let (a, b) = {
        let store = Store::open(&dir.0).unwrap();
        let a = store.put_action(action("guest", "a"), false).unwrap();
        let b = store.put_action(action("guest", "b"), false).unwrap();
        let b = store.put_action(b, true).unwrap();
        for id in 0..10 {
            store
                .put_activation(&activation("guest", "a", id, 1000 + u64::from(id)))
                .unwrap();
        }
        (a, b)
    };
    let store = Store::open(&dir.0).unwrap();
    assert_eq!(store.get_action("guest", "a").unwrap(), Some(a));
    assert_eq!(store.get_action("guest", "b").unwrap(), Some(b.clone()));
    assert_eq!(b.version, "0.0.2");
    assert_eq!(store.count_actions("guest").unwrap(), 2);
    let q = ActivationQuery::default();
    assert_eq!(store.count_activations("guest", &q).unwrap(), 10);
    assert_eq!(
        store
            .get_activation("guest", &format!("{:032x}", 3))
            .unwrap(),
        Some(activation("guest", "a", 3, 1003))
    );
    // The version keeps counting from what was stored before the reopen.
    let b3 = store.put_action(action("guest", "b"), true).unwrap();
    assert_eq!(b3.version, "0.0.3");
    drop(store);
    let store = Store::open(&dir.0).unwrap();
    assert_eq!(
        store.get_action("guest", "b").unwrap().unwrap().version,
        "0.0.3"
    );
}

#[test]
fn concurrent_put_activation_all_land() {
    let dir = TempDir::new("concurrent");
    let store = Arc::new(Store::open(&dir.0).unwrap());
    let per_thread = 50u32;
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let id = t * 1000 + i;
                    store
                        .put_activation(&activation("guest", &format!("t{t}"), id, u64::from(id)))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let q = ActivationQuery::default();
    assert_eq!(
        store.count_activations("guest", &q).unwrap(),
        8 * u64::from(per_thread)
    );
    for t in 0..8u32 {
        let q = ActivationQuery {
            name: Some(format!("t{t}")),
            ..Default::default()
        };
        assert_eq!(
            store.count_activations("guest", &q).unwrap(),
            u64::from(per_thread)
        );
    }
    drop(store);
    let store = Store::open(&dir.0).unwrap();
    assert_eq!(
        store.count_activations("guest", &q).unwrap(),
        8 * u64::from(per_thread)
    );
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn corrupt_record_is_reported_with_file_and_entity() {
    let dir = TempDir::new("corrupt");
    let store = Store::open(&dir.0).unwrap();
    store.put_action(action("guest", "a"), false).unwrap();
    store
        .lock()
        .execute("UPDATE actions SET doc = '{\"oops\": 1}'", [])
        .unwrap();
    let err = store.get_action("guest", "a").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        msg.contains("action guest/a") && msg.contains(DB_FILE),
        "{msg}"
    );
}
