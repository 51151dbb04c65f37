//! Prices per model and the cost formula.
//!
//! Cost = (input − cached) × input price + cached × cached-input price
//!        + output × output price (reasoning is already inside output).
//! Computed in f64 from integer token counts; rounded only for display.
//! A model that cannot be priced gives `None` — never $0.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::usage::Usage;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Cached input (prompt-cache reads).
    pub cached_input: f64,
    /// Output (reasoning included).
    pub output: f64,
}

impl Price {
    /// The cost of `u` in USD.
    pub fn cost(&self, u: &Usage) -> f64 {
        let cached = u.cached_input_tokens.min(u.input_tokens);
        let uncached = u.input_tokens - cached;
        (uncached as f64 * self.input
            + cached as f64 * self.cached_input
            + u.output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// The most of a `--pricing` file that is read (LiteLLM's whole table is about 2 MB).
pub const PRICING_MAX_BYTES: u64 = 64 << 20;

/// When and where the built-in table was taken.
pub const BUILTIN_SOURCE: &str = "builtin:openai-list-prices@2026-11-23";

/// The built-in table: OpenAI standard-tier list prices, USD per 1M tokens
/// (input, cached input, output).
///
/// Taken 2026-11-23 from <https://openai.com/api/pricing/> and cross-checked with
/// LiteLLM's `model_prices_and_context_window.json`
/// (<https://github.com/BerriAI/litellm>, `input_cost_per_token`,
/// `cache_read_input_token_cost`, `output_cost_per_token` × 1e6); gpt-5.4/gpt-5.5
/// from OpenAI's Codex rate card (credits ÷ 25 per USD, checked 2026-05-13).
/// The gpt-5 family's cached input is 10 % of input, gpt-4.1/o3/o4-mini's 25 %,
/// gpt-4o's 50 %.
pub const BUILTIN: &[(&str, Price)] = &[
    ("gpt-5", p(1.25, 0.125, 10.0)),
    ("gpt-5-codex", p(1.25, 0.125, 10.0)),
    ("gpt-5-mini", p(0.25, 0.025, 2.0)),
    ("gpt-5-nano", p(0.05, 0.005, 0.40)),
    ("gpt-5.1", p(1.25, 0.125, 10.0)),
    ("gpt-5.1-codex", p(1.25, 0.125, 10.0)),
    ("gpt-5.1-codex-max", p(1.25, 0.125, 10.0)),
    ("gpt-5.1-codex-mini", p(0.25, 0.025, 2.0)),
    ("gpt-5.2", p(1.75, 0.175, 14.0)),
    ("gpt-5.2-codex", p(1.75, 0.175, 14.0)),
    ("gpt-5.3-codex", p(1.75, 0.175, 14.0)),
    ("gpt-5.4", p(2.50, 0.25, 15.0)),
    ("gpt-5.5", p(5.0, 0.50, 30.0)),
    ("o3", p(2.0, 0.50, 8.0)),
    ("o4-mini", p(1.10, 0.275, 4.40)),
    ("gpt-4.1", p(2.0, 0.50, 8.0)),
    ("gpt-4.1-mini", p(0.40, 0.10, 1.60)),
    ("gpt-4.1-nano", p(0.10, 0.025, 0.40)),
    ("gpt-4o", p(2.50, 1.25, 10.0)),
    ("gpt-4o-mini", p(0.15, 0.075, 0.60)),
    ("codex-mini-latest", p(1.50, 0.375, 6.0)),
];

const fn p(input: f64, cached_input: f64, output: f64) -> Price {
    Price {
        input,
        cached_input,
        output,
    }
}

/// Why a price table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The file could not be read.
    #[error("cannot read pricing file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not LiteLLM's price JSON.
    #[error("pricing file {path} is not LiteLLM price JSON: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
}

/// A price table and where it came from.
#[derive(Debug, Clone)]
pub struct Pricing {
    table: HashMap<String, Price>,
    source: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing::builtin()
    }
}

/// A resolved price: the table entry used and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The table key the model resolved to.
    pub key: String,
    /// The price.
    pub price: Price,
}

impl Pricing {
    /// The built-in table.
    pub fn builtin() -> Pricing {
        Pricing {
            table: BUILTIN.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            source: BUILTIN_SOURCE.to_owned(),
        }
    }

    /// Where the prices come from (`builtin:…` or `litellm:<file>`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Reads LiteLLM's `model_prices_and_context_window.json` (keys: model names;
    /// values with `input_cost_per_token`, `cache_read_input_token_cost`,
    /// `output_cost_per_token` in USD per token). Entries without both an input
    /// and an output price are ignored. A missing cache price means cached input
    /// costs the input price.
    /// (At most [`PRICING_MAX_BYTES`] are read: `/dev/zero` is an error, not a hang.)
    pub fn from_litellm_file(path: &Path) -> Result<Pricing, PricingError> {
        let shown = path.display().to_string();
        let read_err = |source| PricingError::Read {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let text = codex_meta::files::read_to_cap(file, PRICING_MAX_BYTES)
            .map_err(read_err)?
            .ok_or_else(|| PricingError::Parse {
                path: shown.clone(),
                reason: format!("larger than {PRICING_MAX_BYTES} bytes (the limit; LiteLLM's table is about 2 MB)"),
            })?;
        Pricing::from_litellm_json(&text, &format!("litellm:{shown}")).map_err(|reason| {
            PricingError::Parse {
                path: shown,
                reason,
            }
        })
    }

    /// Parses LiteLLM price JSON from memory.
    pub fn from_litellm_json(bytes: &[u8], source: &str) -> Result<Pricing, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let obj = v.as_object().ok_or("top level is not an object")?;
        let mut table = HashMap::new();
        for (k, e) in obj {
            let num = |f: &str| e.get(f).and_then(serde_json::Value::as_f64);
            let (Some(i), Some(o)) = (num("input_cost_per_token"), num("output_cost_per_token"))
            else {
                continue;
            };
            let c = num("cache_read_input_token_cost").unwrap_or(i);
            table.insert(
                k.clone(),
                Price {
                    input: i * 1e6,
                    cached_input: c * 1e6,
                    output: o * 1e6,
                },
            );
        }
        if table.is_empty() {
            return Err("no entry has input_cost_per_token and output_cost_per_token".into());
        }
        Ok(Pricing {
            table,
            source: source.to_owned(),
        })
    }

    /// Resolves a model name: exactly, then case-folded, then without a
    /// provider prefix (`openai/gpt-5`), then without a date suffix
    /// (`gpt-5-2025-08-07`, `gpt-4o-2024-08-06`), then by dropping trailing
    /// `-suffix` parts (`gpt-5-codex-high` → `gpt-5-codex`). Unknown → `None`.
    pub fn resolve(&self, model: &str) -> Option<Resolved> {
        let hit = |k: &str| {
            self.table.get(k).map(|p| Resolved {
                key: k.to_owned(),
                price: *p,
            })
        };
        let m = model.trim();
        if m.is_empty() {
            return None;
        }
        if let Some(r) = hit(m) {
            return Some(r);
        }
        let mut name = m.to_ascii_lowercase();
        if let Some(r) = hit(&name) {
            return Some(r);
        }
        if let Some((_, rest)) = name.rsplit_once('/') {
            name = rest.to_owned();
            if let Some(r) = hit(&name) {
                return Some(r);
            }
        }
        let undated = strip_date(&name);
        if let Some(r) = hit(undated) {
            return Some(r);
        }
        let mut cur = undated;
        while let Some((head, _)) = cur.rsplit_once('-') {
            if let Some(r) = hit(head) {
                return Some(r);
            }
            cur = head;
        }
        None
    }
}

/// Drops a trailing `-YYYY-MM-DD` or `-YYYYMMDD`.
fn strip_date(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() > 11 {
        let tail = &s[s.len() - 11..];
        let t = tail.as_bytes();
        if t[0] == b'-'
            && t[5] == b'-'
            && t[8] == b'-'
            && t.iter()
                .enumerate()
                .all(|(i, c)| matches!(i, 0 | 5 | 8) || c.is_ascii_digit())
        {
            return &s[..s.len() - 11];
        }
    }
    if b.len() > 9 {
        let tail = &s[s.len() - 9..];
        if tail.starts_with('-') && tail[1..].bytes().all(|c| c.is_ascii_digit()) {
            return &s[..s.len() - 9];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &Pricing, m: &str) -> Option<String> {
        t.resolve(m).map(|r| r.key)
    }

    fn price(t: &Pricing, m: &str) -> Price {
        t.resolve(m)
            .map_or(p(f64::NAN, f64::NAN, f64::NAN), |r| r.price)
    }

    #[test]
    fn resolution() {
        let t = Pricing::builtin();
        assert_eq!(key(&t, "gpt-5").as_deref(), Some("gpt-5"));
        assert_eq!(key(&t, "GPT-5-Codex").as_deref(), Some("gpt-5-codex"));
        assert_eq!(key(&t, "openai/gpt-5").as_deref(), Some("gpt-5"));
        assert_eq!(key(&t, "gpt-5-2025-08-07").as_deref(), Some("gpt-5"));
        assert_eq!(key(&t, "gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(key(&t, "gpt-5-codex-high").as_deref(), Some("gpt-5-codex"));
        assert_eq!(
            key(&t, "gpt-5.1-codex-mini").as_deref(),
            Some("gpt-5.1-codex-mini")
        );
        assert_eq!(key(&t, "o4-mini-2025-04-16").as_deref(), Some("o4-mini"));
        assert_eq!(key(&t, "claude-sonnet-4"), None);
        assert_eq!(key(&t, "mock-model"), None);
        assert_eq!(key(&t, ""), None);
    }

    #[test]
    fn cost_math() {
        let t = Pricing::builtin();
        // the ccusage row of the fixtures' first session: 1000 in (200 cached), 50 out
        let u = Usage::new(1000, 200, 50, 10);
        assert!((price(&t, "gpt-5").cost(&u) - 0.001525).abs() < 1e-12);
        let u = Usage::new(2_000_000, 1_000_000, 1_000_000, 0);
        assert!((price(&t, "gpt-5.1-codex-mini").cost(&u) - (0.25 + 0.025 + 2.0)).abs() < 1e-9);
        assert!((price(&t, "gpt-5.1-codex-max").cost(&u) - (1.25 + 0.125 + 10.0)).abs() < 1e-9);
        // cached larger than input is clamped
        let u = Usage::new(10, 20, 0, 0);
        assert!((price(&t, "gpt-5").cost(&u) - 10.0 * 0.125 / 1e6).abs() < 1e-15);
    }

    #[test]
    fn litellm_json() {
        let j = br#"{"sample_spec":{"input_cost_per_token":0.0},
            "gpt-5":{"input_cost_per_token":1.25e-06,"cache_read_input_token_cost":1.25e-07,"output_cost_per_token":1e-05},
            "x-embed":{"input_cost_per_token":1e-07}}"#;
        let t = Pricing::from_litellm_json(j, "litellm:test").unwrap_or_default();
        assert_eq!(t.source(), "litellm:test");
        let got = price(&t, "gpt-5-2025-08-07");
        assert!((got.input - 1.25).abs() < 1e-9);
        assert!((got.cached_input - 0.125).abs() < 1e-9);
        assert!((got.output - 10.0).abs() < 1e-9);
        assert_eq!(t.resolve("x-embed"), None);
        assert!(Pricing::from_litellm_json(b"[]", "x").is_err());
    }
}
