//! The YANG tokenizer (RFC 7950, 6.1): unquoted and quoted strings, braces,
//! semicolons; comments and whitespace are dropped.

use crate::Error;

/// One token and the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An unquoted string: a keyword, an identifier or an argument.
    Unquoted(String),
    /// A single- or double-quoted string, escapes resolved.
    Quoted(String),
    OpenBrace,
    CloseBrace,
    Semicolon,
}

/// Splits `text` into tokens.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, Error> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        column: 0,
    };
    let mut tokens = vec![];
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    /// Column of the next character, tabs counting 8 (RFC 7950, 6.1.3).
    column: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        match c {
            '\n' => {
                self.line += 1;
                self.column = 0;
            }
            '\t' => self.column += 8,
            _ => self.column += 1,
        }
        Some(c)
    }

    fn starts_comment(&self) -> bool {
        self.peek(0) == Some('/') && matches!(self.peek(1), Some('/' | '*'))
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) -> Result<(), Error> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let line = self.line;
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => return Err(Error::new(line, "unterminated /* comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, Error> {
        self.skip_blank()?;
        let line = self.line;
        let kind = match self.peek(0) {
            None => return Ok(None),
            Some('{') => {
                self.bump();
                TokenKind::OpenBrace
            }
            Some('}') => {
                self.bump();
                TokenKind::CloseBrace
            }
            Some(';') => {
                self.bump();
                TokenKind::Semicolon
            }
            Some('"') => TokenKind::Quoted(self.double_quoted()?),
            Some('\'') => TokenKind::Quoted(self.single_quoted()?),
            Some(_) => TokenKind::Unquoted(self.unquoted()?),
        };
        Ok(Some(Token { kind, line }))
    }

    /// RFC 7950, 6.1.3: an unquoted string ends at whitespace, a quote, `;`,
    /// a brace or a comment.
    fn unquoted(&mut self) -> Result<String, Error> {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '{' | '}') {
                break;
            }
            if self.starts_comment() {
                break;
            }
            if c == '*' && self.peek(1) == Some('/') {
                return Err(Error::new(self.line, "stray */ outside a comment"));
            }
            text.push(c);
            self.bump();
        }
        Ok(text)
    }

    fn single_quoted(&mut self) -> Result<String, Error> {
        let line = self.line;
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('\'') => return Ok(text),
                Some(c) => text.push(c),
                None => return Err(Error::new(line, "unterminated single-quoted string")),
            }
        }
    }

    /// RFC 7950, 6.1.3: escapes `\n \t \" \\`; whitespace before a line
    /// break is dropped, and so is the indentation of the next line up to
    /// the column after the opening quote.
    fn double_quoted(&mut self) -> Result<String, Error> {
        let line = self.line;
        let indent = self.column + 1;
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(text),
                Some('\\') => {
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('"') => '"',
                        Some('\\') => '\\',
                        other => {
                            let what = other.map_or("end of text".to_owned(), |c| format!("{c:?}"));
                            return Err(Error::new(
                                self.line,
                                format!("invalid escape \\{what} in a double-quoted string"),
                            ));
                        }
                    };
                    text.push(escaped);
                }
                Some('\n') => {
                    let kept = text.trim_end_matches([' ', '\t']).len();
                    text.truncate(kept);
                    text.push('\n');
                    while self.column < indent && matches!(self.peek(0), Some(' ' | '\t')) {
                        self.bump();
                    }
                }
                Some(c) => text.push(c),
                None => return Err(Error::new(line, "unterminated double-quoted string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    fn unquoted(text: &str) -> TokenKind {
        TokenKind::Unquoted(text.to_owned())
    }

    fn quoted(text: &str) -> TokenKind {
        TokenKind::Quoted(text.to_owned())
    }

    #[test]
    fn statements_and_blocks() {
        assert_eq!(
            kinds("leaf mtu{type uint16;}"),
            [
                unquoted("leaf"),
                unquoted("mtu"),
                TokenKind::OpenBrace,
                unquoted("type"),
                unquoted("uint16"),
                TokenKind::Semicolon,
                TokenKind::CloseBrace,
            ]
        );
    }

    #[test]
    fn comments_are_dropped_but_not_inside_strings() {
        assert_eq!(
            kinds("a /* b { */ c // d ;\n e \"/* f */\" 'g // h'"),
            [
                unquoted("a"),
                unquoted("c"),
                unquoted("e"),
                quoted("/* f */"),
                quoted("g // h"),
            ]
        );
    }

    #[test]
    fn unquoted_path_keeps_single_slashes() {
        assert_eq!(
            kinds("augment /if:interfaces/if:interface{"),
            [
                unquoted("augment"),
                unquoted("/if:interfaces/if:interface"),
                TokenKind::OpenBrace,
            ]
        );
    }

    #[test]
    fn double_quoted_escapes_and_line_folding() {
        assert_eq!(kinds("d \"a\\tb\\\"c\\\\\"")[1], quoted("a\tb\"c\\"),);
        // The second line's indentation up to the column after the quote
        // goes, the trailing blanks of the first line too.
        assert_eq!(kinds("d \"one  \n     two\"")[1], quoted("one\n  two"));
    }

    #[test]
    fn single_quoted_has_no_escapes() {
        assert_eq!(kinds(r"p '\.\.?';")[1], quoted(r"\.\.?"));
    }

    #[test]
    fn lines_are_counted() {
        let tokens = tokenize("a\n/* x\n y */ b\n\"c\nd\" e").unwrap();
        let lines: Vec<usize> = tokens.iter().map(|token| token.line).collect();
        assert_eq!(lines, [1, 3, 4, 5]);
    }

    #[test]
    fn malformed_text_is_an_error() {
        for (text, expected) in [
            ("a \"b", "line 1: unterminated double-quoted string"),
            ("a\n'b", "line 2: unterminated single-quoted string"),
            ("a /* b", "line 1: unterminated /* comment"),
            (
                "a \"\\d\"",
                "line 1: invalid escape \\'d' in a double-quoted string",
            ),
            ("a b*/", "line 1: stray */ outside a comment"),
        ] {
            assert_eq!(tokenize(text).unwrap_err().to_string(), expected, "{text}");
        }
    }
}
