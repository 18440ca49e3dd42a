//! Loads every file of OpsMill's public schema library (found as `support/library.rs` says):
//! the base files together, then
//! each extension together with the base and the extensions it needs, then everything at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use infrahub_core::schema::{
    ProcessOptions, SchemaBranch, SchemaFile, check_namespaces, core_schema,
};

#[path = "support/library.rs"]
mod library;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn parse(path: &Path) -> SchemaFile {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let name = path.display().to_string();
    let file = SchemaFile::from_yaml(&text, Some(&name))
        .unwrap_or_else(|errors| panic!("{}", render(&errors)));
    check_namespaces(&file).unwrap_or_else(|errors| panic!("{}", render(&errors)));
    file
}

fn render(errors: &[infrahub_core::schema::SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn defined(file: &SchemaFile) -> BTreeSet<String> {
    file.nodes
        .iter()
        .chain(&file.generics)
        .map(|m| m.kind())
        .collect()
}

fn referenced(file: &SchemaFile) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for model in file.nodes.iter().chain(&file.generics) {
        kinds.extend(model.inherit_from.iter().cloned());
        kinds.extend(model.relationships.iter().map(|r| r.peer.clone()));
        for kind in [&model.hierarchy, &model.parent, &model.children]
            .into_iter()
            .flatten()
        {
            if !kind.is_empty() {
                kinds.insert(kind.clone());
            }
        }
    }
    for extension in &file.extensions {
        kinds.insert(extension.kind.clone());
        kinds.extend(extension.relationships.iter().map(|r| r.peer.clone()));
    }
    kinds
}

fn load(core: &SchemaBranch, files: Vec<SchemaFile>) -> Result<SchemaBranch, String> {
    let merged = SchemaFile::merge(files).map_err(|errors| render(&errors))?;
    core.with_file(&merged, &ProcessOptions::default())
        .map_err(|errors| render(&errors))
}

fn summary(schema: &SchemaBranch) -> String {
    let (nodes, generics, profiles, templates) = schema.counts();
    format!("{nodes} nodes, {generics} generics, {profiles} profiles, {templates} templates")
}

#[test]
fn every_schema_library_file_loads_and_processes() {
    let Some(library) =
        library::schema_library_or_skip("every_schema_library_file_loads_and_processes")
    else {
        return;
    };
    let base_paths = yaml_files(&library.join("base"));
    let extension_paths = yaml_files(&library.join("extensions"));
    assert!(
        !base_paths.is_empty(),
        "no schema library at {} (set INFRAHUB_SCHEMA_LIBRARY)",
        library.display()
    );
    assert!(
        !extension_paths.is_empty(),
        "no extensions under {}",
        library.display()
    );

    let options = ProcessOptions::default();
    let core = core_schema(&options).unwrap_or_else(|errors| panic!("{}", render(&errors)));
    let base: Vec<SchemaFile> = base_paths.iter().map(|p| parse(p)).collect();
    let started = Instant::now();
    let base_schema = load(&core, base.clone()).unwrap_or_else(|e| panic!("base failed: {e}"));
    println!(
        "base: {} files -> {} ({:?})",
        base.len(),
        summary(&base_schema),
        started.elapsed()
    );

    let mut known: BTreeSet<String> = core.models().map(|m| m.kind()).collect();
    for file in &base {
        known.extend(defined(file));
    }
    let extensions: BTreeMap<PathBuf, SchemaFile> = extension_paths
        .iter()
        .map(|p| (p.clone(), parse(p)))
        .collect();
    let defined_by: BTreeMap<String, PathBuf> = extensions
        .iter()
        .flat_map(|(path, file)| defined(file).into_iter().map(move |k| (k, path.clone())))
        .collect();

    let mut failures = Vec::new();
    for (path, file) in &extensions {
        let mut needed: Vec<PathBuf> = Vec::new();
        let mut pending = vec![path.clone()];
        while let Some(current) = pending.pop() {
            if needed.contains(&current) {
                continue;
            }
            needed.push(current.clone());
            let current_file = &extensions[&current];
            for kind in referenced(current_file).difference(&defined(current_file)) {
                if known.contains(kind) {
                    continue;
                }
                match defined_by.get(kind) {
                    Some(provider) => pending.push(provider.clone()),
                    None => failures.push(format!(
                        "{}: `{kind}` is defined nowhere in the library",
                        current.display()
                    )),
                }
            }
        }
        needed.reverse();
        let mut files = base.clone();
        files.extend(needed.iter().map(|p| extensions[p].clone()));
        let started = Instant::now();
        match load(&core, files) {
            Ok(schema) => println!(
                "{} (+{} needed): {} ({:?})",
                path.strip_prefix(&library).unwrap_or(path).display(),
                needed.len() - 1,
                summary(&schema),
                started.elapsed()
            ),
            Err(err) => failures.push(format!("{}: {err}", path.display())),
        }
        let _ = file;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let mut everything = base.clone();
    everything.extend(extensions.values().cloned());
    let started = Instant::now();
    let all = load(&core, everything)
        .unwrap_or_else(|e| panic!("loading every file together failed: {e}"));
    println!(
        "base + all {} extensions: {} ({:?})",
        extensions.len(),
        summary(&all),
        started.elapsed()
    );

    let reloaded = load(&all, base).unwrap_or_else(|e| panic!("reloading base failed: {e}"));
    assert_eq!(
        reloaded.hash(),
        all.hash(),
        "reloading a schema already loaded must not change it: {:?}",
        all.diff(&reloaded)
    );
}
