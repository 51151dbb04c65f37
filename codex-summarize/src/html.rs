//! `codex-summarize --codex-home DIR --format html`: the report as one self-contained
//! page for people — the totals at the top, the cost per day as a bar chart (inline SVG),
//! a table per model and per project, the price source and when it was made. No script,
//! no font, no image from anywhere (its Content-Security-Policy forbids them, so a browser
//! says so if one ever creeps in).
//!
//! It is made from one report grouped by day, model and project
//! ([`GROUPS`]), summed here three ways: one pass over the rollouts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::format::{group, usd};
use crate::report::{GroupBy, Report, Row};
use crate::usage::Usage;

/// The report the page is made from: one row per day, model and project.
pub const GROUPS: [GroupBy; 3] = [GroupBy::Day, GroupBy::Model, GroupBy::Repo];

/// What a page sums: tokens and the cost of the priced part.
#[derive(Debug, Clone, Default)]
struct Sum {
    usage: Usage,
    cost: f64,
    /// Some of it had no price.
    unpriced: bool,
}

impl Sum {
    fn add(&mut self, r: &Row) {
        self.usage.add(&r.usage());
        self.cost += r.cost_usd.unwrap_or(0.0);
        self.unpriced |= !r.unpriced_models.is_empty();
    }

    fn cost_text(&self) -> String {
        match self.unpriced {
            true => format!("{} + unpriced", usd(Some(self.cost))),
            false => usd(Some(self.cost)),
        }
    }
}

/// `r`'s rows (keyed by [`GROUPS`]) summed by the key part `at`.
fn by_part(r: &Report, at: usize) -> BTreeMap<String, Sum> {
    let mut out: BTreeMap<String, Sum> = BTreeMap::new();
    for row in &r.rows {
        let key = row.keys.get(at).cloned().unwrap_or_else(|| row.key.clone());
        out.entry(key).or_default().add(row);
    }
    out
}

/// Text for HTML (element content and attribute values).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}\
.totals{display:flex;gap:2em;margin:1em 0}.totals div{background:#f3f5f8;padding:.6em 1em;border-radius:6px}\
.totals b{display:block;font-size:1.3em}\
table{border-collapse:collapse}th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
.bar{fill:#3b6fb6}.bar:hover{fill:#24497d}.axis{font-size:10px;fill:#555}\
footer{margin-top:2em;color:#666;font-size:.9em}";

/// The page of report `r` (made with [`GROUPS`]); `zone` names its days' zone, `made`
/// when it was made.
pub fn page(r: &Report, zone: &str, made: &str) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width\">\
<title>Codex usage</title><style>{STYLE}</style></head><body>\n<h1>Codex usage</h1>"
    );
    let days = by_part(r, 0);
    let mut total = Sum::default();
    for row in &r.rows {
        total.add(row);
    }
    let span = match (days.keys().next(), days.keys().last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
        (Some(a), _) => a.clone(),
        _ => "no usage".to_owned(),
    };
    let _ = writeln!(
        h,
        "<div class=\"totals\"><div>cost<b id=\"total-cost\">{}</b></div>\
<div>tokens<b>{}</b></div><div>input (cached)<b>{} ({})</b></div><div>output<b>{}</b></div>\
<div>days<b>{}</b></div></div>\n<p>{} ({}); {} rollout files read.</p>",
        esc(&total.cost_text()),
        group(total.usage.total_tokens),
        group(total.usage.input_tokens),
        group(total.usage.cached_input_tokens),
        group(total.usage.output_tokens),
        days.len(),
        esc(&span),
        esc(zone),
        r.files
    );
    h.push_str("<h2>Cost per day</h2>\n");
    h.push_str(&chart(&days));
    for (title, head, at) in [("Per model", "model", 1), ("Per project", "project", 2)] {
        let _ = writeln!(h, "<h2>{title}</h2>");
        h.push_str(&table(head, &by_part(r, at)));
    }
    let mut notes = String::new();
    if !r.totals.unpriced_models.is_empty() {
        let _ = write!(
            notes,
            " Models without a price (their tokens are counted, not their cost): {}.",
            esc(&r.totals.unpriced_models.join(", "))
        );
    }
    if r.skipped_lines > 0 {
        let _ = write!(notes, " {} unreadable lines skipped.", r.skipped_lines);
    }
    let _ = writeln!(
        h,
        "<footer>Prices: {}. Days in {}. Made {} by codex-summarize.{notes}</footer>\n</body></html>",
        esc(&r.pricing_source),
        esc(zone),
        esc(made)
    );
    h
}

/// One bar per day with usage, its height its cost (a `<title>` says the day and cost).
fn chart(days: &BTreeMap<String, Sum>) -> String {
    const H: f64 = 180.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 4.0;
    if days.is_empty() {
        return "<p>No usage.</p>\n".to_owned();
    }
    let max = days.values().map(|s| s.cost).fold(0.0, f64::max);
    let width = (days.len() as f64) * (BAR + GAP) + 60.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg id=\"cost-per-day\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {h:.0}\" width=\"{width:.0}\" height=\"{h:.0}\" style=\"max-width:100%;height:auto\" role=\"img\" aria-label=\"cost per day\">",
        h = H + 40.0
    );
    let _ = writeln!(
        s,
        "<text class=\"axis\" x=\"0\" y=\"12\">{}</text>",
        esc(&usd(Some(max)))
    );
    // a label under every bar when there is room, else under every seventh
    let every = if days.len() <= 16 { 1 } else { 7 };
    for (i, (day, sum)) in days.iter().enumerate() {
        let x = 50.0 + i as f64 * (BAR + GAP);
        let hgt = if max > 0.0 {
            (sum.cost / max * H).max(1.0)
        } else {
            1.0
        };
        let _ = writeln!(
            s,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{BAR}\" height=\"{hgt:.1}\"><title>{}: {}</title></rect>",
            20.0 + H - hgt,
            esc(day),
            esc(&sum.cost_text())
        );
        if i % every == 0 {
            let _ = writeln!(
                s,
                "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.0}\">{}</text>",
                H + 34.0,
                esc(day.get(5..).unwrap_or(day))
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// A table of sums by key, biggest cost first.
fn table(head: &str, rows: &BTreeMap<String, Sum>) -> String {
    let mut sorted: Vec<(&String, &Sum)> = rows.iter().collect();
    sorted.sort_by(|a, b| b.1.cost.total_cmp(&a.1.cost).then(a.0.cmp(b.0)));
    let mut t = format!(
        "<table><tr><th>{}</th><th class=\"n\">input</th><th class=\"n\">cached</th>\
<th class=\"n\">output</th><th class=\"n\">reasoning</th><th class=\"n\">total</th><th class=\"n\">cost</th></tr>\n",
        esc(head)
    );
    for (k, s) in sorted {
        let u = &s.usage;
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(k),
            group(u.input_tokens),
            group(u.cached_input_tokens),
            group(u.output_tokens),
            group(u.reasoning_output_tokens),
            group(u.total_tokens),
            esc(&s.cost_text())
        );
    }
    t.push_str("</table>\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
