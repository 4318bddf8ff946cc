//! Grouping the questions the bot could not answer by meaning, so that knowledge authors
//! see which articles to write: average-linkage agglomerative clustering (UPGMA, via the
//! `kodama` crate, a port of Müllner's fastcluster) of the questions' sentence vectors
//! under cosine distance, cut where groups stop being about one thing. Each group is
//! labelled with its typical words: the candidates are the words most frequent in it
//! relative to all the questions (class-based TF-IDF, as BERTopic finds topic words), and
//! of those the ones whose own vectors are nearest the group's centre are shown (as
//! KeyBERT picks keywords), so that "vpn" labels a VPN group rather than "every few
//! minutes", which its questions share just as often.

use std::collections::HashMap;

use kodama::{Method, linkage};

use super::bm25::Bm25Index;
use super::embed::{DIMS, dot};

/// Groups merge while their average cosine distance (1 − cosine similarity) is at most
/// this. all-MiniLM-L6-v2 puts rewordings of one IT problem at 0.2 to 0.45 and different
/// problems of one area ("printer offline", "printer jams") at 0.5 to 0.7.
pub const MAX_DISTANCE: f32 = 0.5;
/// Words in a group's label.
const LABEL_WORDS: usize = 3;
/// Candidate words per group, by class-based TF-IDF, before the nearest are chosen.
const CANDIDATES: usize = 8;

/// Sentence vectors for some texts (L2-normalised, one per text, in order).
pub type Encode<'a> = &'a dyn Fn(&[String]) -> anyhow::Result<Vec<Vec<f32>>>;

/// One group of questions: indices into the input, the most typical (nearest the group's
/// centre) first, and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub members: Vec<usize>,
    /// Up to three typical words, the nearest the group's centre first; empty when its
    /// questions have no words worth a label (only numbers or stop words).
    pub words: Vec<String>,
    /// The words joined ("printer, offline, floor"), or else the most typical question.
    pub label: String,
}

/// Groups `texts` by their L2-normalised `vectors` (one per text), largest group first
/// (ties: the earliest member first). Groups merge while their average cosine distance is
/// at most `max_distance`. `encode` gives the label's candidate words their vectors.
///
/// # Errors
/// When `encode` fails.
///
/// # Panics
/// When `vectors` and `texts` differ in length.
pub fn group(
    texts: &[String],
    vectors: &[Vec<f32>],
    max_distance: f32,
    encode: Encode<'_>,
) -> anyhow::Result<Vec<Group>> {
    assert_eq!(texts.len(), vectors.len(), "one vector per text");
    let n = texts.len();
    let mut clusters: HashMap<usize, Vec<usize>> = (0..n).map(|i| (i, vec![i])).collect();
    if n > 1 {
        let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
        for a in 0..n {
            for b in a + 1..n {
                condensed.push((1.0 - dot(&vectors[a], &vectors[b])).max(0.0));
            }
        }
        let dendrogram = linkage(&mut condensed, n, Method::Average);
        // Average linkage is monotone: the steps come in order of distance.
        for (step, merge) in dendrogram.steps().iter().enumerate() {
            if merge.dissimilarity > max_distance {
                break;
            }
            let mut merged = clusters.remove(&merge.cluster1).unwrap_or_default();
            merged.extend(clusters.remove(&merge.cluster2).unwrap_or_default());
            clusters.insert(n + step, merged);
        }
    }
    let words: Vec<Vec<(String, String)>> = texts.iter().map(|t| label_words(t)).collect();
    let everywhere = document_frequencies(&words);
    let mut groups: Vec<(Vec<usize>, Vec<f32>, Vec<String>)> = clusters
        .into_values()
        .map(|mut members| {
            members.sort_unstable();
            let centre = centre(members.iter().map(|&i| &vectors[i]));
            members.sort_by(|&a, &b| {
                dot(&vectors[b], &centre)
                    .total_cmp(&dot(&vectors[a], &centre))
                    .then(a.cmp(&b))
            });
            let candidates = candidates(&members, &words, &everywhere);
            (members, centre, candidates)
        })
        .collect();
    // Every candidate word is encoded once, however many groups it stands for.
    let mut vocabulary: Vec<String> = groups.iter().flat_map(|g| g.2.clone()).collect();
    vocabulary.sort_unstable();
    vocabulary.dedup();
    let word_vectors: HashMap<&str, Vec<f32>> = vocabulary
        .iter()
        .map(String::as_str)
        .zip(encode(&vocabulary)?)
        .collect();
    let mut labelled: Vec<Group> = groups
        .drain(..)
        .map(|(members, centre, mut candidates)| {
            let nearness = |w: &String| dot(&word_vectors[w.as_str()], &centre);
            // Stable: among equally near words, the more typical stays first.
            candidates.sort_by(|a, b| nearness(b).total_cmp(&nearness(a)));
            candidates.truncate(LABEL_WORDS);
            let label = if candidates.is_empty() {
                texts[members[0]].chars().take(80).collect()
            } else {
                candidates.join(", ")
            };
            Group {
                members,
                words: candidates,
                label,
            }
        })
        .collect();
    labelled.sort_by_key(|g| {
        (
            std::cmp::Reverse(g.members.len()),
            g.members.iter().min().copied(),
        )
    });
    Ok(labelled)
}

fn centre<'a>(vectors: impl Iterator<Item = &'a Vec<f32>>) -> Vec<f32> {
    let mut sum = vec![0f32; DIMS];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    sum
}

/// The words of a text worth a label, as `(stem, word as written, lowercased)`: the BM25
/// analyzer's words, so stop words are left out and "printers" counts as "printer".
/// Numbers are left out too: "error 500" is labelled by "error".
fn label_words(text: &str) -> Vec<(String, String)> {
    Bm25Index::words(text)
        .into_iter()
        .filter(|w| w.stem.chars().any(char::is_alphabetic) && w.stem.chars().count() > 1)
        .map(|w| (w.stem, text[w.start..w.end].to_lowercase()))
        .collect()
}

/// How many of the questions use each stem.
fn document_frequencies(words: &[Vec<(String, String)>]) -> HashMap<&str, usize> {
    let mut everywhere: HashMap<&str, usize> = HashMap::new();
    for text in words {
        let mut stems: Vec<&str> = text.iter().map(|(s, _)| s.as_str()).collect();
        stems.sort_unstable();
        stems.dedup();
        for stem in stems {
            *everywhere.entry(stem).or_default() += 1;
        }
    }
    everywhere
}

/// The group's [`CANDIDATES`] most typical words, most typical first: a word's weight is
/// the number of the group's questions that use it, times log(1 + questions / questions
/// using it anywhere), so that words every question shares do not crowd out the ones that
/// tell groups apart. Each stem is given as it is most often written.
fn candidates(
    members: &[usize],
    words: &[Vec<(String, String)>],
    everywhere: &HashMap<&str, usize>,
) -> Vec<String> {
    let total = words.len() as f32;
    let mut in_group: HashMap<&str, (usize, HashMap<&str, usize>)> = HashMap::new();
    for &m in members {
        let mut seen: Vec<&str> = Vec::new();
        for (stem, written) in &words[m] {
            let entry = in_group.entry(stem).or_default();
            *entry.1.entry(written).or_default() += 1;
            if !seen.contains(&stem.as_str()) {
                seen.push(stem);
                entry.0 += 1;
            }
        }
    }
    let mut ranked: Vec<(f32, &str, &str)> = in_group
        .iter()
        .map(|(stem, (count, spellings))| {
            let idf = (1.0 + total / everywhere[*stem] as f32).ln();
            let written = spellings
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(w, _)| *w)
                .unwrap_or(stem);
            (*count as f32 * idf, *stem, written)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    ranked
        .into_iter()
        .take(CANDIDATES)
        .map(|(_, _, w)| w.to_owned())
        .collect()
}

/// Stand-in sentence vectors when no model is loaded (bm25 mode): each text's analyzed
/// words hashed into [`DIMS`] buckets and L2-normalised, so that questions sharing their
/// words still group together.
pub fn word_vectors(texts: &[String]) -> Vec<Vec<f32>> {
    use std::hash::{Hash, Hasher};
    texts
        .iter()
        .map(|text| {
            let mut v = vec![0f32; DIMS];
            for (stem, _) in label_words(text) {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                stem.hash(&mut h);
                v[(h.finish() % DIMS as u64) as usize] += 1.0;
            }
            let norm = dot(&v, &v).sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn questions_sharing_their_words_group_and_are_labelled_by_them() {
        let questions = texts(&[
            "the printer on floor 3 is offline",
            "badge reader rejects my card",
            "printer offline again on floor 3",
            "my printer shows offline",
            "the badge reader rejects my card at the door",
        ]);
        let encode = |t: &[String]| Ok(word_vectors(t));
        let groups = group(&questions, &word_vectors(&questions), 0.6, &encode).unwrap();
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].members.len(), 3);
        assert!(groups[0].members.iter().all(|&m| [0, 2, 3].contains(&m)));
        assert!(groups[0].label.contains("printer"), "{}", groups[0].label);
        assert!(groups[0].label.contains("offline"), "{}", groups[0].label);
        assert!(!groups[0].label.contains("my"), "stop words never label");
        assert_eq!(groups[1].members.len(), 2);
        assert!(groups[1].label.contains("badge"), "{}", groups[1].label);
    }

    #[test]
    fn nothing_merges_at_distance_zero_and_empty_input_has_no_groups() {
        let questions = texts(&["vpn drops", "wifi drops"]);
        let encode = |t: &[String]| Ok(word_vectors(t));
        let apart = group(&questions, &word_vectors(&questions), 0.0, &encode).unwrap();
        assert_eq!(apart.len(), 2);
        assert!(group(&[], &[], MAX_DISTANCE, &encode).unwrap().is_empty());
        let wordless = texts(&["500 500"]);
        let unlabelled = group(&wordless, &word_vectors(&wordless), 0.5, &encode).unwrap();
        assert_eq!(
            unlabelled[0].label, "500 500",
            "the question stands in for words"
        );
        assert!(unlabelled[0].words.is_empty());
    }
}
