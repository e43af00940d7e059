//! What `?` and completion say about a leaf's type: its range, length,
//! enumeration values, identities and default, read from the text of the
//! embedded modules (`dmvpn_yang::MODULES`).
//!
//! The compiled schema (yang2) names a node's base type but has no safe
//! accessor for ranges, enums or identities, so the modules' statements are
//! parsed here (RFC 7950, section 6: statements, quoted strings with `+`
//! concatenation, comments) and the leaf is found by its name and its
//! description, which the compiled node carries verbatim. Types of modules
//! built into libyang (`inet:`, `yang:`) are named, not expanded.

use std::sync::OnceLock;

use yang2::schema::SchemaNode;

/// One YANG statement: `keyword argument { substatements }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub keyword: String,
    pub argument: Option<String>,
    pub children: Vec<Statement>,
}

impl Statement {
    fn child(&self, keyword: &str) -> Option<&Statement> {
        self.children.iter().find(|s| s.keyword == keyword)
    }

    fn child_argument(&self, keyword: &str) -> Option<&str> {
        self.child(keyword).and_then(|s| s.argument.as_deref())
    }

    fn each<'a>(&'a self, found: &mut Vec<&'a Statement>, keep: &dyn Fn(&Statement) -> bool) {
        if keep(self) {
            found.push(self);
        }
        for child in &self.children {
            child.each(found, keep);
        }
    }
}

/// What a leaf's type allows, for `?` and completion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeInfo {
    /// `uint16, range 1..65535`, `enumeration`, `inet:ipv4-address`, ...
    pub summary: String,
    /// The values to complete: enum names, `true`/`false`, identities
    /// (`module:name`).
    pub values: Vec<String>,
    pub default: Option<String>,
    pub units: Option<String>,
}

#[derive(Debug)]
struct Source {
    module: String,
    statement: Statement,
}

fn sources() -> &'static [Source] {
    static SOURCES: OnceLock<Vec<Source>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        dmvpn_yang::MODULES
            .iter()
            .filter_map(|m| {
                // An embedded module that does not parse here only loses
                // its type details in `?`.
                let statement = parse(m.text).ok()?;
                Some(Source {
                    module: m.name.to_owned(),
                    statement,
                })
            })
            .collect()
    })
}

/// Collapses whitespace runs, so that descriptions compare whatever the
/// indentation rules of each reader.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The type of a leaf or leaf-list of the compiled schema.
pub fn type_info(node: &SchemaNode<'_>) -> TypeInfo {
    let description = node.description().map(normalized);
    let own_module = node.module().name().to_owned();
    let mut found: Vec<(&str, &Statement)> = Vec::new();
    for source in sources() {
        let mut statements = Vec::new();
        source.statement.each(&mut statements, &|s| {
            (s.keyword == "leaf" || s.keyword == "leaf-list")
                && s.argument.as_deref() == Some(node.name())
        });
        found.extend(statements.into_iter().map(|s| (source.module.as_str(), s)));
    }
    let same_description =
        |s: &Statement| s.child_argument("description").map(normalized) == description;
    let leaf = found
        .iter()
        .filter(|(_, s)| same_description(s))
        .min_by_key(|(module, _)| *module != own_module)
        .or_else(|| found.first())
        .map(|(_, s)| *s);
    let mut info = TypeInfo {
        units: node.units().map(str::to_owned),
        ..TypeInfo::default()
    };
    let Some(leaf) = leaf else {
        return info;
    };
    info.default = leaf.child_argument("default").map(str::to_owned);
    if let Some(units) = leaf.child_argument("units") {
        info.units = Some(units.to_owned());
    }
    if let Some(ty) = leaf.child("type") {
        describe(ty, &mut info, 0);
    }
    info
}

/// Typedefs nest; a loop in the modules stops here.
const MAX_TYPEDEF_DEPTH: usize = 8;

fn local_name(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

fn describe(ty: &Statement, info: &mut TypeInfo, depth: usize) {
    let name = ty.argument.clone().unwrap_or_default();
    let mut parts = vec![name.clone()];
    for restriction in ["range", "length", "fraction-digits"] {
        if let Some(value) = ty.child_argument(restriction) {
            parts.push(format!("{restriction} {value}"));
        }
    }
    let enums: Vec<String> = (ty.children.iter())
        .filter(|s| s.keyword == "enum")
        .filter_map(|s| s.argument.clone())
        .collect();
    match name.as_str() {
        "enumeration" => {
            parts = vec![format!("enumeration: {}", enums.join(" | "))];
            info.values.extend(enums);
        }
        "boolean" => info.values.extend(["true".to_owned(), "false".to_owned()]),
        "identityref" => {
            if let Some(base) = ty.child_argument("base") {
                parts.push(format!("base {base}"));
                info.values.extend(identities(local_name(base)));
            }
        }
        "leafref" => {
            if let Some(path) = ty.child_argument("path") {
                parts.push(format!("to {}", normalized(path)));
            }
        }
        "union" => {
            let mut members = Vec::new();
            for member in ty.children.iter().filter(|s| s.keyword == "type") {
                let mut member_info = TypeInfo::default();
                describe(member, &mut member_info, depth + 1);
                members.push(member_info.summary);
                info.values.extend(member_info.values);
            }
            parts.push(format!("one of: {}", members.join(" | ")));
        }
        _ => {
            if let Some(typedef) = typedef(local_name(&name))
                && depth < MAX_TYPEDEF_DEPTH
            {
                let mut inner = TypeInfo::default();
                if let Some(inner_type) = typedef.child("type") {
                    describe(inner_type, &mut inner, depth + 1);
                }
                parts = vec![format!("{name} ({})", inner.summary)];
                info.values.extend(inner.values);
                if info.default.is_none() {
                    info.default = typedef.child_argument("default").map(str::to_owned);
                }
                if info.units.is_none() {
                    info.units = typedef.child_argument("units").map(str::to_owned);
                }
            }
        }
    }
    info.summary = parts.join(", ");
}

fn typedef(name: &str) -> Option<&'static Statement> {
    sources().iter().find_map(|source| {
        let mut found = Vec::new();
        source.statement.each(&mut found, &|s| {
            s.keyword == "typedef" && s.argument.as_deref() == Some(name)
        });
        found.first().copied()
    })
}

/// Every identity derived from `base` (directly or not), as `module:name`.
fn identities(base: &str) -> Vec<String> {
    let mut all: Vec<(String, String, Vec<String>)> = Vec::new();
    for source in sources() {
        for statement in &source.statement.children {
            if statement.keyword != "identity" {
                continue;
            }
            let Some(name) = &statement.argument else {
                continue;
            };
            let bases = (statement.children.iter())
                .filter(|s| s.keyword == "base")
                .filter_map(|s| s.argument.as_deref().map(|b| local_name(b).to_owned()))
                .collect();
            all.push((source.module.clone(), name.clone(), bases));
        }
    }
    let mut wanted = vec![base.to_owned()];
    let mut found = Vec::new();
    while let Some(base) = wanted.pop() {
        for (module, name, bases) in &all {
            let qualified = format!("{module}:{name}");
            if bases.contains(&base) && !found.contains(&qualified) {
                found.push(qualified);
                wanted.push(name.clone());
            }
        }
    }
    found.sort();
    found
}

/// Parses a module's text into its top statement.
pub fn parse(text: &str) -> Result<Statement, String> {
    let tokens = tokens(text)?;
    let mut position = 0;
    let statement = statement(&tokens, &mut position)?;
    Ok(statement)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
    End,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    // A quoted string followed by `+` continues with the next one.
    let mut concatenate = false;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '{' => tokens.push(Token::Open),
            '}' => tokens.push(Token::Close),
            ';' => tokens.push(Token::End),
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '+' if matches!(tokens.last(), Some(Token::Word(_))) => concatenate = true,
            '"' | '\'' => {
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('\\') if c == '"' => match chars.next() {
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some(other) => word.push(other),
                            None => return Err("unterminated string".to_owned()),
                        },
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => return Err("unterminated string".to_owned()),
                    }
                }
                match (concatenate, tokens.last_mut()) {
                    (true, Some(Token::Word(previous))) => previous.push_str(&word),
                    _ => tokens.push(Token::Word(word)),
                }
                concatenate = false;
            }
            first => {
                let mut word = String::from(first);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == ';' || c == '{' || c == '}' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

fn statement(tokens: &[Token], position: &mut usize) -> Result<Statement, String> {
    let Some(Token::Word(keyword)) = tokens.get(*position) else {
        return Err(format!("a keyword expected at token {position}"));
    };
    *position += 1;
    let argument = match tokens.get(*position) {
        Some(Token::Word(argument)) => {
            *position += 1;
            Some(argument.clone())
        }
        _ => None,
    };
    let mut children = Vec::new();
    match tokens.get(*position) {
        Some(Token::End) => *position += 1,
        Some(Token::Open) => {
            *position += 1;
            loop {
                match tokens.get(*position) {
                    Some(Token::Close) => {
                        *position += 1;
                        break;
                    }
                    Some(_) => children.push(statement(tokens, position)?),
                    None => return Err(format!("{keyword}: unterminated block")),
                }
            }
        }
        _ => return Err(format!("{keyword}: ';' or '{{' expected")),
    }
    Ok(Statement {
        keyword: keyword.clone(),
        argument,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse_with_comments_and_concatenation() {
        let module = parse(
            "module m { // c\n leaf a { type uint8 { range \"1..\" + '9'; } }\n /* x */ leaf-list b; }",
        )
        .expect("parses");
        assert_eq!(module.keyword, "module");
        assert_eq!(module.children.len(), 2);
        let ty = module.children[0].child("type").expect("type");
        assert_eq!(ty.child_argument("range"), Some("1..9"));
        assert!(parse("module m { leaf a; ").is_err());
    }

    #[test]
    fn every_embedded_module_parses() {
        for module in dmvpn_yang::MODULES {
            let parsed = parse(module.text).expect(module.name);
            assert_eq!(parsed.argument.as_deref(), Some(module.name));
        }
    }

    fn leaf(path: &str) -> yang2::schema::SchemaNode<'static> {
        dmvpn_yang::context()
            .find_path(path)
            .expect("a schema node")
    }

    #[test]
    fn type_info_names_ranges_enums_units_and_defaults() {
        let nhrp = "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp";
        let holding = type_info(&leaf(&format!("{nhrp}/holding-time")));
        assert_eq!(holding.summary, "uint16, range 1..65535");
        assert_eq!(holding.units.as_deref(), Some("seconds"));
        assert_eq!(holding.default.as_deref(), Some("7200"));
        let redirect = type_info(&leaf(&format!("{nhrp}/redirect")));
        assert_eq!(redirect.values, ["true", "false"]);
        let plane = type_info(&leaf(
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/data-plane",
        ));
        assert_eq!(
            plane.summary,
            "data-plane (enumeration: userspace | ebpf | kernel)"
        );
        assert_eq!(plane.values, ["userspace", "ebpf", "kernel"]);
        let address = type_info(&leaf(&format!("{nhrp}/nhs/protocol-address")));
        assert_eq!(address.summary, "inet:ip-address");
        assert!(address.values.is_empty());
    }

    #[test]
    fn identities_are_found_through_their_bases() {
        let types = identities("interface-type");
        assert!(types.contains(&"dmvpn-tunnel:mgre".to_owned()), "{types:?}");
        assert!(types.contains(&"iana-if-type:ethernetCsmacd".to_owned()));
    }
}
