//! `[workflow]`: the task runtime.

use serde::{Deserialize, Serialize};

config_enum! {
    /// Where workflows (tasks) run.
    #[derive(Default)]
    pub enum WorkflowDriver {
        /// In the server process (the default here; upstream uses it for tests).
        #[default]
        Local => "local",
        /// In separate `infrahub worker start` processes fed through the message bus.
        Worker => "worker",
    }
}

config_enum! {
    /// Log level applied to the extra loggers captured during task execution.
    #[derive(Default)]
    pub enum ExtraLogLevel {
        /// Critical messages only.
        Critical => "CRITICAL",
        /// Errors and above.
        Error => "ERROR",
        /// Warnings and above.
        Warning => "WARNING",
        /// Informational messages and above (the default).
        #[default]
        Info => "INFO",
        /// Everything.
        Debug => "DEBUG",
    }
}

/// `[workflow]`: the task runtime. Environment prefix `INFRAHUB_WORKFLOW_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Enables the task runtime. Default `true`; env `INFRAHUB_WORKFLOW_ENABLE`.
    pub enable: bool,
    /// Host name of the task API that workers report to. Default `localhost`; env
    /// `INFRAHUB_WORKFLOW_ADDRESS`.
    pub address: String,
    /// Port of the task API, 1-65535. Default unset (the scheme's port); env
    /// `INFRAHUB_WORKFLOW_PORT`.
    pub port: Option<u16>,
    /// Reaches the task API over HTTPS. Default `false`; env `INFRAHUB_WORKFLOW_TLS_ENABLED`.
    pub tls_enabled: bool,
    /// Where tasks run: `local` or `worker`. Default `local` (upstream: `worker`); env
    /// `INFRAHUB_WORKFLOW_DRIVER`.
    pub driver: WorkflowDriver,
    /// Worker type tasks are submitted to. Default `infrahubasync`; env
    /// `INFRAHUB_WORKFLOW_DEFAULT_WORKER_TYPE`.
    pub default_worker_type: String,
    /// Additional loggers whose output is captured in task logs. Default `[]`; env
    /// `INFRAHUB_WORKFLOW_EXTRA_LOGGERS`.
    pub extra_loggers: Vec<String>,
    /// Level of the extra loggers: `CRITICAL`, `ERROR`, `WARNING`, `INFO` or `DEBUG`. Default
    /// `INFO`; env `INFRAHUB_WORKFLOW_EXTRA_LOG_LEVEL`.
    pub extra_log_level: ExtraLogLevel,
    /// Seconds between polls of a worker for new tasks, 1-30. Default `2`; env
    /// `INFRAHUB_WORKFLOW_WORKER_POLLING_INTERVAL`.
    pub worker_polling_interval: u64,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            enable: true,
            address: "localhost".to_owned(),
            port: None,
            tls_enabled: false,
            driver: WorkflowDriver::Local,
            default_worker_type: "infrahubasync".to_owned(),
            extra_loggers: Vec::new(),
            extra_log_level: ExtraLogLevel::Info,
            worker_polling_interval: 2,
        }
    }
}

impl WorkflowSettings {
    /// Returns the URL of the task API: `http[s]://<address>[:<port>]/api`.
    pub fn api_endpoint(&self) -> String {
        let scheme = if self.tls_enabled { "https" } else { "http" };
        match self.port {
            Some(port) => format!("{scheme}://{}:{port}/api", self.address),
            None => format!("{scheme}://{}/api", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_except_the_driver() {
        let workflow = WorkflowSettings::default();
        assert_eq!(workflow.driver, WorkflowDriver::Local);
        assert!(workflow.enable);
        assert_eq!(workflow.address, "localhost");
        assert_eq!(workflow.port, None);
        assert_eq!(workflow.default_worker_type, "infrahubasync");
        assert!(workflow.extra_loggers.is_empty());
        assert_eq!(workflow.extra_log_level, ExtraLogLevel::Info);
        assert_eq!(workflow.worker_polling_interval, 2);
    }

    #[test]
    fn api_endpoint_follows_tls_and_port() {
        let mut workflow = WorkflowSettings::default();
        assert_eq!(workflow.api_endpoint(), "http://localhost/api");
        workflow.tls_enabled = true;
        workflow.port = Some(4200);
        workflow.address = "tasks.internal".to_owned();
        assert_eq!(workflow.api_endpoint(), "https://tasks.internal:4200/api");
    }

    #[test]
    fn log_levels_are_uppercase() {
        assert_eq!(
            ExtraLogLevel::NAMES,
            ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
        );
        let level: ExtraLogLevel = serde_json::from_str("\"DEBUG\"").unwrap();
        assert_eq!(level, ExtraLogLevel::Debug);
    }
}
