//! `docs/api.md`: every item of run-runtime's public API that a user can name, one line each,
//! generated from `run-runtime/src` so that the list cannot drift from the code.
//!
//! The walker parses the source with `syn`, from `lib.rs` along `mod` declarations, and keeps
//! what the compiler makes nameable from outside: the `pub` items of modules reachable through
//! `pub mod`s, the `pub use` re-exports there (followed through the crate to the item they
//! name), and the members of those items: `pub` fields, variants, trait items, and the `pub`
//! items of inherent `impl` blocks wherever in the crate they are. It does not expand macros:
//! an item a macro generates inside the crate is not seen, and a glob re-export in a public
//! module fails the test rather than go missing. Trait implementations are not listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, ExprLit, ImplItem, Item, Lit, Meta, TraitItem, Type, UseTree, Visibility,
};

const HEADER: &str = "\
# The public API of run-runtime

Every item a user of `run-runtime` can name, one line each, with the features or platforms it
needs. `tests/tests/api.rs` generates this list from `run-runtime/src` and fails when the two
disagree, so a change to this file is a change to the public API: a decision to review, not a
side effect. Regenerate it with `RUNCTX_BLESS=1 cargo test -p tests --test api`.
";

const BLESS: &str = "RUNCTX_BLESS=1 cargo test -p tests --test api";

#[test]
fn docs_api_md_is_the_public_api() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let src = workspace.join("run-runtime/src");
    let lines = public_api("run_runtime", &|rel| {
        std::fs::read_to_string(src.join(rel)).ok()
    });
    let generated = format!("{HEADER}\n```text\n{}```\n", lines.join("\n") + "\n");
    let file = workspace.join("docs/api.md");
    if std::env::var_os("RUNCTX_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    if current != generated {
        // Both lists are sorted and free of duplicates, so a set difference is the whole diff.
        let (old, new): (BTreeSet<_>, BTreeSet<_>) =
            (current.lines().collect(), generated.lines().collect());
        let mut diff: String = old.difference(&new).map(|l| format!("- {l}\n")).collect();
        diff.extend(new.difference(&old).map(|l| format!("+ {l}\n")));
        if diff.is_empty() {
            diff = "(the same lines, in another order or with other blank lines)\n".into();
        }
        panic!(
            "docs/api.md is not run-runtime's public API (- in the file, + in the code):\n{diff}\n\
             If the change to the API is intended, regenerate the file and review it:\n    {BLESS}"
        );
    }
}

/// Reads a file of the crate's `src/` by its path relative to it (`lib.rs`, `a/b.rs`).
type Read<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The `cfg` predicates an item needs, as text (`feature mlflow`, `unix`).
type Cfg = BTreeSet<String>;

/// The public API of the crate `krate` whose sources `read` gives: one sorted line per item.
fn public_api(krate: &str, read: Read) -> Vec<String> {
    let lib = read("lib.rs").expect("src/lib.rs");
    let mut walked = Crate::default();
    walked.module(read, parse("lib.rs", &lib), "", None, Cfg::new());
    let mut api = Api::default();
    walked.public(0, krate, &Cfg::new(), &mut api);
    walked.members(&mut api);
    api.lines.into_iter().collect()
}

#[derive(Default)]
struct Crate {
    modules: Vec<Module>,
    impls: Vec<Impl>,
}

struct Module {
    parent: Option<usize>,
    /// The module's own `cfg`s and those of the modules around it.
    cfg: Cfg,
    entries: Vec<Entry>,
}

/// A name a module declares or imports.
struct Entry {
    name: String,
    /// Declared `pub` (not `pub(crate)`): nameable from outside if its module is.
    public: bool,
    hidden: bool,
    cfg: Cfg,
    what: What,
}

enum What {
    Item(&'static str, Vec<Member>),
    Mod(usize),
    Use(Vec<String>),
    Glob(Vec<String>),
}

/// A field, variant or trait item, or an item of an inherent `impl`.
struct Member {
    name: String,
    kind: &'static str,
    cfg: Cfg,
}

/// An inherent `impl` block: its `pub` items belong to its type, wherever the block is.
struct Impl {
    module: usize,
    cfg: Cfg,
    self_ty: Vec<String>,
    members: Vec<Member>,
}

enum Target {
    /// Entry `.1` of module `.0`.
    Item(usize, usize),
    Mod(usize),
    /// A path into another crate (`run_macros::aml_step`, `std::path::Path`).
    Extern(String),
}

#[derive(Default)]
struct Api {
    lines: BTreeSet<String>,
    /// Every public path of each item of the crate, with what it needs.
    paths: BTreeMap<(usize, usize), Vec<(String, Cfg)>>,
}

impl Api {
    fn line(&mut self, path: &str, kind: &str, cfg: &Cfg) {
        let note = match cfg.is_empty() {
            true => String::new(),
            false => format!(" ({})", cfg.iter().cloned().collect::<Vec<_>>().join(", ")),
        };
        self.lines.insert(format!("{path} — {kind}{note}"));
    }
}

impl Crate {
    /// Adds the module of `items`, whose `mod x;` files are in `dir` (`""`, `a/`, `a/b/`).
    fn module(
        &mut self,
        read: Read,
        items: Vec<Item>,
        dir: &str,
        parent: Option<usize>,
        cfg: Cfg,
    ) -> usize {
        let id = self.modules.len();
        self.modules.push(Module {
            parent,
            cfg,
            entries: Vec::new(),
        });
        for item in items {
            self.item(read, id, dir, item);
        }
        id
    }

    fn item(&mut self, read: Read, m: usize, dir: &str, item: Item) {
        let (attrs, vis, name, what) = match item {
            Item::Struct(s) => {
                let members = (s.fields.iter().enumerate())
                    .filter(|(_, f)| is_pub(&f.vis))
                    .filter_map(|(i, f)| {
                        let name = f.ident.as_ref().map_or(i.to_string(), ToString::to_string);
                        member(&f.attrs, name, "field")
                    })
                    .collect();
                (s.attrs, s.vis, s.ident, What::Item("struct", members))
            }
            Item::Enum(e) => {
                let variants = e.variants.iter();
                let members =
                    variants.filter_map(|v| member(&v.attrs, v.ident.to_string(), "variant"));
                (
                    e.attrs,
                    e.vis,
                    e.ident,
                    What::Item("enum", members.collect()),
                )
            }
            Item::Trait(t) => {
                let members = t.items.iter().filter_map(|item| match item {
                    TraitItem::Fn(f) => {
                        let kind =
                            ["required method", "provided method"][f.default.is_some() as usize];
                        member(&f.attrs, f.sig.ident.to_string(), kind)
                    }
                    TraitItem::Const(c) => {
                        member(&c.attrs, c.ident.to_string(), "associated const")
                    }
                    TraitItem::Type(t) => member(&t.attrs, t.ident.to_string(), "associated type"),
                    _ => None,
                });
                (
                    t.attrs,
                    t.vis,
                    t.ident,
                    What::Item("trait", members.collect()),
                )
            }
            Item::Fn(f) => (f.attrs, f.vis, f.sig.ident, plain("function")),
            Item::Const(c) => (c.attrs, c.vis, c.ident, plain("const")),
            Item::Static(s) => (s.attrs, s.vis, s.ident, plain("static")),
            Item::Type(t) => (t.attrs, t.vis, t.ident, plain("type alias")),
            Item::Union(u) => (u.attrs, u.vis, u.ident, plain("union")),
            Item::TraitAlias(t) => (t.attrs, t.vis, t.ident, plain("trait alias")),
            // `#[macro_export]` puts a `macro_rules!` at the crate root, whatever its module.
            Item::Macro(mac) if mac.attrs.iter().any(|a| a.path().is_ident("macro_export")) => {
                let Some(name) = mac.ident else { return };
                let vis = Visibility::Public(Default::default());
                return self.push(0, &mac.attrs, &vis, name.to_string(), plain("macro"));
            }
            Item::Mod(md) => {
                let Some(cfg) = cfgs(&md.attrs) else { return };
                assert!(
                    !md.attrs.iter().any(|a| a.path().is_ident("path")),
                    "#[path] is not supported"
                );
                let name = md.ident.to_string();
                let child_dir = format!("{dir}{name}/");
                let items = match md.content {
                    Some((_, items)) => items,
                    None => {
                        let files = [format!("{dir}{name}.rs"), format!("{child_dir}mod.rs")];
                        let found = files
                            .into_iter()
                            .find_map(|f| read(&f).map(|text| (f, text)));
                        let (file, text) = found
                            .unwrap_or_else(|| panic!("no file for `mod {name}` in src/{dir}"));
                        parse(&file, &text)
                    }
                };
                let chain = union(&self.modules[m].cfg, &cfg);
                let child = self.module(read, items, &child_dir, Some(m), chain);
                (md.attrs, md.vis, md.ident, What::Mod(child))
            }
            Item::Use(u) => {
                let mut names = Vec::new();
                // `use ::x::y`: the empty first segment makes the path another crate's.
                let root = u.leading_colon.map(|_| String::new());
                flatten(&u.tree, root.into_iter().collect(), &mut names);
                for (name, what) in names {
                    self.push(m, &u.attrs, &u.vis, name, what);
                }
                return;
            }
            Item::Impl(i) if i.trait_.is_none() => {
                let (Some(cfg), Type::Path(ty)) = (cfgs(&i.attrs), &*i.self_ty) else {
                    return;
                };
                if is_hidden(&i.attrs) {
                    return;
                }
                let members = i.items.iter().filter_map(|item| match item {
                    ImplItem::Fn(f) if is_pub(&f.vis) => {
                        let kind =
                            ["associated function", "method"][f.sig.receiver().is_some() as usize];
                        member(&f.attrs, f.sig.ident.to_string(), kind)
                    }
                    ImplItem::Const(c) if is_pub(&c.vis) => {
                        member(&c.attrs, c.ident.to_string(), "associated const")
                    }
                    ImplItem::Type(t) if is_pub(&t.vis) => {
                        member(&t.attrs, t.ident.to_string(), "associated type")
                    }
                    _ => None,
                });
                let (members, self_ty) = (members.collect(), idents(&ty.path));
                let cfg = union(&self.modules[m].cfg, &cfg);
                return self.impls.push(Impl {
                    module: m,
                    cfg,
                    self_ty,
                    members,
                });
            }
            _ => return,
        };
        self.push(m, &attrs, &vis, name.to_string(), what);
    }

    fn push(&mut self, m: usize, attrs: &[Attribute], vis: &Visibility, name: String, what: What) {
        let Some(cfg) = cfgs(attrs) else { return };
        let (public, hidden) = (is_pub(vis), is_hidden(attrs));
        self.modules[m].entries.push(Entry {
            name,
            public,
            hidden,
            cfg,
            what,
        });
    }

    /// What `path`, written in module `m`, names: one target per namespace (a trait and a derive
    /// macro may share a name), each with the `cfg`s on the way to it.
    fn resolve(&self, m: usize, path: &[String], depth: usize) -> Vec<(Target, Cfg)> {
        assert!(
            depth < 32,
            "`{}` does not resolve: a loop of imports?",
            path.join("::")
        );
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        let mut here = match first.as_str() {
            "crate" => vec![(Target::Mod(0), Cfg::new())],
            "self" => vec![(Target::Mod(m), Cfg::new())],
            "super" => vec![(
                Target::Mod(self.modules[m].parent.expect("super of the root")),
                Cfg::new(),
            )],
            name => match self.lookup(m, name, depth) {
                found if found.is_empty() => vec![(Target::Extern(path[0].clone()), Cfg::new())],
                found => found,
            },
        };
        for segment in rest {
            let step = |(target, cfg): (Target, Cfg)| -> Vec<(Target, Cfg)> {
                let found = match target {
                    Target::Mod(c) if segment == "super" => {
                        vec![(Target::Mod(self.modules[c].parent.unwrap()), Cfg::new())]
                    }
                    Target::Mod(c) => self.lookup(c, segment, depth + 1),
                    Target::Extern(p) => {
                        vec![(Target::Extern(format!("{p}::{segment}")), Cfg::new())]
                    }
                    // An enum's variant or an associated item: not an item of its own here.
                    Target::Item(..) => Vec::new(),
                };
                found
                    .into_iter()
                    .map(|(t, c)| (t, union(&c, &cfg)))
                    .collect()
            };
            here = here.into_iter().flat_map(step).collect();
        }
        here
    }

    /// What `name` names in module `m`: its items, modules and imports, else its glob imports.
    fn lookup(&self, m: usize, name: &str, depth: usize) -> Vec<(Target, Cfg)> {
        let module = &self.modules[m];
        let mut found = Vec::new();
        for (i, entry) in module.entries.iter().enumerate() {
            let cfg = union(&module.cfg, &entry.cfg);
            match &entry.what {
                _ if entry.name != name => {}
                What::Item(..) => found.push((Target::Item(m, i), cfg)),
                What::Mod(c) => found.push((Target::Mod(*c), self.modules[*c].cfg.clone())),
                What::Use(path) => {
                    let targets = self.resolve(m, path, depth + 1).into_iter();
                    found.extend(targets.map(|(t, c)| (t, union(&c, &cfg))));
                }
                What::Glob(_) => {}
            }
        }
        if !found.is_empty() {
            return found;
        }
        for entry in &module.entries {
            let What::Glob(path) = &entry.what else {
                continue;
            };
            for (target, _) in self.resolve(m, path, depth + 1) {
                if let Target::Mod(g) = target {
                    found.extend(self.lookup(g, name, depth + 1));
                }
            }
        }
        found
    }

    /// Lists the public items of module `m`, reachable as `path`, and of its public modules.
    fn public(&self, m: usize, path: &str, cfg: &Cfg, api: &mut Api) {
        assert!(
            path.matches("::").count() < 16,
            "public modules loop at {path}"
        );
        for (i, entry) in self.modules[m].entries.iter().enumerate() {
            if !entry.public || entry.hidden {
                continue;
            }
            let here = format!("{path}::{}", entry.name);
            let targets = match &entry.what {
                What::Item(..) => vec![(Target::Item(m, i), Cfg::new())],
                What::Mod(c) => vec![(Target::Mod(*c), Cfg::new())],
                What::Use(p) => self.resolve(m, p, 0),
                What::Glob(p) => panic!(
                    "`pub use {}::*` in {path}: name the items instead",
                    p.join("::")
                ),
            };
            assert!(!targets.is_empty(), "{here} does not resolve");
            for (target, target_cfg) in targets {
                let cfg = union(&union(cfg, &entry.cfg), &target_cfg);
                match target {
                    Target::Item(tm, ti) => {
                        let item = &self.modules[tm].entries[ti];
                        let What::Item(kind, _) = item.what else {
                            unreachable!()
                        };
                        if !item.hidden {
                            api.line(&here, kind, &cfg);
                            api.paths
                                .entry((tm, ti))
                                .or_default()
                                .push((here.clone(), cfg));
                        }
                    }
                    Target::Mod(c) => {
                        api.line(&here, "module", &cfg);
                        self.public(c, &here, &cfg, api);
                    }
                    Target::Extern(origin) => {
                        api.line(&here, &format!("re-export of {origin}"), &cfg)
                    }
                }
            }
        }
    }

    /// Lists the members of each public item under its shortest path: `Run::log`, not
    /// `prelude::Run::log` as well.
    fn members(&self, api: &mut Api) {
        let mut impls: BTreeMap<(usize, usize), Vec<(&Impl, Cfg)>> = BTreeMap::new();
        for imp in &self.impls {
            for (target, cfg) in self.resolve(imp.module, &imp.self_ty, 0) {
                if let Target::Item(m, i) = target {
                    impls.entry((m, i)).or_default().push((imp, cfg));
                }
            }
        }
        for (item, paths) in std::mem::take(&mut api.paths) {
            let shortest = paths
                .iter()
                .min_by_key(|(p, _)| (p.matches("::").count(), p.clone()));
            let (path, cfg) = shortest.expect("an item listed has a path");
            let What::Item(_, members) = &self.modules[item.0].entries[item.1].what else {
                unreachable!()
            };
            let own = members.iter().map(|member| (member, Cfg::new()));
            let of_impls = impls.get(&item).into_iter().flatten();
            let of_impls = of_impls.flat_map(|(imp, c)| {
                imp.members
                    .iter()
                    .map(move |member| (member, union(c, &imp.cfg)))
            });
            for (member, extra) in own.chain(of_impls) {
                let cfg = union(&union(cfg, &extra), &member.cfg);
                api.line(&format!("{path}::{}", member.name), member.kind, &cfg);
            }
        }
    }
}

fn plain(kind: &'static str) -> What {
    What::Item(kind, Vec::new())
}

fn union(a: &Cfg, b: &Cfg) -> Cfg {
    a.union(b).cloned().collect()
}

fn idents(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

fn parse(file: &str, text: &str) -> Vec<Item> {
    syn::parse_file(text)
        .unwrap_or_else(|e| panic!("src/{file}: {e}"))
        .items
}

/// Every name a `use` tree imports, with the path it imports it from.
fn flatten(tree: &UseTree, prefix: Vec<String>, out: &mut Vec<(String, What)>) {
    let with = |last: String| prefix.iter().cloned().chain([last]).collect::<Vec<_>>();
    match tree {
        UseTree::Path(p) => flatten(&p.tree, with(p.ident.to_string()), out),
        UseTree::Name(n) if n.ident == "self" => {
            let name = prefix.last().cloned().unwrap_or_default();
            out.push((name, What::Use(prefix.clone())));
        }
        UseTree::Name(n) => out.push((n.ident.to_string(), What::Use(with(n.ident.to_string())))),
        UseTree::Rename(r) => {
            out.push((r.rename.to_string(), What::Use(with(r.ident.to_string()))))
        }
        UseTree::Glob(_) => out.push(("*".into(), What::Glob(prefix.clone()))),
        UseTree::Group(g) => g.items.iter().for_each(|t| flatten(t, prefix.clone(), out)),
    }
}

fn member(attrs: &[Attribute], name: String, kind: &'static str) -> Option<Member> {
    let cfg = cfgs(attrs)?;
    (!is_hidden(attrs)).then_some(Member { name, kind, cfg })
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn is_hidden(attrs: &[Attribute]) -> bool {
    let hidden =
        |a: &Attribute| matches!(&a.meta, Meta::List(l) if l.tokens.to_string() == "hidden");
    attrs.iter().any(|a| a.path().is_ident("doc") && hidden(a))
}

/// The `cfg`s of an item as text; `None` for an item only tests see.
fn cfgs(attrs: &[Attribute]) -> Option<Cfg> {
    let cfgs: Cfg = attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .map(|a| cfg_text(&a.parse_args().unwrap_or_else(|e| panic!("a cfg: {e}"))))
        .collect();
    (!cfgs.contains("test") && !cfgs.contains("doctest")).then_some(cfgs)
}

/// `feature = "mlflow"` as `feature mlflow`, `not(unix)` as `not unix`, `any(a, b)` as is.
fn cfg_text(meta: &Meta) -> String {
    let path = |p: &syn::Path| idents(p).join("::");
    match meta {
        Meta::Path(p) => path(p),
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => format!("{} {}", path(&nv.path), s.value()),
            _ => panic!("cfg `{}` with a value that is not a string", path(&nv.path)),
        },
        Meta::List(list) => {
            let args = list.parse_args_with(Punctuated::<Meta, syn::Token![,]>::parse_terminated);
            let args: Vec<_> = args
                .unwrap_or_else(|e| panic!("a cfg: {e}"))
                .iter()
                .map(cfg_text)
                .collect();
            match (path(&list.path).as_str(), args.as_slice()) {
                ("not", [one]) => format!("not {one}"),
                (op, _) => format!("{op}({})", args.join(", ")),
            }
        }
    }
}

/// The API of a crate made of `files` (path under `src/`, text), named `k`.
fn api_of(files: &[(&str, &str)]) -> Vec<String> {
    let files: BTreeMap<&str, &str> = files.iter().copied().collect();
    public_api("k", &|file| files.get(file).map(|text| text.to_string()))
}

#[test]
fn a_re_export_of_a_re_export_is_listed_as_the_item_it_names() {
    let api = api_of(&[
        (
            "lib.rs",
            "mod a; pub use a::Thing as Renamed; pub mod p { pub use crate::Renamed; }",
        ),
        ("a/mod.rs", "mod b; pub(crate) use b::Thing;"),
        ("a/b.rs", "pub enum Thing { One, #[doc(hidden)] Hidden }"),
    ]);
    let expected = [
        "k::Renamed — enum",
        "k::Renamed::One — variant",
        "k::p — module",
        "k::p::Renamed — enum",
    ];
    assert_eq!(api, expected);
}

#[test]
fn an_impl_block_in_another_module_gives_its_type_its_pub_items_only() {
    let api = api_of(&[
        ("lib.rs", "mod thing; mod imp; pub use thing::Thing;"),
        (
            "thing.rs",
            "pub struct Thing { pub size: u32, secret: u32 }",
        ),
        (
            "imp.rs",
            "use crate::thing::Thing;
             impl Thing {
                 pub fn new() -> Self { todo!() }
                 pub fn size(&self) -> u32 { self.size }
                 pub(crate) fn inner(&self) {}
                 fn private(&self) {}
                 #[doc(hidden)] pub fn hidden(&self) {}
             }
             impl Clone for Thing { fn clone(&self) -> Self { todo!() } }",
        ),
    ]);
    let expected = [
        "k::Thing — struct",
        "k::Thing::new — associated function",
        "k::Thing::size — field",
        "k::Thing::size — method",
    ];
    assert_eq!(api, expected);
}

#[test]
fn cfgs_are_noted_and_private_hidden_and_test_items_left_out() {
    let api = api_of(&[
        (
            "lib.rs",
            r#"#[cfg(feature = "net")] mod net;
               #[cfg(feature = "net")] pub use net::sync;
               pub mod tools {
                   #[cfg(not(feature = "net"))] pub fn offline() {}
                   pub(crate) fn helper() {}
                   fn private() {}
                   pub trait Tr { type Out; fn req(&self); fn prov(&self) {} }
               }
               mod inside { pub struct NotReexported; }
               #[doc(hidden)] pub mod __private { pub use crate::tools::offline; }
               #[cfg(test)] mod tests;
               pub use run_macros::step;"#,
        ),
        (
            "net.rs",
            "pub mod sync { pub fn sync() {} #[cfg(unix)] pub struct Options; }",
        ),
    ]);
    let expected = [
        "k::step — re-export of run_macros::step",
        "k::sync — module (feature net)",
        "k::sync::Options — struct (feature net, unix)",
        "k::sync::sync — function (feature net)",
        "k::tools — module",
        "k::tools::Tr — trait",
        "k::tools::Tr::Out — associated type",
        "k::tools::Tr::prov — provided method",
        "k::tools::Tr::req — required method",
        "k::tools::offline — function (not feature net)",
    ];
    assert_eq!(api, expected);
}
