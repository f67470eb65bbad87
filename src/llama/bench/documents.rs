//! The long-context benchmark's documents, without a download: the Rust sources of crates pinned
//! by the workspace's `Cargo.lock`, joined per crate (files in byte order of their paths, each
//! after a one-line header naming it) and tokenized, one document per crate; or the tokens of a
//! text file (`--text`), cut into consecutive documents.

use std::path::Path;

use crate::scaling_bench::corpus::{crate_sources, Fnv};

use super::super::ChatTokenizer;

/// Crates whose sources make the documents, in order: each holds well over 32k tokens of Rust.
pub const DOCUMENT_CRATES: [&str; 6] = [
    "burn-core",
    "burn-tensor",
    "cubecl-core",
    "burn-ndarray",
    "burn-autodiff",
    "burn-nn",
];

/// Token documents and where they came from.
#[derive(Debug, Clone)]
pub struct Documents {
    /// Each document's tokens.
    pub tokens: Vec<Vec<u32>>,
    /// Each document's name.
    pub names: Vec<String>,
    /// FNV-1a 64 of every document's tokens, in order.
    pub fingerprint: u64,
}

impl Documents {
    /// `count` documents of at least `longest` tokens from the registry's sources of
    /// [`DOCUMENT_CRATES`] at the versions of `lockfile`.
    pub fn from_dependencies(
        lockfile: &Path,
        tokenizer: &ChatTokenizer,
        count: usize,
        longest: usize,
    ) -> Result<Self, String> {
        if count > DOCUMENT_CRATES.len() {
            return Err(format!(
                "--documents {count}: at most {} (one per crate of the registry)",
                DOCUMENT_CRATES.len()
            ));
        }
        let mut docs = Vec::new();
        for name in &DOCUMENT_CRATES[..count] {
            let (label, text) = crate_sources(lockfile, name)?;
            let tokens = tokenizer.encode(&text).map_err(|e| e.to_string())?;
            if tokens.len() < longest {
                return Err(format!(
                    "{label} has {} tokens, fewer than the longest context {longest}",
                    tokens.len()
                ));
            }
            docs.push((label, tokens));
        }
        Ok(Self::new(docs))
    }

    /// `count` consecutive documents of `longest` tokens from the text file at `path`.
    pub fn from_file(
        path: &Path,
        tokenizer: &ChatTokenizer,
        count: usize,
        longest: usize,
    ) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("--text {}: {e}", path.display()))?;
        let tokens = tokenizer.encode(&text).map_err(|e| e.to_string())?;
        if tokens.len() < count * longest {
            return Err(format!(
                "--text {}: {} tokens, fewer than {count} documents of {longest}",
                path.display(),
                tokens.len()
            ));
        }
        let docs = (0..count)
            .map(|i| {
                let name = format!(
                    "{} tokens {}..{}",
                    path.display(),
                    i * longest,
                    (i + 1) * longest
                );
                (name, tokens[i * longest..(i + 1) * longest].to_vec())
            })
            .collect();
        Ok(Self::new(docs))
    }

    fn new(docs: Vec<(String, Vec<u32>)>) -> Self {
        let mut hash = Fnv::default();
        for (_, tokens) in &docs {
            tokens.iter().for_each(|t| hash.write(&t.to_le_bytes()));
        }
        let (names, tokens) = docs.into_iter().unzip();
        Self {
            tokens,
            names,
            fingerprint: hash.0,
        }
    }
}
