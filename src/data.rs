//! Training data that needs no download: a seeded synthetic key-value retrieval task, the
//! characters of any UTF-8 text, or the bytes of a corpus split into training and held-out
//! parts ([`ByteText`]).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::packing::Packing;

/// A small seeded PRNG (SplitMix64): the same seed gives the same data on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// One batch on the host: inputs and next-token targets, `[batch, seq]` row-major, and for the
/// retrieval task the answer each sequence must give at its last position.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Input ids.
    pub tokens: Vec<i64>,
    /// Next-token ids.
    pub targets: Vec<i64>,
    /// Sequences in the batch.
    pub batch: usize,
    /// Sequence length.
    pub seq: usize,
    /// Retrieval answers, one per sequence (the target of its last position); empty for text.
    pub answers: Vec<i64>,
    /// The document lengths of each row when rows are packed ([`Task::packed_batch`]); empty
    /// when each row is one sequence.
    pub documents: Vec<Vec<usize>>,
}

impl HostBatch {
    fn new(batch: usize, seq: usize) -> Self {
        let len = batch * seq;
        Self {
            tokens: Vec::with_capacity(len),
            targets: Vec::with_capacity(len),
            batch,
            seq,
            answers: Vec::new(),
            documents: Vec::new(),
        }
    }

    /// Appends a sequence of `seq + 1` tokens: its first `seq` are inputs, its last `seq` targets.
    fn push(&mut self, sequence: &[i64]) {
        debug_assert_eq!(sequence.len(), self.seq + 1);
        self.tokens.extend_from_slice(&sequence[..self.seq]);
        self.targets.extend_from_slice(&sequence[1..]);
    }

    /// `(tokens, targets)` on `device`.
    ///
    /// # Shapes
    /// - both: `[batch, seq]`
    pub fn to_tensors<B: Backend>(
        &self,
        device: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        let shape = [self.batch, self.seq];
        let tensor = |ids: &[i64]| Tensor::from_data(TensorData::new(ids.to_vec(), shape), device);
        (tensor(&self.tokens), tensor(&self.targets))
    }

    /// The packing of the rows on `device`, when they hold several documents.
    pub fn packing<B: Backend>(&self, device: &B::Device) -> Option<Packing<B>> {
        (!self.documents.is_empty()).then(|| Packing::new(&self.documents, device))
    }
}

/// Key-value retrieval in periodic filler text.
///
/// A sequence of `seq` tokens is a random segment of 4 to 8 distinct filler tokens repeated.
/// Each key has one value per sequence. Into the filler are planted [`records`] at distinct
/// places, each one token that names a key and its value, and the sequence ends with the query
/// `? key`, whose answer (the target of the last position) is that key's value token: a lookup
/// across the whole context. The queried key's record appears once, at a chosen depth; the
/// others (distractors, at random places) repeat the other keys. With `record_every` set, a
/// longer context holds proportionally more distractors, as a real long context does; without,
/// every sequence holds `n_pairs` records.
///
/// A key and its value share one token so that the lookup is a single attention hop (the
/// query's key attends to the record holding it, which names the value): a small model learns
/// it within the benchmark's CPU budget, where a key and a value as two tokens need a
/// two-layer induction circuit that the same model did not form in 2400 steps (either order,
/// 2026-11-27).
///
/// Token ids: `?` is 0, then `n_keys` keys, `n_values` values, `n_keys × n_values` records
/// (key-major), `n_filler` filler tokens.
///
/// [`records`]: Retrieval::records
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    /// Records planted in each sequence (the queried one and distractors), at least.
    pub n_pairs: usize,
    /// Distinct keys.
    pub n_keys: usize,
    /// Distinct values.
    pub n_values: usize,
    /// Distinct filler tokens.
    pub n_filler: usize,
    /// Recall queries `? key value` planted in each *training* sequence (where `depth` is
    /// `None`) after the record they ask about: dense supervision of the lookup (multi-query
    /// associative recall, Arora et al. 2023), so it is learned in few steps. Scoring
    /// sequences hold only the final query.
    #[serde(default)]
    pub train_queries: usize,
    /// One record per this many tokens where that is more than `n_pairs` (0: always
    /// `n_pairs`; else at least 2).
    #[serde(default)]
    pub record_every: usize,
}

impl Default for Retrieval {
    fn default() -> Self {
        Self {
            n_pairs: 1,
            n_keys: 8,
            n_values: 8,
            n_filler: 32,
            train_queries: 0,
            record_every: 0,
        }
    }
}

/// The query token `?`.
pub const QUERY: i64 = 0;

impl Retrieval {
    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        1 + self.n_keys + self.n_values + self.n_keys * self.n_values + self.n_filler
    }

    /// The shortest sequence that holds the records and the query.
    pub fn min_seq(&self) -> usize {
        self.n_pairs + 3
    }

    /// Rejects a task that cannot be drawn, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let distractors = self.n_pairs > 1 || self.record_every > 0;
        if self.n_pairs == 0 {
            Err("n_pairs must be at least 1, got 0".into())
        } else if self.n_keys < 1 + distractors as usize {
            Err(format!(
                "n_keys must be at least 2 for distractor records, got {}",
                self.n_keys
            ))
        } else if self.n_values == 0 {
            Err("n_values must be at least 1, got 0".into())
        } else if self.n_filler < 8 {
            Err(format!(
                "n_filler must be at least 8, got {}",
                self.n_filler
            ))
        } else if self.record_every == 1 {
            Err("record_every must be 0 (off) or at least 2, got 1".into())
        } else {
            Ok(())
        }
    }

    /// Records in a sequence of `seq` tokens: `n_pairs`, or one per `record_every` tokens
    /// where that is more.
    pub fn records(&self, seq: usize) -> usize {
        match self.record_every {
            0 => self.n_pairs,
            every => self.n_pairs.max(seq / every),
        }
    }

    /// `batch` sequences of `seq` tokens with the queried record at `depth` (`0`: the start
    /// of the context, `1`: just before the query) or at random depths when `None`.
    ///
    /// # Panics
    /// If the task is not [`valid`](Self::check), `seq < min_seq()` or `depth` is outside
    /// `0..=1`.
    pub fn batch(
        &self,
        rng: &mut SplitMix,
        batch: usize,
        seq: usize,
        depth: Option<f64>,
    ) -> HostBatch {
        assert!(
            seq >= self.min_seq(),
            "Retrieval: seq = {seq} is too short for {} records (need {})",
            self.n_pairs,
            self.min_seq()
        );
        if let Err(e) = self.check() {
            panic!("Retrieval: {e}");
        }
        assert!(
            depth.is_none_or(|d| (0.0..=1.0).contains(&d)),
            "Retrieval: depth {depth:?} is outside 0..=1"
        );
        let (nk, nv) = (self.n_keys, self.n_values);
        let key = |i: usize| (1 + i) as i64;
        let value = |i: usize| (1 + nk + i) as i64;
        let record = |k: usize, v: usize| (1 + nk + nv + k * nv + v) as i64;
        let filler = |i: usize| (1 + nk + nv + nk * nv + i) as i64;
        let mut out = HostBatch::new(batch, seq);
        for _ in 0..batch {
            let period = 4 + rng.below(5);
            let segment: Vec<i64> = distinct(rng, self.n_filler, period)
                .into_iter()
                .map(filler)
                .collect();
            let mut tokens: Vec<i64> = (0..=seq).map(|i| segment[i % period]).collect();
            // Records sit at 0..=last; the query `? key` takes seq-2 and seq-1.
            let last = seq - 3;
            let depth_given = depth;
            let depth = depth.unwrap_or_else(|| rng.below(1001) as f64 / 1000.0);
            let mut starts = vec![(depth * last as f64).round() as usize];
            let n_records = self.records(seq);
            while starts.len() < n_records {
                let at = rng.below(last + 1);
                if !starts.contains(&at) {
                    starts.push(at);
                }
            }
            // The queried key is unique; distractors repeat the other keys, each with its value.
            let value_of: Vec<usize> = (0..nk).map(|_| rng.below(nv)).collect();
            let queried = rng.below(nk);
            let keys: Vec<usize> = std::iter::once(queried)
                .chain((1..n_records).map(|_| (queried + 1 + rng.below(nk - 1)) % nk))
                .collect();
            let values: Vec<usize> = keys.iter().map(|&k| value_of[k]).collect();
            for ((&at, &k), &v) in starts.iter().zip(&keys).zip(&values) {
                tokens[at] = record(k, v);
            }
            if depth_given.is_none() {
                self.plant_queries(rng, &mut tokens, &starts, &keys, &values, last);
            }
            let answer = value(values[0]);
            tokens[seq - 2] = QUERY;
            tokens[seq - 1] = key(keys[0]);
            tokens[seq] = answer;
            out.push(&tokens);
            out.answers.push(answer);
        }
        out
    }

    /// Plants up to `train_queries` queries `? key value` of the records at `starts` (keys
    /// `keys`, values `values`) in free places of `tokens[..=last]` after their record.
    fn plant_queries(
        &self,
        rng: &mut SplitMix,
        tokens: &mut [i64],
        starts: &[usize],
        keys: &[usize],
        values: &[usize],
        last: usize,
    ) {
        let mut taken = vec![false; last + 3];
        for &s in starts {
            taken[s] = true;
        }
        // A query takes 3 tokens: no more than this many fit (and a huge count ends at once).
        for _ in 0..self.train_queries.min((last + 1) / 3) {
            for _attempt in 0..8 {
                let p = rng.below(starts.len());
                let from = starts[p] + 1;
                if from + 3 > last + 1 {
                    break;
                }
                let at = from + rng.below(last + 1 - from - 2);
                if taken[at..at + 3].iter().any(|&t| t) {
                    continue;
                }
                taken[at..at + 3].iter_mut().for_each(|t| *t = true);
                tokens[at] = QUERY;
                tokens[at + 1] = (1 + keys[p]) as i64;
                tokens[at + 2] = (1 + self.n_keys + values[p]) as i64;
                break;
            }
        }
    }

    /// A fixed set of `count` batches drawn from `seed`, the queried record at `depth` (see
    /// [`Retrieval::batch`]): an evaluation set at any length and depth.
    pub fn batches(
        &self,
        seed: u64,
        count: usize,
        batch: usize,
        seq: usize,
        depth: Option<f64>,
    ) -> Vec<HostBatch> {
        let mut rng = SplitMix::new(seed);
        (0..count)
            .map(|_| self.batch(&mut rng, batch, seq, depth))
            .collect()
    }
}

/// `k` distinct numbers of `0..n`, in random order.
fn distinct(rng: &mut SplitMix, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below(n - i);
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

/// A character-level corpus.
#[derive(Debug, Clone)]
pub struct Text {
    /// The distinct characters, sorted; a token id indexes this.
    pub vocab: Vec<char>,
    ids: Vec<i64>,
}

impl Text {
    /// Tokenises `text` by character.
    pub fn new(text: &str) -> Self {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        let ids = text
            .chars()
            .map(|c| vocab.binary_search(&c).unwrap() as i64)
            .collect();
        Self { vocab, ids }
    }

    /// Length in characters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `batch` random windows of `seq` characters.
    ///
    /// # Panics
    /// If the text is not longer than `seq`.
    pub fn batch(&self, rng: &mut SplitMix, batch: usize, seq: usize) -> HostBatch {
        assert!(
            self.ids.len() > seq,
            "Text: the text has {} characters, need more than seq = {seq}",
            self.ids.len()
        );
        let mut out = HostBatch::new(batch, seq);
        for _ in 0..batch {
            let start = rng.below(self.ids.len() - seq);
            out.push(&self.ids[start..=start + seq]);
        }
        out
    }
}

/// A byte-level corpus: every byte is a token (256 ids), split into a training part and two
/// held-out parts that no training batch reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ByteText {
    /// Training bytes.
    pub train: Vec<i64>,
    /// Held-out bytes for choosing a method's parameters (LongRoPE's search).
    pub validation: Vec<i64>,
    /// Held-out bytes the scores are measured on.
    pub test: Vec<i64>,
}

impl ByteText {
    /// Token ids: one per byte value.
    pub const VOCAB_SIZE: usize = 256;

    /// The three parts from their bytes.
    pub fn new(train: &[u8], validation: &[u8], test: &[u8]) -> Self {
        let ids = |bytes: &[u8]| bytes.iter().map(|&b| i64::from(b)).collect();
        Self {
            train: ids(train),
            validation: ids(validation),
            test: ids(test),
        }
    }

    /// `batch` random windows of `seq` bytes of the training part.
    ///
    /// # Panics
    /// If the training part is not longer than `seq`.
    pub fn batch(&self, rng: &mut SplitMix, batch: usize, seq: usize) -> HostBatch {
        assert!(
            self.train.len() > seq,
            "ByteText: the training part has {} bytes, need more than seq = {seq}",
            self.train.len()
        );
        let mut out = HostBatch::new(batch, seq);
        for _ in 0..batch {
            let start = rng.below(self.train.len() - seq);
            out.push(&self.train[start..=start + seq]);
        }
        out
    }

    /// `count` windows of `seq` tokens of a held-out `part`, evenly spaced from its start
    /// (no randomness: the same windows on every call), in batches of at most `batch`.
    ///
    /// # Panics
    /// If `part` is not longer than `seq`, or `count` or `batch` is 0.
    pub fn windows(part: &[i64], count: usize, batch: usize, seq: usize) -> Vec<HostBatch> {
        assert!(
            part.len() > seq && count > 0 && batch > 0,
            "ByteText::windows: {count} windows of {seq} tokens in batches of {batch} from \
             {} tokens",
            part.len()
        );
        let room = part.len() - seq - 1;
        let starts: Vec<usize> = (0..count).map(|i| i * room / count).collect();
        starts
            .chunks(batch)
            .map(|chunk| {
                let mut out = HostBatch::new(chunk.len(), seq);
                for &start in chunk {
                    out.push(&part[start..=start + seq]);
                }
                out
            })
            .collect()
    }
}

/// What to train on.
#[derive(Debug, Clone)]
pub enum Task {
    /// The synthetic retrieval task.
    Retrieval(Retrieval),
    /// Characters of a text.
    Text(Text),
    /// Bytes of a corpus (batches from its training part).
    Bytes(ByteText),
}

impl Task {
    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Retrieval(r) => r.vocab_size(),
            Self::Text(t) => t.vocab.len(),
            Self::Bytes(_) => ByteText::VOCAB_SIZE,
        }
    }

    /// A batch of `batch` sequences of `seq` tokens (retrieval: at random depths).
    pub fn batch(&self, rng: &mut SplitMix, batch: usize, seq: usize) -> HostBatch {
        match self {
            Self::Retrieval(r) => r.batch(rng, batch, seq, None),
            Self::Text(t) => t.batch(rng, batch, seq),
            Self::Bytes(t) => t.batch(rng, batch, seq),
        }
    }

    /// The shortest document of a packed row: the retrieval task's shortest sequence, 8
    /// characters or bytes of text.
    pub fn min_document(&self) -> usize {
        match self {
            Self::Retrieval(r) => r.min_seq(),
            Self::Text(_) | Self::Bytes(_) => 8,
        }
    }

    /// `batch` packed rows of `seq` tokens: each row is documents of random lengths (at least
    /// [`min_document`](Self::min_document), a row shorter than two of them is one document),
    /// each drawn as [`batch`](Self::batch) draws a sequence; `documents` gives their lengths.
    /// A retrieval row's answer is that of its last document (which ends the row).
    pub fn packed_batch(&self, rng: &mut SplitMix, batch: usize, seq: usize) -> HostBatch {
        let min = self.min_document();
        let mut out = HostBatch::new(batch, seq);
        for _ in 0..batch {
            let (mut lengths, mut left, mut answer) = (Vec::new(), seq, None);
            while left > 0 {
                let len = match left < 2 * min {
                    true => left,
                    false => min + rng.below(left - min + 1),
                };
                // A remainder too short for a document joins this one.
                let len = if left - len < min { left } else { len };
                let document = self.batch(rng, 1, len);
                out.tokens.extend(document.tokens);
                out.targets.extend(document.targets);
                answer = document.answers.last().copied();
                lengths.push(len);
                left -= len;
            }
            out.answers.extend(answer);
            out.documents.push(lengths);
        }
        out
    }

    /// A fixed set of `count` batches drawn from `seed`: the same set every call.
    pub fn batches(&self, seed: u64, count: usize, batch: usize, seq: usize) -> Vec<HostBatch> {
        let mut rng = SplitMix::new(seed);
        (0..count)
            .map(|_| self.batch(&mut rng, batch, seq))
            .collect()
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Retrieval(r) => format!(
                "key-value retrieval ({}, {} keys, {} values, {} filler tokens)",
                match r.record_every {
                    0 => format!("{} records", r.n_pairs),
                    every => format!("a record per {every} tokens, at least {}", r.n_pairs),
                },
                r.n_keys,
                r.n_values,
                r.n_filler
            ),
            Self::Text(t) => format!(
                "characters of a text ({} characters, {} symbols)",
                t.len(),
                t.vocab.len()
            ),
            Self::Bytes(t) => format!(
                "bytes of a corpus ({} training, {} validation, {} test bytes)",
                t.train.len(),
                t.validation.len(),
                t.test.len()
            ),
        }
    }
}

/// What a run trains on, as saved with it: the retrieval task's parameters, or the path of a
/// text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSpec {
    /// The synthetic retrieval task.
    Retrieval(Retrieval),
    /// Characters of the UTF-8 text at this path.
    Text(std::path::PathBuf),
}

impl TaskSpec {
    /// Builds the task (reads the text).
    pub fn load(&self) -> Result<Task, String> {
        match self {
            Self::Retrieval(r) => Ok(Task::Retrieval(*r)),
            Self::Text(path) => std::fs::read_to_string(path)
                .map(|text| Task::Text(Text::new(&text)))
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Retrieval, SplitMix, QUERY};

    /// The records of a retrieval sequence: `(position, key, value)`.
    fn records(r: &Retrieval, tokens: &[i64]) -> Vec<(usize, usize, usize)> {
        let first = 1 + r.n_keys + r.n_values;
        tokens
            .iter()
            .enumerate()
            .filter_map(|(i, &t)| {
                let id = (t as usize).checked_sub(first)?;
                (id < r.n_keys * r.n_values).then_some((i, id / r.n_values, id % r.n_values))
            })
            .collect()
    }

    #[test]
    fn retrieval_distractors_grow_with_length_and_the_queried_key_is_unique() {
        let r = Retrieval {
            n_pairs: 2,
            n_keys: 4,
            n_values: 4,
            n_filler: 16,
            train_queries: 0,
            record_every: 4,
        };
        for (seq, depth) in [(64, 0.0), (64, 1.0), (1024, 0.5), (1024, 0.0)] {
            let batch = r.batch(&mut SplitMix::new(seq as u64), 4, seq, Some(depth));
            for (row, answer) in batch.tokens.chunks(seq).zip(&batch.answers) {
                let found = records(&r, row);
                assert_eq!(found.len(), seq / 4, "records at {seq}");
                assert_eq!(row[seq - 2], QUERY);
                let key = (row[seq - 1] - 1) as usize;
                let queried: Vec<_> = found.iter().filter(|f| f.1 == key).collect();
                assert_eq!(queried.len(), 1, "the queried key once");
                let (at, _, value) = *queried[0];
                assert_eq!(at, (depth * (seq - 3) as f64).round() as usize);
                assert_eq!(*answer, (1 + r.n_keys + value) as i64);
                // One value per key: a distractor never contradicts another.
                for a in &found {
                    assert!(found.iter().all(|b| a.1 != b.1 || a.2 == b.2));
                }
            }
        }
    }

    #[test]
    fn retrieval_rejects_what_it_cannot_draw() {
        let ok = Retrieval::default();
        assert!(ok.check().is_ok());
        for (bad, field) in [
            (Retrieval { n_pairs: 0, ..ok }, "n_pairs"),
            (
                Retrieval {
                    n_keys: 1,
                    n_pairs: 2,
                    ..ok
                },
                "n_keys",
            ),
            (
                Retrieval {
                    record_every: 1,
                    ..ok
                },
                "record_every",
            ),
            (Retrieval { n_filler: 4, ..ok }, "n_filler"),
        ] {
            assert!(bad.check().unwrap_err().contains(field), "{bad:?}");
        }
    }
}
