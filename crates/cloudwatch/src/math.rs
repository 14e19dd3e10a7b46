//! Metric math: the expressions of GetMetricData queries and math alarms, parsed and evaluated
//! over the other queries' time series.
//!
//! What is supported: numbers, query ids, `+ - * / ^`, unary minus, parentheses, arrays
//! `[a, b]`, and the functions `SUM`, `AVG`, `MIN`, `MAX` (over an array: a time series, per
//! timestamp over the members with a value there; over one time series: a number), `ABS` and
//! `METRICS()` / `METRICS("text")` (every metric query of the request, or those whose label
//! contains the text). Between two time series an operator keeps the timestamps both have; a
//! division by zero leaves the timestamp out. Other functions (`FILL`, `RATE`, `DIFF`, search
//! expressions, Metrics Insights queries…) are refused as unknown.

use std::collections::BTreeMap;

/// A time series: timestamp (unix ms) → value.
pub(crate) type Series = BTreeMap<i64, f64>;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    /// A number.
    Number(f64),
    /// Another query's id.
    Ref(String),
    /// A string literal (only `METRICS`' argument).
    Text(String),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary(Op, Box<Expr>, Box<Expr>),
    /// `NAME(args)`.
    Call(String, Vec<Expr>),
    /// `[a, b, …]`.
    Array(Vec<Expr>),
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl Op {
    fn apply(self, a: f64, b: f64) -> Option<f64> {
        let r = match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::Div if b == 0.0 => return None,
            Op::Div => a / b,
            Op::Pow => a.powf(b),
        };
        r.is_finite().then_some(r)
    }
}

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    /// A number, the same at every timestamp.
    Scalar(f64),
    /// One time series.
    Series(Series),
    /// Several.
    Array(Vec<Series>),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Ident(String),
    Text(String),
    Sym(char),
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse().map_err(|_| format!("bad number {text}"))?;
            out.push(Token::Number(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string".into());
            }
            out.push(Token::Text(chars[start..i].iter().collect()));
            i += 1;
        } else if "+-*/^(),[]".contains(c) {
            out.push(Token::Sym(c));
            i += 1;
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}'"))
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat('+') {
                Op::Add
            } else if self.eat('-') {
                Op::Sub
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat('*') {
                Op::Mul
            } else if self.eat('/') {
                Op::Div
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        let base = self.primary()?;
        if self.eat('^') {
            // Right-associative, binding tighter than unary minus on its left.
            return Ok(Expr::Binary(
                Op::Pow,
                Box::new(base),
                Box::new(self.unary()?),
            ));
        }
        Ok(base)
    }

    fn list(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.sum()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let token = self.peek().cloned().ok_or("unexpected end of expression")?;
        self.pos += 1;
        match token {
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Text(t) => Ok(Expr::Text(t)),
            Token::Ident(name) => {
                if self.eat('(') {
                    Ok(Expr::Call(name, self.list(')')?))
                } else {
                    Ok(Expr::Ref(name))
                }
            }
            Token::Sym('(') => {
                let inner = self.sum()?;
                self.expect(')')?;
                Ok(inner)
            }
            Token::Sym('[') => Ok(Expr::Array(self.list(']')?)),
            Token::Sym(c) => Err(format!("unexpected '{c}'")),
        }
    }
}

/// Parses an expression.
pub(crate) fn parse(src: &str) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokenize(src)?,
        pos: 0,
    };
    let e = p.sum()?;
    if p.pos != p.tokens.len() {
        return Err("unexpected input after the expression".into());
    }
    check_functions(&e)?;
    Ok(e)
}

fn check_functions(e: &Expr) -> Result<(), String> {
    match e {
        Expr::Call(name, args) => {
            if !matches!(
                name.as_str(),
                "SUM" | "AVG" | "MIN" | "MAX" | "ABS" | "METRICS"
            ) {
                return Err(format!("unknown function {name}"));
            }
            args.iter().try_for_each(check_functions)
        }
        Expr::Neg(x) => check_functions(x),
        Expr::Binary(_, a, b) => {
            check_functions(a)?;
            check_functions(b)
        }
        Expr::Array(items) => items.iter().try_for_each(check_functions),
        Expr::Number(_) | Expr::Ref(_) | Expr::Text(_) => Ok(()),
    }
}

/// The query ids an expression refers to.
pub(crate) fn references(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Ref(id) => out.push(id.clone()),
        Expr::Neg(x) => references(x, out),
        Expr::Binary(_, a, b) => {
            references(a, out);
            references(b, out);
        }
        Expr::Call(_, args) | Expr::Array(args) => args.iter().for_each(|a| references(a, out)),
        Expr::Number(_) | Expr::Text(_) => {}
    }
}

/// Where an evaluation finds other queries' values.
pub(crate) trait Env {
    /// The value of query `id`.
    fn value(&mut self, id: &str) -> Result<Val, String>;
    /// `METRICS()`: the request's metric queries' series, those whose label contains `filter`.
    fn metrics(&mut self, filter: Option<&str>) -> Vec<Series>;
}

/// Evaluates `e`.
pub(crate) fn eval(e: &Expr, env: &mut dyn Env) -> Result<Val, String> {
    match e {
        Expr::Number(n) => Ok(Val::Scalar(*n)),
        Expr::Text(_) => Err("a string is only an argument of METRICS".into()),
        Expr::Ref(id) => env.value(id),
        Expr::Neg(x) => Ok(map(eval(x, env)?, &|v| Some(-v))),
        Expr::Binary(op, a, b) => binary(*op, eval(a, env)?, eval(b, env)?),
        Expr::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match eval(item, env)? {
                    Val::Series(s) => out.push(s),
                    Val::Array(many) => out.extend(many),
                    Val::Scalar(_) => return Err("an array holds time series, not numbers".into()),
                }
            }
            Ok(Val::Array(out))
        }
        Expr::Call(name, args) => call(name, args, env),
    }
}

fn map(v: Val, f: &dyn Fn(f64) -> Option<f64>) -> Val {
    let series = |s: Series| {
        s.into_iter()
            .filter_map(|(t, x)| f(x).map(|y| (t, y)))
            .collect()
    };
    match v {
        Val::Scalar(x) => Val::Scalar(f(x).unwrap_or(f64::NAN)),
        Val::Series(s) => Val::Series(series(s)),
        Val::Array(a) => Val::Array(a.into_iter().map(series).collect()),
    }
}

fn zip(op: Op, a: &Series, b: &Series) -> Series {
    a.iter()
        .filter_map(|(t, x)| b.get(t).and_then(|y| op.apply(*x, *y)).map(|r| (*t, r)))
        .collect()
}

fn binary(op: Op, a: Val, b: Val) -> Result<Val, String> {
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(op.apply(x, y).unwrap_or(f64::NAN)),
        (Val::Series(s), Val::Scalar(y)) => Val::Series(
            s.into_iter()
                .filter_map(|(t, x)| op.apply(x, y).map(|r| (t, r)))
                .collect(),
        ),
        (Val::Scalar(x), Val::Series(s)) => Val::Series(
            s.into_iter()
                .filter_map(|(t, y)| op.apply(x, y).map(|r| (t, r)))
                .collect(),
        ),
        (Val::Series(a), Val::Series(b)) => Val::Series(zip(op, &a, &b)),
        (Val::Array(arr), other) => Val::Array(
            arr.into_iter()
                .map(|s| match binary(op, Val::Series(s), other.clone())? {
                    Val::Series(r) => Ok(r),
                    _ => Err("an array can be combined with a number or a time series".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
        (other, Val::Array(arr)) => Val::Array(
            arr.into_iter()
                .map(|s| match binary(op, other.clone(), Val::Series(s))? {
                    Val::Series(r) => Ok(r),
                    _ => Err("an array can be combined with a number or a time series".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// How an aggregate function folds values.
fn fold(name: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().sum();
    Some(match name {
        "SUM" => sum,
        "AVG" => sum / values.len() as f64,
        "MIN" => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

fn call(name: &str, args: &[Expr], env: &mut dyn Env) -> Result<Val, String> {
    match name {
        "METRICS" => {
            let filter = match args {
                [] => None,
                [Expr::Text(t)] => Some(t.as_str()),
                _ => return Err("METRICS takes no argument or one string".into()),
            };
            Ok(Val::Array(env.metrics(filter)))
        }
        "ABS" => match args {
            [x] => Ok(map(eval(x, env)?, &|v| Some(v.abs()))),
            _ => Err("ABS takes one argument".into()),
        },
        _ => {
            let [x] = args else {
                return Err(format!("{name} takes one argument"));
            };
            match eval(x, env)? {
                Val::Scalar(v) => Ok(Val::Scalar(v)),
                Val::Series(s) => {
                    let values: Vec<f64> = s.values().copied().collect();
                    Ok(Val::Scalar(fold(name, &values).unwrap_or(f64::NAN)))
                }
                Val::Array(arr) => {
                    let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for s in &arr {
                        for (t, v) in s {
                            by_time.entry(*t).or_default().push(*v);
                        }
                    }
                    Ok(Val::Series(
                        by_time
                            .into_iter()
                            .filter_map(|(t, vs)| fold(name, &vs).map(|r| (t, r)))
                            .collect(),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Vars(HashMap<String, Series>);

    impl Env for Vars {
        fn value(&mut self, id: &str) -> Result<Val, String> {
            self.0
                .get(id)
                .cloned()
                .map(Val::Series)
                .ok_or_else(|| format!("unknown id {id}"))
        }
        fn metrics(&mut self, _filter: Option<&str>) -> Vec<Series> {
            let mut keys: Vec<&String> = self.0.keys().collect();
            keys.sort();
            keys.into_iter().map(|k| self.0[k].clone()).collect()
        }
    }

    fn vars() -> Vars {
        let a: Series = [(1, 1.0), (2, 2.0), (3, 3.0)].into_iter().collect();
        let b: Series = [(2, 10.0), (3, 0.0), (4, 40.0)].into_iter().collect();
        Vars(
            [("a".to_string(), a), ("b".to_string(), b)]
                .into_iter()
                .collect(),
        )
    }

    fn run(src: &str) -> Val {
        eval(&parse(src).unwrap(), &mut vars()).unwrap()
    }

    fn series(pairs: &[(i64, f64)]) -> Val {
        Val::Series(pairs.iter().copied().collect())
    }

    #[test]
    fn arithmetic() {
        assert_eq!(run("1 + 2 * 3"), Val::Scalar(7.0));
        assert_eq!(run("(1 + 2) * 3"), Val::Scalar(9.0));
        assert_eq!(run("-2 ^ 2"), Val::Scalar(-4.0));
        assert_eq!(run("2 ^ 3 ^ 2"), Val::Scalar(512.0));
        assert_eq!(run("a * 2"), series(&[(1, 2.0), (2, 4.0), (3, 6.0)]));
        assert_eq!(run("100 - a"), series(&[(1, 99.0), (2, 98.0), (3, 97.0)]));
        // Two series: the common timestamps; dividing by zero drops the point.
        assert_eq!(run("a + b"), series(&[(2, 12.0), (3, 3.0)]));
        assert_eq!(run("a / b"), series(&[(2, 0.2)]));
    }

    #[test]
    fn aggregates() {
        assert_eq!(
            run("SUM([a, b])"),
            series(&[(1, 1.0), (2, 12.0), (3, 3.0), (4, 40.0)])
        );
        assert_eq!(
            run("AVG([a, b])"),
            series(&[(1, 1.0), (2, 6.0), (3, 1.5), (4, 40.0)])
        );
        assert_eq!(
            run("MIN([a, b])"),
            series(&[(1, 1.0), (2, 2.0), (3, 0.0), (4, 40.0)])
        );
        assert_eq!(
            run("MAX(METRICS())"),
            series(&[(1, 1.0), (2, 10.0), (3, 3.0), (4, 40.0)])
        );
        assert_eq!(run("SUM(a)"), Val::Scalar(6.0));
        assert_eq!(
            run("a / SUM(a) * 100"),
            series(&[(1, 1.0 / 6.0 * 100.0), (2, 2.0 / 6.0 * 100.0), (3, 50.0)])
        );
        assert_eq!(run("ABS(0 - a)"), series(&[(1, 1.0), (2, 2.0), (3, 3.0)]));
    }

    #[test]
    fn errors() {
        assert!(parse("a +").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("a b").is_err());
        assert_eq!(parse("FILL(a, 0)").unwrap_err(), "unknown function FILL");
        assert!(parse("a $ b").is_err());
        assert!(eval(&parse("c * 2").unwrap(), &mut vars()).is_err());
        let mut refs = Vec::new();
        references(&parse("SUM([a, b]) / c").unwrap(), &mut refs);
        assert_eq!(refs, ["a", "b", "c"]);
    }
}
