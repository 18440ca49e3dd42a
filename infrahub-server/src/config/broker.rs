//! `[broker]`: the message bus.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

config_enum! {
    /// Which message bus the server and workers share.
    #[derive(Default)]
    pub enum BrokerDriver {
        /// In-process bus for a single server (our addition, the default).
        #[default]
        Memory => "memory",
        /// RabbitMQ over AMQP.
        RabbitMq => "rabbitmq",
        /// NATS JetStream.
        Nats => "nats",
    }
}

/// `[broker]`: the message bus. Environment prefix `INFRAHUB_BROKER_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// Enables the message bus. Default `true`; env `INFRAHUB_BROKER_ENABLE`.
    pub enable: bool,
    /// Connects with TLS. Default `false`; env `INFRAHUB_BROKER_TLS_ENABLED`.
    pub tls_enabled: bool,
    /// Skips verification of the server certificate. Default `false`; env
    /// `INFRAHUB_BROKER_TLS_INSECURE`.
    pub tls_insecure: bool,
    /// CA certificate or bundle (PEM file) to verify the server with. Default unset; env
    /// `INFRAHUB_BROKER_TLS_CA_FILE`.
    pub tls_ca_file: Option<PathBuf>,
    /// User name. Default `infrahub`; env `INFRAHUB_BROKER_USERNAME`.
    pub username: String,
    /// Password (secret). Default `infrahub`; env `INFRAHUB_BROKER_PASSWORD`.
    pub password: Secret,
    /// Host name or IP address. Default `localhost`; env `INFRAHUB_BROKER_ADDRESS`.
    pub address: String,
    /// Port, 1-65535. Default unset: see [`BrokerSettings::service_port`]; env
    /// `INFRAHUB_BROKER_PORT`.
    pub port: Option<u16>,
    /// Port of the RabbitMQ management API, 1-65535. Default unset; env
    /// `INFRAHUB_BROKER_RABBITMQ_HTTP_PORT`.
    pub rabbitmq_http_port: Option<u16>,
    /// Prefix of every exchange, queue and subject. Default `infrahub`; env
    /// `INFRAHUB_BROKER_NAMESPACE`.
    pub namespace: String,
    /// Attempts at delivering a failing message. Default `10`; env
    /// `INFRAHUB_BROKER_MAXIMUM_MESSAGE_RETRIES`.
    pub maximum_message_retries: u64,
    /// Messages each worker fetches at once, at least 1. Default `2`; env
    /// `INFRAHUB_BROKER_MAXIMUM_CONCURRENT_MESSAGES`.
    pub maximum_concurrent_messages: u64,
    /// RabbitMQ virtual host. Default `/`; env `INFRAHUB_BROKER_VIRTUALHOST`.
    pub virtualhost: String,
    /// Bus implementation: `memory`, `rabbitmq` or `nats`. Default `memory` (upstream:
    /// `rabbitmq`); env `INFRAHUB_BROKER_DRIVER`.
    pub driver: BrokerDriver,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            enable: true,
            tls_enabled: false,
            tls_insecure: false,
            tls_ca_file: None,
            username: "infrahub".to_owned(),
            password: Secret::new("infrahub"),
            address: "localhost".to_owned(),
            port: None,
            rabbitmq_http_port: None,
            namespace: "infrahub".to_owned(),
            maximum_message_retries: 10,
            maximum_concurrent_messages: 2,
            virtualhost: "/".to_owned(),
            driver: BrokerDriver::Memory,
        }
    }
}

impl BrokerSettings {
    /// Returns the port to connect to: `port` when set, else 4222 for NATS, 5671 for RabbitMQ
    /// with TLS and 5672 without (the in-process bus uses no port; it gets the RabbitMQ value).
    pub fn service_port(&self) -> u16 {
        match (self.port, self.driver) {
            (Some(port), _) => port,
            (None, BrokerDriver::Nats) => 4222,
            (None, _) if self.tls_enabled => 5671,
            (None, _) => 5672,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_except_the_driver() {
        let broker = BrokerSettings::default();
        assert_eq!(broker.driver, BrokerDriver::Memory);
        assert!(broker.enable);
        assert_eq!(broker.username, "infrahub");
        assert_eq!(broker.password.expose(), "infrahub");
        assert_eq!(broker.address, "localhost");
        assert_eq!(broker.port, None);
        assert_eq!(broker.rabbitmq_http_port, None);
        assert_eq!(broker.namespace, "infrahub");
        assert_eq!(broker.maximum_message_retries, 10);
        assert_eq!(broker.maximum_concurrent_messages, 2);
        assert_eq!(broker.virtualhost, "/");
    }

    #[test]
    fn service_port_depends_on_driver_and_tls() {
        let mut broker = BrokerSettings {
            driver: BrokerDriver::RabbitMq,
            ..BrokerSettings::default()
        };
        assert_eq!(broker.service_port(), 5672);
        broker.tls_enabled = true;
        assert_eq!(broker.service_port(), 5671);
        broker.driver = BrokerDriver::Nats;
        assert_eq!(broker.service_port(), 4222);
        broker.port = Some(14222);
        assert_eq!(broker.service_port(), 14222);
    }

    #[test]
    fn driver_names() {
        assert_eq!(BrokerDriver::NAMES, ["memory", "rabbitmq", "nats"]);
        assert_eq!(BrokerDriver::RabbitMq.as_str(), "rabbitmq");
    }
}
