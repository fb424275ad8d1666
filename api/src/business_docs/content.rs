//! A business document's content: ordered sections (a title, a Markdown body, nested
//! subsections) and the typed variables its placeholders name. Content is checked before it is
//! stored, and hashed in one canonical form so anyone can recompute a published version's hash.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{Checks, Error, Result};

/// Most sections a document holds, nested ones included.
pub const MAX_SECTIONS: usize = 200;
/// How deep sections nest.
pub const MAX_DEPTH: usize = 4;
/// Most characters of one section's body.
pub const MAX_BODY: usize = 65_536;
/// Most variables a document declares.
pub const MAX_VARIABLES: usize = 100;

/// What kind of business document it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocType {
    /// A standard operating procedure.
    Sop,
    /// A business plan.
    BusinessPlan,
    /// A policy.
    Policy,
    /// A deal memo.
    DealMemo,
    /// A template for investor statements.
    InvestorStatement,
}

impl DocType {
    const ALL: [(DocType, &'static str); 5] = [
        (DocType::Sop, "sop"),
        (DocType::BusinessPlan, "business_plan"),
        (DocType::Policy, "policy"),
        (DocType::DealMemo, "deal_memo"),
        (DocType::InvestorStatement, "investor_statement"),
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("sop", |(_, s)| s)
    }

    /// From storage or a query parameter.
    pub fn parse(pointer: &str, s: &str) -> Result<DocType> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                Error::invalid(
                    pointer,
                    format!("expected one of {}", Self::ALL.map(|(_, s)| s).join(", ")),
                )
            })
    }
}

/// A section: a title, a Markdown body and its subsections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// A key unique in the document (`[a-z0-9_-]`, up to 64), kept across versions: diffs and
    /// merges match sections by it. Derived from the title when a new section has none.
    #[serde(default)]
    pub key: String,
    /// The heading (placeholders allowed).
    pub title: String,
    /// The text, Markdown (placeholders allowed).
    #[serde(default)]
    pub body: String,
    /// Nested sections, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub subsections: Vec<Section>,
}

/// The type of a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    /// Text.
    Text,
    /// A decimal number.
    Number,
    /// A day, `YYYY-MM-DD`.
    Date,
    /// A list of texts.
    List,
    /// An amount of money, `{"amount": "1250.00", "currency": "USD"}`.
    Money,
}

/// A variable a template's placeholders (`{{name}}`) name, filled in when it is rendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The name (`[a-z][a-z0-9_]*`, up to 64), as placeholders write it.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: VarType,
    /// What it means, for the people filling it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether rendering needs a value (from the request or `default`).
    #[serde(default)]
    pub required: bool,
    /// The value used when the request gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<serde_json::Value>,
}

/// A document's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// The sections, in order.
    #[serde(default)]
    pub sections: Vec<Section>,
    /// The variables its placeholders name.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// The live figures a template may name, filled from the books when it is rendered for a
/// property (`property.*`) or an investor (`investor.*`).
pub const LIVE: &[(&str, &str)] = &[
    ("property.address", "the property's address"),
    ("property.list_price", "its list price"),
    ("property.period", "the twelve months the figures cover"),
    (
        "property.operating_income",
        "operating income in the period",
    ),
    (
        "property.operating_expenses",
        "operating expenses in the period",
    ),
    ("property.noi", "net operating income in the period"),
    ("property.value", "the latest valuation"),
    ("property.cap_rate", "NOI over value"),
    ("property.rehab_budget", "the rehab projects' budget"),
    ("property.rehab_committed", "committed by accepted bids"),
    ("property.rehab_drawn", "drawn"),
    ("property.rehab_variance", "drawn less budget"),
    (
        "property.budget_vs_actual",
        "a table of each rehab project's budget, committed, drawn and variance",
    ),
    ("investor.name", "the investor's legal name"),
    ("investor.contributed", "capital put in"),
    ("investor.returned", "capital given back"),
    ("investor.distributed", "distributions"),
    ("investor.balance", "the capital account's balance"),
    (
        "investor.ownership",
        "the investor's part of the capital, percent",
    ),
    ("investor.current_value", "that part of the net asset value"),
    ("as_of", "the day the figures are as of"),
];

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_var_name(s: &str) -> bool {
    let mut b = s.bytes();
    s.len() <= 64
        && b.next().is_some_and(|c| c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// A key made from a title: lower case, words joined by `-`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for ch in title.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "section".to_owned()
    } else {
        out
    }
}

/// The placeholders (`{{name}}`) in a text, in order.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                out.push(after[..j].trim());
                rest = &after[j + 2..];
            }
            None => break,
        }
    }
    out
}

/// Every section, depth first, with its JSON pointer and depth.
pub fn walk(sections: &[Section]) -> Vec<(String, usize, &Section)> {
    fn go<'a>(
        list: &'a [Section],
        prefix: &str,
        depth: usize,
        out: &mut Vec<(String, usize, &'a Section)>,
    ) {
        for (i, s) in list.iter().enumerate() {
            let ptr = format!("{prefix}/{i}");
            out.push((ptr.clone(), depth, s));
            go(
                &s.subsections,
                &format!("{ptr}/subsections"),
                depth + 1,
                out,
            );
        }
    }
    let mut out = Vec::new();
    go(sections, "/content/sections", 1, &mut out);
    out
}

impl Content {
    /// Gives each section without a key one made from its title (unique in the document).
    pub fn assign_keys(&mut self) {
        let mut taken: BTreeSet<String> = walk(&self.sections)
            .iter()
            .filter(|(_, _, s)| !s.key.is_empty())
            .map(|(_, _, s)| s.key.clone())
            .collect();
        fn go(list: &mut [Section], taken: &mut BTreeSet<String>) {
            for s in list {
                if s.key.is_empty() {
                    let base = slug(&s.title);
                    let mut key = base.clone();
                    let mut n = 2;
                    while taken.contains(&key) {
                        key = format!("{base}-{n}");
                        n += 1;
                    }
                    taken.insert(key.clone());
                    s.key = key;
                }
                go(&mut s.subsections, taken);
            }
        }
        go(&mut self.sections, &mut taken);
    }

    /// Checks the content: sizes, keys, variables, and that every placeholder names a
    /// declared variable or a live figure.
    pub fn check(&self) -> Result<()> {
        let mut c = Checks::new();
        let all = walk(&self.sections);
        if all.len() > MAX_SECTIONS {
            c.push(
                "/content/sections",
                format!("at most {MAX_SECTIONS} sections"),
            );
        }
        let mut keys = BTreeSet::new();
        let declared: BTreeSet<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
        for (ptr, depth, s) in &all {
            if *depth > MAX_DEPTH {
                c.push(
                    ptr.as_str(),
                    format!("sections nest at most {MAX_DEPTH} deep"),
                );
            }
            if !is_key(&s.key) {
                c.push(
                    format!("{ptr}/key"),
                    "1 to 64 of a-z, 0-9, _ and -".to_owned(),
                );
            } else if !keys.insert(s.key.as_str()) {
                c.push(
                    format!("{ptr}/key"),
                    format!("the key {:?} is used twice", s.key),
                );
            }
            if s.title.trim().is_empty()
                || s.title.chars().count() > 200
                || s.title.chars().any(char::is_control)
            {
                c.push(
                    format!("{ptr}/title"),
                    "1 to 200 printable characters".to_owned(),
                );
            }
            if s.body.chars().count() > MAX_BODY {
                c.push(
                    format!("{ptr}/body"),
                    format!("at most {MAX_BODY} characters"),
                );
            }
            for (field, text) in [("title", &s.title), ("body", &s.body)] {
                for name in placeholders(text) {
                    if !declared.contains(name) && !LIVE.iter().any(|(n, _)| *n == name) {
                        c.push(
                            format!("{ptr}/{field}"),
                            format!(
                                "the placeholder {{{{{name}}}}} names no declared variable and no live figure"
                            ),
                        );
                    }
                }
            }
        }
        if self.variables.len() > MAX_VARIABLES {
            c.push(
                "/content/variables",
                format!("at most {MAX_VARIABLES} variables"),
            );
        }
        let mut names = BTreeSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            let ptr = format!("/content/variables/{i}");
            if !is_var_name(&v.name) {
                c.push(
                    format!("{ptr}/name"),
                    "a-z first, then a-z, 0-9 and _ (up to 64)".to_owned(),
                );
            } else if !names.insert(v.name.as_str()) {
                c.push(
                    format!("{ptr}/name"),
                    format!("{:?} is declared twice", v.name),
                );
            }
            if v.label.as_ref().is_some_and(|l| l.chars().count() > 200) {
                c.push(format!("{ptr}/label"), "at most 200 characters".to_owned());
            }
            if let Some(d) = &v.default
                && let Err(why) = super::render::value_text(v.kind, d)
            {
                c.push(format!("{ptr}/default"), why);
            }
        }
        c.finish()
    }

    /// Every section's title and body, for the search index.
    pub fn search_text(&self) -> String {
        let mut out = String::new();
        for (_, _, s) in walk(&self.sections) {
            out.push_str(&s.title);
            out.push('\n');
            out.push_str(&s.body);
            out.push('\n');
        }
        out
    }
}

/// What a version's hash covers, serialized in this field order as compact JSON (serde_json,
/// no whitespace): `{"type":…,"title":…,"content":{"sections":[…],"variables":[…]}}`, sections
/// as `{"key","title","body"[,"subsections"]}` and variables as
/// `{"name","type"[,"label"],"required"[,"default"]}`.
#[derive(Serialize)]
struct Canonical<'a> {
    #[serde(rename = "type")]
    doc_type: DocType,
    title: &'a str,
    content: &'a Content,
}

/// The bytes a version's SHA-256 is taken over.
pub fn canonical(doc_type: DocType, title: &str, content: &Content) -> Vec<u8> {
    serde_json::to_vec(&Canonical {
        doc_type,
        title,
        content,
    })
    .unwrap_or_default()
}

/// The SHA-256 of a version.
pub fn sha256(doc_type: DocType, title: &str, content: &Content) -> [u8; 32] {
    Sha256::digest(canonical(doc_type, title, content)).into()
}

/// Checks a document title.
pub fn check_title(pointer: &str, title: &str) -> Result<()> {
    if title.trim().is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control)
    {
        return Err(Error::invalid(pointer, "1 to 200 printable characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(key: &str, title: &str, body: &str) -> Section {
        Section {
            key: key.into(),
            title: title.into(),
            body: body.into(),
            subsections: vec![],
        }
    }

    #[test]
    fn keys_come_from_titles_and_stay_unique() {
        let mut c = Content {
            sections: vec![
                section("", "Scope & Purpose", ""),
                section("", "Scope & purpose", ""),
                section("scope-purpose-3", "Other", ""),
            ],
            variables: vec![],
        };
        c.assign_keys();
        let keys: Vec<_> = c.sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            ["scope-purpose", "scope-purpose-2", "scope-purpose-3"]
        );
        c.check().unwrap();
    }

    #[test]
    fn placeholders_must_be_declared_or_live() {
        let c = Content {
            sections: vec![section(
                "a",
                "For {{investor.name}}",
                "Pay {{amount}} by {{due}}",
            )],
            variables: vec![Variable {
                name: "amount".into(),
                kind: VarType::Money,
                label: None,
                required: true,
                default: None,
            }],
        };
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("{{due}}"), "{e}");
        assert!(!e.contains("investor.name"), "{e}");
        assert_eq!(placeholders("{{ a }} and {{b}} {{c"), ["a", "b"]);
    }

    #[test]
    fn the_hash_covers_every_word() {
        let c = Content {
            sections: vec![section("a", "A", "one")],
            variables: vec![],
        };
        let mut d = c.clone();
        d.sections[0].body = "one.".into();
        assert_ne!(sha256(DocType::Sop, "T", &c), sha256(DocType::Sop, "T", &d));
        assert_eq!(
            String::from_utf8(canonical(DocType::Sop, "T", &c)).unwrap(),
            r#"{"type":"sop","title":"T","content":{"sections":[{"key":"a","title":"A","body":"one"}],"variables":[]}}"#
        );
    }
}
