//! Parses, validates and processes schema files on top of the built-in core schema, then
//! prints a summary, or the `GET /api/schema` document with `--json`.
//!
//! ```text
//! cargo run -p example-schema-check -- path/to/base/*.yml [--json]
//! ```

use std::time::Instant;

use anyhow::{Context, bail};
use infrahub_core::schema::{ProcessOptions, SchemaFile, check_namespaces, core_schema};

fn main() -> anyhow::Result<()> {
    let mut json = false;
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            _ => paths.push(arg),
        }
    }
    let options = ProcessOptions::default();
    let started = Instant::now();
    let core = core_schema(&options).map_err(|errors| anyhow::anyhow!(join(&errors)))?;
    let core_time = started.elapsed();

    let started = Instant::now();
    let mut files = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let file = SchemaFile::from_yaml(&text, Some(path))
            .map_err(|errors| anyhow::anyhow!(join(&errors)))?;
        check_namespaces(&file).map_err(|errors| anyhow::anyhow!(join(&errors)))?;
        files.push(file);
    }
    let merged = SchemaFile::merge(files).map_err(|errors| anyhow::anyhow!(join(&errors)))?;
    let schema = match core.with_file(&merged, &options) {
        Ok(schema) => schema,
        Err(errors) => bail!("{}", join(&errors)),
    };
    let user_time = started.elapsed();

    if json {
        println!("{}", serde_json::to_string_pretty(&schema.api_json(None))?);
        return Ok(());
    }
    let (nodes, generics, profiles, templates) = schema.counts();
    println!("files: {}", paths.len());
    println!("nodes: {nodes}, generics: {generics}, profiles: {profiles}, templates: {templates}");
    println!("hash: {}", schema.hash());
    println!("core schema processed in {core_time:?}; files parsed and processed in {user_time:?}");
    Ok(())
}

fn join(errors: &[infrahub_core::schema::SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
