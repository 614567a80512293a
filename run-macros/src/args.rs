//! Attribute arguments: `key`, `key = value` and `key(...)`, split at top-level commas, checked
//! against the options an attribute knows.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

use crate::ctxt::Ctxt;

/// One option as written.
pub struct Arg {
    /// The option's name: an identifier, or a string literal (tag keys).
    pub key: String,
    /// The name's token.
    pub key_tokens: TokenStream,
    /// The name was a string literal.
    pub quoted_key: bool,
    /// What follows the name.
    pub value: Value,
}

/// What follows an option's name.
pub enum Value {
    /// Nothing: `key`.
    Flag,
    /// `key = tokens`.
    Eq(TokenStream),
    /// `key(...)`.
    List(Group),
}

impl Arg {
    /// The option, for an error that covers all of it.
    pub fn tokens(&self) -> TokenStream {
        let mut out = self.key_tokens.clone();
        match &self.value {
            Value::Flag => {}
            Value::Eq(v) => {
                out.extend(quote::quote!(=));
                out.extend(v.clone());
            }
            Value::List(g) => g.to_tokens(&mut out),
        }
        out
    }
}

/// Splits `tokens` into options; malformed ones are reported and left out.
pub fn parse(tokens: TokenStream, cx: &mut Ctxt) -> Vec<Arg> {
    let mut args = Vec::new();
    let mut chunk: Vec<TokenTree> = Vec::new();
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if let Some(arg) = parse_one(std::mem::take(&mut chunk), p.span(), cx) {
                    args.push(arg);
                }
            }
            _ => chunk.push(tt),
        }
    }
    if !chunk.is_empty()
        && let Some(arg) = parse_one(chunk, Span::call_site(), cx)
    {
        args.push(arg);
    }
    args
}

fn parse_one(chunk: Vec<TokenTree>, comma: Span, cx: &mut Ctxt) -> Option<Arg> {
    let mut tokens = chunk.into_iter();
    let (key, quoted_key, first) = match tokens.next() {
        None => {
            cx.error_span(
                comma,
                "expected an option before this comma; remove the comma",
            );
            return None;
        }
        Some(TokenTree::Ident(i)) => {
            let text = i.to_string();
            (
                text.trim_start_matches("r#").to_owned(),
                false,
                TokenTree::Ident(i),
            )
        }
        Some(TokenTree::Literal(l)) => match syn::parse2::<syn::LitStr>(l.to_token_stream()) {
            Ok(s) => (s.value(), true, TokenTree::Literal(l)),
            Err(_) => {
                cx.error_at(
                    &l,
                    "expected an option name, such as `name`, or a quoted key",
                );
                return None;
            }
        },
        Some(other) => {
            cx.error_at(&other, "expected an option name, such as `name`");
            return None;
        }
    };
    let rest: Vec<TokenTree> = tokens.collect();
    let value = match rest.as_slice() {
        [] => Value::Flag,
        [TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' => {
            if value.is_empty() {
                cx.error_at(eq, format!("expected a value after `{key} =`"));
                return None;
            }
            Value::Eq(value.iter().cloned().collect())
        }
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => Value::List(g.clone()),
        [other, ..] => {
            cx.error_at(
                other,
                format!("expected `=` or `(...)` after `{key}`, or a comma before the next option"),
            );
            return None;
        }
    };
    Some(Arg {
        key,
        key_tokens: first.into_token_stream(),
        quoted_key,
        value,
    })
}

/// Keeps the options `known` lists, each once; reports the others (an unknown option lists the
/// valid ones, a second one says to remove it).
pub fn known(args: Vec<Arg>, attr: &str, known: &[&str], cx: &mut Ctxt) -> Vec<Arg> {
    let mut kept: Vec<Arg> = Vec::new();
    for arg in args {
        if arg.quoted_key || !known.contains(&arg.key.as_str()) {
            let mut message = format!("unknown option `{}` for {attr}", arg.key);
            if let Some(similar) = run_rules::closest(&arg.key, known.iter().copied()).first() {
                message.push_str(&format!("; did you mean `{similar}`?"));
            }
            message.push_str(&format!(" The options are: {}", known.join(", ")));
            cx.error_at(&arg.key_tokens, message);
        } else if kept.iter().any(|k| k.key == arg.key) {
            cx.error_at(
                &arg.key_tokens,
                format!("`{}` is given twice; remove one of them", arg.key),
            );
        } else {
            kept.push(arg);
        }
    }
    kept
}

/// The value of `key = "text"`, or an error saying so.
pub fn lit_str(arg: &Arg, what: &str, cx: &mut Ctxt) -> Option<syn::LitStr> {
    if let Value::Eq(tokens) = &arg.value
        && let Ok(s) = syn::parse2::<syn::LitStr>(tokens.clone())
    {
        return Some(s);
    }
    cx.error_at(
        arg.tokens(),
        format!(
            "`{}` takes {what} in a string literal: {} = \"...\"",
            arg.key, arg.key
        ),
    );
    None
}

/// The options inside `key(...)`, or an error saying so.
pub fn list(arg: &Arg, example: &str, cx: &mut Ctxt) -> Option<Vec<Arg>> {
    match &arg.value {
        Value::List(group) => Some(parse(group.stream(), cx)),
        _ => {
            cx.error_at(
                arg.tokens(),
                format!("`{}` takes a list in parentheses: {example}", arg.key),
            );
            None
        }
    }
}

/// The path of `crate = "path"`: where the generated code finds the runtime.
pub fn crate_path(arg: &Arg, cx: &mut Ctxt) -> Option<syn::Path> {
    let lit = lit_str(arg, "the path of the run-runtime crate", cx)?;
    match lit.parse_with(syn::Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_at(
                &lit,
                format!(
                    "{:?} is not a path; give the name under which run-runtime is a dependency, \
                     such as crate = \"::my_runtime\"",
                    lit.value()
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn splits_flags_values_and_lists_at_top_level_commas() {
        let mut cx = Ctxt::default();
        let args = parse(
            quote!(skip, name = "a, b", inputs(x = "1", y), crate = "::rr"),
            &mut cx,
        );
        assert!(cx.is_empty());
        let keys: Vec<&str> = args.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["skip", "name", "inputs", "crate"]);
        assert!(matches!(args[0].value, Value::Flag));
        assert!(matches!(&args[1].value, Value::Eq(v) if v.to_string() == "\"a, b\""));
        assert!(matches!(args[2].value, Value::List(_)));
    }

    #[test]
    fn reports_malformed_options_and_keeps_the_rest() {
        let mut cx = Ctxt::default();
        let args = parse(quote!(name =, , 3, to = run), &mut cx);
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].key, "to");
        let errors = cx.into_compile_errors().unwrap().to_string();
        assert_eq!(errors.matches("compile_error").count(), 3, "{errors}");
    }

    #[test]
    fn unknown_and_repeated_options_are_dropped_with_an_error_each() {
        let mut cx = Ctxt::default();
        let args = parse(quote!(name = "a", nmae = "b", name = "c"), &mut cx);
        let kept = known(args, "#[x]", &["name", "to"], &mut cx);
        assert_eq!(kept.len(), 1);
        let errors = cx.into_compile_errors().unwrap().to_string();
        assert!(
            errors.contains("did you mean `name`? The options are: name, to"),
            "{errors}"
        );
        assert!(
            errors.contains("`name` is given twice; remove one of them"),
            "{errors}"
        );
    }
}
