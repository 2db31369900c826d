//! Parsing between `{ }` filters: pipelines, spanset operators, aggregates and scalar filters,
//! metrics functions, second stages and series arithmetic.
//!
//! Operands are parsed into a [`Node`] that remembers what kind of thing they are (a spanset, a
//! parenthesized pipeline, a number, an aggregate expression, a metrics expression, ...), and each
//! operator checks its operands' kinds against Tempo's grammar: `{ a } > { b }` is structural,
//! `count() > 1` is a scalar filter, `({ } | rate()) > 1` filters series, `{ a } > 1` is an error.

use crate::ast::{
    Aggregate, AggregateOp, ArithOp, MetricsExpr, MetricsFunction, MetricsPipeline, MetricsQuery, OverTimeOp, Pipeline,
    QueryExpr, ScalarExpr, ScalarFilter, SecondStage, SpansetExpr, SpansetOp, Stage, Static,
};
use crate::error::ParseError;
use crate::fetch::CompareOp;
use crate::parser::{PREC_ADD, PREC_COMPARE, PREC_LOGICAL, PREC_MUL, PREC_POW, PREC_PREFIX, Parser};
use crate::token::{Keyword, Pos, Punct, Tok};
use crate::types::{BinOp, eval_binary, eval_neg};

/// A parsed operand and what kind of thing it is. The kind is boxed to keep the parser's
/// recursive frames small.
pub(crate) struct Node {
    kind: Box<NodeKind>,
    depth: usize,
    pos: Pos,
}

impl Node {
    fn new(kind: NodeKind, depth: usize, pos: Pos) -> Node {
        Node { kind: Box::new(kind), depth, pos }
    }
}

enum NodeKind {
    /// Filters and operators over them; `parens` when written in parentheses, which lets it
    /// stand for a one-stage pipeline next to parenthesized pipelines.
    Spanset {
        expr: SpansetExpr,
        parens: bool,
    },
    /// Operators over parenthesized pipelines.
    PipelineExpr(SpansetExpr),
    /// A pipeline: bare at the top, or parenthesized.
    Pipeline(Pipeline),
    /// A folded number or duration.
    Scalar(Static),
    /// Arithmetic holding at least one aggregate.
    ScalarExpr(ScalarExpr),
    /// Arithmetic over parenthesized `(pipeline | aggregate)`s.
    ScalarPipe(ScalarExpr),
    ScalarFilter(ScalarFilter),
    /// A comparison of `ScalarPipe`s; only at the top of a query.
    ScalarPipeFilter(ScalarFilter),
    /// `by()`, `select()`, `coalesce()`.
    Stage(Stage),
    /// Series; `stages` are second stages applied to a whole (non-parenthesized) expression.
    Metrics {
        expr: MetricsExpr,
        stages: Vec<SecondStage>,
    },
}

impl NodeKind {
    fn describe(&self) -> &'static str {
        match self {
            NodeKind::Spanset { .. } => "a spanset",
            NodeKind::PipelineExpr(_) | NodeKind::Pipeline(_) => "a parenthesized pipeline",
            NodeKind::Scalar(_) => "a number",
            NodeKind::ScalarExpr(_) | NodeKind::ScalarPipe(_) => "an aggregate",
            NodeKind::ScalarFilter(_) | NodeKind::ScalarPipeFilter(_) => "a comparison",
            NodeKind::Stage(Stage::By(_)) => "by()",
            NodeKind::Stage(Stage::Select(_)) => "select()",
            NodeKind::Stage(_) => "coalesce()",
            NodeKind::Metrics { .. } => "a metrics query",
        }
    }
}

#[derive(Clone, Copy)]
enum StageOp {
    Spanset(SpansetOp),
    /// `>` and `<`: structural between spansets, comparisons otherwise.
    Dual(SpansetOp, CompareOp),
    Compare(CompareOp),
    Arith(ArithOp),
}

impl StageOp {
    fn as_str(self) -> &'static str {
        match self {
            StageOp::Spanset(op) | StageOp::Dual(op, _) => op.as_str(),
            StageOp::Compare(op) => op.as_str(),
            StageOp::Arith(op) => op.as_str(),
        }
    }
}

fn stage_infix(tok: &Tok) -> Option<(StageOp, u8)> {
    let Tok::Punct(punct) = tok else { return None };
    let structural = |op| Some((StageOp::Spanset(op), PREC_COMPARE));
    match punct {
        Punct::And => Some((StageOp::Spanset(SpansetOp::And), PREC_LOGICAL)),
        Punct::Or => Some((StageOp::Spanset(SpansetOp::Union), PREC_LOGICAL)),
        Punct::Gt => Some((StageOp::Dual(SpansetOp::Child, CompareOp::Gt), PREC_COMPARE)),
        Punct::Lt => Some((StageOp::Dual(SpansetOp::Parent, CompareOp::Lt), PREC_COMPARE)),
        Punct::Desc => structural(SpansetOp::Descendant),
        Punct::Ance => structural(SpansetOp::Ancestor),
        Punct::Tilde => structural(SpansetOp::Sibling),
        Punct::NotChild => structural(SpansetOp::NotChild),
        Punct::NotParent => structural(SpansetOp::NotParent),
        Punct::NotDesc => structural(SpansetOp::NotDescendant),
        Punct::NotAnce => structural(SpansetOp::NotAncestor),
        Punct::NotRegex => structural(SpansetOp::NotSibling),
        Punct::UnionChild => structural(SpansetOp::UnionChild),
        Punct::UnionParent => structural(SpansetOp::UnionParent),
        Punct::UnionDesc => structural(SpansetOp::UnionDescendant),
        Punct::UnionAnce => structural(SpansetOp::UnionAncestor),
        Punct::UnionSibl => structural(SpansetOp::UnionSibling),
        Punct::Eq => Some((StageOp::Compare(CompareOp::Eq), PREC_COMPARE)),
        Punct::NotEq => Some((StageOp::Compare(CompareOp::NotEq), PREC_COMPARE)),
        Punct::Gte => Some((StageOp::Compare(CompareOp::GtEq), PREC_COMPARE)),
        Punct::Lte => Some((StageOp::Compare(CompareOp::LtEq), PREC_COMPARE)),
        Punct::Regex => Some((StageOp::Compare(CompareOp::Regex), PREC_COMPARE)),
        Punct::Add => Some((StageOp::Arith(ArithOp::Add), PREC_ADD)),
        Punct::Sub => Some((StageOp::Arith(ArithOp::Sub), PREC_ADD)),
        Punct::Mul => Some((StageOp::Arith(ArithOp::Mul), PREC_MUL)),
        Punct::Div => Some((StageOp::Arith(ArithOp::Div), PREC_MUL)),
        Punct::Mod => Some((StageOp::Arith(ArithOp::Mod), PREC_MUL)),
        Punct::Pow => Some((StageOp::Arith(ArithOp::Pow), PREC_POW)),
        _ => None,
    }
}

fn compare_token(tok: &Tok) -> Option<CompareOp> {
    match tok {
        Tok::Punct(Punct::Eq) => Some(CompareOp::Eq),
        Tok::Punct(Punct::NotEq) => Some(CompareOp::NotEq),
        Tok::Punct(Punct::Lt) => Some(CompareOp::Lt),
        Tok::Punct(Punct::Lte) => Some(CompareOp::LtEq),
        Tok::Punct(Punct::Gt) => Some(CompareOp::Gt),
        Tok::Punct(Punct::Gte) => Some(CompareOp::GtEq),
        _ => None,
    }
}

// The functions on the recursive path (`level`, `expr`, `prefix`, `paren`) only dispatch; the
// work is done in functions that do not recurse back, so that each level of nesting costs little
// stack even in unoptimized builds.
impl Parser {
    /// Everything up to a closing `)`, `with` or the end: one expression, or a pipeline of
    /// stages, possibly ending in a metrics function or (inside parentheses) an aggregate.
    pub(crate) fn level(&mut self, in_parens: bool) -> Result<Node, ParseError> {
        let first = self.expr(0)?;
        if matches!(*first.kind, NodeKind::Metrics { .. }) {
            self.metrics_second_stages(first)
        } else if self.at_punct(Punct::Pipe) {
            self.pipeline_rest(first, in_parens)
        } else {
            Ok(first)
        }
    }

    fn metrics_second_stages(&mut self, mut node: Node) -> Result<Node, ParseError> {
        if let NodeKind::Metrics { stages, .. } = &mut *node.kind {
            self.second_stages(stages)?;
        }
        Ok(node)
    }

    /// The stages after the first, up to the end of the pipeline.
    fn pipeline_rest(&mut self, first: Node, in_parens: bool) -> Result<Node, ParseError> {
        let (pos, mut depth) = (first.pos, first.depth);
        let mut stages = vec![self.stage(first, true)?];
        while self.at_punct(Punct::Pipe) {
            self.bump();
            if let Some(function) = self.metrics_function()? {
                let mut second_stage = Vec::new();
                self.second_stages(&mut second_stage)?;
                let leaf = MetricsPipeline { pipeline: Pipeline { stages }, function, second_stage };
                let kind = NodeKind::Metrics { expr: MetricsExpr::Pipeline(Box::new(leaf)), stages: Vec::new() };
                return Ok(Node::new(kind, self.deeper(depth, pos)?, pos));
            }
            let node = self.expr(0)?;
            depth = depth.max(node.depth);
            if in_parens
                && self.at_punct(Punct::RParen)
                && let NodeKind::ScalarExpr(ScalarExpr::Aggregate(aggregate)) = *node.kind
            {
                let kind = NodeKind::ScalarPipe(ScalarExpr::Pipeline { pipeline: Pipeline { stages }, aggregate });
                return Ok(Node::new(kind, self.deeper(depth, pos)?, pos));
            }
            stages.push(self.stage(node, false)?);
        }
        Ok(Node::new(NodeKind::Pipeline(Pipeline { stages }), self.deeper(depth, pos)?, pos))
    }

    /// The query a top-level node stands for.
    pub(crate) fn root(&mut self, node: Node) -> Result<QueryExpr, ParseError> {
        let one = |stage| QueryExpr::Search(Pipeline { stages: vec![stage] });
        Ok(match *node.kind {
            NodeKind::Spanset { expr, .. } | NodeKind::PipelineExpr(expr) => one(Stage::Spanset(expr)),
            NodeKind::Pipeline(pipeline) => QueryExpr::Search(pipeline),
            NodeKind::ScalarFilter(filter) | NodeKind::ScalarPipeFilter(filter) => one(Stage::ScalarFilter(filter)),
            NodeKind::Stage(Stage::Coalesce) => return Err(node.pos.error("syntax error: unexpected \"coalesce\"")),
            NodeKind::Stage(stage) => one(stage),
            NodeKind::Metrics { expr: MetricsExpr::Pipeline(mut leaf), stages } => {
                leaf.second_stage.extend(stages);
                QueryExpr::Metrics(MetricsQuery { expr: MetricsExpr::Pipeline(leaf), second_stage: Vec::new() })
            }
            NodeKind::Metrics { expr, stages } => QueryExpr::Metrics(MetricsQuery { expr, second_stage: stages }),
            NodeKind::Scalar(_) | NodeKind::ScalarExpr(_) | NodeKind::ScalarPipe(_) => {
                return Err(self.unexpected("a comparison operator"));
            }
        })
    }

    /// A node as a pipeline stage.
    fn stage(&self, node: Node, first: bool) -> Result<Stage, ParseError> {
        match *node.kind {
            NodeKind::Spanset { expr, .. } => Ok(Stage::Spanset(expr)),
            NodeKind::ScalarFilter(filter) => Ok(Stage::ScalarFilter(filter)),
            NodeKind::Stage(Stage::Coalesce) if first => Err(node.pos.error("syntax error: unexpected \"coalesce\"")),
            NodeKind::Stage(stage) => Ok(stage),
            NodeKind::Scalar(_) | NodeKind::ScalarExpr(_) | NodeKind::ScalarPipe(_) => {
                Err(self.unexpected("a comparison operator"))
            }
            kind => Err(node.pos.error(format!("syntax error: {} cannot be a pipeline stage", kind.describe()))),
        }
    }

    /// An operand and the operators binding at least as tightly as `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let mut lhs = self.prefix()?;
        while let Some((op, prec)) = stage_infix(self.peek()) {
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.bump();
            let next_min = if prec == PREC_POW { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            lhs = self.combine(op, op_pos, lhs, rhs)?;
        }
        self.leave();
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Node, ParseError> {
        match self.peek() {
            Tok::Punct(Punct::LParen) => self.paren(),
            Tok::Punct(Punct::Sub) => self.negated_number(),
            _ => self.operand(),
        }
    }

    fn paren(&mut self) -> Result<Node, ParseError> {
        let pos = self.pos();
        self.bump();
        let inner = self.level(true)?;
        self.expect_punct(Punct::RParen)?;
        self.close_paren(inner, pos)
    }

    /// Between pipelines a leading minus belongs to the number right after it.
    fn negated_number(&mut self) -> Result<Node, ParseError> {
        let pos = self.pos();
        self.bump();
        let operand = self.expr(PREC_PREFIX)?;
        match *operand.kind {
            NodeKind::Scalar(value) => match eval_neg(&value) {
                Some(negated) => Ok(Node::new(NodeKind::Scalar(negated), 1, pos)),
                None => Err(pos.error("syntax error: unexpected \"-\"")),
            },
            kind => Err(pos.error(format!("syntax error: unexpected \"-\" before {}", kind.describe()))),
        }
    }

    /// A filter, a number, an aggregate, `by()`, `coalesce()` or `select()`.
    fn operand(&mut self) -> Result<Node, ParseError> {
        let pos = self.pos();
        let node = |kind, depth| Node::new(kind, depth, pos);
        match self.peek() {
            Tok::Punct(Punct::LBrace) => {
                let (expr, depth) = self.spanset_filter()?;
                let kind = NodeKind::Spanset { expr: SpansetExpr::Filter(expr), parens: false };
                Ok(node(kind, self.deeper(depth, pos)?))
            }
            Tok::Int(i) => {
                let value = Static::Int(*i);
                self.bump();
                Ok(node(NodeKind::Scalar(value), 1))
            }
            Tok::Float(f) => {
                let value = Static::Float(*f);
                self.bump();
                Ok(node(NodeKind::Scalar(value), 1))
            }
            Tok::Duration(d) => {
                let value = Static::Duration(*d);
                self.bump();
                Ok(node(NodeKind::Scalar(value), 1))
            }
            // Not in Tempo's grammar here, but the canonical spelling of the smallest integer.
            Tok::Ident(word) if word == "minInt" || word == "maxInt" => {
                let value = Static::Int(if word == "minInt" { i64::MIN } else { i64::MAX });
                self.bump();
                Ok(node(NodeKind::Scalar(value), 1))
            }
            Tok::Keyword(Keyword::Count) => {
                self.bump();
                self.expect_punct(Punct::LParen)?;
                self.expect_punct(Punct::RParen)?;
                let aggregate = Aggregate { op: AggregateOp::Count, expr: None };
                Ok(node(NodeKind::ScalarExpr(ScalarExpr::Aggregate(aggregate)), 1))
            }
            Tok::Keyword(k @ (Keyword::Avg | Keyword::Min | Keyword::Max | Keyword::Sum)) => {
                let op = match k {
                    Keyword::Avg => AggregateOp::Avg,
                    Keyword::Min => AggregateOp::Min,
                    Keyword::Max => AggregateOp::Max,
                    _ => AggregateOp::Sum,
                };
                self.bump();
                self.expect_punct(Punct::LParen)?;
                let (expr, depth) = self.field_expr(0)?;
                self.expect_punct(Punct::RParen)?;
                let aggregate = Aggregate { op, expr: Some(expr) };
                Ok(node(NodeKind::ScalarExpr(ScalarExpr::Aggregate(aggregate)), self.deeper(depth, pos)?))
            }
            Tok::Keyword(Keyword::By) => {
                self.bump();
                self.expect_punct(Punct::LParen)?;
                let (expr, depth) = self.field_expr(0)?;
                self.expect_punct(Punct::RParen)?;
                Ok(node(NodeKind::Stage(Stage::By(expr)), self.deeper(depth, pos)?))
            }
            Tok::Keyword(Keyword::Coalesce) => {
                self.bump();
                self.expect_punct(Punct::LParen)?;
                self.expect_punct(Punct::RParen)?;
                Ok(node(NodeKind::Stage(Stage::Coalesce), 1))
            }
            Tok::Keyword(Keyword::Select) => {
                self.bump();
                self.expect_punct(Punct::LParen)?;
                let fields = self.field_ref_list()?;
                self.expect_punct(Punct::RParen)?;
                Ok(node(NodeKind::Stage(Stage::Select(fields)), 1))
            }
            _ => Err(self.unexpected("\"{\" or \"(\"")),
        }
    }

    /// What a parenthesized group stands for as an operand.
    fn close_paren(&self, inner: Node, pos: Pos) -> Result<Node, ParseError> {
        let kind = match *inner.kind {
            NodeKind::Spanset { expr, .. } => NodeKind::Spanset { expr, parens: true },
            NodeKind::ScalarFilter(filter) => {
                NodeKind::Pipeline(Pipeline { stages: vec![Stage::ScalarFilter(filter)] })
            }
            NodeKind::Stage(Stage::Coalesce) => return Err(inner.pos.error("syntax error: unexpected \"coalesce\"")),
            NodeKind::Stage(stage) => NodeKind::Pipeline(Pipeline { stages: vec![stage] }),
            NodeKind::ScalarPipeFilter(_) => {
                return Err(inner.pos.error("syntax error: a comparison of pipelines cannot be parenthesized"));
            }
            NodeKind::Metrics { stages, .. } if !stages.is_empty() => {
                return Err(inner
                    .pos
                    .error("syntax error: second stages inside parentheses must follow a metrics function directly"));
            }
            kind => kind,
        };
        Ok(Node::new(kind, inner.depth, pos))
    }

    /// Applies a binary operator, checking that it means something for these operands.
    fn combine(&self, op: StageOp, op_pos: Pos, lhs: Node, rhs: Node) -> Result<Node, ParseError> {
        if let StageOp::Compare(CompareOp::Regex) = op {
            return Err(op_pos.error("syntax error: unexpected \"=~\" outside a spanset filter"));
        }
        let depth = self.deeper(lhs.depth.max(rhs.depth), op_pos)?;
        let pos = lhs.pos;
        let (lhs_kind, rhs_kind) = (lhs.kind.describe(), rhs.kind.describe());
        let both_spansets = is_spanset(&lhs.kind) && is_spanset(&rhs.kind);
        let combined = match op {
            StageOp::Spanset(op) => combine_spansets(op, *lhs.kind, *rhs.kind),
            StageOp::Dual(op, _) if both_spansets => combine_spansets(op, *lhs.kind, *rhs.kind),
            StageOp::Dual(_, cmp) | StageOp::Compare(cmp) => compare(cmp, *lhs.kind, *rhs.kind),
            StageOp::Arith(arith) => arithmetic(arith, op_pos, *lhs.kind, *rhs.kind)?,
        };
        let Some(kind) = combined else {
            let spanset_op = matches!(op, StageOp::Spanset(_) | StageOp::Dual(..));
            return Err(op_pos.error(if both_spansets && spanset_op {
                "syntax error: a spanset filter and a parenthesized pipeline cannot be combined; \
                 parenthesize the filter"
                    .to_string()
            } else {
                format!("syntax error: operator {:?} cannot combine {lhs_kind} and {rhs_kind}", op.as_str())
            }));
        };
        let depth = if matches!(kind, NodeKind::Scalar(_)) { 1 } else { depth };
        Ok(Node::new(kind, depth, pos))
    }

    // --- Metrics ------------------------------------------------------------------------------

    /// A metrics function at the current token, if there is one.
    fn metrics_function(&mut self) -> Result<Option<MetricsFunction>, ParseError> {
        let Tok::Keyword(keyword) = *self.peek() else { return Ok(None) };
        let over_time = match keyword {
            Keyword::MinOverTime => Some(OverTimeOp::Min),
            Keyword::MaxOverTime => Some(OverTimeOp::Max),
            Keyword::AvgOverTime => Some(OverTimeOp::Avg),
            Keyword::SumOverTime => Some(OverTimeOp::Sum),
            Keyword::HistogramOverTime => Some(OverTimeOp::Histogram),
            Keyword::Rate | Keyword::CountOverTime | Keyword::QuantileOverTime | Keyword::Compare => None,
            _ => return Ok(None),
        };
        self.bump();
        self.expect_punct(Punct::LParen)?;
        let function = match (keyword, over_time) {
            (_, Some(op)) => {
                let field = self.required_field()?;
                self.expect_punct(Punct::RParen)?;
                MetricsFunction::OverTime { op, field, by: self.metrics_by()? }
            }
            (Keyword::Rate | Keyword::CountOverTime, _) => {
                self.expect_punct(Punct::RParen)?;
                let by = self.metrics_by()?;
                if keyword == Keyword::Rate {
                    MetricsFunction::Rate { by }
                } else {
                    MetricsFunction::CountOverTime { by }
                }
            }
            (Keyword::QuantileOverTime, _) => {
                let field = self.required_field()?;
                let mut quantiles = Vec::new();
                while self.at_punct(Punct::Comma) || quantiles.is_empty() {
                    self.expect_punct(Punct::Comma)?;
                    quantiles.push(match *self.peek() {
                        Tok::Int(i) => i as f64,
                        Tok::Float(f) => f,
                        _ => return Err(self.unexpected("a number")),
                    });
                    self.bump();
                }
                self.expect_punct(Punct::RParen)?;
                MetricsFunction::QuantileOverTime { field, quantiles, by: self.metrics_by()? }
            }
            _ => {
                let (selection, _) = self.spanset_filter()?;
                let mut numbers = Vec::new();
                while self.at_punct(Punct::Comma) && numbers.len() < 3 {
                    self.bump();
                    let Tok::Int(i) = *self.peek() else { return Err(self.unexpected("an integer")) };
                    numbers.push(i);
                    self.bump();
                }
                let (top_n, start, end) = match numbers[..] {
                    [] => (10, 0, 0),
                    [top_n] => (top_n, 0, 0),
                    [top_n, start, end] => (top_n, start, end),
                    _ => return Err(self.unexpected("\",\"")),
                };
                self.expect_punct(Punct::RParen)?;
                MetricsFunction::Compare { selection, top_n, start, end }
            }
        };
        Ok(Some(function))
    }

    fn required_field(&mut self) -> Result<crate::field::FieldRef, ParseError> {
        self.field_ref()?.ok_or_else(|| self.unexpected("an attribute or intrinsic"))
    }

    /// An optional `by (a, b)` after a metrics function.
    fn metrics_by(&mut self) -> Result<Vec<crate::field::FieldRef>, ParseError> {
        if !self.at_keyword(Keyword::By) {
            return Ok(Vec::new());
        }
        self.bump();
        self.expect_punct(Punct::LParen)?;
        let fields = self.field_ref_list()?;
        self.expect_punct(Punct::RParen)?;
        Ok(fields)
    }

    /// `| topk(n)`, `| bottomk(n)` and comparisons with a number, in any sequence.
    fn second_stages(&mut self, stages: &mut Vec<SecondStage>) -> Result<(), ParseError> {
        loop {
            if self.at_punct(Punct::Pipe) {
                self.bump();
                let top = match self.peek() {
                    Tok::Keyword(Keyword::Topk) => true,
                    Tok::Keyword(Keyword::Bottomk) => false,
                    _ => return Err(self.unexpected("\"topk\" or \"bottomk\"")),
                };
                self.bump();
                self.expect_punct(Punct::LParen)?;
                let Tok::Int(limit) = *self.peek() else { return Err(self.unexpected("an integer")) };
                self.bump();
                self.expect_punct(Punct::RParen)?;
                stages.push(if top { SecondStage::TopK(limit) } else { SecondStage::BottomK(limit) });
            } else if let Some(op) = compare_token(self.peek()) {
                let pos = self.pos();
                self.bump();
                let operand = self.expr(PREC_ADD)?;
                let NodeKind::Scalar(value) = *operand.kind else {
                    return Err(pos.error(format!(
                        "syntax error: a metrics filter compares with a number, not {}",
                        operand.kind.describe()
                    )));
                };
                stages.push(SecondStage::Filter { op, value: filter_threshold(&value) });
            } else {
                return Ok(());
            }
        }
    }
}

fn is_spanset(kind: &NodeKind) -> bool {
    matches!(kind, NodeKind::Spanset { .. } | NodeKind::PipelineExpr(_) | NodeKind::Pipeline(_))
}

/// `lhs op rhs` between spansets. Filters combine with filters; parenthesized pipelines (and
/// parenthesized filters) with each other.
fn combine_spansets(op: SpansetOp, lhs: NodeKind, rhs: NodeKind) -> Option<NodeKind> {
    let pipeline_level = |k: &NodeKind| matches!(k, NodeKind::PipelineExpr(_) | NodeKind::Pipeline(_));
    match (lhs, rhs) {
        (NodeKind::Spanset { expr: l, .. }, NodeKind::Spanset { expr: r, .. }) => {
            let expr = SpansetExpr::Op { op, lhs: Box::new(l), rhs: Box::new(r) };
            Some(NodeKind::Spanset { expr, parens: false })
        }
        (l, r) if pipeline_level(&l) || pipeline_level(&r) => {
            let (lhs, rhs) = (pipeline_operand(l)?, pipeline_operand(r)?);
            Some(NodeKind::PipelineExpr(SpansetExpr::Op { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }))
        }
        _ => None,
    }
}

/// An operand of an operator over parenthesized pipelines: a parenthesized filter counts as a
/// one-stage pipeline, a bare one does not.
fn pipeline_operand(kind: NodeKind) -> Option<SpansetExpr> {
    match kind {
        NodeKind::Spanset { expr, parens: true } => {
            Some(SpansetExpr::Pipeline(Pipeline { stages: vec![Stage::Spanset(expr)] }))
        }
        NodeKind::Pipeline(pipeline) => Some(SpansetExpr::Pipeline(pipeline)),
        NodeKind::PipelineExpr(expr) => Some(expr),
        _ => None,
    }
}

/// `lhs op rhs` with a comparison: a scalar filter (an aggregate on at least one side), a
/// comparison of parenthesized scalar pipelines, or a filter on series.
fn compare(op: CompareOp, lhs: NodeKind, rhs: NodeKind) -> Option<NodeKind> {
    let filter = |lhs, rhs| ScalarFilter { op, lhs, rhs };
    match (lhs, rhs) {
        (NodeKind::ScalarExpr(l), NodeKind::ScalarExpr(r)) => Some(NodeKind::ScalarFilter(filter(l, r))),
        (NodeKind::ScalarExpr(l), NodeKind::Scalar(r)) => {
            Some(NodeKind::ScalarFilter(filter(l, ScalarExpr::Static(r))))
        }
        (NodeKind::Scalar(l), NodeKind::ScalarExpr(r)) => {
            Some(NodeKind::ScalarFilter(filter(ScalarExpr::Static(l), r)))
        }
        (NodeKind::ScalarPipe(l), NodeKind::ScalarPipe(r)) => Some(NodeKind::ScalarPipeFilter(filter(l, r))),
        (NodeKind::ScalarPipe(l), NodeKind::Scalar(r)) => {
            Some(NodeKind::ScalarPipeFilter(filter(l, ScalarExpr::Static(r))))
        }
        (NodeKind::Metrics { expr, mut stages }, NodeKind::Scalar(value)) => {
            stages.push(SecondStage::Filter { op, value: filter_threshold(&value) });
            Some(NodeKind::Metrics { expr, stages })
        }
        _ => None,
    }
}

/// A series filter's threshold: durations count in seconds, as series of durations do.
fn filter_threshold(value: &Static) -> f64 {
    match value {
        Static::Duration(nanos) => *nanos as f64 / 1e9,
        other => other.as_f64().unwrap_or(0.0),
    }
}

/// `lhs op rhs` with an arithmetic operator.
fn arithmetic(op: ArithOp, op_pos: Pos, lhs: NodeKind, rhs: NodeKind) -> Result<Option<NodeKind>, ParseError> {
    let basic = matches!(op, ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div);
    let arith = |lhs, rhs| ScalarExpr::Arith { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
    Ok(Some(match (lhs, rhs) {
        (NodeKind::Scalar(l), NodeKind::Scalar(r)) if basic => NodeKind::Scalar(fold_scalar(op, op_pos, &l, &r)?),
        (NodeKind::ScalarExpr(l), NodeKind::ScalarExpr(r)) => NodeKind::ScalarExpr(arith(l, r)),
        (NodeKind::ScalarExpr(l), NodeKind::Scalar(r)) => NodeKind::ScalarExpr(arith(l, ScalarExpr::Static(r))),
        (NodeKind::Scalar(l), NodeKind::ScalarExpr(r)) => NodeKind::ScalarExpr(arith(ScalarExpr::Static(l), r)),
        (NodeKind::ScalarPipe(l), NodeKind::ScalarPipe(r)) => NodeKind::ScalarPipe(arith(l, r)),
        (NodeKind::Metrics { expr: l, stages: ls }, NodeKind::Metrics { expr: r, stages: rs })
            if basic && ls.is_empty() && rs.is_empty() =>
        {
            NodeKind::Metrics { expr: MetricsExpr::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }, stages: ls }
        }
        (NodeKind::Metrics { expr, stages }, NodeKind::Scalar(value)) if basic && stages.is_empty() => {
            let value = metrics_scalar(op_pos, &value)?;
            NodeKind::Metrics {
                expr: MetricsExpr::Scalar { op, value, scalar_on_left: false, expr: Box::new(expr) },
                stages,
            }
        }
        (NodeKind::Scalar(value), NodeKind::Metrics { expr, stages }) if basic && stages.is_empty() => {
            let value = metrics_scalar(op_pos, &value)?;
            NodeKind::Metrics {
                expr: MetricsExpr::Scalar { op, value, scalar_on_left: true, expr: Box::new(expr) },
                stages,
            }
        }
        _ => return Ok(None),
    }))
}

/// Folds arithmetic between two number literals, as Tempo does for scalars: int with int stays
/// int (`1 / 2` is 0); durations are not allowed.
fn fold_scalar(op: ArithOp, pos: Pos, lhs: &Static, rhs: &Static) -> Result<Static, ParseError> {
    if matches!(lhs, Static::Duration(_)) || matches!(rhs, Static::Duration(_)) {
        return Err(pos.error("duration cannot be used in scalar arithmetic"));
    }
    eval_binary(BinOp::Arith(op), lhs, rhs).ok_or_else(|| match (op, rhs) {
        (ArithOp::Div, Static::Int(0)) => pos.error("division by zero"),
        _ => pos.error("scalar arithmetic result is not a finite number"),
    })
}

fn metrics_scalar(pos: Pos, value: &Static) -> Result<f64, ParseError> {
    match value {
        Static::Duration(_) => Err(pos.error("duration cannot be used as a scalar operand in metric arithmetic")),
        other => other.as_f64().ok_or_else(|| pos.error("expected a number")),
    }
}
