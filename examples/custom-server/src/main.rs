//! The reference server assembled as your own service: the server's router, an extra route of
//! your own that uses the engine, and an authentication layer in front of everything (here a
//! gateway key every request must carry, as a company proxy would add), served with the
//! server's connection limits and graceful shutdown.
//!
//! ```text
//! cargo run -p example-custom-server             # starts, checks itself over HTTP, stops
//! cargo run -p example-custom-server -- --serve  # keeps serving on 127.0.0.1:8000
//! ```

use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The header the gateway adds.
const GATEWAY_HEADER: &str = "x-gateway-key";

/// Refuses requests without the gateway key, except the health probes.
async fn gateway(key: Arc<String>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let probe = path == "/health" || path == "/ready";
    let presented = request
        .headers()
        .get(GATEWAY_HEADER)
        .and_then(|v| v.to_str().ok());
    if probe || presented == Some(key.as_str()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errors": [{"message": "requests must come through the gateway"}]})),
    )
        .into_response()
}

/// `GET /team/branches`: the branch names, straight from the engine.
async fn branches(State(state): State<Arc<AppState>>) -> Result<Json<Value>, StatusCode> {
    let branches = state
        .engine
        .branches()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let names: Vec<String> = branches.into_iter().map(|b| b.name).collect();
    Ok(Json(json!({ "branches": names })))
}

/// One HTTP/1.1 request on a new connection; returns the status and the body.
async fn request(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let directory = std::env::temp_dir().join(format!("infrahub-custom-{}", uuid::Uuid::new_v4()));
    let mut settings = Settings::default();
    settings.main.data_dir = directory.clone();
    let token = uuid::Uuid::new_v4().to_string();
    settings.initial.admin_token = Some(token.clone().into());
    let key = Arc::new(uuid::Uuid::new_v4().simple().to_string());

    let deployment = infrahub_server::deployment_id(&directory)?;
    let state = infrahub_server::build_state(settings, deployment).await?;
    let team = axum::Router::new()
        .route("/team/branches", get(branches))
        .with_state(Arc::clone(&state));
    let gateway_key = Arc::clone(&key);
    let app = infrahub_server::app::router(Arc::clone(&state))
        .merge(team)
        .layer(axum::middleware::from_fn(move |request, next| {
            gateway(Arc::clone(&gateway_key), request, next)
        }));

    let port = if serve_forever { 8000 } else { 0 };
    let listener = infrahub_server::bind(([127, 0, 0, 1], port).into()).await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(infrahub_server::serve_app(
        Arc::clone(&state),
        app,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    if serve_forever {
        println!("serving on http://{address}; requests need `{GATEWAY_HEADER}: {key}`");
        server.await??;
        return Ok(());
    }

    let gateway_header = (GATEWAY_HEADER, key.as_str());
    let (status, _) = request(address, "GET", "/health", &[], "").await?;
    println!("GET /health without the key: {status}");
    anyhow::ensure!(status == 200);
    let (status, body) = request(address, "GET", "/team/branches", &[], "").await?;
    println!("GET /team/branches without the key: {status} {body}");
    anyhow::ensure!(status == 401);
    let (status, body) = request(address, "GET", "/team/branches", &[gateway_header], "").await?;
    println!("GET /team/branches with the key: {status} {body}");
    anyhow::ensure!(status == 200 && body.contains("main"));
    let query = json!({"query": "{ InfrahubInfo { version } }"}).to_string();
    let (status, body) = request(
        address,
        "POST",
        "/graphql",
        &[
            gateway_header,
            ("Content-Type", "application/json"),
            ("X-INFRAHUB-KEY", &token),
        ],
        &query,
    )
    .await?;
    println!("POST /graphql with the key and an API token: {status} {body}");
    anyhow::ensure!(status == 200 && body.contains("version"));

    let _ = stop.send(());
    server.await??;
    drop(state);
    let _ = std::fs::remove_dir_all(&directory);
    Ok(())
}
