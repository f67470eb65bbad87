//! Passkey retrieval (Mohtashami & Jaggi 2023): a 5-digit key hidden at a depth of a filler text
//! of a given length, asked for through the instruct model's chat template, answered greedily.

use crate::data::SplitMix;

use super::super::{ChatTokenizer, Message};

/// The repeated filler (the passkey papers' own).
const FILLER: &str =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";

/// One passkey prompt.
#[derive(Debug, Clone)]
pub struct Passkey {
    /// The key, 5 digits.
    pub key: String,
    /// The prompt's ids: the chat-formatted question, generation prompt included.
    pub ids: Vec<u32>,
}

impl Passkey {
    /// A prompt of about `length` tokens (within one filler sentence) whose key sits at `depth`
    /// (0: first, 1: last) of the filler; the key is drawn from `seed`.
    pub fn build(
        tokenizer: &ChatTokenizer,
        length: usize,
        depth: f64,
        seed: u64,
    ) -> Result<Self, String> {
        let key = format!("{}", 10_000 + SplitMix::new(seed).below(90_000));
        let needle = format!("The pass key is {key}. Remember it. {key} is the pass key. ");
        let head =
            "There is an important pass key hidden inside a lot of irrelevant text. Find it \
                    and memorize it. I will quiz you about the pass key.\n\n";
        let question = "\nWhat is the pass key? Answer with the 5 digits only.";
        let render = |sentences: usize, at: usize| -> Result<Vec<u32>, String> {
            let mut body = String::from(head);
            for i in 0..=sentences {
                if i == at {
                    body.push_str(&needle);
                }
                if i < sentences {
                    body.push_str(FILLER);
                }
            }
            body.push_str(question);
            let chat = tokenizer
                .render_chat(&[Message::new("user", &body)], true, None)
                .map_err(|e| e.to_string())?;
            tokenizer.encode(&chat).map_err(|e| e.to_string())
        };
        // Tokens per filler sentence, measured, then the count that reaches `length`.
        let base = render(0, 0)?.len();
        let per = (render(8, 0)?.len() - base) as f64 / 8.0;
        let sentences = ((length.saturating_sub(base)) as f64 / per).floor() as usize;
        let at = (depth.clamp(0.0, 1.0) * sentences as f64).round() as usize;
        let ids = render(sentences, at)?;
        Ok(Self { key, ids })
    }

    /// Whether `answer` gives the key.
    pub fn correct(&self, answer: &str) -> bool {
        answer.contains(&self.key)
    }
}
