//! PDF statements drawn in Rust (krilla): a title, headings, lines of text, rows of label and
//! figure, and the API's SVG charts placed as vector graphics, so a statement shows the same
//! picture as the web app. Set in DejaVu Sans (`api/assets/fonts`, vendored from npm's
//! `dejavu-fonts-ttf` by `scripts/vendor-assets`); text stays selectable, so a statement's
//! figures can be read back.

use std::sync::{Arc, OnceLock};

use krilla::Document;
use krilla::geom::{Point, Size, Transform};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla_svg::{SurfaceExt, SvgSettings};

use crate::error::{Error, Result};

const REGULAR: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf");

/// A4, in points.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
/// Where a row's figure starts.
const FIGURE_X: f32 = 330.0;
/// Characters on a line of body text before it wraps.
const WRAP: usize = 95;
/// Characters of the title on a line before it wraps.
const TITLE_WRAP: usize = 48;
/// Characters of a row's figure on a line before it wraps.
const FIGURE_WRAP: usize = 42;
/// Most blocks a statement holds.
pub const MAX_BLOCKS: usize = 2_000;

/// A part of a statement, top to bottom.
#[derive(Clone, Debug)]
pub enum Block {
    /// A heading.
    Heading(String),
    /// A paragraph (wrapped).
    Text(String),
    /// Rows of a label and its figure.
    Rows(Vec<(String, String)>),
    /// A chart: an SVG document, drawn across the page.
    Chart(String),
    /// A table: the first row is its header (bold); the first column is wider than the others,
    /// which share the rest of the line. Cells wrap within their column.
    Table(Vec<Vec<String>>),
}

/// A statement to render.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Its title, on the first page and in the document's metadata.
    pub title: String,
    /// The line under the title (whose, which period).
    pub subtitle: String,
    /// Its blocks.
    pub blocks: Vec<Block>,
}

fn fonts() -> &'static (Font, Font, Arc<usvg::fontdb::Database>) {
    static FONTS: OnceLock<(Font, Font, Arc<usvg::fontdb::Database>)> = OnceLock::new();
    FONTS.get_or_init(|| {
        let load = |b: &'static [u8]| {
            Font::new(b.to_vec().into(), 0).unwrap_or_else(|| panic!("the vendored font loads"))
        };
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(REGULAR.to_vec());
        db.load_font_data(BOLD.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        (load(REGULAR), load(BOLD), Arc::new(db))
    })
}

fn wrap(text: &str) -> Vec<String> {
    wrap_at(text, WRAP)
}

fn wrap_at(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// Draws pages, moving down and starting a new page when the next thing would not fit.
struct Pages {
    document: Document,
    /// What is left to draw on the current page, and where.
    ops: Vec<Vec<Op>>,
    y: f32,
}

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    Svg {
        y: f32,
        tree: Box<usvg::Tree>,
        height: f32,
    },
}

impl Pages {
    fn new() -> Pages {
        Pages {
            document: Document::new(),
            ops: vec![Vec::new()],
            y: MARGIN,
        }
    }

    /// Room for `height` more points, else a new page.
    fn room(&mut self, height: f32) {
        if self.y + height > PAGE.1 - MARGIN && self.y > MARGIN {
            self.ops.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, text: &str) {
        let line = size * 1.5;
        self.room(line);
        let y = self.y + size;
        if let Some(page) = self.ops.last_mut() {
            page.push(Op::Text {
                x,
                y,
                size,
                bold,
                text: text.to_owned(),
            });
        }
        self.y += line;
    }

    fn row(&mut self, label: &str, figure: &str) {
        let size = 10.0;
        for (i, part) in wrap_at(figure, FIGURE_WRAP).into_iter().enumerate() {
            self.room(size * 1.5);
            let y = self.y + size;
            if let Some(page) = self.ops.last_mut() {
                let label = if i == 0 { label } else { "" };
                for (x, text) in [(MARGIN, label), (FIGURE_X, part.as_str())] {
                    if !text.is_empty() {
                        page.push(Op::Text {
                            x,
                            y,
                            size,
                            bold: false,
                            text: text.to_owned(),
                        });
                    }
                }
            }
            self.y += size * 1.5;
        }
    }

    fn table(&mut self, rows: &[Vec<String>]) {
        let size = 9.0;
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let width = PAGE.0 - 2.0 * MARGIN;
        let first = if columns == 1 { width } else { width * 0.34 };
        let rest = if columns == 1 {
            0.0
        } else {
            (width - first) / (columns - 1) as f32
        };
        let x_of = |i: usize| {
            if i == 0 {
                MARGIN
            } else {
                MARGIN + first + rest * (i - 1) as f32
            }
        };
        // About 0.55 em per character of DejaVu Sans.
        let chars = |w: f32| ((w - 6.0) / (size * 0.55)).max(4.0) as usize;
        for (r, row) in rows.iter().enumerate() {
            let cells: Vec<Vec<String>> = row
                .iter()
                .enumerate()
                .map(|(i, c)| wrap_at(c, chars(if i == 0 { first } else { rest })))
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1);
            for line in 0..height {
                self.room(size * 1.5);
                let y = self.y + size;
                if let Some(page) = self.ops.last_mut() {
                    for (i, cell) in cells.iter().enumerate() {
                        if let Some(text) = cell.get(line).filter(|t| !t.is_empty()) {
                            page.push(Op::Text {
                                x: x_of(i),
                                y,
                                size,
                                bold: r == 0,
                                text: text.clone(),
                            });
                        }
                    }
                }
                self.y += size * 1.5;
            }
        }
        self.y += size * 0.5;
    }

    fn chart(&mut self, svg: &str) -> Result<()> {
        let options = usvg::Options {
            fontdb: fonts().2.clone(),
            font_family: "DejaVu Sans".to_owned(),
            ..Default::default()
        };
        let tree = usvg::Tree::from_str(svg, &options)
            .map_err(|e| Error::Internal(format!("reading a chart: {e}")))?;
        let width = PAGE.0 - 2.0 * MARGIN;
        let height = width * tree.size().height() / tree.size().width().max(1.0);
        self.room(height + 10.0);
        let y = self.y;
        if let Some(page) = self.ops.last_mut() {
            page.push(Op::Svg {
                y,
                tree: Box::new(tree),
                height,
            });
        }
        self.y += height + 10.0;
        Ok(())
    }

    fn finish(mut self, title: &str) -> Result<Vec<u8>> {
        let (regular, bold, _) = fonts();
        let settings = PageSettings::from_wh(PAGE.0, PAGE.1)
            .ok_or_else(|| Error::Internal("a page size".to_owned()))?;
        let count = self.ops.len();
        for (n, ops) in std::mem::take(&mut self.ops).into_iter().enumerate() {
            let mut page = self.document.start_page_with(settings.clone());
            let mut surface: Surface<'_> = page.surface();
            for op in ops {
                match op {
                    Op::Text {
                        x,
                        y,
                        size,
                        bold: b,
                        text,
                    } => surface.draw_text(
                        Point::from_xy(x, y),
                        if b { bold.clone() } else { regular.clone() },
                        size,
                        &text,
                        false,
                        TextDirection::Auto,
                    ),
                    Op::Svg { y, tree, height } => {
                        surface.push_transform(&Transform::from_translate(MARGIN, y));
                        let size = Size::from_wh(PAGE.0 - 2.0 * MARGIN, height)
                            .ok_or_else(|| Error::Internal("a chart's size".to_owned()))?;
                        surface.draw_svg(&tree, size, SvgSettings::default());
                        surface.pop();
                    }
                }
            }
            surface.draw_text(
                Point::from_xy(MARGIN, PAGE.1 - MARGIN / 2.0),
                regular.clone(),
                8.0,
                &format!("{title} · page {} of {count}", n + 1),
                false,
                TextDirection::Auto,
            );
            surface.finish();
            page.finish();
        }
        self.document.set_metadata(
            Metadata::new()
                .title(title.to_owned())
                .creator("PropLedger".to_owned()),
        );
        self.document
            .finish()
            .map_err(|e| Error::Internal(format!("writing a PDF: {e:?}")))
    }
}

/// Renders `s` as a PDF.
pub fn render(s: &Statement) -> Result<Vec<u8>> {
    if s.blocks.len() > MAX_BLOCKS {
        return Err(Error::Internal(format!(
            "a statement of more than {MAX_BLOCKS} blocks"
        )));
    }
    let mut p = Pages::new();
    for line in wrap_at(&s.title, TITLE_WRAP) {
        p.text(MARGIN, 18.0, true, &line);
    }
    p.text(MARGIN, 10.0, false, &s.subtitle);
    for b in &s.blocks {
        match b {
            Block::Heading(h) => {
                p.y += 6.0;
                p.text(MARGIN, 13.0, true, h);
            }
            Block::Text(t) => {
                for line in wrap(t) {
                    p.text(MARGIN, 10.0, false, &line);
                }
            }
            Block::Rows(rows) => {
                for (label, figure) in rows {
                    p.row(label, figure);
                }
            }
            Block::Chart(svg) => p.chart(svg)?,
            Block::Table(rows) => p.table(rows),
        }
    }
    p.finish(&s.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_a_pdf_with_its_pages() {
        let chart = crate::charts::figures("Year", &[("Income".into(), 6_000)]).unwrap();
        let mut blocks = vec![
            Block::Heading("Figures".into()),
            Block::Rows(vec![("NOI".into(), "4500.00 USD".into())]),
            Block::Chart(chart),
        ];
        // Enough rows to need a second page.
        blocks.push(Block::Rows(
            (0..80)
                .map(|i| (format!("line {i}"), i.to_string()))
                .collect(),
        ));
        let pdf = render(&Statement {
            title: "Statement".into(),
            subtitle: "2026".into(),
            blocks,
        })
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn long_text_wraps_at_words() {
        let lines = wrap(&"word ".repeat(50));
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= WRAP));
    }
}
