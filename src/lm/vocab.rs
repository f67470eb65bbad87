//! The tokens of the training tasks as text: characters for a text, names for the synthetic
//! retrieval task (`?`, keys `k3`, values `v5`, records `k3:v5`, filler `f12`), and prompts
//! drawn from the task.

use crate::data::{Retrieval, SplitMix, Task, QUERY};

/// How token ids read and print.
#[derive(Debug, Clone)]
pub enum Vocab {
    /// A character-level text: id `i` is `chars[i]`.
    Chars(Vec<char>),
    /// The retrieval task's tokens, by name.
    Retrieval(Retrieval),
}

/// A prompt, and for the retrieval task the answer its query asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Token ids.
    pub ids: Vec<i64>,
    /// The expected next token (retrieval).
    pub answer: Option<i64>,
}

impl Vocab {
    /// The vocabulary of `task`.
    pub fn of(task: &Task) -> Result<Self, String> {
        match task {
            Task::Text(t) => Ok(Self::Chars(t.vocab.clone())),
            Task::Retrieval(r) => Ok(Self::Retrieval(*r)),
            Task::Bytes(_) => Err("generation from a byte corpus is not supported".into()),
        }
    }

    /// The ids of a prompt: its characters, or retrieval token names (or ids) separated by
    /// spaces. An unknown character or name is an error naming it.
    pub fn encode(&self, prompt: &str) -> Result<Vec<i64>, String> {
        match self {
            Self::Chars(chars) => prompt
                .chars()
                .map(|c| {
                    chars
                        .binary_search(&c)
                        .map(|i| i as i64)
                        .map_err(|_| format!("character {c:?} is not in the model's vocabulary"))
                })
                .collect(),
            Self::Retrieval(r) => prompt
                .split_whitespace()
                .map(|name| {
                    retrieval_id(r, name).ok_or_else(|| {
                        format!(
                            "unknown token {name:?} (retrieval tokens: ?, k0..k{}, v0..v{}, \
                             kK:vV, f0..f{}, or ids 0..{})",
                            r.n_keys - 1,
                            r.n_values - 1,
                            r.n_filler - 1,
                            r.vocab_size() - 1
                        )
                    })
                })
                .collect(),
        }
    }

    /// The text of `ids` (retrieval: names separated by spaces).
    pub fn decode(&self, ids: &[i64]) -> String {
        match self {
            Self::Chars(chars) => ids
                .iter()
                .map(|&id| {
                    usize::try_from(id)
                        .ok()
                        .and_then(|i| chars.get(i))
                        .unwrap_or(&'\u{fffd}')
                })
                .collect(),
            Self::Retrieval(r) => ids
                .iter()
                .map(|&id| retrieval_name(r, id))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn retrieval_name(r: &Retrieval, id: i64) -> String {
    let (nk, nv) = (r.n_keys as i64, r.n_values as i64);
    match id {
        QUERY => "?".into(),
        i if (1..=nk).contains(&i) => format!("k{}", i - 1),
        i if i <= nk + nv => format!("v{}", i - 1 - nk),
        i if i <= nk + nv + nk * nv => {
            let j = i - 1 - nk - nv;
            format!("k{}:v{}", j / nv, j % nv)
        }
        i if i < r.vocab_size() as i64 => format!("f{}", i - 1 - nk - nv - nk * nv),
        i => format!("<{i}>"),
    }
}

fn retrieval_id(r: &Retrieval, name: &str) -> Option<i64> {
    let (nk, nv) = (r.n_keys, r.n_values);
    let index = |s: &str, prefix: char, n: usize| {
        s.strip_prefix(prefix)?
            .parse::<usize>()
            .ok()
            .filter(|&i| i < n)
    };
    let id = if name == "?" {
        0
    } else if let Ok(id) = name.parse::<usize>() {
        (id < r.vocab_size()).then_some(id)?
    } else if let Some((k, v)) = name.split_once(':') {
        1 + nk + nv + index(k, 'k', nk)? * nv + index(v, 'v', nv)?
    } else if let Some(k) = index(name, 'k', nk) {
        1 + k
    } else if let Some(v) = index(name, 'v', nv) {
        1 + nk + v
    } else {
        1 + nk + nv + nk * nv + index(name, 'f', r.n_filler)?
    };
    Some(id as i64)
}

/// `count` prompts drawn from `task` with `seed`, of lengths spread from `longest / 2` to
/// `longest` (never below the retrieval task's shortest sequence, or 1): retrieval sequences
/// that end with their query `? key`, or windows of the text. An error if `longest` itself is
/// too short for the retrieval task or too long for the text.
pub fn sample_prompts(
    task: &Task,
    count: usize,
    longest: usize,
    seed: u64,
) -> Result<Vec<Prompt>, String> {
    let (shortest, available) = match task {
        Task::Retrieval(r) => (r.min_seq(), usize::MAX),
        Task::Text(t) => (1, t.len().saturating_sub(1)),
        Task::Bytes(t) => (1, t.train.len().saturating_sub(1)),
    };
    if longest < shortest {
        return Err(format!(
            "the task's prompts need at least {shortest} tokens (records and the query)"
        ));
    }
    if longest > available {
        return Err(format!(
            "the text holds windows of at most {available} tokens"
        ));
    }
    let mut rng = SplitMix::new(seed);
    Ok((0..count)
        .map(|i| {
            let len = (longest - (longest / 2) * i / count.max(1)).max(shortest);
            match task {
                Task::Retrieval(r) => {
                    let depth = rng.below(1001) as f64 / 1000.0;
                    let b = r.batch(&mut rng, 1, len, Some(depth));
                    Prompt {
                        answer: b.answers.first().copied(),
                        ids: b.tokens,
                    }
                }
                Task::Text(t) => Prompt {
                    ids: t.batch(&mut rng, 1, len).tokens,
                    answer: None,
                },
                Task::Bytes(t) => Prompt {
                    ids: t.batch(&mut rng, 1, len).tokens,
                    answer: None,
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrieval_names_round_trip() {
        let r = Retrieval::default();
        let vocab = Vocab::Retrieval(r);
        let ids: Vec<i64> = (0..r.vocab_size() as i64).collect();
        let text = vocab.decode(&ids);
        assert_eq!(vocab.encode(&text).unwrap(), ids);
        assert_eq!(
            vocab.encode("? k3 v5 k3:v5 f12 7").unwrap(),
            [0, 4, 14, 46, 93, 7]
        );
        assert!(vocab.encode("k8").unwrap_err().contains("\"k8\""));
    }
}
