//! Labelled examples from CSV: a header naming a `text` and an `intent` column (others
//! are ignored), one example per record.

use crate::ClassifierError;
use std::path::Path;

/// One labelled example: `(text, intent)`.
pub type Example = (String, String);

/// Reads the labelled examples of the CSV file at `path`.
///
/// # Errors
/// When the file cannot be read, lacks a `text` or `intent` column, has no rows, or a
/// record is malformed or has an empty field (the error names its line).
pub fn load_csv(path: &Path) -> Result<Vec<Example>, ClassifierError> {
    let file = std::fs::File::open(path).map_err(|source| ClassifierError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(file, &path.display().to_string())
}

/// Parses labelled examples from CSV text; `name` names the source in errors.
///
/// # Errors
/// As [`load_csv`].
pub fn parse_csv(input: impl std::io::Read, name: &str) -> Result<Vec<Example>, ClassifierError> {
    let bad = |line: u64, message: String| ClassifierError::Csv {
        source_name: name.to_string(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| bad(line_of(&e), e.to_string()))?
        .clone();
    let column = |wanted: &str| {
        headers
            .iter()
            .position(|h| h.trim() == wanted)
            .ok_or_else(|| ClassifierError::MissingColumn {
                source_name: name.to_string(),
                column: wanted.to_string(),
            })
    };
    let (text_at, intent_at) = (column("text")?, column("intent")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(line_of(&e), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let text = record.get(text_at).unwrap_or_default().trim();
        let intent = record.get(intent_at).unwrap_or_default().trim();
        if text.is_empty() {
            return Err(bad(line, "empty `text`".into()));
        }
        if intent.is_empty() {
            return Err(bad(line, "empty `intent`".into()));
        }
        out.push((text.to_string(), intent.to_string()));
    }
    if out.is_empty() {
        return Err(ClassifierError::NoRows {
            source_name: name.to_string(),
        });
    }
    Ok(out)
}

fn line_of(e: &csv::Error) -> u64 {
    e.position().map_or(0, csv::Position::line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Example>, ClassifierError> {
        parse_csv(text.as_bytes(), "t.csv")
    }

    #[test]
    fn reads_text_and_intent_whatever_the_other_columns() {
        let rows =
            parse("id,intent,text\n1,track,\"where is it, please\"\n2,cancel,stop\n").unwrap();
        assert_eq!(
            rows,
            [
                ("where is it, please".to_string(), "track".to_string()),
                ("stop".to_string(), "cancel".to_string())
            ]
        );
    }

    #[test]
    fn names_the_line_of_a_bad_record() {
        let err = parse("text,intent\nok,a\nno intent,\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv: line 3: empty `intent`");
        let err = parse("text,intent\nok,a\none,two,three\n").unwrap_err();
        assert!(err.to_string().starts_with("t.csv: line 3: "), "{err}");
    }

    #[test]
    fn refuses_a_file_without_the_columns_or_rows() {
        let err = parse("sentence,label\nhi,greet\n").unwrap_err();
        assert!(err.to_string().contains("missing column \"text\""), "{err}");
        let err = parse("text,intent\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv: no data rows");
    }
}
