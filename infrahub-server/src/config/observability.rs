//! Observability sections: `logging`, `analytics` and `trace`.

use serde::{Deserialize, Serialize};

use super::Secret;

/// `[logging]`: logging settings; holds the remote error reporting subsection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSettings {
    /// `[logging.remote]`: remote error reporting (Sentry-style DSNs).
    pub remote: RemoteLoggingSettings,
}

/// `[logging.remote]`: remote error reporting. Environment prefix `INFRAHUB_LOGGING_REMOTE_`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteLoggingSettings {
    /// Enables remote error reporting. Default `false`; env `INFRAHUB_LOGGING_REMOTE_ENABLE`.
    pub enable: bool,
    /// DSN used by the web frontend. Default unset; env `INFRAHUB_LOGGING_REMOTE_FRONTEND_DSN`.
    pub frontend_dsn: Option<String>,
    /// DSN used by the API server. Default unset; env
    /// `INFRAHUB_LOGGING_REMOTE_API_SERVER_DSN`.
    pub api_server_dsn: Option<String>,
    /// DSN used by workers (git agents). Default unset; env
    /// `INFRAHUB_LOGGING_REMOTE_GIT_AGENT_DSN`.
    pub git_agent_dsn: Option<String>,
}

/// `[analytics]`: product analytics of the web frontend. Environment prefix
/// `INFRAHUB_ANALYTICS_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Enables analytics. Default `true`; env `INFRAHUB_ANALYTICS_ENABLE`.
    pub enable: bool,
    /// Address of the analytics service. Default unset; env `INFRAHUB_ANALYTICS_ADDRESS`.
    pub address: Option<String>,
    /// API key of the analytics service (secret). Default unset; env
    /// `INFRAHUB_ANALYTICS_API_KEY`.
    pub api_key: Option<Secret>,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            enable: true,
            address: None,
            api_key: None,
        }
    }
}

config_enum! {
    /// Where traces are exported.
    #[derive(Default)]
    pub enum TraceExporterType {
        /// Printed to the console (the default).
        #[default]
        Console => "console",
        /// Sent to an OpenTelemetry collector.
        Otlp => "otlp",
    }
}

config_enum! {
    /// Transport of the OTLP exporter.
    #[derive(Default)]
    pub enum TraceTransportProtocol {
        /// gRPC (the default).
        #[default]
        Grpc => "grpc",
        /// Protobuf over HTTP.
        HttpProtobuf => "http/protobuf",
    }
}

/// `[trace]`: OpenTelemetry tracing. Environment prefix `INFRAHUB_TRACE_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceSettings {
    /// Enables tracing. Default `false`; env `INFRAHUB_TRACE_ENABLE`.
    pub enable: bool,
    /// Exports over plain HTTP instead of HTTPS. Default `true`; env `INFRAHUB_TRACE_INSECURE`.
    pub insecure: bool,
    /// Exporter: `console` or `otlp`. Default `console`; env `INFRAHUB_TRACE_EXPORTER_TYPE`.
    pub exporter_type: TraceExporterType,
    /// OTLP transport: `grpc` or `http/protobuf`. Default `grpc`; env
    /// `INFRAHUB_TRACE_EXPORTER_PROTOCOL`.
    pub exporter_protocol: TraceTransportProtocol,
    /// OTLP collector endpoint. Default unset; env `INFRAHUB_TRACE_EXPORTER_ENDPOINT`.
    pub exporter_endpoint: Option<String>,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            enable: false,
            insecure: true,
            exporter_type: TraceExporterType::Console,
            exporter_protocol: TraceTransportProtocol::Grpc,
            exporter_endpoint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let remote = LoggingSettings::default().remote;
        assert!(!remote.enable);
        assert!(remote.frontend_dsn.is_none() && remote.api_server_dsn.is_none());
        assert!(remote.git_agent_dsn.is_none());
        let analytics = AnalyticsSettings::default();
        assert!(analytics.enable && analytics.address.is_none() && analytics.api_key.is_none());
        let trace = TraceSettings::default();
        assert!(!trace.enable && trace.insecure);
        assert_eq!(trace.exporter_type, TraceExporterType::Console);
        assert_eq!(trace.exporter_protocol, TraceTransportProtocol::Grpc);
        assert!(trace.exporter_endpoint.is_none());
    }

    #[test]
    fn protocol_names_match_upstream() {
        assert_eq!(TraceTransportProtocol::NAMES, ["grpc", "http/protobuf"]);
        let protocol: TraceTransportProtocol = serde_json::from_str("\"http/protobuf\"").unwrap();
        assert_eq!(protocol, TraceTransportProtocol::HttpProtobuf);
    }
}
