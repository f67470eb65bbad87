//! [`Gguf`]: a Llama-family GGUF file opened, checked and read into `f32` weights.
//!
//! candle (`candle_core::quantized::gguf_file`) parses the file and dequantizes its tensors —
//! F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K — after
//! [`header::check`](super::header::check) has bounded what candle would trust.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;

use super::error::GgufError;
use super::header;

/// An opened GGUF file: its metadata and tensor table, read and checked; tensors are read on
/// demand.
pub struct Gguf {
    path: PathBuf,
    content: Content,
}

impl std::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf")
            .field("path", &self.path)
            .field("tensors", &self.content.tensor_infos.len())
            .finish()
    }
}

impl Gguf {
    /// Opens `path`: checks the header's bounds and element types, parses it and checks that
    /// every tensor's data lies inside the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |e: std::io::Error| GgufError::Io(format!("{}: {e}", path.display()));
        let mut reader = BufReader::new(File::open(&path).map_err(io)?);
        let len = reader.get_ref().metadata().map_err(io)?.len();
        header::check(&mut reader, len)?;
        reader.seek(SeekFrom::Start(0)).map_err(io)?;
        let content =
            Content::read(&mut reader).map_err(|e| GgufError::Malformed(e.to_string()))?;
        for (name, info) in &content.tensor_infos {
            let dtype = info.ggml_dtype;
            let bytes =
                (info.shape.elem_count() / dtype.block_size()) as u64 * dtype.type_size() as u64;
            let end = content
                .tensor_data_offset
                .checked_add(info.offset)
                .and_then(|start| start.checked_add(bytes));
            if end.is_none_or(|end| end > len) {
                return Err(GgufError::Truncated {
                    what: format!("the end of tensor `{name}`'s data"),
                    len,
                });
            }
        }
        Ok(Self { path, content })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed metadata and tensor table (candle's).
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// A metadata value, if present.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A string value; an error naming `key` when missing or not a string.
    pub fn string(&self, key: &str) -> Result<&str, GgufError> {
        match self.value(key) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(GgufError::metadata(
                key,
                format!("expected a string, got {other:?}"),
            )),
            None => Err(GgufError::metadata(key, "missing")),
        }
    }

    /// An unsigned integer value in `1..=max`, or `default` when absent (`None`: required).
    pub fn count(&self, key: &str, max: usize, default: Option<usize>) -> Result<usize, GgufError> {
        self.integer(key, 1..=max, default)
    }

    /// An unsigned integer value in `range`, or `default` when absent (`None`: required).
    pub fn integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<usize>,
        default: Option<usize>,
    ) -> Result<usize, GgufError> {
        let value = match (self.value(key), default) {
            (None, Some(default)) => return Ok(default),
            (None, None) => return Err(GgufError::metadata(key, "missing")),
            (Some(value), _) => value,
        };
        let n = match value {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        };
        match n {
            Some(n) if usize::try_from(n).is_ok_and(|n| range.contains(&n)) => Ok(n as usize),
            _ => Err(GgufError::metadata(
                key,
                format!("expected an integer in {range:?}, got {value:?}"),
            )),
        }
    }

    /// A finite float value, or `default` when absent (`None`: required).
    pub fn float(&self, key: &str, default: Option<f64>) -> Result<f64, GgufError> {
        let value = match (self.value(key), default) {
            (None, Some(default)) => return Ok(default),
            (None, None) => return Err(GgufError::metadata(key, "missing")),
            (Some(value), _) => value,
        };
        let x = match value {
            Value::F32(v) => f64::from(*v),
            Value::F64(v) => *v,
            Value::U32(v) => f64::from(*v),
            Value::I32(v) => f64::from(*v),
            Value::U64(v) => *v as f64,
            other => {
                return Err(GgufError::metadata(
                    key,
                    format!("expected a number, got {other:?}"),
                ))
            }
        };
        if x.is_finite() {
            Ok(x)
        } else {
            Err(GgufError::metadata(
                key,
                format!("expected a finite number, got {x}"),
            ))
        }
    }

    /// Whether the file has a tensor called `name`.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// Checks that tensor `name` exists with shape `shape` (rows first, as candle reports it).
    pub fn check_tensor(&self, name: &str, shape: &[usize]) -> Result<(), GgufError> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| GgufError::MissingTensor(name.to_string()))?;
        if info.shape.dims() != shape {
            return Err(GgufError::TensorShape {
                tensor: name.to_string(),
                expected: shape.to_vec(),
                actual: info.shape.dims().to_vec(),
            });
        }
        Ok(())
    }

    /// Tensor `name` of shape `shape` (rows first), dequantized to `f32`, row-major.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, GgufError> {
        self.check_tensor(name, shape)?;
        let io = |e: std::io::Error| GgufError::Io(format!("{}: {e}", self.path.display()));
        let mut reader = BufReader::new(File::open(&self.path).map_err(io)?);
        let read = |e: candle_core::Error| GgufError::Io(format!("tensor `{name}`: {e}"));
        let tensor = self
            .content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(read)?
            .dequantize(&Device::Cpu)
            .map_err(read)?;
        tensor
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(read)
    }
}
