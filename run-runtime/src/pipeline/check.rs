//! The checks of a pipeline's graph, as `const fn`s: `pipeline!` runs them at compile time (a
//! problem is a compile error at the step or binding it is about), and the runtime builder runs
//! the same functions and returns their messages as errors.
//!
//! Const code cannot allocate, so the functions take their working memory from the caller
//! (`scratch`, [`SCRATCH_PER_STEP`] slots per step) and write their messages into a fixed
//! [`Message`] buffer.

use crate::step::{Slot, SlotKind, Step, str_eq};

use super::{Binding, Connection};

/// A graph to check: the steps as listed, the values the pipeline binds, and the connections
/// of inputs to outputs of other names (`connect(...)`).
#[derive(Debug, Clone, Copy)]
pub struct Graph<'a> {
    /// The steps, as listed.
    pub steps: &'a [&'a Step],
    /// `inputs(...)` and `params(...)`.
    pub bindings: &'a [Binding<'a>],
    /// `connect(...)`.
    pub connections: &'a [Connection<'a>],
}

/// Which end of a connection a check is about: `reader.input` or `writer.output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The step that reads, and its input.
    Reader,
    /// The step that writes, and its output.
    Writer,
}

/// Scratch slots a check needs per step of the pipeline.
pub const SCRATCH_PER_STEP: usize = 3;

/// The longest message kept, in bytes; a longer one ends in `...`.
const CAPACITY: usize = 2048;

/// A message built in const code.
#[derive(Clone, Copy)]
pub struct Message {
    buf: [u8; CAPACITY],
    len: usize,
    truncated: bool,
}

impl Message {
    /// An empty message.
    pub const fn new() -> Self {
        Message {
            buf: [0; CAPACITY],
            len: 0,
            truncated: false,
        }
    }

    /// Appends `text`; what does not fit is cut at a character boundary.
    pub const fn push(&mut self, text: &str) -> &mut Self {
        let bytes = text.as_bytes();
        let room = CAPACITY - 3 - self.len;
        let mut take = if bytes.len() > room {
            self.truncated = true;
            room
        } else {
            bytes.len()
        };
        while take > 0 && take < bytes.len() && (bytes[take] & 0xC0) == 0x80 {
            take -= 1;
        }
        let mut i = 0;
        while i < take {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `name` in backquotes.
    pub const fn quoted(&mut self, name: &str) -> &mut Self {
        self.push("`").push(name).push("`")
    }

    /// Appends a number.
    pub const fn number(&mut self, mut n: usize) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[19 - count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        match core::str::from_utf8(digits.split_at(20 - count).1) {
            Ok(text) => self.push(text),
            Err(_) => self,
        }
    }

    /// The text.
    pub const fn as_str(&self) -> &str {
        let (text, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(text) {
            Ok(text) => text,
            // Pushes cut only at character boundaries, so the bytes are UTF-8.
            Err(_) => "(message not UTF-8)",
        }
    }

    /// `true` when something was cut off.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

// ---------------------------------------------------------------- lookups

/// The first step listed that writes the output `name`.
pub(crate) const fn producer(steps: &[&Step], name: &str) -> Option<usize> {
    let mut j = 0;
    while j < steps.len() {
        if steps[j].output(name).is_some() {
            return Some(j);
        }
        j += 1;
    }
    None
}

/// The first binding named `name`.
pub(crate) const fn binding(bindings: &[Binding<'_>], name: &str) -> Option<usize> {
    let mut k = 0;
    while k < bindings.len() {
        if str_eq(bindings[k].name, name) {
            return Some(k);
        }
        k += 1;
    }
    None
}

/// The index of `step` among `steps`: the same function under the same name.
pub(crate) const fn index_of(steps: &[&Step], step: &Step) -> Option<usize> {
    let mut j = 0;
    while j < steps.len() {
        if str_eq(steps[j].function, step.function) && str_eq(steps[j].name, step.name) {
            return Some(j);
        }
        j += 1;
    }
    None
}

/// The first connection of the input `input` of step `a`.
pub(crate) const fn connection_of(graph: &Graph<'_>, a: usize, input: &str) -> Option<usize> {
    let mut k = 0;
    while k < graph.connections.len() {
        let c = &graph.connections[k];
        if str_eq(c.input, input)
            && let Some(j) = index_of(graph.steps, c.reader)
            && j == a
        {
            return Some(k);
        }
        k += 1;
    }
    None
}

/// The step whose output the input `input` of step `a` reads, and that output's name: the
/// connection's, else the output of the input's name (of another step).
pub(crate) const fn source<'s>(
    graph: &Graph<'s>,
    a: usize,
    input: &'s str,
) -> Option<(usize, &'s str)> {
    if let Some(k) = connection_of(graph, a, input) {
        let c = &graph.connections[k];
        return match index_of(graph.steps, c.writer) {
            Some(b) if b != a => Some((b, c.output)),
            _ => None,
        };
    }
    match producer(graph.steps, input) {
        Some(b) if b != a => Some((b, input)),
        _ => None,
    }
}

/// The name of the first input of step `a` that reads an output of step `b`.
pub(crate) const fn reads_from<'s>(graph: &Graph<'s>, a: usize, b: usize) -> Option<&'s str> {
    let inputs = graph.steps[a].inputs;
    let mut k = 0;
    while k < inputs.len() {
        if let Some((writer, _)) = source(graph, a, inputs[k].name)
            && writer == b
        {
            return Some(inputs[k].name);
        }
        k += 1;
    }
    None
}

/// `true` when every step that step `a` reads from is among the first `placed` of `order`.
const fn ready(graph: &Graph<'_>, a: usize, order: &[usize], placed: usize) -> bool {
    let mut b = 0;
    while b < graph.steps.len() {
        if reads_from(graph, a, b).is_some() && !contains(order, placed, b) {
            return false;
        }
        b += 1;
    }
    true
}

const fn contains(list: &[usize], len: usize, value: usize) -> bool {
    let mut i = 0;
    while i < len {
        if list[i] == value {
            return true;
        }
        i += 1;
    }
    false
}

/// The order to run the steps in: each after the steps it reads from, otherwise in the order
/// listed. Writes step indices into `order` (as long as `steps`) and returns `false` when the
/// graph has a cycle (then `order` holds only the steps before it).
pub(crate) const fn run_order(graph: &Graph<'_>, order: &mut [usize]) -> bool {
    let steps = graph.steps;
    let mut placed = 0;
    while placed < steps.len() {
        let mut a = 0;
        let mut found = false;
        while a < steps.len() {
            if !contains(order, placed, a) && ready(graph, a, order, placed) {
                order[placed] = a;
                placed += 1;
                found = true;
                break;
            }
            a += 1;
        }
        if !found {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------- reachability

/// Whether `to` can be reached from `from` by following "reads from" edges (at least one).
/// With `path`, the nodes of one such path from `from` to the node before `to` are written into
/// `scratch[2n..]` and their count is returned; `None` when `to` cannot be reached.
const fn reach(graph: &Graph<'_>, from: usize, to: usize, scratch: &mut [usize]) -> Option<usize> {
    let n = graph.steps.len();
    // scratch[0..n): 0 = not seen, else 1 + the node it was reached from; scratch[n..2n): queue.
    let mut i = 0;
    while i < 2 * n {
        scratch[i] = 0;
        i += 1;
    }
    let (mut head, mut tail) = (0, 0);
    scratch[n] = from;
    tail += 1;
    while head < tail {
        let u = scratch[n + head];
        head += 1;
        let mut v = 0;
        while v < n {
            if reads_from(graph, u, v).is_some() {
                if v == to {
                    return Some(trace(scratch, n, from, u));
                }
                if v != from && scratch[v] == 0 {
                    scratch[v] = u + 1;
                    scratch[n + tail] = v;
                    tail += 1;
                }
            }
            v += 1;
        }
    }
    None
}

/// Writes the path `from`, ..., `last` into `scratch[2n..]`, following the discovery links.
const fn trace(scratch: &mut [usize], n: usize, from: usize, last: usize) -> usize {
    let mut count = 0;
    let mut node = last;
    loop {
        scratch[2 * n + count] = node;
        count += 1;
        if node == from {
            break;
        }
        node = scratch[node] - 1;
    }
    // Reverse, so that the path starts at `from`.
    let mut i = 0;
    while i < count / 2 {
        let t = scratch[2 * n + i];
        scratch[2 * n + i] = scratch[2 * n + count - 1 - i];
        scratch[2 * n + count - 1 - i] = t;
        i += 1;
    }
    count
}

// ---------------------------------------------------------------- the checks

/// `true` when one of the steps stands in for an `#[aml_step]` with an error in its attribute.
///
/// On an error, the attribute reports it and still defines `STEP`, so that code naming the
/// step (a `pipeline!`, `train::main()`) gets no error of its own; that `STEP` has an empty
/// `function` (a compiled step's is its module path) and only the declarations that could be
/// read. Checking a graph against such a guess would report problems that are not there
/// ("no step writes `model`"), so a pipeline holding one is left unchecked: the program does
/// not compile anyway, and the graph is checked once the attribute is fixed.
const fn has_stand_in(steps: &[&Step]) -> bool {
    let mut j = 0;
    while j < steps.len() {
        if steps[j].function.is_empty() {
            return true;
        }
        j += 1;
    }
    false
}

/// The first problem of step `i` of pipeline `pipeline`, if it has one: listed twice (or a
/// name shared with another step), an output another step also writes, an input or param
/// with no value, or, for the first step listed of a cycle, the cycle.
///
/// `scratch` must hold [`SCRATCH_PER_STEP`] slots per step.
///
/// Nothing is checked while a step stands in for one whose attribute has an error (its
/// `function` is empty).
pub const fn check_step(
    pipeline: &str,
    graph: &Graph<'_>,
    i: usize,
    scratch: &mut [usize],
) -> Option<Message> {
    let steps = graph.steps;
    if has_stand_in(steps) {
        return None;
    }
    if let Some(m) = listed_twice(pipeline, steps, i) {
        return Some(m);
    }
    if let Some(m) = shared_output(pipeline, steps, i) {
        return Some(m);
    }
    if let Some(m) = param_of_two_types(pipeline, steps, i) {
        return Some(m);
    }
    if let Some(m) = unbound(pipeline, graph, i) {
        return Some(m);
    }
    cycle(pipeline, graph, i, scratch)
}

const fn listed_twice(pipeline: &str, steps: &[&Step], i: usize) -> Option<Message> {
    let mut j = 0;
    while j < i {
        if str_eq(steps[j].name, steps[i].name) {
            let mut m = Message::new();
            if str_eq(steps[j].function, steps[i].function) {
                m.push("step ").quoted(steps[i].name);
                m.push(" is listed twice in pipeline ").quoted(pipeline);
                m.push("; list each step once");
            } else {
                m.push("steps ").quoted(steps[j].function).push(" and ");
                m.quoted(steps[i].function)
                    .push(" of pipeline ")
                    .quoted(pipeline);
                m.push(" are both named ").quoted(steps[i].name);
                m.push("; a step's name names its runs and its `--step`, so give one of them ");
                m.push("another: #[aml_step(name = \"...\")]");
            }
            return Some(m);
        }
        j += 1;
    }
    None
}

const fn shared_output(pipeline: &str, steps: &[&Step], i: usize) -> Option<Message> {
    let outputs = steps[i].outputs;
    let mut k = 0;
    while k < outputs.len() {
        let name = outputs[k].name;
        let mut j = 0;
        while j < i {
            if steps[j].output(name).is_some() && !str_eq(steps[j].name, steps[i].name) {
                let mut m = Message::new();
                m.push("steps ")
                    .quoted(steps[j].name)
                    .push(" and ")
                    .quoted(steps[i].name);
                m.push(" of pipeline ")
                    .quoted(pipeline)
                    .push(" both write the output ");
                m.quoted(name);
                m.push("; an input reads the output of its own name, so each output needs ");
                m.push("one producer: rename one of them");
                return Some(m);
            }
            j += 1;
        }
        k += 1;
    }
    None
}

const fn unbound(pipeline: &str, graph: &Graph<'_>, i: usize) -> Option<Message> {
    let (steps, bindings) = (graph.steps, graph.bindings);
    let step = steps[i];
    let mut k = 0;
    while k < step.inputs.len() {
        let slot = &step.inputs[k];
        if producer(steps, slot.name).is_none()
            && connection_of(graph, i, slot.name).is_none()
            && binding(bindings, slot.name).is_none()
            && slot.default.is_none()
        {
            return Some(no_value(
                pipeline,
                steps,
                step.name,
                SlotKind::Input,
                slot.name,
            ));
        }
        k += 1;
    }
    let mut k = 0;
    while k < step.params.len() {
        let slot = &step.params[k];
        if binding(bindings, slot.name).is_none() && slot.default.is_none() {
            return Some(no_value(
                pipeline,
                steps,
                step.name,
                SlotKind::Param,
                slot.name,
            ));
        }
        k += 1;
    }
    None
}

const fn no_value(
    pipeline: &str,
    steps: &[&Step],
    step: &str,
    kind: SlotKind,
    name: &str,
) -> Message {
    let mut m = Message::new();
    m.push(kind.as_str())
        .push(" ")
        .quoted(name)
        .push(" of step ")
        .quoted(step);
    m.push(" has no value in pipeline ")
        .quoted(pipeline)
        .push(": ");
    let list = match kind {
        SlotKind::Input => {
            m.push("no step of the pipeline writes an output ")
                .quoted(name);
            m.push(", the input has no default, and the pipeline binds none; add the step ");
            m.push("that writes it, give the input a default (#[aml_step(inputs(");
            "inputs"
        }
        _ => {
            m.push("it has no default, and the pipeline binds none; give it a default ");
            m.push("(#[aml_step(params(");
            "params"
        }
    };
    m.push(name)
        .push(" = ...))]), or bind it in the pipeline: pipeline!(");
    m.push(pipeline).push(" = [");
    let mut j = 0;
    while j < steps.len() {
        if j > 0 {
            m.push(", ");
        }
        m.push(steps[j].name);
        j += 1;
    }
    m.push("], ")
        .push(list)
        .push("(")
        .push(name)
        .push(" = ...)), or `");
    m.push(list)
        .push("(")
        .push(name)
        .push(")` to give it when the pipeline runs");
    m
}

const fn cycle(
    pipeline: &str,
    graph: &Graph<'_>,
    i: usize,
    scratch: &mut [usize],
) -> Option<Message> {
    let steps = graph.steps;
    if reach(graph, i, i, scratch).is_none() {
        return None;
    }
    // Report a cycle once, at the first step listed that is on it.
    let mut j = 0;
    while j < i {
        if reach(graph, i, j, scratch).is_some() && reach(graph, j, i, scratch).is_some() {
            return None;
        }
        j += 1;
    }
    let n = steps.len();
    let count = match reach(graph, i, i, scratch) {
        Some(c) => c,
        None => return None,
    };
    let mut m = Message::new();
    m.push("pipeline ").quoted(pipeline).push(" has a cycle: ");
    let mut k = 0;
    while k < count {
        let a = scratch[2 * n + k];
        let b = if k + 1 < count {
            scratch[2 * n + k + 1]
        } else {
            i
        };
        if k > 0 {
            m.push(", which");
        } else {
            m.quoted(steps[a].name);
        }
        m.push(" reads ");
        if let Some(input) = reads_from(graph, a, b) {
            m.quoted(input);
        }
        m.push(" from ").quoted(steps[b].name);
        k += 1;
    }
    m.push("; a step runs after the steps it reads from, so break the cycle by renaming one ");
    m.push("of these inputs or outputs");
    Some(m)
}

/// The problem of binding `k` of pipeline `pipeline`, if it has one: bound twice, a name no
/// step reads, a name of the other kind (`inputs(...)` for a param), or the output of a step.
///
/// Nothing is checked while a step stands in for one whose attribute has an error (its
/// `function` is empty).
pub const fn check_binding(pipeline: &str, graph: &Graph<'_>, k: usize) -> Option<Message> {
    let (steps, bindings) = (graph.steps, graph.bindings);
    if has_stand_in(steps) {
        return None;
    }
    let bound = &bindings[k];
    let list = match bound.kind {
        SlotKind::Param => "params",
        _ => "inputs",
    };
    let mut m = Message::new();
    if let Some(first) = binding(bindings, bound.name)
        && first < k
    {
        m.push("pipeline ")
            .quoted(pipeline)
            .push(" binds ")
            .quoted(bound.name);
        m.push(" twice; bind it once");
        return Some(m);
    }
    if let Some(j) = only_connected(graph, bound.name)
        && bound.kind as u8 == SlotKind::Input as u8
    {
        m.push("pipeline ")
            .quoted(pipeline)
            .push(" binds ")
            .quoted(bound.name);
        m.push(", which connect(...) gives step ")
            .quoted(steps[j].name);
        m.push("; an input reads one value: remove `")
            .push(bound.name);
        m.push("` from inputs(...) or its connection");
        return Some(m);
    }
    if let Some(j) = producer(steps, bound.name) {
        m.push("pipeline ")
            .quoted(pipeline)
            .push(" binds ")
            .quoted(bound.name);
        m.push(", which step ")
            .quoted(steps[j].name)
            .push(" writes; an input reads the ");
        m.push("output of its name, so remove `")
            .push(bound.name)
            .push("` from ");
        m.push(list).push("(...)");
        return Some(m);
    }
    let mut j = 0;
    let mut other: Option<(usize, SlotKind)> = None;
    while j < steps.len() {
        match steps[j].slot(bound.name) {
            // `==` is not const: the discriminants are compared.
            Some((kind, _)) if kind as u8 == bound.kind as u8 => return None,
            Some((kind, _)) => other = Some((j, kind)),
            None => {}
        }
        j += 1;
    }
    if let Some((j, kind)) = other {
        m.quoted(bound.name)
            .push(" is ")
            .push(article(kind))
            .push(kind.as_str());
        m.push(" of step ")
            .quoted(steps[j].name)
            .push(", not ")
            .push(article(bound.kind));
        m.push(bound.kind.as_str()).push("; bind it under ");
        m.push(match kind {
            SlotKind::Param => "params",
            _ => "inputs",
        });
        m.push("(...)");
        return Some(m);
    }
    m.push("pipeline ")
        .quoted(pipeline)
        .push(" binds ")
        .quoted(bound.name);
    m.push(", which is not ")
        .push(article(bound.kind))
        .push(bound.kind.as_str());
    m.push(" of any of its steps");
    match closest_slot(steps, bound.name) {
        Some(name) => {
            m.push("; did you mean ").quoted(name).push("?");
        }
        None => {
            m.push("; remove it from ").push(list).push("(...)");
        }
    }
    Some(m)
}

/// The problem of the value of binding `k` of pipeline `pipeline`, if it has one: a literal
/// that is not a value of the type of a param it gives (a float for a `u64`, a string for an
/// `f64`). Types other than the integers, floats, `bool` and `char` are checked when the
/// pipeline runs.
///
/// Nothing is checked while a step stands in for one whose attribute has an error (its
/// `function` is empty).
pub const fn check_binding_value(pipeline: &str, graph: &Graph<'_>, k: usize) -> Option<Message> {
    if has_stand_in(graph.steps) {
        return None;
    }
    let bound = &graph.bindings[k];
    let Some(text) = bound.value else {
        return None;
    };
    if bound.kind as u8 != SlotKind::Param as u8 {
        return None;
    }
    let mut j = 0;
    while j < graph.steps.len() {
        if let Some(slot) = graph.steps[j].param(bound.name)
            && let Some(reason) = run_rules::value_problem(slot.ty, text)
        {
            let mut m = Message::new();
            m.push("pipeline ")
                .quoted(pipeline)
                .push(" gives param ")
                .quoted(bound.name);
            m.push(" the value ")
                .quoted(text)
                .push(", which is not a valid `");
            m.push(run_rules::type_name(slot.ty)).push("` (");
            m.push(reason)
                .push("), the type of `")
                .push(bound.name)
                .push("` in step ");
            m.quoted(graph.steps[j].name);
            m.push("; write a value of the parameter's type");
            return Some(m);
        }
        j += 1;
    }
    None
}

/// A param of step `i` that an earlier step also has with another type: one pipeline value
/// (`--seed 3`) gives both, so it must have one type.
const fn param_of_two_types(pipeline: &str, steps: &[&Step], i: usize) -> Option<Message> {
    let params = steps[i].params;
    let mut k = 0;
    while k < params.len() {
        let mut j = 0;
        while j < i {
            if let Some(other) = steps[j].param(params[k].name)
                && !run_rules::same_type(other.ty, params[k].ty)
            {
                let mut m = Message::new();
                m.push("param ").quoted(params[k].name).push(" is a `");
                m.push(run_rules::type_name(params[k].ty))
                    .push("` in step ");
                m.quoted(steps[i].name)
                    .push(" and a `")
                    .push(run_rules::type_name(other.ty));
                m.push("` in step ")
                    .quoted(steps[j].name)
                    .push(", but it is one value of ");
                m.push("pipeline ").quoted(pipeline);
                m.push(" (--")
                    .push(params[k].name)
                    .push(" sets both): give both the same ");
                m.push("type, or rename one of them");
                return Some(m);
            }
            j += 1;
        }
        k += 1;
    }
    None
}

/// The problem of one end of connection `k` of pipeline `pipeline`, if it has one: a step
/// not in the pipeline, a name that is not an input (reader) or output (writer) of its step, an
/// input connected twice or already reading an output of its own name, a step reading itself.
///
/// Nothing is checked while a step stands in for one whose attribute has an error (its
/// `function` is empty).
pub const fn check_connection(
    pipeline: &str,
    graph: &Graph<'_>,
    k: usize,
    end: End,
) -> Option<Message> {
    if has_stand_in(graph.steps) {
        return None;
    }
    let c = &graph.connections[k];
    let (step, name, kind) = match end {
        End::Reader => (c.reader, c.input, SlotKind::Input),
        End::Writer => (c.writer, c.output, SlotKind::Output),
    };
    let mut m = Message::new();
    let Some(index) = index_of(graph.steps, step) else {
        m.push("step ")
            .quoted(step.name)
            .push(" is not a step of pipeline ");
        m.quoted(pipeline)
            .push("; list it to connect it: ")
            .push(pipeline);
        m.push(" = [..., ").push(step.name).push("]");
        return Some(m);
    };
    if let Some(m) = not_a_slot(step, name, kind) {
        return Some(m);
    }
    match end {
        End::Writer => {
            if let Some(reader) = index_of(graph.steps, c.reader)
                && reader == index
            {
                m.push("step ")
                    .quoted(step.name)
                    .push(" cannot read its own output ");
                m.quoted(name)
                    .push("; connect the input to an output of another step");
                return Some(m);
            }
        }
        End::Reader => {
            if let Some(first) = connection_of(graph, index, name)
                && first < k
            {
                m.push("input ")
                    .quoted(name)
                    .push(" of step ")
                    .quoted(step.name);
                m.push(" is connected twice in pipeline ").quoted(pipeline);
                m.push("; an input reads one output: connect it once");
                return Some(m);
            }
            if let Some(writer) = producer(graph.steps, name)
                && writer != index
            {
                m.push("input ")
                    .quoted(name)
                    .push(" of step ")
                    .quoted(step.name);
                m.push(" already reads the output ")
                    .quoted(name)
                    .push(" of step ");
                m.quoted(graph.steps[writer].name);
                m.push(" by its name; an input reads one output: remove this connection, or ");
                m.push("rename the input");
                return Some(m);
            }
        }
    }
    None
}

/// Why `name` is not an input (or output, as `kind` says) of `step`, if it is not.
const fn not_a_slot(step: &Step, name: &str, kind: SlotKind) -> Option<Message> {
    let mut m = Message::new();
    match step.slot(name) {
        Some((found, _)) if found as u8 == kind as u8 => return None,
        Some((found, _)) => {
            m.quoted(name)
                .push(" is ")
                .push(article(found))
                .push(found.as_str());
            m.push(" of step ")
                .quoted(step.name)
                .push(", not ")
                .push(article(kind));
            m.push(kind.as_str());
            m.push("; connect(reader.input = writer.output) connects an input of one step to an ");
            m.push("output of another");
        }
        None => {
            m.push("step ")
                .quoted(step.name)
                .push(" has no ")
                .push(kind.as_str());
            m.push(" ").quoted(name);
            let slots = match kind {
                SlotKind::Input => step.inputs,
                _ => step.outputs,
            };
            match closest_in(slots, name) {
                Some(similar) => {
                    m.push("; did you mean ").quoted(similar).push("?");
                }
                None if slots.is_empty() => {
                    m.push("; it has none");
                }
                None => {
                    m.push("; its ").push(kind.as_str()).push("s are ");
                    let mut j = 0;
                    while j < slots.len() {
                        if j > 0 {
                            m.push(", ");
                        }
                        m.quoted(slots[j].name);
                        j += 1;
                    }
                }
            }
        }
    }
    Some(m)
}

/// The name among `slots` closest to `wanted`, if one is close enough to be a likely typo.
const fn closest_in<'s>(slots: &'s [Slot], wanted: &str) -> Option<&'s str> {
    let mut best: Option<(&str, usize)> = None;
    let mut k = 0;
    while k < slots.len() {
        if let Some(rank) = run_rules::closeness(wanted, slots[k].name) {
            let better = match best {
                Some((_, b)) => rank < b,
                None => true,
            };
            if better {
                best = Some((slots[k].name, rank));
            }
        }
        k += 1;
    }
    match best {
        Some((name, _)) => Some(name),
        None => None,
    }
}

/// A step with the input `name` connected, when every step with that input has it connected.
const fn only_connected(graph: &Graph<'_>, name: &str) -> Option<usize> {
    let mut connected = None;
    let mut j = 0;
    while j < graph.steps.len() {
        if graph.steps[j].input(name).is_some() {
            if connection_of(graph, j, name).is_none() {
                return None;
            }
            if connected.is_none() {
                connected = Some(j);
            }
        }
        j += 1;
    }
    connected
}

const fn article(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Input | SlotKind::Output => "an ",
        _ => "a ",
    }
}

/// The input or param of the steps closest to `wanted`, if one is close enough to be a likely
/// typo: `run_rules::closeness`, the rule of every "did you mean" of runctx. The first listed
/// wins a tie.
const fn closest_slot<'s>(steps: &[&'s Step], wanted: &str) -> Option<&'s str> {
    let mut best: Option<(&str, usize)> = None;
    let mut j = 0;
    while j < steps.len() {
        let lists = [steps[j].inputs, steps[j].params];
        let mut l = 0;
        while l < 2 {
            let slots = lists[l];
            let mut k = 0;
            while k < slots.len() {
                if let Some(rank) = run_rules::closeness(wanted, slots[k].name) {
                    let better = match best {
                        Some((_, b)) => rank < b,
                        None => true,
                    };
                    if better {
                        best = Some((slots[k].name, rank));
                    }
                }
                k += 1;
            }
            l += 1;
        }
        j += 1;
    }
    match best {
        Some((name, _)) => Some(name),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_utf8_and_say_when_cut() {
        let mut m = Message::new();
        m.push("step ")
            .quoted("trainé")
            .push(" #")
            .number(0)
            .push("/")
            .number(1207);
        assert_eq!(m.to_string(), "step `trainé` #0/1207");
        let mut long = Message::new();
        for _ in 0..2000 {
            long.push("é");
        }
        assert!(long.is_truncated());
        assert!(long.to_string().ends_with("é..."), "{long}");
    }

    fn step(name: &'static str, function: &'static str, params: &'static [Slot]) -> Step {
        Step {
            name,
            function,
            experiment: None,
            description: None,
            tags: &[],
            system_metrics: None,
            reuse: true,
            inputs: &[],
            outputs: &[],
            params,
            invoke: |_, _| Ok(()),
            invoke_async: None,
        }
    }

    fn graph<'a>(steps: &'a [&'a Step], bindings: &'a [Binding<'a>]) -> Graph<'a> {
        Graph {
            steps,
            bindings,
            connections: &[],
        }
    }

    const PARAMS: &[Slot] = &[Slot {
        name: "threshold",
        default: Some("0.9"),
        ty: "f64",
    }];

    #[test]
    fn a_binding_of_nothing_suggests_the_closest_slot() {
        let train = step("train", "app::train", PARAMS);
        let bindings = [Binding {
            name: "treshold",
            kind: SlotKind::Param,
            value: Some("0.5"),
        }];
        let message = check_binding("p", &graph(&[&train], &bindings), 0).unwrap();
        assert!(
            message.as_str().ends_with("did you mean `threshold`?"),
            "{message}"
        );
        assert_eq!(closest_slot(&[&train], "learning_rate"), None);
    }

    #[test]
    fn a_pipeline_with_a_stand_in_step_is_not_checked() {
        // Unbound params everywhere and a binding of nothing: errors, unless a step stands in
        // for an #[aml_step] with an error (empty `function`).
        const UNBOUND: &[Slot] = &[Slot {
            name: "epochs",
            default: None,
            ty: "u32",
        }];
        let (train, broken) = (step("train", "app::train", UNBOUND), step("fit", "", &[]));
        let bindings = [Binding {
            name: "nothing",
            kind: SlotKind::Param,
            value: None,
        }];
        let mut scratch = [0; SCRATCH_PER_STEP * 2];
        assert!(check_step("p", &graph(&[&train], &bindings), 0, &mut scratch).is_some());
        assert!(check_binding("p", &graph(&[&train], &bindings), 0).is_some());
        let steps = [&train, &broken];
        assert!(check_step("p", &graph(&steps, &bindings), 0, &mut scratch).is_none());
        assert!(check_binding("p", &graph(&steps, &bindings), 0).is_none());
    }
}
