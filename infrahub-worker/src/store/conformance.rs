//! The conformance suite every [`TaskStore`] backend runs: `run_all(factory)` calls each check
//! on a fresh store from `factory`.

use std::future::Future;

use infrahub_graph::Timestamp;
use serde_json::json;

use super::{MAX_LOG_MESSAGE, TaskStore};
use crate::ErrorKind;
use crate::task::{
    NewTask, RelatedNode, Severity, TaskFilter, TaskState, TaskUpdate, WorkflowType,
};

/// A pending task of workflow `workflow` on `branch`.
pub fn new_task(workflow: &str, branch: Option<&str>) -> NewTask {
    NewTask {
        id: None,
        title: format!("Running {workflow}"),
        workflow: workflow.to_owned(),
        workflow_type: WorkflowType::Core,
        database_change: true,
        state: TaskState::Pending,
        parameters: json!({"workflow": workflow}),
        branch: branch.map(str::to_owned),
        related_nodes: Vec::new(),
        account: None,
    }
}

fn to(state: TaskState) -> TaskUpdate {
    TaskUpdate {
        state: Some(state),
        ..TaskUpdate::default()
    }
}

/// Runs every check, each on a new store.
pub async fn run_all<S, F, Fut>(factory: F)
where
    S: TaskStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_and_read(&factory().await).await;
    state_rules(&factory().await).await;
    logs(&factory().await).await;
    queued_writes(&factory().await).await;
    filters_and_paging(&factory().await).await;
    cancel(&factory().await).await;
    delete_before(&factory().await).await;
    concurrent_writes(factory().await).await;
}

async fn create_and_read(store: &impl TaskStore) {
    let task = store
        .create(new_task("create-branch", Some("b1")))
        .await
        .unwrap();
    assert_eq!(task.state, TaskState::Pending);
    assert_eq!(task.attempts, 0);
    assert!(task.start_time.is_none());
    assert!(uuid::Uuid::parse_str(&task.id).is_ok(), "{}", task.id);
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read, task);
    assert_eq!(
        store.state(&task.id).await.unwrap(),
        Some(TaskState::Pending)
    );
    assert!(
        store
            .get("8c1f3e52-9a8e-4a53-a7a0-000000000000")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get("not-a-uuid").await.unwrap().is_none());

    let mut given = new_task("create-branch", None);
    given.id = Some(task.id.clone());
    let error = store.create(given).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    let mut bad = new_task("create-branch", None);
    bad.id = Some("task-1".into());
    let error = store.create(bad).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    let mut done = new_task("create-branch", None);
    done.state = TaskState::Completed;
    assert_eq!(
        store.create(done).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // Refusals wrote nothing.
    assert_eq!(
        store
            .list(&TaskFilter::default(), 0, 10)
            .await
            .unwrap()
            .count,
        1
    );
}

async fn state_rules(store: &impl TaskStore) {
    let task = store.create(new_task("branch-merge", None)).await.unwrap();
    let running = store
        .update(&task.id, to(TaskState::Running))
        .await
        .unwrap();
    assert_eq!(running.attempts, 1);
    let started = running.start_time.expect("a start time");
    assert!(running.updated_at >= task.updated_at);
    // A second start (a redelivery) counts an attempt and keeps the first start time.
    let again = store
        .update(&task.id, to(TaskState::Running))
        .await
        .unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(again.start_time, Some(started));
    let progress = store
        .update(
            &task.id,
            TaskUpdate {
                progress: Some(1.5),
                related_nodes: vec![
                    RelatedNode {
                        id: "n1".into(),
                        kind: "TestKind".into(),
                    },
                    RelatedNode {
                        id: "n1".into(),
                        kind: "TestKind".into(),
                    },
                ],
                ..TaskUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(progress.progress, Some(1.0));
    assert_eq!(progress.related_nodes.len(), 1);
    let nan = TaskUpdate {
        progress: Some(f64::NAN),
        ..TaskUpdate::default()
    };
    assert_eq!(
        store.update(&task.id, nan).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let guarded = TaskUpdate {
        state: Some(TaskState::Completed),
        only_from: vec![TaskState::Pending],
        ..TaskUpdate::default()
    };
    assert_eq!(
        store.update(&task.id, guarded).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let done = store
        .update(
            &task.id,
            TaskUpdate {
                state: Some(TaskState::Completed),
                result: Some(json!({"ok": true})),
                ..TaskUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(done.result, Some(json!({"ok": true})));
    // A final state is never left.
    for state in [TaskState::Running, TaskState::Failed, TaskState::Completed] {
        let error = store.update(&task.id, to(state)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    }
    assert_eq!(
        store
            .update(
                "0b7f0a57-0000-4000-8000-000000000001",
                to(TaskState::Running)
            )
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let record = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Completed);
}

async fn logs(store: &impl TaskStore) {
    let task = store.create(new_task("diff-update", None)).await.unwrap();
    let lines = (0..25)
        .map(|i| (Severity::Info, format!("line {i}")))
        .collect();
    store.append_logs(&task.id, lines).await.unwrap();
    store
        .append_logs(
            &task.id,
            vec![(Severity::Error, "x".repeat(MAX_LOG_MESSAGE + 10))],
        )
        .await
        .unwrap();
    let page = store.logs(&task.id, 20, 100).await.unwrap();
    assert_eq!(page.count, 26);
    assert_eq!(page.logs.len(), 6);
    assert_eq!(page.logs[0].message, "line 20");
    assert_eq!(page.logs[0].index, 20);
    assert_eq!(page.logs[0].task_id, task.id);
    let long = &page.logs[5];
    assert_eq!(long.severity, Severity::Error);
    assert!(long.message.len() <= MAX_LOG_MESSAGE + 4);
    assert!(long.message.ends_with('…'));
    assert_eq!(store.get(&task.id).await.unwrap().unwrap().log_count, 26);
    // Logs stay writable once the task is done (a worker's last words).
    store.update(&task.id, to(TaskState::Failed)).await.unwrap();
    store
        .append_logs(&task.id, vec![(Severity::Critical, "boom".into())])
        .await
        .unwrap();
    assert_eq!(store.logs(&task.id, 0, 0).await.unwrap().count, 27);
    let unknown = store
        .logs("0b7f0a57-0000-4000-8000-000000000002", 0, 10)
        .await
        .unwrap();
    assert_eq!(unknown.count, 0);
    assert_eq!(
        store
            .append_logs(
                "0b7f0a57-0000-4000-8000-000000000002",
                vec![(Severity::Info, "x".into())]
            )
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

async fn queued_writes(store: &impl TaskStore) {
    let task = store.create(new_task("diff-update", None)).await.unwrap();
    store.queue_update(&task.id, to(TaskState::Running));
    store.queue_logs(&task.id, vec![(Severity::Info, "queued".into())]);
    store.queue_update(
        &task.id,
        TaskUpdate {
            progress: Some(0.25),
            ..TaskUpdate::default()
        },
    );
    // A refused queued write (unknown task) is dropped without affecting the others.
    store.queue_logs(
        "0b7f0a57-0000-4000-8000-000000000009",
        vec![(Severity::Info, "lost".into())],
    );
    store
        .append_logs(&task.id, vec![(Severity::Info, "awaited".into())])
        .await
        .unwrap();
    let record = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Running);
    assert_eq!(record.attempts, 1);
    assert_eq!(record.progress, Some(0.25));
    let lines: Vec<String> = store
        .logs(&task.id, 0, 10)
        .await
        .unwrap()
        .logs
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(lines, ["queued", "awaited"]);
}

async fn filters_and_paging(store: &impl TaskStore) {
    let mut ids = Vec::new();
    for i in 0..30 {
        let workflow = if i % 3 == 0 {
            "branch-merge"
        } else {
            "diff-update"
        };
        let branch = if i % 2 == 0 { "b-even" } else { "b-odd" };
        let mut task = new_task(workflow, Some(branch));
        task.title = format!("Task number {i:02}");
        task.database_change = i % 5 != 0;
        if i % 10 == 0 {
            task.related_nodes = vec![RelatedNode {
                id: "node-ten".into(),
                kind: "K".into(),
            }];
        }
        ids.push(store.create(task).await.unwrap().id);
    }
    for id in ids.iter().take(4) {
        store.update(id, to(TaskState::Running)).await.unwrap();
        store.update(id, to(TaskState::Completed)).await.unwrap();
    }
    let all = store.list(&TaskFilter::default(), 0, 10).await.unwrap();
    assert_eq!(all.count, 30);
    assert_eq!(all.tasks.len(), 10);
    assert_eq!(all.tasks[0].id, ids[29], "newest first");
    let tail = store.list(&TaskFilter::default(), 25, 10).await.unwrap();
    assert_eq!(tail.count, 30);
    assert_eq!(tail.tasks.len(), 5);
    assert_eq!(tail.tasks[4].id, ids[0]);

    let count = |filter: TaskFilter| async move { store.list(&filter, 0, 100).await.unwrap() };
    let completed = count(TaskFilter {
        states: Some(vec![TaskState::Completed]),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(completed.count, 4);
    assert!(
        completed
            .tasks
            .iter()
            .all(|t| t.state == TaskState::Completed)
    );
    assert_eq!(
        count(TaskFilter {
            workflows: Some(vec!["branch-merge".into()]),
            branch: Some("b-even".into()),
            ..TaskFilter::default()
        })
        .await
        .count,
        5
    );
    assert_eq!(
        count(TaskFilter {
            workflows: Some(vec!["unknown".into()]),
            ..TaskFilter::default()
        })
        .await
        .count,
        0
    );
    assert_eq!(
        count(TaskFilter {
            branch: Some("nowhere".into()),
            ..TaskFilter::default()
        })
        .await
        .count,
        0
    );
    let related = count(TaskFilter {
        related_node: Some("node-ten".into()),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(related.count, 3);
    assert_eq!(related.tasks[0].id, ids[20]);
    let by_ids = count(TaskFilter {
        ids: Some(vec![
            ids[3].clone(),
            ids[7].clone(),
            "junk".into(),
            ids[3].clone(),
        ]),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(by_ids.count, 2);
    assert_eq!(by_ids.tasks[0].id, ids[7]);
    let titled = count(TaskFilter {
        q: Some("NUMBER 1".into()),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(titled.count, 10);
    let titled_page = store
        .list(
            &TaskFilter {
                q: Some("number 1".into()),
                ..TaskFilter::default()
            },
            8,
            5,
        )
        .await
        .unwrap();
    assert_eq!(titled_page.count, 10);
    assert_eq!(titled_page.tasks.len(), 2);
    assert_eq!(titled_page.tasks[1].title, "Task number 10");
    assert_eq!(
        count(TaskFilter {
            database_change: Some(false),
            ..TaskFilter::default()
        })
        .await
        .count,
        6
    );
    let future = count(TaskFilter {
        since: Some(Timestamp::now().plus_micros(60_000_000)),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(future.count, 0);
    let past = count(TaskFilter {
        until: Some(Timestamp::now().plus_micros(60_000_000)),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(past.count, 30);
}

async fn cancel(store: &impl TaskStore) {
    let pending = store.create(new_task("branch-rebase", None)).await.unwrap();
    let cancelled = store.cancel(&pending.id).await.unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(
        store.cancel(&pending.id).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let running = store.create(new_task("branch-rebase", None)).await.unwrap();
    store
        .update(&running.id, to(TaskState::Running))
        .await
        .unwrap();
    let cancelling = store.cancel(&running.id).await.unwrap();
    assert_eq!(cancelling.state, TaskState::Cancelling);
    // A cancelling task only ends.
    assert_eq!(
        store
            .update(&running.id, to(TaskState::Running))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    store
        .update(&running.id, to(TaskState::Cancelled))
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel("0b7f0a57-0000-4000-8000-000000000003")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

async fn delete_before(store: &impl TaskStore) {
    let old = store.create(new_task("diff-update", None)).await.unwrap();
    store
        .update(&old.id, to(TaskState::Completed))
        .await
        .unwrap();
    store
        .append_logs(&old.id, vec![(Severity::Info, "old".into())])
        .await
        .unwrap();
    let open = store.create(new_task("diff-update", None)).await.unwrap();
    let cutoff = Timestamp::now().plus_micros(1);
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let new = store.create(new_task("diff-update", None)).await.unwrap();
    store
        .update(&new.id, to(TaskState::Completed))
        .await
        .unwrap();
    let deleted = store
        .delete_before(cutoff, &[TaskState::Completed, TaskState::Failed])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(store.get(&old.id).await.unwrap().is_none());
    assert_eq!(store.logs(&old.id, 0, 10).await.unwrap().count, 0);
    assert!(store.get(&open.id).await.unwrap().is_some());
    assert!(store.get(&new.id).await.unwrap().is_some());
    assert_eq!(
        store
            .list(&TaskFilter::default(), 0, 10)
            .await
            .unwrap()
            .count,
        2
    );
    // Numbering goes on after the first task went.
    let later = store.create(new_task("diff-update", None)).await.unwrap();
    assert_eq!(
        store
            .list(&TaskFilter::default(), 0, 1)
            .await
            .unwrap()
            .tasks[0]
            .id,
        later.id
    );
}

async fn concurrent_writes<S: TaskStore>(store: S) {
    let store = std::sync::Arc::new(store);
    let mut handles = Vec::new();
    for i in 0..200 {
        let store = std::sync::Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let task = store
                .create(new_task(&format!("w{}", i % 7), None))
                .await
                .unwrap();
            store
                .update(&task.id, to(TaskState::Running))
                .await
                .unwrap();
            store
                .append_logs(&task.id, vec![(Severity::Info, format!("task {i}"))])
                .await
                .unwrap();
            store
                .update(&task.id, to(TaskState::Completed))
                .await
                .unwrap();
            task.id
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for handle in handles {
        ids.insert(handle.await.unwrap());
    }
    assert_eq!(ids.len(), 200);
    let page = store
        .list(
            &TaskFilter {
                states: Some(vec![TaskState::Completed]),
                ..TaskFilter::default()
            },
            0,
            300,
        )
        .await
        .unwrap();
    assert_eq!(page.count, 200);
    assert!(
        page.tasks
            .iter()
            .all(|t| t.log_count == 1 && t.attempts == 1)
    );
}
