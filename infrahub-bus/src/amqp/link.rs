//! One live AMQP connection: connecting (plain or TLS), declaring the topology, mapping
//! errors.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use super::Names;
use crate::{BusConfig, Error, ErrorKind, Result};

/// A connection with its publishing channel (publisher confirms on).
pub(super) struct Link {
    pub(super) connection: Connection,
    pub(super) publisher: Channel,
    /// Delays (ms) whose delay queue is declared on this connection.
    pub(super) delays: Mutex<HashSet<u64>>,
}

/// Percent-encodes one URI component.
fn encode(component: &str) -> String {
    component
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The AMQP URI of `config` (credentials and vhost encoded).
fn uri(config: &BusConfig) -> Result<AMQPUri> {
    let text = format!(
        "amqp://{}:{}@{}:{}/{}?heartbeat=10&connection_timeout={}",
        encode(&config.username),
        encode(&config.password),
        config.address,
        config.effective_port(),
        encode(&config.virtualhost),
        config.connect_timeout.as_millis()
    );
    text.parse::<AMQPUri>().map_err(|err| {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "broker address `{}:{}` is not usable: {err}",
                config.address,
                config.effective_port()
            ),
        )
    })
}

/// Connects to the broker of `config` and declares the namespace's topology.
pub(super) async fn establish(
    config: &BusConfig,
    names: &Names,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Link> {
    let endpoint = config.endpoint();
    let attempt = async {
        let connection = open(config, tls).await?;
        let setup = connection
            .create_channel()
            .await
            .map_err(|err| map_error(&endpoint, "cannot open a channel", err))?;
        declare_topology(&setup, names)
            .await
            .map_err(|err| map_error(&endpoint, "cannot declare the bus topology", err))?;
        let _ = setup.close(200, "topology declared".into()).await;
        let publisher = connection
            .create_channel()
            .await
            .map_err(|err| map_error(&endpoint, "cannot open a channel", err))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|err| map_error(&endpoint, "cannot enable publisher confirms", err))?;
        Ok(Link {
            connection,
            publisher,
            delays: Mutex::new(HashSet::new()),
        })
    };
    match tokio::time::timeout(config.connect_timeout + Duration::from_secs(1), attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "message broker at {endpoint} did not answer within {:?}",
                config.connect_timeout
            ),
        )),
    }
}

async fn open(config: &BusConfig, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Connection> {
    let endpoint = config.endpoint();
    let uri = uri(config)?;
    let runtime = lapin::runtime::default_runtime().map_err(|err| {
        Error::with_source(ErrorKind::Internal, "no async runtime for lapin", err)
    })?;
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(
        format!("infrahub-bus {}", config.namespace),
    ));
    let host = config.address.clone();
    let port = config.effective_port();
    let connector = tls.map(RustlsConnector::from);
    let connect = async move |_uri: AMQPUri, runtime| {
        let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .collect();
        let stream = AsyncTcpStream::connect(&runtime, addresses).await?;
        match &connector {
            Some(connector) => Ok(stream.into_rustls(connector, &host).await?),
            None => Ok(stream),
        }
    };
    Connection::connector(uri, runtime, connect, properties)
        .await
        .map_err(|err| {
            if !config.tls.enabled && matches!(err.kind(), lapin::ErrorKind::ParsingError(_)) {
                return Error::new(
                    ErrorKind::Tls,
                    format!(
                        "the server at {endpoint} does not answer in plain AMQP: if this port \
                         expects TLS, enable tls"
                    ),
                );
            }
            let dropped = match err.kind() {
                lapin::ErrorKind::IOError(io) => matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::BrokenPipe
                ),
                _ => err.to_string().contains("closed"),
            };
            let mut error = map_error(&endpoint, "cannot connect", err);
            if !config.tls.enabled && dropped && error.kind() == ErrorKind::Unavailable {
                error = Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{error} (the server dropped the connection during the AMQP handshake: \
                         if this port expects TLS, enable tls)"
                    ),
                );
            }
            error
        })
}

/// Declares the durable exchanges and queues of the namespace (upstream's names and
/// arguments) and the dead-letter queue.
async fn declare_topology(channel: &Channel, names: &Names) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            names.events.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            names.dlx.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            names.delayed.as_str().into(),
            ExchangeKind::Headers,
            durable,
            FieldTable::default(),
        )
        .await?;
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut priority = FieldTable::default();
    priority.insert("x-max-priority".into(), AMQPValue::LongInt(5));
    channel
        .queue_declare(names.rpcs.as_str().into(), durable_queue, priority)
        .await?;
    // Delayed messages come back from the delay queues through the dead-letter exchange
    // with the work queue's name as routing key.
    channel
        .queue_bind(
            names.rpcs.as_str().into(),
            names.dlx.as_str().into(),
            names.rpcs.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            names.dead_letters.as_str().into(),
            durable_queue,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares the delay queue of `delay_ms` (upstream's names for 5, 10 and 20 s) bound to the
/// delayed exchange, unless this connection already did.
pub(super) async fn declare_delay(link: &Link, names: &Names, delay_ms: u64) -> lapin::Result<()> {
    if link
        .delays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&delay_ms)
    {
        return Ok(());
    }
    let queue = names.delay_queue(delay_ms);
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(delay_ms as i64),
    );
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.dlx.as_str().into()),
    );
    arguments.insert("x-max-priority".into(), AMQPValue::LongInt(5));
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    link.publisher
        .queue_declare(queue.as_str().into(), options, arguments)
        .await?;
    let mut binding = FieldTable::default();
    binding.insert("x-match".into(), AMQPValue::LongString("all".into()));
    binding.insert("delay".into(), AMQPValue::LongLongInt(delay_ms as i64));
    link.publisher
        .queue_bind(
            queue.as_str().into(),
            names.delayed.as_str().into(),
            ShortString::from(""),
            QueueBindOptions::default(),
            binding,
        )
        .await?;
    link.delays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(delay_ms);
    Ok(())
}

/// Consume options for a work or dead-letter queue (manual ack).
pub(super) fn manual_ack() -> BasicConsumeOptions {
    BasicConsumeOptions::default()
}

/// What a lapin error means for the bus, with `context` and the broker's address.
pub(super) fn map_error(endpoint: &str, context: &str, err: lapin::Error) -> Error {
    if let Some(detail) = crate::tls::tls_cause(&err) {
        return crate::tls::handshake_error(endpoint, &detail);
    }
    match err.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            let kind = match amqp.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => ErrorKind::Auth,
                _ => ErrorKind::Internal,
            };
            let what = if kind == ErrorKind::Auth {
                "the broker refused the credentials or the virtual host"
            } else {
                "the broker refused the operation"
            };
            Error::with_source(kind, format!("{context} at {endpoint}: {what}"), err)
        }
        lapin::ErrorKind::AuthProviderError(_) => Error::with_source(
            ErrorKind::Auth,
            format!("{context} at {endpoint}: authentication failed"),
            err,
        ),
        _ => Error::unavailable(endpoint, format!("{context}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encodes_credentials_and_vhost() {
        let config = BusConfig {
            backend: crate::BusBackend::Amqp,
            username: "user@x".into(),
            password: "p:w/d".into(),
            ..BusConfig::default()
        };
        let parsed = uri(&config).unwrap();
        assert_eq!(parsed.authority.userinfo.username, "user@x");
        assert_eq!(parsed.authority.userinfo.password, "p:w/d");
        assert_eq!(parsed.vhost, "/");
        assert_eq!(parsed.authority.port, 5672);
    }
}
