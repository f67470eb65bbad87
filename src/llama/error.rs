//! [`GgufError`]: what is wrong with a GGUF file, named.

use std::fmt;

/// Why a GGUF file cannot be used as a Llama-family model. Each message names what is wrong.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened or read.
    Io(String),
    /// The file does not start with `GGUF`.
    NotGguf {
        /// Its first four bytes.
        magic: [u8; 4],
    },
    /// The file ends before `what`.
    Truncated {
        /// What the file ends before.
        what: String,
        /// The file's length in bytes.
        len: u64,
    },
    /// The header cannot be read (a bad version, value type, rank or element count).
    Malformed(String),
    /// `general.architecture` is not one this crate runs.
    Architecture(String),
    /// A metadata key is missing or has an unusable value.
    Metadata {
        /// The key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor's element type cannot be dequantized.
    Quantization {
        /// The tensor.
        tensor: String,
        /// Its ggml type.
        dtype: String,
    },
    /// A tensor the model needs is not in the file.
    MissingTensor(String),
    /// A tensor has another shape than the metadata implies.
    TensorShape {
        /// The tensor.
        tensor: String,
        /// The shape the metadata implies, rows first.
        expected: Vec<usize>,
        /// The file's shape, rows first.
        actual: Vec<usize>,
    },
    /// The tokenizer or chat template cannot be built from the file.
    Tokenizer(String),
}

impl GgufError {
    /// A metadata error for `key`.
    pub fn metadata(key: &str, problem: impl Into<String>) -> Self {
        Self::Metadata {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(message) => write!(f, "cannot read the file: {message}"),
            Self::NotGguf { magic } => write!(
                f,
                "not a GGUF file: it starts with {magic:02x?} ({:?}), not \"GGUF\"",
                String::from_utf8_lossy(magic)
            ),
            Self::Truncated { what, len } => {
                write!(
                    f,
                    "truncated GGUF file: it ends ({len} bytes) before {what}"
                )
            }
            Self::Malformed(message) => write!(f, "malformed GGUF header: {message}"),
            Self::Architecture(arch) => write!(
                f,
                "unsupported architecture `{arch}` (general.architecture): this model runs \
                 `llama` (Llama, SmolLM, Mistral-style GGUFs)"
            ),
            Self::Metadata { key, problem } => write!(f, "GGUF metadata `{key}`: {problem}"),
            Self::Quantization { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` is {dtype}, which cannot be dequantized here (supported: \
                 F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)"
            ),
            Self::MissingTensor(name) => write!(f, "tensor `{name}` is missing from the file"),
            Self::TensorShape {
                tensor,
                expected,
                actual,
            } => write!(
                f,
                "tensor `{tensor}` has shape {actual:?}, expected {expected:?} from the metadata"
            ),
            Self::Tokenizer(message) => write!(f, "tokenizer: {message}"),
        }
    }
}

impl std::error::Error for GgufError {}
