//! Request/reply.

use std::sync::Arc;
use std::time::Duration;

use super::{PATIENCE, text};
use crate::{ErrorKind, Message, MessageBus};

/// Concurrent requests each get their own reply, matched by correlation id.
pub async fn request_reply(bus: Arc<dyn MessageBus>) {
    const REQUESTS: usize = 12;
    let mut consumer = bus.consume(&["send.echo.*"]).await.expect("consume");
    let responder = tokio::spawn(async move {
        while let Some(delivery) = consumer.next().await {
            assert!(
                delivery.expects_reply(),
                "request/reply: a request's delivery expects a reply"
            );
            let response = Message::new(
                "send.echo.response",
                format!("re:{}", text(&delivery.message().payload)).into_bytes(),
            );
            delivery.reply(response).await.expect("reply");
        }
    });
    let requests = (0..REQUESTS).map(|index| {
        let bus = Arc::clone(&bus);
        async move {
            let request = Message::new("send.echo.request", format!("q{index}").into_bytes())
                .with_priority(5);
            let response = bus.request(request, PATIENCE).await;
            (index, response)
        }
    });
    for (index, response) in futures::future::join_all(requests).await {
        let response =
            response.unwrap_or_else(|err| panic!("request/reply: request {index}: {err}"));
        assert_eq!(
            text(&response.payload),
            format!("re:q{index}"),
            "request/reply: each request gets its own reply"
        );
    }
    responder.abort();
}

/// A request that nobody answers fails with [`ErrorKind::Timeout`] naming its routing key.
pub async fn request_timeout(bus: Arc<dyn MessageBus>) {
    let timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let outcome = bus
        .request(Message::new("git.file.get", b"?".to_vec()), timeout)
        .await;
    let err = outcome.expect_err("request timeout: a request nobody answers must fail");
    assert_eq!(
        err.kind(),
        ErrorKind::Timeout,
        "request timeout: kind is Timeout: {err}"
    );
    assert!(
        err.to_string().contains("git.file.get"),
        "request timeout: the error names the routing key: {err}"
    );
    assert!(
        started.elapsed() < timeout + Duration::from_secs(5),
        "request timeout: the request waited far longer than its timeout"
    );
}
