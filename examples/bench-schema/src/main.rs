//! Measures parsing and processing of schema files: the built-in core schema alone, and every
//! file of a schema library directory (base and extensions) loaded into one branch on top of it.
//!
//! ```text
//! cargo run --release -p example-bench-schema -- ../shared/data/schema-library [runs]
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use infrahub_core::schema::{ProcessOptions, SchemaError, SchemaFile, core_schema};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

fn render(errors: Vec<SchemaError>) -> anyhow::Error {
    anyhow!(
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: median {:.2} ms, min {:.2} ms, max {:.2} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let library = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/data/schema-library".into()),
    );
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(20);
    let mut paths = Vec::new();
    yaml_files(&library.join("base"), &mut paths);
    let base_count = paths.len();
    yaml_files(&library.join("extensions"), &mut paths);
    paths[base_count..].sort();
    let texts: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            Ok((
                p.display().to_string(),
                std::fs::read_to_string(p).with_context(|| p.display().to_string())?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let options = ProcessOptions::default();

    let mut core_samples = Vec::new();
    let mut core = None;
    for _ in 0..runs {
        let started = Instant::now();
        core = Some(core_schema(&options).map_err(render)?);
        core_samples.push(started.elapsed());
    }
    let core = core.ok_or_else(|| anyhow!("no runs"))?;

    let mut library_samples = Vec::new();
    let mut counts = (0, 0, 0, 0);
    for _ in 0..runs {
        let started = Instant::now();
        let files = texts
            .iter()
            .map(|(name, text)| SchemaFile::from_yaml(text, Some(name)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(render)?;
        let merged = SchemaFile::merge(files).map_err(render)?;
        let schema = core.with_file(&merged, &options).map_err(render)?;
        library_samples.push(started.elapsed());
        counts = schema.counts();
    }
    println!(
        "files: {} ({} base, {} extensions)",
        texts.len(),
        base_count,
        texts.len() - base_count
    );
    println!(
        "result: {} nodes, {} generics, {} profiles, {} templates",
        counts.0, counts.1, counts.2, counts.3
    );
    report("core schema parse+process", core_samples);
    report(
        "schema library parse+process on top of core",
        library_samples,
    );
    Ok(())
}
