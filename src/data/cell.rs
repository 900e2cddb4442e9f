//! Cell kernels: what a raw input value is and how a column of each kind
//! reads it. The loader, the preprocessing and every scorer use these
//! functions, and `automl export --rust` copies this file verbatim into the
//! generated module, so a cell means the same thing everywhere.
//!
//! Std only, no allocation, no imports from the crate: the text must compile
//! on its own.

/// Cell texts that mean "missing", after trimming white space. Polars itself
/// only treats empty fields as null; these cover what R, pandas and SQL dumps
/// write, and `?`, the marker of many UCI data sets. A numeric cell that
/// parses to NaN or ±infinity is missing too. A model may add its own
/// markers (`automl train --na-values`): every reader below takes them as
/// `extra`.
pub const MISSING_TOKENS: [&str; 9] = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"];

/// One raw input value, as a CSV cell, a JSON field or a caller gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// No value (null, empty, `NA`, …).
    Missing,
    /// A number; a categorical column uses its text form.
    Number(f64),
    /// Text; a numeric column parses it.
    Text(&'a str),
}

/// Why a present value can't be read as its column's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A numeric column got text that is not a finite number.
    NotANumber,
    /// A true/false column got something else.
    NotAFlag,
}

impl Refusal {
    /// The reason, completing "value '…' ".
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotANumber => "is not a number",
            Refusal::NotAFlag => "is not true or false",
        }
    }
}

/// Whether a (trimmed) cell text means "missing": a default marker or one
/// of the model's `extra` ones.
pub fn is_missing_token<S: AsRef<str>>(text: &str, extra: &[S]) -> bool {
    MISSING_TOKENS.contains(&text) || extra.iter().any(|m| m.as_ref() == text)
}

/// Whether a number given as a number is one of the `extra` markers written
/// as a number (`-999`): a JSON field then reads as the CSV cell would.
fn is_missing_number<S: AsRef<str>>(x: f64, extra: &[S]) -> bool {
    extra.iter().any(|m| parse_number(m.as_ref()) == Some(x))
}

/// Parses a cell as a number the way every scorer must: trimmed, finite.
pub fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `true` or `false` in any case, as 1 or 0.
pub fn parse_flag(text: &str) -> Option<f64> {
    if text.eq_ignore_ascii_case("true") {
        Some(1.0)
    } else if text.eq_ignore_ascii_case("false") {
        Some(0.0)
    } else {
        None
    }
}

/// A numeric column's reading of a value: `None` when missing.
pub fn read_number<S: AsRef<str>>(v: Value<'_>, extra: &[S]) -> Result<Option<f64>, Refusal> {
    match v {
        Value::Missing => Ok(None),
        Value::Number(x) if is_missing_number(x, extra) => Ok(None),
        Value::Number(x) => Ok(Some(x).filter(|x| x.is_finite())),
        Value::Text(t) => {
            let t = t.trim();
            if is_missing_token(t, extra) {
                return Ok(None);
            }
            parse_number(t).map(Some).ok_or(Refusal::NotANumber)
        }
    }
}

/// The reading of a column trained as mostly numbers: a value that is not
/// a number is missing, as its training cells were.
pub fn read_number_or_missing<S: AsRef<str>>(v: Value<'_>, extra: &[S]) -> Option<f64> {
    read_number(v, extra).unwrap_or(None)
}

/// A true/false column's reading of a value (1 or 0): `None` when missing.
pub fn read_flag<S: AsRef<str>>(v: Value<'_>, extra: &[S]) -> Result<Option<f64>, Refusal> {
    match v {
        Value::Missing => Ok(None),
        Value::Number(x) if !x.is_finite() || is_missing_number(x, extra) => Ok(None),
        Value::Number(x) if x == 0.0 || x == 1.0 => Ok(Some(x)),
        Value::Number(_) => Err(Refusal::NotAFlag),
        Value::Text(t) => {
            let t = t.trim();
            if is_missing_token(t, extra) {
                return Ok(None);
            }
            parse_flag(t).map(Some).ok_or(Refusal::NotAFlag)
        }
    }
}

/// A categorical column's reading of a value: the level it names, `None`
/// when missing. A number names the level spelled as `{}` prints it, written
/// into `text` so that no allocation is needed.
pub fn read_level<'a, S: AsRef<str>>(
    v: Value<'a>,
    extra: &[S],
    text: &'a mut NumText,
) -> Option<&'a str> {
    match v {
        Value::Missing => None,
        Value::Number(x) if !x.is_finite() || is_missing_number(x, extra) => None,
        Value::Number(x) => {
            use core::fmt::Write as _;
            text.len = 0;
            let _ = write!(text, "{x}");
            Some(text.as_str())
        }
        Value::Text(t) => Some(t.trim()).filter(|t| !is_missing_token(t, extra)),
    }
}

/// The text of a number given to a categorical column, formatted on the
/// stack as `{}` would (a finite f64 prints in at most ~330 bytes).
pub struct NumText {
    bytes: [u8; 400],
    len: usize,
}

impl NumText {
    /// An empty buffer.
    pub fn new() -> NumText {
        NumText {
            bytes: [0; 400],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Default for NumText {
    fn default() -> Self {
        NumText::new()
    }
}

impl core::fmt::Write for NumText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(core::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
