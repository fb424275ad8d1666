//! `build-contracts`: compiles every contract in `contracts/src` with foundry-compilers and the
//! solcjs shim (`scripts/solc`), using the `[profile.default]` compiler settings and remappings of
//! `contracts/foundry.toml`, and writes one artifact per deployable contract to
//! `contracts/artifacts/<Name>.json`.
//!
//! The artifacts are byte-for-byte reproducible: every source is handed to solc under its path
//! relative to `contracts/` (`src/…`, `../node_modules/…`), so the solc metadata, and with it the
//! metadata hash embedded in the bytecode, holds no machine-specific path; object keys are sorted,
//! and there are no timestamps. `--check` compiles into a temporary directory and fails, listing
//! the drifted files, when the committed artifacts differ from a fresh build.

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use foundry_compilers::{
    ConfigurableArtifacts, ProjectBuilder, ProjectPathsConfig,
    artifacts::{
        BytecodeHash, CompilerOutput, Contract, EvmVersion, Optimizer, Settings, SettingsMetadata,
        Source, StandardJsonCompilerInput, output_selection::OutputSelection,
        remappings::Remapping,
    },
    solc::{Solc, SolcCompiler, SolcLanguage, SolcSettings},
    utils::canonicalize,
};
use serde_json::{Map, Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
    str::FromStr,
};

/// Version of the artifact layout written below; bump it when the layout changes.
const ARTIFACT_FORMAT: &str = "propledger-artifact/1";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "build-contracts",
    about = "Compile contracts/src into contracts/artifacts"
)]
struct Args {
    /// Compile into a temporary directory and compare with the committed artifacts instead of
    /// writing them; exits non-zero and lists the drifted files when they differ.
    #[arg(long)]
    check: bool,
    /// The Foundry project root (the directory holding foundry.toml).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    contracts_dir: PathBuf,
    /// Where the artifacts live, relative to the contracts directory unless absolute.
    #[arg(long, default_value = "artifacts")]
    out: PathBuf,
    /// The solc executable; defaults to the `solc` entry of foundry.toml (the solcjs shim).
    #[arg(long)]
    solc: Option<PathBuf>,
}

/// The `[profile.default]` settings of foundry.toml that shape the bytecode.
#[derive(Debug)]
struct Profile {
    src: String,
    solc: Option<String>,
    optimizer: bool,
    optimizer_runs: usize,
    evm_version: EvmVersion,
    via_ir: bool,
    bytecode_hash: BytecodeHash,
    remappings: Vec<Remapping>,
}

impl Profile {
    fn read(foundry_toml: &Path) -> Result<Self> {
        let text = fs::read_to_string(foundry_toml)
            .with_context(|| format!("reading {}", foundry_toml.display()))?;
        let doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", foundry_toml.display()))?;
        let profile = doc
            .get("profile")
            .and_then(|p| p.get("default"))
            .and_then(toml::Value::as_table)
            .context("foundry.toml has no [profile.default] table")?;
        // The settings that shape the bytecode must be spelled out, so this builder and forge can
        // never disagree through different defaults.
        let required = |key: &str| {
            profile
                .get(key)
                .with_context(|| format!("[profile.default] must set `{key}`"))
        };
        let str_key = |key: &str| -> Result<Option<String>> {
            profile
                .get(key)
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("`{key}` must be a string"))
                })
                .transpose()
        };
        let bool_key = |key: &str| -> Result<bool> {
            required(key)?
                .as_bool()
                .with_context(|| format!("`{key}` must be a boolean"))
        };
        let string_key = |key: &str| -> Result<String> {
            required(key)?
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("`{key}` must be a string"))
        };
        let optimizer_runs = required("optimizer_runs")?
            .as_integer()
            .context("`optimizer_runs` must be an integer")?;
        let optimizer_runs =
            usize::try_from(optimizer_runs).context("`optimizer_runs` must not be negative")?;
        let evm_version = string_key("evm_version")?;
        let evm_version = EvmVersion::from_str(&evm_version)
            .map_err(|e| anyhow::anyhow!("unknown evm_version `{evm_version}`: {e}"))?;
        let bytecode_hash = string_key("bytecode_hash")?;
        let bytecode_hash = BytecodeHash::from_str(&bytecode_hash)
            .map_err(|e| anyhow::anyhow!("unknown bytecode_hash `{bytecode_hash}`: {e}"))?;
        let mut remappings = Vec::new();
        if let Some(list) = profile.get("remappings") {
            for r in list.as_array().context("`remappings` must be an array")? {
                let r = r.as_str().context("each remapping must be a string")?;
                let parsed = Remapping::from_str(r)
                    .map_err(|e| anyhow::anyhow!("bad remapping `{r}`: {e}"))?;
                ensure!(
                    !Path::new(&parsed.path).is_absolute(),
                    "remapping `{r}` has an absolute target; artifacts would not be reproducible"
                );
                remappings.push(parsed);
            }
        }
        Ok(Self {
            src: str_key("src")?.unwrap_or_else(|| "src".to_owned()),
            solc: str_key("solc")?,
            optimizer: bool_key("optimizer")?,
            optimizer_runs,
            evm_version,
            via_ir: bool_key("via_ir")?,
            bytecode_hash,
            remappings,
        })
    }

    fn solc_settings(&self) -> SolcSettings {
        let outputs = [
            "abi",
            "evm.bytecode.object",
            "evm.deployedBytecode.object",
            "evm.methodIdentifiers",
            "metadata",
        ];
        let mut settings = Settings::new(OutputSelection::common_output_selection(
            outputs.map(String::from),
        ));
        settings.optimizer = Optimizer {
            enabled: Some(self.optimizer),
            runs: Some(self.optimizer_runs),
            details: None,
        };
        settings.evm_version = Some(self.evm_version);
        settings.via_ir = self.via_ir.then_some(true);
        settings.metadata = Some(SettingsMetadata {
            use_literal_content: None,
            bytecode_hash: Some(self.bytecode_hash),
            cbor_metadata: None,
        });
        SolcSettings {
            settings,
            cli_settings: Default::default(),
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("build-contracts: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let root = canonicalize(&args.contracts_dir)
        .with_context(|| format!("contracts directory {}", args.contracts_dir.display()))?;
    let profile = Profile::read(&root.join("foundry.toml"))?;
    let solc_path = match (&args.solc, &profile.solc) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => root.join(path),
        (None, None) => bail!("no solc given: pass --solc or set `solc` in foundry.toml"),
    };
    let out_dir = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };

    let artifacts = compile(&root, &profile, &solc_path)?;

    if args.check {
        let fresh = tempfile::tempdir().context("creating a temporary directory")?;
        write_artifacts(fresh.path(), &artifacts)?;
        let drifted = compare(fresh.path(), &out_dir)?;
        if drifted.is_empty() {
            println!(
                "{} artifacts up to date in {}",
                artifacts.len(),
                display_rel(&out_dir, &root)
            );
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!(
                "artifacts in {} differ from a fresh build of the sources:",
                display_rel(&out_dir, &root)
            );
            for line in &drifted {
                eprintln!("  {line}");
            }
            eprintln!("run scripts/build-contracts and commit the result");
            Ok(ExitCode::FAILURE)
        }
    } else {
        fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        let removed = remove_stale(&out_dir, &artifacts)?;
        write_artifacts(&out_dir, &artifacts)?;
        for name in removed {
            println!("removed stale {name}");
        }
        println!(
            "wrote {} artifacts to {}",
            artifacts.len(),
            display_rel(&out_dir, &root)
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Compiles the project and returns the rendered artifacts by file name.
///
/// foundry-compilers resolves the import graph of every source and names each file relative to the
/// contracts root (`src/A.sol`, `../node_modules/@openzeppelin/…`), which is exactly how solc names
/// them when it follows the relative remappings itself. All of them go to solc inline in a single
/// standard-JSON input, so solc never has to read a file and never sees an absolute path.
fn compile(root: &Path, profile: &Profile, solc_path: &Path) -> Result<BTreeMap<String, String>> {
    let mut solc = Solc::new(solc_path)
        .with_context(|| format!("asking {} for its version", solc_path.display()))?;
    // Nothing outside the root may be read behind our back: every source is already inline.
    solc.base_path = Some(root.to_path_buf());
    solc.allow_paths = BTreeSet::from([root.to_path_buf()]);
    let solc_version = solc.version.clone();

    let src = root.join(&profile.src);
    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(&src)
        // No tests or scripts: only the sources (and what they import) are compiled.
        .tests(&src)
        .scripts(&src)
        .libs(std::iter::empty::<PathBuf>())
        .remappings(profile.remappings.clone())
        .build::<SolcLanguage>()
        .context("configuring project paths")?;
    let project = ProjectBuilder::<SolcCompiler>::new(ConfigurableArtifacts::default())
        .paths(paths)
        .settings(profile.solc_settings())
        .ephemeral()
        .no_artifacts()
        .offline()
        .build(SolcCompiler::Specific(solc.clone()))
        .context("configuring the project")?;

    let files = solidity_files(&src)?;
    ensure!(
        !files.is_empty(),
        "no Solidity sources in {}",
        src.display()
    );

    // The union of every source's import closure, keyed by solc source unit name.
    let mut sources: BTreeMap<PathBuf, Source> = BTreeMap::new();
    let mut settings = None;
    for file in &files {
        let input = project
            .standard_json_input(file)
            .with_context(|| format!("resolving the imports of {}", file.display()))?;
        for (name, source) in input.sources {
            ensure!(
                name.is_relative(),
                "{} resolves to {} outside the contracts root",
                file.display(),
                name.display()
            );
            let previous = sources
                .entry(name.clone())
                .or_insert_with(|| source.clone());
            ensure!(
                previous.content == source.content,
                "{} was resolved to two different files",
                name.display()
            );
        }
        settings = Some(input.settings);
    }
    let settings = settings.context("no compiler settings")?;
    let input = StandardJsonCompilerInput::new(sources.into_iter().collect(), settings)
        .normalize_evm_version(&solc_version);
    let output: CompilerOutput = solc.compile_as(&input).context("running solc")?;

    let mut failed = false;
    for diagnostic in &output.errors {
        failed |= diagnostic.severity.is_error();
        eprintln!("{diagnostic}");
    }
    ensure!(!failed, "solc reported errors");

    let src_rel = src.strip_prefix(root).unwrap_or(&src).to_path_buf();
    let root_str = root.to_string_lossy().into_owned();
    let mut artifacts = BTreeMap::new();
    for (path, contracts) in &output.contracts {
        if !Path::new(path).starts_with(&src_rel) {
            continue; // a dependency (OpenZeppelin)
        }
        for (name, contract) in contracts {
            let Some(rendered) = render(name, contract, &solc_version)? else {
                continue;
            };
            ensure!(
                !rendered.contains(&root_str),
                "artifact {name} mentions the absolute path {root_str}; it would not be reproducible"
            );
            let file = format!("{name}.json");
            ensure!(
                artifacts.insert(file, rendered).is_none(),
                "two contracts named {name} in {}",
                src.display()
            );
        }
    }
    ensure!(
        !artifacts.is_empty(),
        "no deployable contracts found in {}",
        src.display()
    );
    Ok(artifacts)
}

/// Every `.sol` file under `dir`, sorted.
fn solidity_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "sol") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Renders one contract's artifact, or `None` for what cannot be deployed usefully: interfaces and
/// abstract contracts (no bytecode) and libraries of internal functions only (no ABI).
fn render(
    name: &str,
    contract: &Contract,
    solc_version: &semver::Version,
) -> Result<Option<String>> {
    let abi = contract
        .abi
        .as_ref()
        .with_context(|| format!("{name}: solc returned no ABI"))?;
    let evm = contract
        .evm
        .as_ref()
        .with_context(|| format!("{name}: solc returned no EVM output"))?;
    let bytecode = evm
        .bytecode
        .as_ref()
        .and_then(|b| b.object.as_bytes())
        .with_context(|| format!("{name}: no linked bytecode"))?;
    let deployed = evm
        .deployed_bytecode
        .as_ref()
        .and_then(|d| d.bytecode.as_ref())
        .and_then(|b| b.object.as_bytes())
        .with_context(|| format!("{name}: no linked deployed bytecode"))?;
    if bytecode.is_empty() || abi.is_empty() {
        return Ok(None);
    }

    let raw_metadata = &contract
        .metadata
        .as_ref()
        .with_context(|| format!("{name}: solc returned no metadata"))?
        .raw_metadata;
    let metadata: Value = serde_json::from_str(raw_metadata)
        .with_context(|| format!("{name}: solc metadata is not JSON"))?;
    let compiler_version = metadata
        .pointer("/compiler/version")
        .and_then(Value::as_str)
        .with_context(|| format!("{name}: metadata has no compiler version"))?;
    let settings = metadata
        .get("settings")
        .cloned()
        .with_context(|| format!("{name}: metadata has no settings"))?;
    let source_name = settings
        .get("compilationTarget")
        .and_then(Value::as_object)
        .and_then(|t| t.keys().next().cloned())
        .with_context(|| format!("{name}: metadata has no compilation target"))?;
    let mut sources = Map::new();
    for (path, entry) in metadata
        .get("sources")
        .and_then(Value::as_object)
        .with_context(|| format!("{name}: metadata has no sources"))?
    {
        ensure!(
            !path.starts_with('/') && !path.contains(':'),
            "{name}: source {path} was compiled under an absolute path"
        );
        let mut kept = Map::new();
        for key in ["keccak256", "license"] {
            if let Some(v) = entry.get(key) {
                kept.insert(key.to_owned(), v.clone());
            }
        }
        sources.insert(path.clone(), Value::Object(kept));
    }

    let artifact = json!({
        "_format": ARTIFACT_FORMAT,
        "contractName": name,
        "sourceName": source_name,
        "abi": serde_json::to_value(abi)?,
        "bytecode": { "object": bytecode.to_string() },
        "deployedBytecode": { "object": deployed.to_string() },
        "methodIdentifiers": serde_json::to_value(&evm.method_identifiers)?,
        "compiler": {
            "name": "solc",
            "version": compiler_version,
            "fullVersion": solc_version.to_string(),
        },
        "settings": settings,
        "sources": sources,
    });
    let mut text = serde_json::to_string_pretty(&sorted(artifact))?;
    text.push('\n');
    Ok(Some(text))
}

/// Rebuilds a JSON value with every object's keys in sorted order, whatever map type serde_json
/// was built with.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let entries: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn write_artifacts(dir: &Path, artifacts: &BTreeMap<String, String>) -> Result<()> {
    for (file, text) in artifacts {
        let path = dir.join(file);
        // Only touch files whose content changed, so mtimes (and cargo rebuilds) stay quiet.
        if fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Artifact JSON files in `dir`, by file name.
fn json_files(dir: &Path) -> Result<Vec<String>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn remove_stale(dir: &Path, artifacts: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in json_files(dir)? {
        if !artifacts.contains_key(&name) {
            let path = dir.join(&name);
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// Differences between a fresh build and the committed artifacts, one line per file.
fn compare(fresh: &Path, committed: &Path) -> Result<Vec<String>> {
    let fresh_files = json_files(fresh)?;
    let committed_files = json_files(committed)?;
    let mut drifted = Vec::new();
    for name in &fresh_files {
        let want = fs::read(fresh.join(name))?;
        match fs::read(committed.join(name)) {
            Ok(have) if have == want => {}
            Ok(_) => drifted.push(format!("{name}: differs")),
            Err(_) => drifted.push(format!("{name}: missing")),
        }
    }
    for name in committed_files.iter().filter(|n| !fresh_files.contains(n)) {
        drifted.push(format!("{name}: stale (no such contract in the sources)"));
    }
    Ok(drifted)
}

/// `path` relative to the repository (the parent of the contracts root) when it lies inside it.
fn display_rel(path: &Path, root: &Path) -> String {
    let repo = root.parent().unwrap_or(root);
    path.strip_prefix(repo)
        .unwrap_or(path)
        .display()
        .to_string()
}
