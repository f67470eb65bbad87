//! The benchmark's default text, assembled without a download: the Rust sources of crates
//! pinned by the workspace's `Cargo.lock`, read from Cargo's registry source cache, which
//! every machine that has built this workspace holds.
//!
//! The same `Cargo.lock` gives the same bytes on every machine (a published crate version
//! never changes): the crates are taken in [`CORPUS_CRATES`] order, the `.rs` files under each
//! crate's `src/` in byte order of their paths, each file preceded by a one-line header naming
//! it. Files are dealt to the splits by their index: every tenth file (index 8 mod 10) is
//! validation, the next (9 mod 10) test, the rest training; so the held-out parts are whole
//! files no training batch reads. [`Corpus::fingerprint`] (FNV-1a of all the bytes) lets two
//! machines check they scored the same text.

use std::path::{Path, PathBuf};

use crate::data::ByteText;

/// The crates whose sources make the corpus, in order (about 1.2 MB of Rust in Burn 0.21).
pub const CORPUS_CRATES: [&str; 3] = ["burn-nn", "burn-optim", "burn-core"];

/// A corpus with the files it came from.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The bytes, split.
    pub text: ByteText,
    /// Where the bytes came from, e.g. `burn-nn 0.21.0, burn-optim 0.21.0, ...`.
    pub source: String,
    /// Every file read, `crate-version/path` with its split and size.
    pub files: Vec<String>,
    /// FNV-1a 64 of the training, validation and test bytes, in that order.
    pub fingerprint: u64,
}

impl Corpus {
    /// The default corpus: [`CORPUS_CRATES`] at the versions of `lockfile`, from Cargo's
    /// registry cache (`$CARGO_HOME/registry/src`, `~/.cargo` when `CARGO_HOME` is unset).
    pub fn from_dependencies(lockfile: &Path) -> Result<Self, String> {
        let lock = std::fs::read_to_string(lockfile)
            .map_err(|e| format!("cannot read {}: {e}", lockfile.display()))?;
        let registry = cargo_home()?.join("registry").join("src");
        let mut entries = Vec::new();
        let mut names = Vec::new();
        for name in CORPUS_CRATES {
            let (label, files) = crate_files(&lock, lockfile, &registry, name)?;
            entries.extend(files);
            names.push(label);
        }
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        let mut files = Vec::new();
        for (i, (label, path)) in entries.iter().enumerate() {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let split = match i % 10 {
                8 => 1,
                9 => 2,
                _ => 0,
            };
            let part = &mut parts[split];
            part.extend_from_slice(format!("// ==== {label} ====\n").as_bytes());
            part.extend_from_slice(&bytes);
            part.push(b'\n');
            let split_name = ["train", "validation", "test"][split];
            files.push(format!("{label}\t{split_name}\t{} bytes", bytes.len()));
        }
        let source = format!(
            "Rust sources of {} (versions from Cargo.lock; {} files)",
            names.join(", "),
            files.len()
        );
        Ok(Self::from_parts(parts, source, files))
    }

    /// The bytes of the file at `path`: the first 80 % training, the next 10 % validation, the
    /// last 10 % test.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--text: cannot read {}: {e}", path.display()))?;
        let (a, b) = (bytes.len() * 8 / 10, bytes.len() * 9 / 10);
        let parts = [
            bytes[..a].to_vec(),
            bytes[a..b].to_vec(),
            bytes[b..].to_vec(),
        ];
        let source = format!("the bytes of {}", path.display());
        let files = vec![format!("{}\tall\t{} bytes", path.display(), bytes.len())];
        Ok(Self::from_parts(parts, source, files))
    }

    fn from_parts(parts: [Vec<u8>; 3], source: String, files: Vec<String>) -> Self {
        let mut hash = Fnv::default();
        parts.iter().for_each(|p| hash.write(p));
        let [train, validation, test] = parts;
        Self {
            text: ByteText::new(&train, &validation, &test),
            source,
            files,
            fingerprint: hash.0,
        }
    }

    /// Checks that every part holds what the run reads: `need_train` bytes of training text
    /// and windows of `longest` tokens in both held-out parts.
    pub fn check(&self, longest: usize, need_train: usize) -> Result<(), String> {
        let t = &self.text;
        if t.train.len() <= need_train.max(longest)
            || t.validation.len() <= longest
            || t.test.len() <= longest
        {
            return Err(format!(
                "the text is too short: {} training, {} validation, {} test bytes; the run \
                 needs more than {} training bytes and more than {longest} in each held-out part",
                t.train.len(),
                t.validation.len(),
                t.test.len(),
                need_train.max(longest)
            ));
        }
        Ok(())
    }
}

/// FNV-1a, 64 bits: a stable fingerprint (std's hashers may change between releases).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = Self::default();
        h.write(bytes);
        h.0
    }
}

/// The `.rs` files under `src/` of crate `name` at its version in `lock` (read from
/// `lockfile`): `("name version", [(name-version/path, file)])`, in byte order of their paths.
fn crate_files(
    lock: &str,
    lockfile: &Path,
    registry: &Path,
    name: &str,
) -> Result<(String, Vec<(String, PathBuf)>), String> {
    let version = locked_version(lock, name).ok_or_else(|| {
        format!(
            "{name} is not in {}: cannot build the corpus",
            lockfile.display()
        )
    })?;
    let dir = crate_dir(registry, name, &version)?;
    let mut files = Vec::new();
    collect_rs(&dir.join("src"), &mut files)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    files.sort();
    let entries = files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(&dir).unwrap_or(&file);
            (format!("{name}-{version}/{}", rel.to_string_lossy()), file)
        })
        .collect();
    Ok((format!("{name} {version}"), entries))
}

/// The Rust sources of crate `name` at its version in `lockfile`, joined as the corpus joins
/// them (each file after a one-line header naming it): `("name version", text)`.
pub fn crate_sources(lockfile: &Path, name: &str) -> Result<(String, String), String> {
    let lock = std::fs::read_to_string(lockfile)
        .map_err(|e| format!("cannot read {}: {e}", lockfile.display()))?;
    let registry = cargo_home()?.join("registry").join("src");
    let (label, files) = crate_files(&lock, lockfile, &registry, name)?;
    let mut text = String::new();
    for (file_label, path) in files {
        let bytes = std::fs::read(path.as_path())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.push_str(&format!("// ==== {file_label} ====\n"));
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    Ok((label, text))
}

fn cargo_home() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .ok_or_else(|| "neither CARGO_HOME nor HOME is set: cannot find Cargo's registry".into())
}

/// The version of the one package `name` in a `Cargo.lock`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}

/// `registry/src/<index>/<name>-<version>`, for the first index (in name order) that has it.
fn crate_dir(registry: &Path, name: &str, version: &str) -> Result<PathBuf, String> {
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(registry)
        .map_err(|e| format!("cannot read Cargo's registry {}: {e}", registry.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    indexes.sort();
    indexes
        .into_iter()
        .map(|index| index.join(format!("{name}-{version}")))
        .find(|dir| dir.join("src").is_dir())
        .ok_or_else(|| {
            format!(
                "the sources of {name} {version} are not in {} (build the workspace first, or \
                 pass --text FILE)",
                registry.display()
            )
        })
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_versions_are_read_from_the_lockfile() {
        let lock = "[[package]]\nname = \"a\"\nversion = \"1.2.3\"\n\n[[package]]\nname = \
                    \"burn-nn\"\nversion = \"0.21.0\"\n";
        assert_eq!(locked_version(lock, "burn-nn").as_deref(), Some("0.21.0"));
        assert_eq!(locked_version(lock, "a").as_deref(), Some("1.2.3"));
        assert_eq!(locked_version(lock, "b"), None);
    }

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(Fnv::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv::of(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
