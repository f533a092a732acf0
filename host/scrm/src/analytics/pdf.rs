//! A plain PDF of headings, lines of text and tables (A4, Helvetica), written with
//! `pdf-writer`: what the weekly reports print as. The base-14 fonts need nothing
//! embedded; text is encoded in WinAnsi (Latin-1 plus €, dashes and quotes), and a
//! character outside it prints as `?`.

use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str, TextStr};

/// A piece of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading.
    Heading(String),
    /// A line of text (cut at the page's width).
    Text(String),
    /// Rows of cells; the first row is the header. The first column is wider.
    Table(Vec<Vec<String>>),
}

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const SIZE: f32 = 9.5;
const LINE: f32 = 14.0;

/// `text` in WinAnsiEncoding.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{A0}'..='\u{FF}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '\u{202F}' => b' ',
            _ => b'?',
        })
        .collect()
}

/// `text` cut to about `width` points at `size` (Helvetica's mean advance ≈ 0.52 em).
fn fit(text: &str, width: f32, size: f32) -> String {
    let max = (width / (size * 0.52)).floor().max(1.0) as usize;
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Lays blocks out on pages: one content stream per page.
struct Pages {
    done: Vec<Vec<u8>>,
    page: Content,
    y: f32,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            done: Vec::new(),
            page: Content::new(),
            y: HEIGHT - MARGIN,
        }
    }

    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            let full = std::mem::replace(&mut self.page, Content::new());
            self.done.push(full.finish().to_vec());
            self.y = HEIGHT - MARGIN;
        }
    }

    fn text(&mut self, x: f32, font: &[u8], size: f32, text: &str) {
        self.page.begin_text();
        self.page.set_font(Name(font), size);
        self.page.next_line(x, self.y);
        self.page.show(Str(&win_ansi(text)));
        self.page.end_text();
    }

    fn block(&mut self, b: &Block) {
        let usable = WIDTH - 2.0 * MARGIN;
        match b {
            Block::Heading(h) => {
                self.room(LINE * 3.0);
                self.y -= LINE * 0.8;
                self.text(MARGIN, b"F2", 14.0, &fit(h, usable, 14.0));
                self.y -= LINE * 1.4;
            }
            Block::Text(t) => {
                self.room(LINE);
                self.text(MARGIN, b"F1", SIZE, &fit(t, usable, SIZE));
                self.y -= LINE;
            }
            Block::Table(rows) => self.table(rows, usable),
        }
    }

    fn table(&mut self, rows: &[Vec<String>], usable: f32) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let first = if cols == 1 { usable } else { usable * 0.5 };
        let rest = if cols == 1 {
            0.0
        } else {
            (usable - first) / (cols - 1) as f32
        };
        for (i, row) in rows.iter().enumerate() {
            self.room(LINE);
            let font: &[u8] = if i == 0 { b"F2" } else { b"F1" };
            let mut x = MARGIN;
            for (c, cell) in row.iter().enumerate() {
                let w = if c == 0 { first } else { rest };
                self.text(x, font, SIZE, &fit(cell, w - 6.0, SIZE));
                x += w;
            }
            self.y -= LINE;
        }
        self.y -= LINE * 0.6;
    }
}

/// The document `title` made of `blocks`, as PDF bytes.
pub fn document(title: &str, blocks: &[Block]) -> Vec<u8> {
    let mut pages = Pages::new();
    for b in blocks {
        pages.block(b);
    }
    let last = pages.page.finish().to_vec();
    pages.done.push(last);

    let mut pdf = Pdf::new();
    let (catalog, tree, regular, bold, info) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let ids: Vec<(Ref, Ref)> = (0..pages.done.len() as i32)
        .map(|i| (Ref::new(6 + 2 * i), Ref::new(7 + 2 * i)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(p, _)| *p))
        .count(ids.len() as i32);
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("scrm"));
    for (font, name) in [
        (regular, b"Helvetica".as_slice()),
        (bold, b"Helvetica-Bold"),
    ] {
        pdf.type1_font(font)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for ((page_id, content_id), stream) in ids.iter().zip(&pages.done) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
        page.parent(tree);
        page.contents(*content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        drop(page);
        pdf.stream(*content_id, stream);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_pages_and_text_in_win_ansi() {
        let mut blocks = vec![Block::Heading("Sales funnel — 2026-W48".into())];
        let rows: Vec<Vec<String>> = (0..120)
            .map(|i| vec![format!("row {i}"), "12.0 %".into(), "€ 4,90".into()])
            .collect();
        blocks.push(Block::Table(rows));
        blocks.push(Block::Text("fine 👍".into()));
        let pdf = document("Weekly reports", &blocks);
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains("/Count 3"),
            "120 rows take three pages: {text}"
        );
        assert!(text.contains("(row 119)"), "{text}");
        assert!(text.contains("/WinAnsiEncoding") && text.contains("/Helvetica-Bold"));
        assert_eq!(
            win_ansi("€ – é 👍"),
            [0x80, b' ', 0x96, b' ', 0xE9, b' ', b'?']
        );
        assert_eq!(
            fit("abcdefghij", 20.0, 10.0),
            "ab…",
            "three characters fit: two and the ellipsis"
        );
    }
}
