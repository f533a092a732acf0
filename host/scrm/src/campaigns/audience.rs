//! The audience language: which contacts a campaign goes to, parsed with a PEG
//! grammar (`audience.pest`, through `pest`) into the store's
//! [`Audience`](scrm_store::campaigns::Audience), which the store evaluates in SQL.
//!
//! ```text
//! tag:vip AND NOT tag:complained
//! (field:city = "Milano" OR crm:tier != gold) AND opted_in
//! ```
//!
//! - `tag:NAME`: one of the contact's messages has the tag (from the classifier);
//! - `field:NAME`, `field:NAME = VALUE`, `field:NAME != VALUE`: a field the host
//!   keeps for the contact (CRM sync, flows, reviews), whoever wrote it last;
//! - `crm:NAME …`: the same field, only when its value came from the CRM;
//! - `opted_in`: recorded opt-in, not withdrawn;
//! - `NOT`, `AND`, `OR` (in that order of binding, any case), parentheses; values
//!   bare (`gold`, `30`) or quoted (`"San Marino"`, with `\"` and `\\`).
//!
//! A syntax error names the line, the column and what was expected there:
//! `line 1, column 13: expected tag:, field:, crm:, opted_in, NOT or '('`.
//!
//! ```
//! use scrm::campaigns::audience::parse;
//! assert!(parse("tag:vip AND NOT tag:complained").is_ok());
//! let e = parse("tag:vip AND").unwrap_err();
//! assert_eq!((e.line, e.column), (1, 12));
//! ```

use pest::Parser;
use pest::iterators::Pair;
use scrm_store::campaigns::{Audience, FieldSource, FieldTest};

#[derive(pest_derive::Parser)]
#[grammar = "campaigns/audience.pest"]
struct Grammar;

/// Why an audience expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct AudienceError {
    /// The line, from 1.
    pub line: usize,
    /// The column (in characters), from 1.
    pub column: usize,
    /// The byte offset, from 0.
    pub offset: usize,
    /// What was expected there.
    pub reason: String,
}

/// The longest expression accepted, in bytes.
pub const MAX_LEN: usize = 4_096;

/// Parses an audience expression.
///
/// # Errors
/// [`AudienceError`] with the position and what was expected there.
pub fn parse(text: &str) -> Result<Audience, AudienceError> {
    if text.len() > MAX_LEN {
        return Err(AudienceError {
            line: 1,
            column: 1,
            offset: 0,
            reason: format!(
                "the expression is {} bytes long; at most {MAX_LEN}",
                text.len()
            ),
        });
    }
    let mut pairs = Grammar::parse(Rule::audience, text).map_err(error)?;
    let audience = pairs.next().expect("the grammar's start rule");
    let or = audience
        .into_inner()
        .next()
        .expect("an audience holds one expression");
    Ok(expression(or))
}

fn error(e: pest::error::Error<Rule>) -> AudienceError {
    let (line, column) = match e.line_col {
        pest::error::LineColLocation::Pos(p) | pest::error::LineColLocation::Span(p, _) => p,
    };
    let offset = match e.location {
        pest::error::InputLocation::Pos(p) | pest::error::InputLocation::Span((p, _)) => p,
    };
    let reason = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => expected(positives),
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    AudienceError {
        line,
        column,
        offset,
        reason,
    }
}

/// "expected A, B or C" from the rules the parser tried at the error.
fn expected(rules: &[Rule]) -> String {
    // pest reports the enclosing rule when every alternative failed where it began.
    let operand = [
        Rule::tag,
        Rule::field,
        Rule::crm,
        Rule::opted_in,
        Rule::not_op,
        Rule::open,
    ];
    let rules: Vec<Rule> = rules
        .iter()
        .flat_map(|r| match r {
            Rule::unary | Rule::and_expr | Rule::or_expr => operand.to_vec(),
            other => vec![*other],
        })
        .collect();
    let mut names: Vec<&str> = Vec::new();
    // In the order people think of them, whatever order the parser tried them in.
    for (rule, name) in [
        (Rule::tag, "tag:"),
        (Rule::tag_key, "tag:"),
        (Rule::field, "field:"),
        (Rule::field_key, "field:"),
        (Rule::crm, "crm:"),
        (Rule::crm_key, "crm:"),
        (Rule::opted_in, "opted_in"),
        (Rule::not_op, "NOT"),
        (Rule::open, "'('"),
        (Rule::cmp, "'=' or '!='"),
        (Rule::ne, "'!='"),
        (Rule::eq, "'='"),
        (Rule::and_op, "AND"),
        (Rule::or_op, "OR"),
        (Rule::close, "')'"),
        (Rule::name, "a field name"),
        (Rule::quoted, "a value"),
        (Rule::bare, "a value"),
        (Rule::EOI, "the end"),
    ] {
        if rules.contains(&rule) && !names.contains(&name) {
            names.push(name);
        }
    }
    match names.as_slice() {
        [] => "unexpected input".into(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    }
}

fn expression(pair: Pair<'_, Rule>) -> Audience {
    match pair.as_rule() {
        Rule::or_expr | Rule::and_expr => {
            let both = if pair.as_rule() == Rule::or_expr {
                Audience::Or
            } else {
                Audience::And
            };
            let mut operands = pair
                .into_inner()
                .filter(|p| !matches!(p.as_rule(), Rule::or_op | Rule::and_op))
                .map(expression);
            let first = operands.next().expect("an operand");
            operands.fold(first, |l, r| both(Box::new(l), Box::new(r)))
        }
        Rule::unary => {
            let mut negations = 0;
            let mut inner = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::not_op => negations += 1,
                    Rule::open | Rule::close => {}
                    _ => inner = Some(expression(p)),
                }
            }
            let inner = inner.expect("a primary");
            (0..negations).fold(inner, |a, _| Audience::Not(Box::new(a)))
        }
        Rule::tag => {
            let value = pair
                .into_inner()
                .find(|p| p.as_rule() != Rule::tag_key)
                .map(value)
                .unwrap_or_default();
            Audience::Tag(value)
        }
        Rule::field | Rule::crm => field(pair),
        Rule::opted_in => Audience::OptedIn,
        other => unreachable!("the grammar has no {other:?} here"),
    }
}

fn field(pair: Pair<'_, Rule>) -> Audience {
    let source = if pair.as_rule() == Rule::crm {
        FieldSource::Crm
    } else {
        FieldSource::Any
    };
    let mut name = String::new();
    let mut negate = false;
    let mut test = FieldTest::Present;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::field_key | Rule::crm_key => {
                name = p
                    .into_inner()
                    .next()
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
            }
            Rule::cmp => negate = p.into_inner().next().map(|c| c.as_rule()) == Some(Rule::ne),
            _ => {
                let v = value(p);
                test = if negate {
                    FieldTest::Ne(v)
                } else {
                    FieldTest::Eq(v)
                };
            }
        }
    }
    Audience::Field { source, name, test }
}

fn value(pair: Pair<'_, Rule>) -> String {
    match pair.as_rule() {
        Rule::quoted => {
            let inner = pair.into_inner().next().map_or("", |p| p.as_str());
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        }
        _ => pair.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str) -> Audience {
        Audience::Tag(t.into())
    }

    fn not(a: Audience) -> Audience {
        Audience::Not(Box::new(a))
    }

    fn and(l: Audience, r: Audience) -> Audience {
        Audience::And(Box::new(l), Box::new(r))
    }

    fn or(l: Audience, r: Audience) -> Audience {
        Audience::Or(Box::new(l), Box::new(r))
    }

    fn field(source: FieldSource, name: &str, test: FieldTest) -> Audience {
        Audience::Field {
            source,
            name: name.into(),
            test,
        }
    }

    #[test]
    fn parses_tags_with_not_binding_tighter_than_and_and_and_than_or() {
        assert_eq!(
            parse("tag:vip AND NOT tag:complained").unwrap(),
            and(tag("vip"), not(tag("complained")))
        );
        assert_eq!(
            parse("tag:a OR tag:b and tag:c").unwrap(),
            or(tag("a"), and(tag("b"), tag("c")))
        );
        assert_eq!(
            parse("not (tag:a or tag:b)").unwrap(),
            not(or(tag("a"), tag("b")))
        );
        assert_eq!(parse("NOT NOT tag:a").unwrap(), not(not(tag("a"))));
        assert_eq!(
            parse(" tag:price-inquiry\n AND\ttag:\"order status\" ").unwrap(),
            and(tag("price-inquiry"), tag("order status"))
        );
    }

    #[test]
    fn parses_fields_crm_fields_opt_in_and_quoted_values() {
        use FieldSource::{Any, Crm};
        assert_eq!(
            parse(r#"field:city = "Milano" AND crm:tier != gold"#).unwrap(),
            and(
                field(Any, "city", FieldTest::Eq("Milano".into())),
                field(Crm, "tier", FieldTest::Ne("gold".into()))
            )
        );
        assert_eq!(
            parse("field:email AND opted_in").unwrap(),
            and(field(Any, "email", FieldTest::Present), Audience::OptedIn)
        );
        assert_eq!(
            parse(r#"field:note="say \"hi\" \\ bye""#).unwrap(),
            field(Any, "note", FieldTest::Eq(r#"say "hi" \ bye"#.into()))
        );
        assert_eq!(
            parse("field:age=30").unwrap(),
            field(Any, "age", FieldTest::Eq("30".into()))
        );
        assert_eq!(
            parse("field:città = Città").unwrap_err().column,
            11,
            "field names are ASCII"
        );
        assert_eq!(
            parse("field:city = Città").unwrap(),
            field(Any, "city", FieldTest::Eq("Città".into()))
        );
    }

    #[test]
    fn a_syntax_error_names_the_position_and_what_was_expected() {
        let e = parse("tag:vip AND").unwrap_err();
        assert_eq!((e.line, e.column, e.offset), (1, 12, 11));
        assert_eq!(
            e.reason,
            "expected tag:, field:, crm:, opted_in, NOT or '('"
        );
        let e = parse("").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        assert_eq!(
            e.reason,
            "expected tag:, field:, crm:, opted_in, NOT or '('"
        );
        let e = parse("tag:vip tag:new").unwrap_err();
        assert_eq!((e.line, e.column), (1, 9));
        assert_eq!(e.reason, "expected AND, OR or the end");
        let e = parse("(tag:vip OR tag:new").unwrap_err();
        assert_eq!(e.column, 20);
        assert_eq!(e.reason, "expected AND, OR or ')'");
        let e = parse("tag:vip AND\n  segment:gold").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(
            e.to_string(),
            "line 2, column 3: expected tag:, field:, crm:, opted_in, NOT or '('"
        );
        let e = parse("field:city = ").unwrap_err();
        assert_eq!(e.column, 14);
        assert_eq!(e.reason, "expected a value");
        let e = parse("tag:").unwrap_err();
        assert_eq!(e.reason, "expected a value");
        let e = parse(r#"field:city = "Milano"#).unwrap_err();
        assert_eq!(e.column, 14, "{e}");
    }

    #[test]
    fn a_runaway_expression_is_refused() {
        let long = "tag:a OR ".repeat(1_000) + "tag:b";
        assert!(parse(&long).unwrap_err().reason.contains("at most"));
    }
}
