//! YANG statements (RFC 7950, 6.3): `keyword [argument] (";" | "{" ... "}")`,
//! with quoted arguments joined by `+`.

use crate::Error;
use crate::lexer::{Token, TokenKind, tokenize};

/// One statement and its substatements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) keyword: String,
    pub(crate) argument: Option<String>,
    pub(crate) children: Vec<Statement>,
    pub(crate) line: usize,
}

impl Statement {
    /// The argument, required by `keyword`.
    pub(crate) fn arg(&self) -> Result<&str, Error> {
        self.argument
            .as_deref()
            .ok_or_else(|| Error::new(self.line, format!("{} needs an argument", self.keyword)))
    }

    /// The first substatement `keyword`.
    pub(crate) fn child(&self, keyword: &str) -> Option<&Statement> {
        self.children.iter().find(|child| child.keyword == keyword)
    }
}

/// Parses the one top-level statement of `text` (a `module`).
pub(crate) fn parse(text: &str) -> Result<Statement, Error> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
    };
    let statement = parser
        .statement()?
        .ok_or_else(|| Error::new(1, "no statement in the text"))?;
    if let Some(token) = parser.peek() {
        return Err(Error::new(
            token.line,
            "text after the end of the top-level statement",
        ));
    }
    Ok(statement)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at)?;
        self.at += 1;
        Some(token)
    }

    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |token| token.line)
    }

    /// The next statement; `None` at the end of the text or before a `}`.
    fn statement(&mut self) -> Result<Option<Statement>, Error> {
        let (keyword, line) = match self.peek() {
            None => return Ok(None),
            Some(Token {
                kind: TokenKind::CloseBrace,
                ..
            }) => return Ok(None),
            Some(Token {
                kind: TokenKind::Unquoted(keyword),
                line,
            }) => (keyword.clone(), *line),
            Some(token) => {
                return Err(Error::new(
                    token.line,
                    format!("expected a keyword, found {}", describe(&token.kind)),
                ));
            }
        };
        self.at += 1;
        let argument = self.argument()?;
        let mut children = vec![];
        match self.next().map(|token| (&token.kind, token.line)) {
            Some((TokenKind::Semicolon, _)) => {}
            Some((TokenKind::OpenBrace, _)) => {
                while let Some(child) = self.statement()? {
                    children.push(child);
                }
                match self.next() {
                    Some(Token {
                        kind: TokenKind::CloseBrace,
                        ..
                    }) => {}
                    _ => {
                        return Err(Error::new(
                            self.last_line(),
                            format!("missing }} of {keyword} (line {line})"),
                        ));
                    }
                }
            }
            Some((kind, line)) => {
                return Err(Error::new(
                    line,
                    format!("expected ; or {{ after {keyword}, found {}", describe(kind)),
                ));
            }
            None => {
                return Err(Error::new(
                    self.last_line(),
                    format!("missing ; or {{ after {keyword} (line {line})"),
                ));
            }
        }
        Ok(Some(Statement {
            keyword,
            argument,
            children,
            line,
        }))
    }

    /// An optional argument: one unquoted string, or quoted strings joined
    /// by `+` (RFC 7950, 6.1.3.1).
    fn argument(&mut self) -> Result<Option<String>, Error> {
        let text = match self.peek().map(|token| &token.kind) {
            Some(TokenKind::Unquoted(text)) => {
                let text = text.clone();
                self.at += 1;
                return Ok(Some(text));
            }
            Some(TokenKind::Quoted(text)) => text.clone(),
            _ => return Ok(None),
        };
        self.at += 1;
        let mut text = text;
        while let Some(TokenKind::Unquoted(plus)) = self.peek().map(|token| &token.kind) {
            if plus != "+" {
                break;
            }
            let line = self.peek().map_or(1, |token| token.line);
            self.at += 1;
            match self.next().map(|token| &token.kind) {
                Some(TokenKind::Quoted(more)) => text.push_str(more),
                _ => return Err(Error::new(line, "+ must be followed by a quoted string")),
            }
        }
        Ok(Some(text))
    }
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Unquoted(text) => format!("{text:?}"),
        TokenKind::Quoted(text) => format!("quoted string {text:?}"),
        TokenKind::OpenBrace => "{".to_owned(),
        TokenKind::CloseBrace => "}".to_owned(),
        TokenKind::Semicolon => ";".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(keyword: &str, argument: Option<&str>, line: usize) -> Statement {
        Statement {
            keyword: keyword.to_owned(),
            argument: argument.map(str::to_owned),
            children: vec![],
            line,
        }
    }

    #[test]
    fn nested_statements() {
        let module = parse("module m {\n  prefix m;\n  container c { presence; }\n}").unwrap();
        let mut container = leaf("container", Some("c"), 3);
        container.children.push(leaf("presence", None, 3));
        assert_eq!(
            module,
            Statement {
                keyword: "module".to_owned(),
                argument: Some("m".to_owned()),
                children: vec![leaf("prefix", Some("m"), 2), container],
                line: 1,
            }
        );
    }

    #[test]
    fn quoted_strings_concatenate() {
        let module =
            parse("module m { augment \"/if:interfaces\" + '/if:' +\n \"interface\"; }").unwrap();
        assert_eq!(
            module.children[0].argument.as_deref(),
            Some("/if:interfaces/if:interface")
        );
    }

    #[test]
    fn extension_keywords_parse() {
        let module = parse("module m { ext:thing \"x\" { ext:other; } }").unwrap();
        assert_eq!(module.children[0].keyword, "ext:thing");
    }

    #[test]
    fn malformed_statements_are_errors() {
        for (text, expected) in [
            ("", "line 1: no statement in the text"),
            (
                "module m { leaf a }",
                "line 1: expected ; or { after leaf, found }",
            ),
            (
                "module m {\n leaf a;\n",
                "line 2: missing } of module (line 1)",
            ),
            ("module m", "line 1: missing ; or { after module (line 1)"),
            (
                "module m { } }",
                "line 1: text after the end of the top-level statement",
            ),
            (
                "module m { \"leaf\" a; }",
                "line 1: expected a keyword, found quoted string \"leaf\"",
            ),
            (
                "module m { key \"a\" + b; }",
                "line 1: + must be followed by a quoted string",
            ),
            ("module m { ; }", "line 1: expected a keyword, found ;"),
        ] {
            assert_eq!(parse(text).unwrap_err().to_string(), expected, "{text}");
        }
    }
}
