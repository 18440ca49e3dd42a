//! Every task the embedded store acknowledged survives SIGKILL: a child process creates tasks
//! (and completes every other one) as fast as it can, printing each id once its write returned;
//! the parent kills it mid-stream, reopens the file and finds every printed task in the state
//! printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use infrahub_worker::{
    EmbeddedTaskStore, NewTask, TaskFilter, TaskState, TaskStore, TaskUpdate, WorkflowType,
};
use serde_json::json;

const CHILD_PATH: &str = "INFRAHUB_TASK_CRASH_CHILD_PATH";

fn new_task(i: u64) -> NewTask {
    NewTask {
        id: None,
        title: format!("crash {i}"),
        workflow: "crash".into(),
        workflow_type: WorkflowType::Internal,
        database_change: false,
        state: TaskState::Pending,
        parameters: json!({"i": i}),
        branch: Some("main".into()),
        related_nodes: Vec::new(),
        account: None,
    }
}

/// The writer process of [`acknowledged_tasks_survive_sigkill`]; returns at once when run any
/// other way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_PATH) else {
        return;
    };
    let store = Arc::new(EmbeddedTaskStore::open(std::path::Path::new(&path)).unwrap());
    let mut writers = Vec::new();
    for lane in 0..4_u64 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let task = store.create(new_task(lane * 1_000_000 + i)).await.unwrap();
                if i % 2 == 0 {
                    let update = TaskUpdate {
                        state: Some(TaskState::Completed),
                        ..TaskUpdate::default()
                    };
                    store.update(&task.id, update).await.unwrap();
                    println!("completed {}", task.id);
                } else {
                    println!("pending {}", task.id);
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_tasks_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("infrahub-task-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tasks.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_writer", "--exact", "--nocapture"])
        .env(CHILD_PATH, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((state, id)) = line.split_once(' ')
                && (state == "completed" || state == "pending")
            {
                acknowledged.push((state.to_owned(), id.to_owned()));
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let acknowledged = reader.join().unwrap();
    assert!(
        acknowledged.len() > 20,
        "only {} writes before the kill",
        acknowledged.len()
    );
    let store = EmbeddedTaskStore::open(&path).unwrap();
    for (state, id) in &acknowledged {
        let task = store
            .get(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged task {id} lost"));
        if state == "completed" {
            assert_eq!(task.state, TaskState::Completed, "{id}");
        }
    }
    let all = store.list(&TaskFilter::default(), 0, 1).await.unwrap();
    assert!(all.count >= acknowledged.len() as u64);
    // The reopened store goes on numbering after what it holds.
    let next = store.create(new_task(0)).await.unwrap();
    assert_eq!(
        store
            .list(&TaskFilter::default(), 0, 1)
            .await
            .unwrap()
            .tasks[0]
            .id,
        next.id
    );
    eprintln!(
        "{} acknowledged writes, all found after SIGKILL",
        acknowledged.len()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
