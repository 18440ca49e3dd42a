//! Typed configuration handed over by the server binary (`[broker]`, `INFRAHUB_BROKER_*`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// TLS toward the broker (`INFRAHUB_BROKER_TLS_*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusTlsConfig {
    /// Speak TLS (`TLS_ENABLED`, default false).
    pub enabled: bool,
    /// PEM file of the CA certificates that sign the broker's certificate (`TLS_CA_FILE`);
    /// unset, the system's roots are used.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate and host name (`TLS_INSECURE`): for tests only.
    pub insecure: bool,
}

/// Which backend [`connect`](crate::connect) builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BusBackend {
    /// In-process ([`MemoryBus`](crate::MemoryBus)): one process, nothing durable.
    #[default]
    Memory,
    /// RabbitMQ over AMQP 0-9-1 (feature `amqp`).
    Amqp,
    /// NATS with JetStream (feature `nats`).
    Nats,
}

/// Configuration of a bus. `Default` is the in-process backend in namespace `infrahub` with
/// upstream's defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// The backend.
    pub backend: BusBackend,
    /// Host name or address of the broker (default `localhost`).
    pub address: String,
    /// Port of the broker; 0 (the default) means the backend's usual port: 5672 (5671 with TLS)
    /// for RabbitMQ, 4222 for NATS.
    pub port: u16,
    /// User name (default `infrahub`).
    pub username: String,
    /// Password (default `infrahub`); never shown by `Debug`.
    pub password: String,
    /// RabbitMQ virtual host (default `/`).
    pub virtualhost: String,
    /// Prefix of every exchange, queue, stream and subject (default `infrahub`).
    pub namespace: String,
    /// TLS toward the broker.
    pub tls: BusTlsConfig,
    /// How many times [`Delivery::retry`](crate::Delivery::retry) redelivers a message before it
    /// goes to the dead letters (default 10).
    pub maximum_message_retries: u32,
    /// How many unacknowledged deliveries one consumer holds at most (prefetch, default 2).
    pub maximum_concurrent_messages: u16,
    /// Delay before a retried message is delivered again (default 5 s).
    pub retry_delay: Duration,
    /// How long connecting (and each reconnection attempt) may take (default 10 s).
    pub connect_timeout: Duration,
    /// NATS: how long JetStream waits for an acknowledgement before it redelivers a message to
    /// another consumer (default 30 s). Other backends redeliver when the connection drops.
    pub ack_wait: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            backend: BusBackend::Memory,
            address: "localhost".to_owned(),
            port: 0,
            username: "infrahub".to_owned(),
            password: "infrahub".to_owned(),
            virtualhost: "/".to_owned(),
            namespace: "infrahub".to_owned(),
            tls: BusTlsConfig::default(),
            maximum_message_retries: 10,
            maximum_concurrent_messages: 2,
            retry_delay: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            ack_wait: Duration::from_secs(30),
        }
    }
}

impl BusConfig {
    /// The broker of `url` on the defaults: `amqp://[user:password@]host[:port][/vhost]`
    /// (`amqps://` for TLS; RabbitMQ's `guest` when no credentials are given, `%2f` or nothing
    /// for the vhost `/`) or `nats://[user:password@]host[:port]` (`tls://` for TLS). User,
    /// password and vhost are percent-decoded.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for another scheme or a port
    /// that is not a number.
    ///
    /// # Examples
    ///
    /// ```
    /// use infrahub_bus::{BusBackend, BusConfig};
    ///
    /// let config = BusConfig::from_url("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
    /// assert_eq!(config.backend, BusBackend::Amqp);
    /// assert_eq!((config.port, config.virtualhost.as_str()), (5672, "/"));
    /// ```
    pub fn from_url(url: &str) -> crate::Result<BusConfig> {
        let invalid = |message: String| crate::Error::new(crate::ErrorKind::InvalidInput, message);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("a broker URL needs a scheme (amqp://, nats://)".into()))?;
        let backend = match scheme {
            "amqp" | "amqps" => BusBackend::Amqp,
            "nats" | "tls" => BusBackend::Nats,
            other => return Err(invalid(format!("unknown broker URL scheme `{other}`"))),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let (address, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse()
                    .map_err(|_| invalid(format!("`{port}` is not a port number")))?,
            ),
            None => (host_port.to_owned(), 0),
        };
        let mut config = BusConfig {
            backend,
            address,
            port,
            ..BusConfig::default()
        };
        config.tls.enabled = scheme == "amqps" || scheme == "tls";
        match credentials {
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                config.username = percent_decode(user);
                config.password = percent_decode(password);
            }
            None if backend == BusBackend::Nats => {
                config.username.clear();
                config.password.clear();
            }
            None => {
                config.username = "guest".into();
                config.password = "guest".into();
            }
        }
        if backend == BusBackend::Amqp {
            let path = path.split('?').next().unwrap_or("");
            config.virtualhost = if path.is_empty() {
                "/".into()
            } else {
                percent_decode(path)
            };
        }
        Ok(config)
    }

    /// The port to connect to: [`BusConfig::port`], or the backend's usual one when it is 0.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.backend, self.tls.enabled) {
            (0, BusBackend::Amqp, true) => 5671,
            (0, BusBackend::Amqp, false) => 5672,
            (0, BusBackend::Nats, _) => 4222,
            (port, _, _) => port,
        }
    }

    /// `address:port`, as errors name the broker.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.address, self.effective_port())
    }

    /// Checks what every backend needs: a namespace usable in queue and subject names, a
    /// non-zero prefetch.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let namespace_ok = !self.namespace.is_empty()
            && self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !namespace_ok {
            return Err(crate::Error::new(
                crate::ErrorKind::InvalidInput,
                format!(
                    "broker namespace `{}` must be non-empty ASCII letters, digits, `-` or `_`",
                    self.namespace
                ),
            ));
        }
        if self.maximum_concurrent_messages == 0 {
            return Err(crate::Error::new(
                crate::ErrorKind::InvalidInput,
                "broker maximum_concurrent_messages must be at least 1",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("backend", &self.backend)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("virtualhost", &self.virtualhost)
            .field("namespace", &self.namespace)
            .field("tls", &self.tls)
            .field("maximum_message_retries", &self.maximum_message_retries)
            .field(
                "maximum_concurrent_messages",
                &self.maximum_concurrent_messages,
            )
            .field("retry_delay", &self.retry_delay)
            .field("connect_timeout", &self.connect_timeout)
            .field("ack_wait", &self.ack_wait)
            .finish()
    }
}

/// `text` with its `%XX` escapes decoded (invalid escapes kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_configurations_and_bad_ones_are_refused() {
        let amqp =
            BusConfig::from_url("amqps://us%40er:p%3Ass@rabbit:5671/my%2Fvhost?x=1").unwrap();
        assert_eq!(amqp.backend, BusBackend::Amqp);
        assert!(amqp.tls.enabled);
        assert_eq!(
            (amqp.username.as_str(), amqp.password.as_str()),
            ("us@er", "p:ss")
        );
        assert_eq!((amqp.address.as_str(), amqp.port), ("rabbit", 5671));
        assert_eq!(amqp.virtualhost, "my/vhost");
        let guest = BusConfig::from_url("amqp://localhost").unwrap();
        assert_eq!((guest.username.as_str(), guest.port), ("guest", 0));
        assert_eq!(guest.virtualhost, "/");
        let nats = BusConfig::from_url("nats://127.0.0.1:4222").unwrap();
        assert_eq!(nats.backend, BusBackend::Nats);
        assert!(nats.username.is_empty() && nats.password.is_empty());
        assert!(BusConfig::from_url("tls://n:1").unwrap().tls.enabled);
        assert_eq!(percent_decode("a%zzb%4"), "a%zzb%4");
        for bad in [
            "redis://x",
            "rabbit",
            "amqp://host:notaport",
            "amqp://host:99999",
        ] {
            let error = BusConfig::from_url(bad).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let config = BusConfig {
            password: "s3cret".into(),
            ..BusConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<hidden>"));
    }

    #[test]
    fn default_ports() {
        let mut config = BusConfig {
            backend: BusBackend::Amqp,
            ..BusConfig::default()
        };
        assert_eq!(config.effective_port(), 5672);
        config.tls.enabled = true;
        assert_eq!(config.effective_port(), 5671);
        config.backend = BusBackend::Nats;
        assert_eq!(config.endpoint(), "localhost:4222");
        config.port = 1234;
        assert_eq!(config.effective_port(), 1234);
    }

    #[test]
    fn namespace_is_checked() {
        let config = BusConfig {
            namespace: "a.b".into(),
            ..BusConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
        assert!(BusConfig::default().validate().is_ok());
    }
}
