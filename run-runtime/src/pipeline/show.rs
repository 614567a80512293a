//! A pipeline shown to a person: its steps with their slots (`--list`), its graph as text and
//! as Graphviz dot (`--graph`).

use std::fmt::Write;

use crate::step::{Slot, SlotKind, Step};

use super::Pipeline;

impl Pipeline {
    /// The steps in the order they run, each with its inputs (and where they come from), its
    /// outputs (and who reads them) and its params: what `--list` prints.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "pipeline {}: {} steps, in the order they run\n",
            self.name(),
            self.steps().len()
        );
        for step in self.steps() {
            text.push('\n');
            text.push_str(step.name);
            if let Some(d) = step.description {
                let _ = write!(text, ": {d}");
            }
            text.push('\n');
            let rows: Vec<[String; 3]> = step
                .slots()
                .map(|(k, s)| self.slot_row(step, k, s))
                .collect();
            let widths = [0, 1].map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0));
            for [a, b, c] in rows {
                let line = format!("  {a:w0$}  {b:w1$}  {c}", w0 = widths[0], w1 = widths[1]);
                text.push_str(line.trim_end());
                text.push('\n');
            }
        }
        text
    }

    fn slot_row(&self, step: &Step, kind: SlotKind, slot: &Slot) -> [String; 3] {
        let source = match kind {
            SlotKind::Input => match self.source(step, slot.name) {
                Some((from, output)) if output == slot.name => format!("from step {}", from.name),
                Some((from, output)) => format!("from step {}, its output {output}", from.name),
                None => self.free_source(slot),
            },
            SlotKind::Output => {
                let readers: Vec<String> = self
                    .edges()
                    .into_iter()
                    .filter(|e| e.from == step.name && e.name == slot.name)
                    .map(|e| match e.input == e.name {
                        true => e.to.to_owned(),
                        false => format!("{} (as {})", e.to, e.input),
                    })
                    .collect();
                match readers.as_slice() {
                    [] => String::from("a folder under the pipeline's run"),
                    r => format!("read by {}", r.join(", ")),
                }
            }
            SlotKind::Param => self.free_source(slot),
        };
        let ty = match kind {
            SlotKind::Param => slot.ty,
            _ => "path",
        };
        [
            format!("{:<6} {}", kind.as_str(), slot.name),
            ty.to_owned(),
            source,
        ]
    }

    fn free_source(&self, slot: &Slot) -> String {
        match self.value(slot.name).and_then(|v| v.value.as_deref()) {
            Some(value) => format!("pipeline value {value:?}"),
            None => match slot.default {
                Some(d) => format!("default {d:?}"),
                None => format!("given when it runs: --{}", slot.name),
            },
        }
    }

    /// The graph as lines of text: each piece of data passed, then the pipeline's inputs and
    /// params with the steps that read them.
    pub fn graph_text(&self) -> String {
        let mut text = format!("pipeline {}\n", self.name());
        let edges = self.edges();
        let width = self.steps().iter().map(|s| s.name.len()).max().unwrap_or(0);
        for step in self.steps() {
            let out: Vec<String> = edges
                .iter()
                .filter(|e| e.from == step.name)
                .map(|e| format!("--{}--> {}", e.label(), e.to))
                .collect();
            match out.as_slice() {
                [] => {
                    let _ = writeln!(text, "  {}", step.name);
                }
                [first, others @ ..] => {
                    let _ = writeln!(text, "  {:width$} {first}", step.name);
                    for other in others {
                        let _ = writeln!(text, "  {:width$} {other}", "");
                    }
                }
            }
        }
        for (kind, label) in [(SlotKind::Input, "inputs"), (SlotKind::Param, "params")] {
            let values: Vec<String> = self
                .values()
                .iter()
                .filter(|v| v.kind == kind)
                .map(|v| format!("{} -> {}", v.name, v.steps.join(", ")))
                .collect();
            if !values.is_empty() {
                let _ = writeln!(text, "{label}: {}", values.join("; "));
            }
        }
        text
    }

    /// The graph in Graphviz's dot language: steps as boxes, data as labelled edges, the
    /// pipeline's inputs as notes and its params as plain text. `dot -Tsvg` draws it.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut text = format!(
            "digraph {} {{\n  rankdir=LR;\n  node [shape=box, style=rounded];\n",
            q(self.name())
        );
        for step in self.steps() {
            let _ = writeln!(text, "  {};", q(step.name));
        }
        for e in self.edges() {
            let _ = writeln!(
                text,
                "  {} -> {} [label={}];",
                q(e.from),
                q(e.to),
                q(&e.label())
            );
        }
        for v in self.values() {
            let shape = match v.kind {
                SlotKind::Param => "plaintext",
                _ => "note",
            };
            let node = q(&format!("{}:{}", v.kind, v.name));
            let _ = writeln!(text, "  {node} [shape={shape}, label={}];", q(&v.name));
            for step in &v.steps {
                let _ = writeln!(text, "  {node} -> {} [style=dashed];", q(step));
            }
        }
        text.push_str("}\n");
        text
    }
}
