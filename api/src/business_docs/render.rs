//! Rendering a version: its placeholders filled with the request's values and the books' live
//! figures, then written as HTML (Markdown through pulldown-cmark, every value escaped) or as
//! a PDF (the statements' renderer).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use rust_decimal::Decimal;
use serde_json::Value;

use super::content::{Content, DocType, Section, VarType, Variable, placeholders, walk};
use crate::error::{Checks, Error, Result};
use crate::pdf::{Block, Statement};

/// A value's text as it is placed in a document, or why it does not fit the type.
pub fn value_text(kind: VarType, v: &Value) -> std::result::Result<String, String> {
    let decimal = |v: &Value| -> Option<Decimal> {
        match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string().parse().ok(),
            _ => None,
        }
    };
    match kind {
        VarType::Text => match v {
            Value::String(s) if s.chars().count() <= 10_000 => Ok(s.clone()),
            _ => Err("a text of at most 10,000 characters".to_owned()),
        },
        VarType::Number => decimal(v)
            .map(|d| d.normalize().to_string())
            .ok_or_else(|| "a decimal number (as a string, or an integer)".to_owned()),
        VarType::Date => match v {
            Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => Ok(s.clone()),
            _ => Err("a day as YYYY-MM-DD".to_owned()),
        },
        VarType::List => match v {
            Value::Array(items)
                if items.len() <= 100
                    && items
                        .iter()
                        .all(|i| i.as_str().is_some_and(|s| s.chars().count() <= 1_000)) =>
            {
                Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
            }
            _ => Err("a list of at most 100 texts".to_owned()),
        },
        VarType::Money => {
            let amount = v.get("amount").and_then(decimal);
            let currency = v.get("currency").and_then(Value::as_str);
            match (amount, currency) {
                (Some(a), Some(c)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                    let mut a = a;
                    if a.scale() < 2 {
                        a.rescale(2);
                    }
                    Ok(format!("{a} {c}"))
                }
                _ => Err("money as {\"amount\": \"1250.00\", \"currency\": \"USD\"}".to_owned()),
            }
        }
    }
}

/// The values placed in a rendering: each variable's (from the request or its default) and
/// the live figures.
pub fn values(
    variables: &[Variable],
    given: &BTreeMap<String, Value>,
    live: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut c = Checks::new();
    let mut out = live.clone();
    for name in given.keys() {
        if !variables.iter().any(|v| &v.name == name) {
            c.push(
                format!("/variables/{name}"),
                "the document declares no such variable",
            );
        }
    }
    for v in variables {
        match given.get(&v.name).or(v.default.as_ref()) {
            Some(value) => match value_text(v.kind, value) {
                Ok(t) => {
                    out.insert(v.name.clone(), t);
                }
                Err(why) => c.push(format!("/variables/{}", v.name), why),
            },
            None if v.required => c.push(format!("/variables/{}", v.name), "required"),
            // An optional variable without a value leaves its place empty.
            None => {
                out.insert(v.name.clone(), String::new());
            }
        }
    }
    c.finish()?;
    Ok(out)
}

/// Whether a rendering needs the property's or the investor's figures.
pub fn needs(content: &Content) -> (bool, bool) {
    let (mut property, mut investor) = (false, false);
    for (_, _, s) in walk(&content.sections) {
        for name in placeholders(&s.title)
            .into_iter()
            .chain(placeholders(&s.body))
        {
            property |= name.starts_with("property.");
            investor |= name.starts_with("investor.");
        }
    }
    (property, investor)
}

/// `text` with each placeholder replaced by its value; a placeholder without one is left as
/// `[name]` so a reader sees what is missing.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                let name = after[..j].trim();
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('[');
                        out.push_str(name);
                        out.push(']');
                    }
                }
                rest = &after[j + 2..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Values made safe to place in Markdown: a value is text, never markup (tables the books
/// make are the exception, and are built from checked figures).
pub fn escaped(values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|(k, v)| {
            if k == "property.budget_vs_actual" {
                return (k.clone(), v.clone());
            }
            let mut e = String::with_capacity(v.len());
            for ch in v.chars() {
                if "\\`*_{}[]<>()#+-.!|~&".contains(ch) {
                    e.push('\\');
                }
                e.push(ch);
            }
            (k.clone(), e)
        })
        .collect()
}

/// A filled section tree, numbered.
struct Filled {
    number: String,
    depth: usize,
    title: String,
    body: String,
}

fn filled(sections: &[Section], values: &BTreeMap<String, String>) -> Vec<Filled> {
    fn go(
        list: &[Section],
        prefix: &str,
        depth: usize,
        values: &BTreeMap<String, String>,
        out: &mut Vec<Filled>,
    ) {
        for (i, s) in list.iter().enumerate() {
            let number = format!("{prefix}{}", i + 1);
            out.push(Filled {
                number: number.clone(),
                depth,
                title: fill(&s.title, values),
                body: fill(&s.body, values),
            });
            go(
                &s.subsections,
                &format!("{number}."),
                depth + 1,
                values,
                out,
            );
        }
    }
    let mut out = Vec::new();
    go(sections, "", 1, values, &mut out);
    out
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Markdown as HTML, with raw HTML in the source shown as text (never passed through).
fn markdown_html(md: &str) -> String {
    let events = Parser::new_ext(md, options()).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// What a rendering shows above the sections.
pub struct Heading<'a> {
    /// The document's title.
    pub title: &'a str,
    /// Its type.
    pub doc_type: DocType,
    /// The version rendered.
    pub version: i64,
    /// The version's SHA-256, hex.
    pub sha256: &'a str,
}

/// The version as an HTML page.
pub fn html(h: &Heading<'_>, content: &Content, values: &BTreeMap<String, String>) -> String {
    let safe = escaped(values);
    let title = escape_html(&fill(h.title, values));
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
         padding:0 1rem;line-height:1.5}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}\
         .meta{{color:#555;font-size:.9rem}}</style></head><body>\n<h1>{title}</h1>\n\
         <p class=\"meta\">{} · version {} · SHA-256 {}</p>\n",
        h.doc_type.as_str().replace('_', " "),
        h.version,
        h.sha256
    );
    for f in filled(&content.sections, &safe) {
        let level = (f.depth + 1).min(6);
        out.push_str(&format!(
            "<section><h{level}>{} {}</h{level}>\n{}</section>\n",
            f.number,
            markdown_html(&f.title)
                .trim()
                .trim_start_matches("<p>")
                .trim_end_matches("</p>"),
            markdown_html(&f.body)
        ));
    }
    out.push_str("</body></html>\n");
    out
}

/// Markdown as the PDF renderer's blocks: headings, paragraphs, list items (bulleted) and
/// table rows (label and figures).
fn markdown_blocks(md: &str, blocks: &mut Vec<Block>) {
    let mut text = String::new();
    let mut in_table = false;
    let mut row: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut item_depth = 0usize;
    let flush = |text: &mut String, blocks: &mut Vec<Block>| {
        let t = text.trim().to_owned();
        if !t.is_empty() {
            blocks.push(Block::Text(t));
        }
        text.clear();
    };
    for e in Parser::new_ext(md, options()) {
        match e {
            Event::Start(Tag::Heading { .. }) | Event::Start(Tag::Paragraph)
                if !in_table && item_depth == 0 =>
            {
                flush(&mut text, blocks);
            }
            Event::End(TagEnd::Heading(level)) => {
                let t = text.trim().to_owned();
                text.clear();
                if !t.is_empty() {
                    blocks.push(if level <= HeadingLevel::H2 {
                        Block::Heading(t)
                    } else {
                        Block::Text(t)
                    });
                }
            }
            Event::End(TagEnd::Paragraph) if item_depth == 0 => flush(&mut text, blocks),
            Event::Start(Tag::Item) => {
                flush(&mut text, blocks);
                item_depth += 1;
                text.push_str(&"  ".repeat(item_depth - 1));
                text.push_str("• ");
            }
            Event::End(TagEnd::Item) => {
                item_depth = item_depth.saturating_sub(1);
                flush(&mut text, blocks);
            }
            Event::Start(Tag::Table(_)) => {
                flush(&mut text, blocks);
                in_table = true;
            }
            Event::End(TagEnd::Table) => {
                in_table = false;
                blocks.push(Block::Table(std::mem::take(&mut rows)));
            }
            Event::End(TagEnd::TableCell) => row.push(std::mem::take(&mut text).trim().to_owned()),
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                rows.push(std::mem::take(&mut row));
            }
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                text.push_str(&t);
            }
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            _ => {}
        }
    }
    flush(&mut text, blocks);
}

/// The version as a PDF.
pub fn pdf(
    h: &Heading<'_>,
    content: &Content,
    values: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let safe = escaped(values);
    let mut blocks = Vec::new();
    for f in filled(&content.sections, &safe) {
        let mut title = Vec::new();
        markdown_blocks(&f.title, &mut title);
        let title = title
            .into_iter()
            .filter_map(|b| match b {
                Block::Text(t) | Block::Heading(t) => Some(t),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ");
        blocks.push(Block::Heading(format!("{} {title}", f.number)));
        markdown_blocks(&f.body, &mut blocks);
    }
    if blocks.len() > crate::pdf::MAX_BLOCKS {
        return Err(Error::invalid(
            "/content/sections",
            "too long to render as a PDF",
        ));
    }
    crate::pdf::render(&Statement {
        title: fill(h.title, values),
        subtitle: format!(
            "{} · version {} · SHA-256 {}",
            h.doc_type.as_str().replace('_', " "),
            h.version,
            &h.sha256[..16.min(h.sha256.len())]
        ),
        blocks,
    })
}

fn money(m: &crate::types::Money) -> String {
    format!("{} {}", m.amount, m.currency)
}

/// The live figures of a rendering from the books: the property's (`property.*`) for the
/// twelve months to `as_of`, and the investor's capital account in it (`investor.*`).
pub async fn live(
    db: &crate::db::Db,
    ledger: Option<&propledger_ledger::Ledger>,
    property: Option<crate::properties::PropertyId>,
    investor: Option<&str>,
    as_of: NaiveDate,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    out.insert("as_of".to_owned(), as_of.to_string());
    let Some(pid) = property else {
        if investor.is_some() {
            return Err(Error::invalid(
                "/property_id",
                "required with investor: the capital account is the investor's in a property",
            ));
        }
        return Ok(out);
    };
    let p = crate::properties::get(db.reader(), pid).await?;
    let a = &p.address;
    let mut address = a.line1.clone();
    if let Some(l2) = &a.line2 {
        address.push_str(", ");
        address.push_str(l2);
    }
    address.push_str(&format!(", {}", a.city));
    if let Some(r) = &a.region {
        address.push_str(&format!(", {r}"));
    }
    address.push_str(&format!(" {}", a.postal_code));
    out.insert("property.address".to_owned(), address);
    out.insert(
        "property.list_price".to_owned(),
        p.list_price.as_ref().map_or("none".to_owned(), money),
    );
    let ledger = ledger
        .ok_or_else(|| Error::Unavailable("the books are not attached to this node".to_owned()))?;
    let f = crate::analytics::property(db, ledger, pid, as_of).await?;
    out.insert(
        "property.period".to_owned(),
        format!("{} to {}", f.from, f.to),
    );
    out.insert(
        "property.operating_income".to_owned(),
        money(&f.operating_income),
    );
    out.insert(
        "property.operating_expenses".to_owned(),
        money(&f.operating_expenses),
    );
    out.insert("property.noi".to_owned(), money(&f.noi));
    out.insert(
        "property.value".to_owned(),
        f.value.as_ref().map_or("none".to_owned(), money),
    );
    out.insert(
        "property.cap_rate".to_owned(),
        f.cap_rate_percent
            .as_ref()
            .map_or("none".to_owned(), |c| format!("{c}%")),
    );
    let sum = |pick: fn(&crate::analytics::BudgetVariance) -> &crate::types::Money| {
        f.budget.iter().try_fold(Decimal::ZERO, |acc, b| {
            pick(b)
                .amount
                .parse::<Decimal>()
                .map(|d| acc + d)
                .map_err(|_| Error::Corrupt("a budget amount".to_owned()))
        })
    };
    fn usd(d: Decimal) -> String {
        let mut d = d.round_dp(2);
        d.rescale(2);
        format!("{d} USD")
    }
    out.insert("property.rehab_budget".to_owned(), usd(sum(|b| &b.budget)?));
    out.insert(
        "property.rehab_committed".to_owned(),
        usd(sum(|b| &b.committed)?),
    );
    out.insert("property.rehab_drawn".to_owned(), usd(sum(|b| &b.drawn)?));
    out.insert(
        "property.rehab_variance".to_owned(),
        usd(sum(|b| &b.variance)?),
    );
    // Each budget line of every project: its budget, the accepted bid, the draws paid.
    let mut table =
        String::from("| Line | Budget | Committed | Drawn | Variance |\n|---|---|---|---|---|\n");
    let mut lines = 0;
    let amount = |m: &crate::types::Money| {
        m.amount
            .parse::<Decimal>()
            .map_err(|_| Error::Corrupt("a rehab amount".to_owned()))
    };
    for b in &f.budget {
        let id = crate::rehab::ProjectId::stored(&b.project_id)?;
        for l in crate::rehab::view(db, id).await?.lines {
            let committed = l
                .line
                .committed
                .as_ref()
                .map_or(Ok(Decimal::ZERO), amount)?;
            let (budget, drawn) = (amount(&l.line.budget)?, amount(&l.drawn)?);
            let mut category = l.line.category.replace(['|', '\\', '\n'], " ");
            if let Some(first) = category.get(..1) {
                category = first.to_uppercase() + &category[1..];
            }
            table.push_str(&format!(
                "| {category} | {} | {} | {} | {} |\n",
                usd(budget),
                usd(committed),
                usd(drawn),
                usd(drawn - budget)
            ));
            lines += 1;
        }
    }
    if lines == 0 {
        table = "No rehab budget lines.".to_owned();
    }
    out.insert("property.budget_vs_actual".to_owned(), table);
    if let Some(who) = investor {
        // An investor's id, or their key in the books (the registry id).
        let (name, key) = match crate::investors::InvestorId::parse(who) {
            Ok(iid) => {
                let inv = crate::investors::read(db, iid).await?;
                (inv.legal_name, inv.registry_id)
            }
            Err(_) => (who.to_owned(), who.to_owned()),
        };
        out.insert("investor.name".to_owned(), name);
        let accounts = crate::books::capital::capital_accounts(
            ledger,
            db.reader(),
            &pid.to_string(),
            Some(as_of),
        )
        .await?;
        let norm = |s: &str| s.trim_start_matches("0x").to_ascii_lowercase();
        let acct = accounts
            .accounts
            .iter()
            .find(|c| norm(&c.investor) == norm(&key))
            .ok_or_else(|| {
                Error::conflict(
                    "no_capital_account",
                    "the investor has no capital account in this property",
                )
            })?;
        out.insert("investor.contributed".to_owned(), money(&acct.contributed));
        out.insert("investor.returned".to_owned(), money(&acct.returned));
        out.insert("investor.distributed".to_owned(), money(&acct.distributed));
        out.insert("investor.balance".to_owned(), money(&acct.balance));
        out.insert(
            "investor.ownership".to_owned(),
            format!("{}%", acct.ownership_percent),
        );
        out.insert(
            "investor.current_value".to_owned(),
            money(&acct.current_value),
        );
    }
    Ok(out)
}

/// The built-in templates: their names, types, titles and content.
pub fn templates() -> Vec<(&'static str, DocType, &'static str, Content)> {
    let section = |key: &str, title: &str, body: &str| Section {
        key: key.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        subsections: Vec::new(),
    };
    let var = |name: &str, kind: VarType, label: &str, required: bool| Variable {
        name: name.to_owned(),
        kind,
        label: Some(label.to_owned()),
        required,
        default: None,
    };
    vec![
        (
            "investor_statement",
            DocType::InvestorStatement,
            "Investor statement: {{investor.name}}",
            Content {
                sections: vec![
                    section(
                        "summary",
                        "Summary",
                        "Statement for **{{investor.name}}** in {{property.address}}, as of {{as_of}}.\n\n\
                         {{note}}",
                    ),
                    section(
                        "capital-account",
                        "Capital account",
                        "| Item | Amount |\n|---|---|\n\
                         | Contributed | {{investor.contributed}} |\n\
                         | Returned | {{investor.returned}} |\n\
                         | Distributions | {{investor.distributed}} |\n\
                         | Balance | {{investor.balance}} |\n\
                         | Ownership | {{investor.ownership}} |\n\
                         | Current value | {{investor.current_value}} |\n",
                    ),
                    section(
                        "property",
                        "The property",
                        "Net operating income for {{property.period}}: {{property.noi}} \
                         (income {{property.operating_income}}, expenses {{property.operating_expenses}}).",
                    ),
                ],
                variables: vec![var("note", VarType::Text, "A note to the investor", false)],
            },
        ),
        (
            "deal_memo",
            DocType::DealMemo,
            "Deal memo: {{property.address}}",
            Content {
                sections: vec![
                    section(
                        "overview",
                        "Overview",
                        "{{property.address}}, listed at {{property.list_price}}. \
                         Purchase price {{purchase_price}}, closing by {{closing_date}}.\n\n\
                         Thesis: {{thesis}}",
                    ),
                    section(
                        "operations",
                        "Operations",
                        "For {{property.period}}: income {{property.operating_income}}, expenses \
                         {{property.operating_expenses}}, NOI {{property.noi}}. \
                         Latest value {{property.value}}; cap rate {{property.cap_rate}}.",
                    ),
                    section(
                        "rehab",
                        "Rehab budget against actual",
                        "Budget {{property.rehab_budget}}, committed {{property.rehab_committed}}, \
                         drawn {{property.rehab_drawn}} (variance {{property.rehab_variance}}).\n\n\
                         {{property.budget_vs_actual}}",
                    ),
                    section("risks", "Risks", "{{risks}}"),
                ],
                variables: vec![
                    var("purchase_price", VarType::Money, "The price agreed", true),
                    var(
                        "closing_date",
                        VarType::Date,
                        "When the purchase closes",
                        true,
                    ),
                    var("thesis", VarType::Text, "Why the deal", true),
                    var("risks", VarType::List, "What could go wrong", false),
                ],
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_type() {
        assert_eq!(
            value_text(
                VarType::Money,
                &serde_json::json!({"amount": "1250", "currency": "USD"})
            ),
            Ok("1250.00 USD".to_owned())
        );
        assert_eq!(
            value_text(VarType::Number, &serde_json::json!("7.50")),
            Ok("7.5".to_owned())
        );
        assert!(value_text(VarType::Number, &serde_json::json!(7.5)).is_err());
        assert!(value_text(VarType::Date, &serde_json::json!("2026-02-30")).is_err());
        assert_eq!(
            value_text(VarType::List, &serde_json::json!(["a", "b"])),
            Ok("a, b".to_owned())
        );
    }

    #[test]
    fn placeholders_are_filled_and_values_escaped() {
        let mut v = BTreeMap::new();
        v.insert("who".to_owned(), "<b>Ann</b> *".to_owned());
        let html = html(
            &Heading {
                title: "For {{who}}",
                doc_type: DocType::Policy,
                version: 3,
                sha256: "ab",
            },
            &Content {
                sections: vec![Section {
                    key: "a".into(),
                    title: "Hi {{who}}".into(),
                    body: "Dear {{who}}, see {{missing}}. <script>x</script>".into(),
                    subsections: vec![],
                }],
                variables: vec![],
            },
            &v,
        );
        assert!(
            html.contains("Dear &lt;b&gt;Ann&lt;/b&gt; *, see [missing]."),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("<h2>1 Hi &lt;b&gt;Ann&lt;/b&gt; *</h2>"),
            "{html}"
        );
    }

    #[test]
    fn the_templates_are_valid() {
        for (_, _, _, c) in templates() {
            c.check().unwrap();
        }
    }
}
