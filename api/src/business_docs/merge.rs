//! Diffs between two versions and the three-way merge of an edit based on a stale version.
//!
//! Sections are matched by key. A diff lists every section that was added, removed, moved or
//! changed, with a line-level diff of a changed body. A merge takes the version the edit was
//! based on (`base`), the current version (`ours`) and the edit (`theirs`): a section only one
//! side changed takes that side's change; a section both changed the same way is fine; a
//! section both changed differently (or one changed and the other removed) is a conflict, and
//! the merge names every such section instead of guessing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use similar::{ChangeTag, TextDiff};
use utoipa::ToSchema;

use super::content::{Content, Section, Variable};

/// How a section differs between two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionChange {
    /// Only in the newer version.
    Added,
    /// Only in the older version.
    Removed,
    /// In both, with another title, body or place.
    Changed,
}

/// One line of a body's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` the same.
    pub op: String,
    /// The line, without its end.
    pub text: String,
}

/// One section's difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SectionDiff {
    /// The section's key.
    pub key: String,
    /// What happened to it.
    pub change: SectionChange,
    /// Its title in the older version (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_title: Option<String>,
    /// Its title in the newer version (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_title: Option<String>,
    /// Whether it moved (another parent or another place among its siblings).
    pub moved: bool,
    /// The body's lines, changed ones with three lines of context (empty when the body is the
    /// same).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<DiffLine>,
}

/// The difference between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Diff {
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
    /// Whether the document's title changed.
    pub title_changed: bool,
    /// Variables added, removed or changed, by name.
    pub variables_changed: Vec<String>,
    /// Each section that differs, in the newer version's order (removed ones last).
    pub sections: Vec<SectionDiff>,
}

/// A section's place: its parent's key (`""` at the top) and the keys before it.
#[derive(PartialEq, Eq)]
struct Place {
    parent: String,
    index: usize,
}

/// Every section by key, with its place.
fn index(sections: &[Section]) -> BTreeMap<String, (&Section, Place)> {
    fn go<'a>(list: &'a [Section], parent: &str, out: &mut BTreeMap<String, (&'a Section, Place)>) {
        for (i, s) in list.iter().enumerate() {
            out.insert(
                s.key.clone(),
                (
                    s,
                    Place {
                        parent: parent.to_owned(),
                        index: i,
                    },
                ),
            );
            go(&s.subsections, &s.key, out);
        }
    }
    let mut out = BTreeMap::new();
    go(sections, "", &mut out);
    out
}

/// Keys in document order.
fn order(sections: &[Section]) -> Vec<String> {
    super::content::walk(sections)
        .into_iter()
        .map(|(_, _, s)| s.key.clone())
        .collect()
}

/// The body's line diff, with context.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    if old == new {
        return Vec::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    ChangeTag::Delete => "-",
                    ChangeTag::Insert => "+",
                    ChangeTag::Equal => " ",
                };
                out.push(DiffLine {
                    op: sign.to_owned(),
                    text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
                });
            }
        }
    }
    out
}

fn variables_changed(old: &[Variable], new: &[Variable]) -> Vec<String> {
    let o: BTreeMap<&str, &Variable> = old.iter().map(|v| (v.name.as_str(), v)).collect();
    let n: BTreeMap<&str, &Variable> = new.iter().map(|v| (v.name.as_str(), v)).collect();
    let names: BTreeSet<&str> = o.keys().chain(n.keys()).copied().collect();
    names
        .into_iter()
        .filter(|k| o.get(k) != n.get(k))
        .map(str::to_owned)
        .collect()
}

/// The difference from `old` (version `from`) to `new` (version `to`).
pub fn diff(
    (from, old_title, old): (i64, &str, &Content),
    (to, new_title, new): (i64, &str, &Content),
) -> Diff {
    let o = index(&old.sections);
    let n = index(&new.sections);
    let mut sections = Vec::new();
    for key in order(&new.sections) {
        let (ns, np) = &n[&key];
        match o.get(&key) {
            None => sections.push(SectionDiff {
                key,
                change: SectionChange::Added,
                old_title: None,
                new_title: Some(ns.title.clone()),
                moved: false,
                lines: line_diff("", &ns.body),
            }),
            Some((os, op)) => {
                let moved = op != np;
                if os.title != ns.title || os.body != ns.body || moved {
                    sections.push(SectionDiff {
                        key,
                        change: SectionChange::Changed,
                        old_title: Some(os.title.clone()),
                        new_title: Some(ns.title.clone()),
                        moved,
                        lines: line_diff(&os.body, &ns.body),
                    });
                }
            }
        }
    }
    for key in order(&old.sections) {
        if !n.contains_key(&key) {
            let os = o[&key].0;
            sections.push(SectionDiff {
                key,
                change: SectionChange::Removed,
                old_title: Some(os.title.clone()),
                new_title: None,
                moved: false,
                lines: line_diff(&os.body, ""),
            });
        }
    }
    Diff {
        from,
        to,
        title_changed: old_title != new_title,
        variables_changed: variables_changed(&old.variables, &new.variables),
        sections,
    }
}

/// A section's own part (without its subsections) and its place: what one side may change.
#[derive(Clone, PartialEq, Eq)]
struct Own {
    title: String,
    body: String,
    parent: String,
}

fn owns(sections: &[Section]) -> (BTreeMap<String, Own>, BTreeMap<String, Vec<String>>) {
    let mut own = BTreeMap::new();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    fn go(
        list: &[Section],
        parent: &str,
        own: &mut BTreeMap<String, Own>,
        children: &mut BTreeMap<String, Vec<String>>,
    ) {
        for s in list {
            own.insert(
                s.key.clone(),
                Own {
                    title: s.title.clone(),
                    body: s.body.clone(),
                    parent: parent.to_owned(),
                },
            );
            children
                .entry(parent.to_owned())
                .or_default()
                .push(s.key.clone());
            go(&s.subsections, &s.key, own, children);
        }
    }
    go(sections, "", &mut own, &mut children);
    (own, children)
}

/// Three-way choice: the side that changed, or a conflict.
fn pick<T: PartialEq + Clone>(base: &T, ours: &T, theirs: &T) -> Option<T> {
    if ours == theirs || theirs == base {
        Some(ours.clone())
    } else if ours == base {
        Some(theirs.clone())
    } else {
        None
    }
}

/// The merge of `theirs` (an edit based on `base`) into `ours` (the current version), or the
/// keys of the sections both changed differently (`title` and `variables` name the document's
/// title and its variables).
pub fn merge(
    (base_title, base): (&str, &Content),
    (ours_title, ours): (&str, &Content),
    (theirs_title, theirs): (&str, &Content),
) -> Result<(String, Content), Vec<String>> {
    let mut conflicts = Vec::new();
    let title = pick(&base_title, &ours_title, &theirs_title).unwrap_or_else(|| {
        conflicts.push("title".to_owned());
        ours_title
    });
    let variables = match pick(&base.variables, &ours.variables, &theirs.variables) {
        Some(v) => v,
        None => {
            // Variables merge by name, like sections.
            let b: BTreeMap<&str, &Variable> = base
                .variables
                .iter()
                .map(|v| (v.name.as_str(), v))
                .collect();
            let o: BTreeMap<&str, &Variable> = ours
                .variables
                .iter()
                .map(|v| (v.name.as_str(), v))
                .collect();
            let t: BTreeMap<&str, &Variable> = theirs
                .variables
                .iter()
                .map(|v| (v.name.as_str(), v))
                .collect();
            let mut names: Vec<&str> = ours.variables.iter().map(|v| v.name.as_str()).collect();
            names.extend(
                theirs
                    .variables
                    .iter()
                    .map(|v| v.name.as_str())
                    .filter(|n| !o.contains_key(n)),
            );
            let mut out = Vec::new();
            for name in names {
                let (bv, ov, tv) = (
                    b.get(name).copied().cloned(),
                    o.get(name).copied().cloned(),
                    t.get(name).copied().cloned(),
                );
                match pick(&bv, &ov, &tv) {
                    Some(Some(v)) => out.push(v),
                    Some(None) => {}
                    None => conflicts.push(format!("variable:{name}")),
                }
            }
            out
        }
    };
    let (b_own, b_children) = owns(&base.sections);
    let (o_own, o_children) = owns(&ours.sections);
    let (t_own, t_children) = owns(&theirs.sections);
    let mut keys: Vec<String> = order(&ours.sections);
    keys.extend(
        order(&theirs.sections)
            .into_iter()
            .filter(|k| !o_own.contains_key(k)),
    );
    // Each section's merged own part (None: removed).
    let mut merged: BTreeMap<String, Own> = BTreeMap::new();
    for key in keys
        .iter()
        .chain(b_own.keys().filter(|k| !keys.contains(k)))
    {
        let (b, o, t) = (
            b_own.get(key).cloned(),
            o_own.get(key).cloned(),
            t_own.get(key).cloned(),
        );
        match pick(&b, &o, &t) {
            Some(Some(own)) => {
                merged.insert(key.clone(), own);
            }
            Some(None) => {}
            None => match (&b, &o, &t) {
                // Both kept it and changed different parts of it.
                (Some(b), Some(o), Some(t)) => {
                    match (
                        pick(&b.title, &o.title, &t.title),
                        pick(&b.body, &o.body, &t.body),
                        pick(&b.parent, &o.parent, &t.parent),
                    ) {
                        (Some(title), Some(body), Some(parent)) => {
                            merged.insert(
                                key.clone(),
                                Own {
                                    title,
                                    body,
                                    parent,
                                },
                            );
                        }
                        _ => conflicts.push(key.clone()),
                    }
                }
                _ => conflicts.push(key.clone()),
            },
        }
    }
    if !conflicts.is_empty() {
        conflicts.dedup();
        return Err(conflicts);
    }
    // Each parent's children in order: the side that reordered them wins (ours when both did),
    // and sections only the other side has go after the sibling they follow there.
    let parents: BTreeSet<String> = merged.values().map(|m| m.parent.clone()).collect();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for parent in parents {
        let list = |m: &BTreeMap<String, Vec<String>>| m.get(&parent).cloned().unwrap_or_default();
        let (b, o, t) = (list(&b_children), list(&o_children), list(&t_children));
        let (first, second) = if o == b { (t, o) } else { (o, t) };
        let mut seq: Vec<String> = first
            .into_iter()
            .filter(|k| merged.get(k).is_some_and(|m| m.parent == parent))
            .collect();
        for (i, k) in second.iter().enumerate() {
            if seq.contains(k) || merged.get(k).is_none_or(|m| m.parent != parent) {
                continue;
            }
            let at = second[..i]
                .iter()
                .rev()
                .find_map(|prev| seq.iter().position(|s| s == prev))
                .map_or(0, |p| p + 1);
            seq.insert(at, k.clone());
        }
        // Sections moved here whose new parent list does not name them yet.
        for (k, m) in &merged {
            if m.parent == parent && !seq.contains(k) {
                seq.push(k.clone());
            }
        }
        children.insert(parent, seq);
    }
    fn build(
        parent: &str,
        merged: &BTreeMap<String, Own>,
        children: &BTreeMap<String, Vec<String>>,
        depth: usize,
    ) -> Vec<Section> {
        if depth > super::content::MAX_DEPTH + 1 {
            return Vec::new();
        }
        children
            .get(parent)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| {
                        merged.get(k).map(|m| Section {
                            key: k.clone(),
                            title: m.title.clone(),
                            body: m.body.clone(),
                            subsections: build(k, merged, children, depth + 1),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    let sections = build("", &merged, &children, 1);
    // A section whose parent was removed by the other side would be lost: that is a conflict.
    let placed = order(&sections).len();
    if placed != merged.len() {
        let placed: BTreeSet<String> = order(&sections).into_iter().collect();
        return Err(merged
            .keys()
            .filter(|k| !placed.contains(*k))
            .cloned()
            .collect());
    }
    Ok((
        title.to_owned(),
        Content {
            sections,
            variables,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(key: &str, body: &str) -> Section {
        Section {
            key: key.into(),
            title: key.to_uppercase(),
            body: body.into(),
            subsections: vec![],
        }
    }

    fn doc(sections: Vec<Section>) -> Content {
        Content {
            sections,
            variables: vec![],
        }
    }

    #[test]
    fn edits_to_different_sections_merge() {
        let base = doc(vec![s("a", "one"), s("b", "two"), s("c", "three")]);
        let mut ours = base.clone();
        ours.sections[0].body = "one, revised".into();
        let mut theirs = base.clone();
        theirs.sections[2].body = "three, revised".into();
        theirs.sections.push(s("d", "four"));
        let (_, m) = merge(("T", &base), ("T", &ours), ("T", &theirs)).unwrap();
        let bodies: Vec<_> = m.sections.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(bodies, ["one, revised", "two", "three, revised", "four"]);
    }

    #[test]
    fn edits_to_the_same_section_conflict() {
        let base = doc(vec![s("a", "one"), s("b", "two")]);
        let mut ours = base.clone();
        ours.sections[1].body = "two (ours)".into();
        let mut theirs = base.clone();
        theirs.sections[1].body = "two (theirs)".into();
        theirs.sections[0].body = "one (theirs)".into();
        assert_eq!(
            merge(("T", &base), ("T", &ours), ("T", &theirs)).unwrap_err(),
            ["b"]
        );
        // One side removes what the other changed.
        let mut removed = base.clone();
        removed.sections.remove(1);
        assert_eq!(
            merge(("T", &base), ("T", &ours), ("T", &removed)).unwrap_err(),
            ["b"]
        );
        // The same change on both sides is no conflict.
        assert!(merge(("T", &base), ("T", &ours), ("T", &ours)).is_ok());
    }

    #[test]
    fn a_title_and_a_body_of_one_section_merge() {
        let base = doc(vec![s("a", "one")]);
        let mut ours = base.clone();
        ours.sections[0].title = "First".into();
        let mut theirs = base.clone();
        theirs.sections[0].body = "uno".into();
        let (_, m) = merge(("T", &base), ("T", &ours), ("T", &theirs)).unwrap();
        assert_eq!(
            (m.sections[0].title.as_str(), m.sections[0].body.as_str()),
            ("First", "uno")
        );
    }

    #[test]
    fn subsections_merge_in_place() {
        let mut a = s("a", "");
        a.subsections = vec![s("a1", "x"), s("a2", "y")];
        let base = doc(vec![a, s("b", "")]);
        let mut ours = base.clone();
        ours.sections[0].subsections[1].body = "y2".into();
        let mut theirs = base.clone();
        theirs.sections[0].subsections.insert(1, s("a15", "new"));
        let (_, m) = merge(("T", &base), ("T", &ours), ("T", &theirs)).unwrap();
        let keys: Vec<_> = m.sections[0]
            .subsections
            .iter()
            .map(|s| (s.key.as_str(), s.body.as_str()))
            .collect();
        assert_eq!(keys, [("a1", "x"), ("a15", "new"), ("a2", "y2")]);
    }

    #[test]
    fn a_diff_names_each_change_with_its_lines() {
        let old = doc(vec![s("a", "l1\nl2\nl3\n"), s("b", "gone")]);
        let new = doc(vec![s("c", "fresh"), s("a", "l1\nL2\nl3\n")]);
        let d = diff((1, "T", &old), (2, "T2", &new));
        assert!(d.title_changed);
        let summary: Vec<_> = d
            .sections
            .iter()
            .map(|s| (s.key.as_str(), s.change, s.moved))
            .collect();
        assert_eq!(
            summary,
            [
                ("c", SectionChange::Added, false),
                ("a", SectionChange::Changed, true),
                ("b", SectionChange::Removed, false)
            ]
        );
        let lines: Vec<_> = d.sections[1]
            .lines
            .iter()
            .map(|l| format!("{}{}", l.op, l.text))
            .collect();
        assert_eq!(lines, [" l1", "-l2", "+L2", " l3"]);
    }
}
