//! The price table of `agents/prices.toml`: US dollars per million tokens
//! per model and token type, with its source and date (in the file), for
//! the cost of usage records that carry none.

use orc_log_schemas::Usd;
use serde::Deserialize;

/// The table shipped in the binary.
const BUILTIN: &str = include_str!("../prices.toml");

/// One model's prices, US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Model id prefix, e.g. `claude-opus-5`.
    pub model: String,
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cache creation (5-minute cache write) tokens.
    pub cache_write: f64,
    /// Cache read tokens.
    pub cache_read: f64,
}

/// A price table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Where the prices come from (a URL).
    pub source: String,
    /// When they were taken (`YYYY-MM-DD`).
    pub date: String,
    /// The models.
    pub model: Vec<ModelPrice>,
}

/// Token counts of one request, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache read tokens.
    pub cache_read: u64,
    /// Cache creation tokens.
    pub cache_creation: u64,
}

/// Why a price table cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("price table: {0}")]
pub struct PricesError(String);

impl Prices {
    /// The table of `agents/prices.toml`, compiled in.
    ///
    /// # Errors
    /// Never for the shipped file (a test parses it); [`PricesError`] if it
    /// were not valid TOML of this shape or had a negative price.
    pub fn builtin() -> Result<Prices, PricesError> {
        Self::parse(BUILTIN)
    }

    /// Parses a table (the shape of `agents/prices.toml`).
    ///
    /// # Errors
    /// [`PricesError`] naming what is wrong: bad TOML, an unknown or missing
    /// field, or a negative or non-finite price.
    pub fn parse(text: &str) -> Result<Prices, PricesError> {
        let p: Prices = toml::from_str(text).map_err(|e| PricesError(e.to_string()))?;
        for m in &p.model {
            for (name, v) in [
                ("input", m.input),
                ("output", m.output),
                ("cache_write", m.cache_write),
                ("cache_read", m.cache_read),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(PricesError(format!("model {:?}: {name} = {v} is not a price", m.model)));
                }
            }
        }
        Ok(p)
    }

    /// The prices of `model`: the entry with the longest `model` prefix of
    /// it; `None` when none matches.
    pub fn find(&self, model: &str) -> Option<&ModelPrice> {
        self.model.iter().filter(|m| model.starts_with(m.model.as_str())).max_by_key(|m| m.model.len())
    }

    /// The cost of `tokens` with `model`'s prices (each type's count times
    /// its price per million, summed, to the nano-dollar); `None` for a
    /// model not in the table.
    pub fn cost(&self, model: &str, tokens: Tokens) -> Option<Usd> {
        let p = self.find(model)?;
        let dollars = (tokens.input as f64 * p.input
            + tokens.output as f64 * p.output
            + tokens.cache_read as f64 * p.cache_read
            + tokens.cache_creation as f64 * p.cache_write)
            / 1e6;
        Usd::from_dollars(dollars)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_names_its_source_and_date() {
        let p = Prices::builtin().unwrap();
        assert!(p.source.starts_with("https://"), "{}", p.source);
        assert_eq!(p.date.len(), 10);
        assert!(p.model.len() >= 5);
    }

    #[test]
    fn the_longest_prefix_wins_and_costs_add_per_type() {
        let p = Prices::builtin().unwrap();
        assert_eq!(p.find("claude-opus-5-5-20260901").unwrap().model, "claude-opus-5-5");
        assert_eq!(p.find("claude-opus-5-20260724").unwrap().model, "claude-opus-5");
        assert!(p.find("gpt-6").is_none());
        // claude-opus-5: $5 in, $25 out, $0.50 cache read, $6.25 cache write per MTok.
        let t =
            Tokens { input: 1_000_000, output: 2_000_000, cache_read: 4_000_000, cache_creation: 1_000_000 };
        assert_eq!(p.cost("claude-opus-5", t), Usd::from_dollars(5.0 + 50.0 + 2.0 + 6.25));
        assert_eq!(p.cost("unknown", t), None);
    }

    #[test]
    fn a_bad_table_is_an_error_naming_the_field() {
        let e = Prices::parse("source = \"s\"\ndate = \"d\"\n[[model]]\nmodel = \"m\"\ninput = -1.0\noutput = 1.0\ncache_write = 1.0\ncache_read = 1.0\n")
            .unwrap_err();
        assert!(e.to_string().contains("input"), "{e}");
        assert!(Prices::parse("source = 1").is_err());
    }
}
