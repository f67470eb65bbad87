//! [`ChatTokenizer`]: a GGUF's byte-level BPE tokenizer and chat template.
//!
//! The tokenizer is HuggingFace's `tokenizers`, built from the file's tokens and merges by
//! candle's `TokenizerFromGguf` the way transformers builds it for `tokenizer.ggml.model =
//! gpt2`: GPT-2's byte-level pre-tokenizer regex (a prefix space only with
//! `tokenizer.ggml.add_space_prefix`), no BOS added, and the control tokens
//! (`tokenizer.ggml.token_type` 3, SmolLM2's ids 0–16) matched whole. The chat template
//! (`tokenizer.chat_template`) is rendered by minijinja, a Jinja2 engine.

use candle_core::quantized::gguf_file::Value as GgufValue;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use minijinja::value::Serde;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{PreTokenizerWrapper, Tokenizer};

use super::error::GgufError;
use super::gguf::Gguf;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message of `role`.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A GGUF's tokenizer and chat template.
pub struct ChatTokenizer {
    tokenizer: Tokenizer,
    template: Option<String>,
    bos: Option<u32>,
    eos: Option<u32>,
}

/// An optional token id of the metadata.
fn token_id(gguf: &Gguf, key: &str) -> Result<Option<u32>, GgufError> {
    match gguf.value(key) {
        Some(_) => Ok(Some(gguf.integer(key, 0..=u32::MAX as usize, None)? as u32)),
        None => Ok(None),
    }
}

impl ChatTokenizer {
    /// Builds the tokenizer from the file's `tokenizer.ggml.*` keys.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, GgufError> {
        let mut tokenizer = Tokenizer::from_gguf(gguf.content())
            .map_err(|e| GgufError::Tokenizer(e.to_string()))?;
        // candle gives GPT-2-style files (`tokenizer.ggml.pre` gpt2, smollm, ...) tokenizers'
        // default byte-level pre-tokenizer, which adds a prefix space; transformers adds one
        // only when `tokenizer.ggml.add_space_prefix` says so (SmolLM2: false).
        if let Some(PreTokenizerWrapper::ByteLevel(_)) = tokenizer.get_pre_tokenizer() {
            let prefix = matches!(
                gguf.value("tokenizer.ggml.add_space_prefix"),
                Some(GgufValue::Bool(true))
            );
            tokenizer.with_pre_tokenizer(Some(ByteLevel::new(prefix, true, true)));
        }
        let template = match gguf.value("tokenizer.chat_template") {
            Some(_) => Some(gguf.string("tokenizer.chat_template")?.to_string()),
            None => None,
        };
        Ok(Self {
            tokenizer,
            template,
            bos: token_id(gguf, "tokenizer.ggml.bos_token_id")?,
            eos: token_id(gguf, "tokenizer.ggml.eos_token_id")?,
        })
    }

    /// The ids of `text`, special tokens matched whole, nothing added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, GgufError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| GgufError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String, GgufError> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| GgufError::Tokenizer(e.to_string()))
    }

    /// The token strings of `ids`.
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&id| self.tokenizer.id_to_token(id).unwrap_or_default())
            .collect()
    }

    /// The end-of-sequence id (`tokenizer.ggml.eos_token_id`), if the file has one.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Renders `messages` with the file's chat template (or `template`, which replaces it).
    pub fn render_chat(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        template: Option<&str>,
    ) -> Result<String, GgufError> {
        let template = template.or(self.template.as_deref()).ok_or_else(|| {
            GgufError::metadata("tokenizer.chat_template", "missing (no chat template)")
        })?;
        let special = |id: Option<u32>| {
            id.and_then(|id| self.tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let env = Environment::new();
        env.render_str(
            template,
            context! {
                messages => Value::from(Serde(messages)),
                add_generation_prompt => add_generation_prompt,
                eos_token => special(self.eos),
                bos_token => special(self.bos),
            },
        )
        .map_err(|e| GgufError::Tokenizer(format!("chat template: {e}")))
    }
}
