//! A bounds check of a GGUF header before candle parses it.
//!
//! candle's reader trusts the lengths a file states: a corrupted string or array length makes it
//! allocate that many bytes first, which aborts the process when the length is absurd. This
//! walk reads the same header without keeping it, checks every length against the bytes left in
//! the file, every tensor's element type against the types that can be dequantized, and every
//! tensor's element count for overflow, so that a bad file is an error naming the problem.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::GgmlDType;

use super::error::GgufError;

/// The GGUF magic, `GGUF` as bytes.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Nested metadata arrays deeper than this are refused.
const MAX_DEPTH: usize = 4;

/// The element types this crate dequantizes (through candle), by ggml type id (ggml.h).
pub fn dequantizable(type_id: u32) -> Option<GgmlDType> {
    use GgmlDType as T;
    Some(match type_id {
        0 => T::F32,
        1 => T::F16,
        2 => T::Q4_0,
        3 => T::Q4_1,
        6 => T::Q5_0,
        7 => T::Q5_1,
        8 => T::Q8_0,
        10 => T::Q2K,
        11 => T::Q3K,
        12 => T::Q4K,
        13 => T::Q5K,
        14 => T::Q6K,
        30 => T::BF16,
        _ => return None,
    })
}

/// ggml's name of a type id, for messages.
pub fn type_name(type_id: u32) -> String {
    const NAMES: [&str; 31] = [
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K",
        "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
    ];
    match NAMES.get(type_id as usize) {
        Some(name) => format!("{name} (type {type_id})"),
        None => format!("type {type_id}"),
    }
}

/// Walks the header of `reader` (a file of `len` bytes), checking what candle would trust.
pub fn check<R: Read + Seek>(reader: &mut R, len: u64) -> Result<(), GgufError> {
    let mut walk = Walk { reader, len };
    let mut magic = [0u8; 4];
    walk.bytes(&mut magic, "the magic number")?;
    if magic != MAGIC {
        return Err(GgufError::NotGguf { magic });
    }
    let version = walk.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Malformed(format!(
            "GGUF version {version} is not supported (2 or 3)"
        )));
    }
    let tensors = walk.u64("the tensor count")?;
    let entries = walk.u64("the metadata count")?;
    for _ in 0..entries {
        let key = walk.string("a metadata key")?;
        let value_type = walk.u32(&format!("the type of metadata `{key}`"))?;
        walk.skip_value(value_type, &key, 0)?;
    }
    for _ in 0..tensors {
        let name = walk.string("a tensor name")?;
        let dims = walk.u32(&format!("the rank of tensor `{name}`"))?;
        if dims > 8 {
            return Err(GgufError::Malformed(format!(
                "tensor `{name}` has rank {dims}"
            )));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let dim = walk.u64(&format!("a dimension of tensor `{name}`"))?;
            elements = elements.checked_mul(dim).ok_or_else(|| {
                GgufError::Malformed(format!("tensor `{name}`: element count overflows"))
            })?;
        }
        let type_id = walk.u32(&format!("the type of tensor `{name}`"))?;
        let Some(dtype) = dequantizable(type_id) else {
            return Err(GgufError::Quantization {
                tensor: name,
                dtype: type_name(type_id),
            });
        };
        if !elements.is_multiple_of(dtype.block_size() as u64) || elements > len {
            return Err(GgufError::Malformed(format!(
                "tensor `{name}`: {elements} elements do not fit {} blocks in a {len}-byte file",
                type_name(type_id)
            )));
        }
        walk.u64(&format!("the offset of tensor `{name}`"))?;
    }
    Ok(())
}

struct Walk<'a, R> {
    reader: &'a mut R,
    len: u64,
}

impl<R: Read + Seek> Walk<'_, R> {
    fn truncated(&self, what: &str) -> GgufError {
        GgufError::Truncated {
            what: what.to_string(),
            len: self.len,
        }
    }

    fn bytes(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        self.reader
            .read_exact(buf)
            .map_err(|_| self.truncated(what))
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.bytes(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Skips `count` bytes, which must lie inside the file.
    fn skip(&mut self, count: u64, what: &str) -> Result<(), GgufError> {
        let at = self
            .reader
            .stream_position()
            .map_err(|e| GgufError::Io(e.to_string()))?;
        match at.checked_add(count) {
            Some(end) if end <= self.len => {
                self.reader
                    .seek(SeekFrom::Start(end))
                    .map_err(|e| GgufError::Io(e.to_string()))?;
                Ok(())
            }
            _ => Err(self.truncated(what)),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let at = self
            .reader
            .stream_position()
            .map_err(|e| GgufError::Io(e.to_string()))?;
        if at.checked_add(len).is_none_or(|end| end > self.len) || len > 1 << 20 {
            return Err(self.truncated(what));
        }
        let mut buf = vec![0u8; len as usize];
        self.bytes(&mut buf, what)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn skip_value(&mut self, value_type: u32, key: &str, depth: usize) -> Result<(), GgufError> {
        let what = format!("metadata `{key}`");
        if let Some(size) = fixed_size(value_type) {
            return self.skip(size, &what);
        }
        match value_type {
            8 => {
                let len = self.u64(&what)?;
                self.skip(len, &what)
            }
            9 if depth < MAX_DEPTH => {
                let element = self.u32(&what)?;
                let count = self.u64(&what)?;
                if let Some(size) = fixed_size(element) {
                    let bytes = count.saturating_mul(size);
                    return self.skip(bytes, &what);
                }
                for _ in 0..count {
                    self.skip_value(element, key, depth + 1)?;
                }
                Ok(())
            }
            other => Err(GgufError::Malformed(format!(
                "metadata `{key}` has value type {other}"
            ))),
        }
    }
}

/// The size in bytes of a metadata value of a fixed-size type.
fn fixed_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}
