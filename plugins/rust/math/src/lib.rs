//! toolhost example plugin `math`: expressions, unit conversion and random numbers.
//!
//! | tool | args | value | idempotent |
//! |---|---|---|---|
//! | `math.eval` | `{"expression","variables"?}` | `{"value"}` | yes |
//! | `math.convert` | `{"value","from","to"}` | `{"value","unit","category"}` | yes |
//! | `math.random` | `{"kind"?,"min"?,"max"?,"count"?}` | `{"values"}` | **no** |

mod convert;
mod eval;
mod random;

use std::collections::BTreeMap;

use toolhost_sdk::prelude::*;

/// Arguments of `math.eval`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EvalArgs {
    /// An arithmetic expression: numbers, + - * / % ^ (or **), parentheses, unary minus,
    /// constants pi, e, tau and functions sqrt, cbrt, abs, min, max, round, floor, ceil, trunc,
    /// exp, ln, log10, log2, log(x, base), sin, cos, tan, asin, acos, atan, atan2, hypot.
    /// Example: "2 * (3 + 4) ^ 2 / sqrt(16)".
    expression: String,
    /// Optional named values used in the expression, e.g. {"x": 3}.
    #[serde(default)]
    variables: BTreeMap<String, f64>,
}

/// Result of `math.eval`.
#[derive(Debug, Serialize, JsonSchema)]
struct EvalResult {
    /// The value of the expression.
    value: f64,
}

fn eval(a: EvalArgs, _ctx: &Context) -> Result<EvalResult, ToolError> {
    if let Some(name) = a.variables.keys().find(|k| eval::is_reserved(k)) {
        return Err(ToolError::invalid_input(format!(
            "variable `{name}` shadows a built-in constant or function; rename it"
        )));
    }
    if let Some(name) = a.variables.keys().find(|k| {
        k.is_empty()
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || k.starts_with(|c: char| c.is_ascii_digit())
    }) {
        return Err(ToolError::invalid_input(format!(
            "variable name {name:?} is not an identifier (letters, digits, `_`; not starting with a digit)"
        )));
    }
    Ok(EvalResult { value: eval::evaluate(&a.expression, &a.variables)? })
}

/// Arguments of `math.convert`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConvertArgs {
    /// The quantity to convert.
    value: f64,
    /// Source unit. Length: nm um mm cm m km in ft yd mi nmi. Mass: mg g kg t oz lb st.
    /// Temperature: C F K. Time: ns us ms s min h d wk. Data: bit B kB MB GB TB PB KiB MiB GiB
    /// TiB PiB kbit Mbit Gbit. Full names ("feet", "celsius", "gibibytes") work too.
    from: String,
    /// Target unit, of the same category as `from`.
    to: String,
}

/// Result of `math.convert`.
#[derive(Debug, Serialize, JsonSchema)]
struct ConvertResult {
    /// The converted value (12 significant digits).
    value: f64,
    /// Canonical symbol of the target unit.
    unit: &'static str,
    /// length, mass, temperature, time or data.
    category: &'static str,
}

fn convert(a: ConvertArgs, _ctx: &Context) -> Result<ConvertResult, ToolError> {
    let c = convert::convert(a.value, &a.from, &a.to)?;
    Ok(ConvertResult { value: c.value, unit: c.unit, category: c.category })
}

/// What `math.random` produces.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum RandomKind {
    /// A uniform float in [min, max); defaults 0 and 1.
    #[default]
    Float,
    /// A uniform integer in [min, max], both inclusive; defaults 0 and 100.
    Integer,
    /// A random UUID (version 4) string; min and max are ignored.
    Uuid,
}

/// Arguments of `math.random`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RandomArgs {
    /// "float" (default), "integer" or "uuid".
    #[serde(default)]
    kind: RandomKind,
    /// Lower bound (float: inclusive, default 0; integer: inclusive, default 0).
    #[serde(default)]
    min: Option<f64>,
    /// Upper bound (float: exclusive, default 1; integer: inclusive, default 100).
    #[serde(default)]
    max: Option<f64>,
    /// How many values to draw, 1 to 1000 (default 1).
    #[serde(default)]
    count: Option<u32>,
}

/// Result of `math.random`.
#[derive(Debug, Serialize, JsonSchema)]
struct RandomResult {
    /// The drawn values: numbers, or UUID strings.
    values: Vec<Value>,
}

fn random(a: RandomArgs, _ctx: &Context) -> Result<RandomResult, ToolError> {
    let count = a.count.unwrap_or(1);
    if !(1..=1000).contains(&count) {
        return Err(ToolError::invalid_input("`count` must be between 1 and 1000"));
    }
    let draw: Box<dyn Fn() -> Result<Value, ToolError>> = match a.kind {
        RandomKind::Float => {
            let (min, max) = (a.min.unwrap_or(0.0), a.max.unwrap_or(1.0));
            if !(min.is_finite() && max.is_finite() && min < max) {
                return Err(ToolError::invalid_input(format!(
                    "need finite bounds with min < max (got min {min}, max {max})"
                )));
            }
            Box::new(move || Ok(json!(random::float(min, max)?)))
        }
        RandomKind::Integer => {
            let bound = |v: f64, name: &str| -> Result<i64, ToolError> {
                if v.fract() != 0.0 || v.abs() > random::MAX_INT {
                    return Err(ToolError::invalid_input(format!(
                        "`{name}` must be a whole number of magnitude at most 2^53 - 1 (got {v})"
                    )));
                }
                Ok(v as i64)
            };
            let min = bound(a.min.unwrap_or(0.0), "min")?;
            let max = bound(a.max.unwrap_or(100.0), "max")?;
            if min > max {
                return Err(ToolError::invalid_input(format!("`min` ({min}) must not exceed `max` ({max})")));
            }
            Box::new(move || Ok(json!(random::integer(min, max)?)))
        }
        RandomKind::Uuid => Box::new(|| Ok(json!(random::uuid_v4()?))),
    };
    let values = (0..count).map(|_| draw()).collect::<Result<_, _>>()?;
    Ok(RandomResult { values })
}

toolhost_sdk::plugin! {
    tool("math.eval", "Evaluate an arithmetic expression safely, e.g. \"2 * (3 + 4) ^ 2\" or \"sqrt(x) + pi\" with variables.", eval)
        .title("Evaluate expression")
        .read_only()
        .idempotent()
        .output_schema(),
    tool("math.convert", "Convert a quantity between units of length, mass, temperature, time or data size.", convert)
        .title("Convert units")
        .read_only()
        .idempotent()
        .output_schema(),
    // Changes nothing, but every call draws new numbers: read-only, not idempotent.
    tool("math.random", "Draw random numbers (uniform float or integer) or random UUIDs (v4).", random)
        .title("Random numbers")
        .read_only()
        .output_schema(),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> Result<Value, ToolError> {
        plugin_registry()
            .call(name, &args.to_string(), &Context::new("t"))
            .map(|o| o.value().cloned().unwrap_or(Value::Null))
    }

    #[test]
    fn describe() {
        let d: Vec<_> = plugin_registry().descriptors().collect();
        assert_eq!(d.len(), 3);
        assert!(d[0].idempotent && d[1].idempotent);
        assert!(!d[2].idempotent, "math.random is not idempotent");
        assert_eq!(d[2].input_schema["properties"]["kind"]["$ref"], "#/$defs/RandomKind");
    }

    #[test]
    fn eval_tool() {
        assert_eq!(
            call("math.eval", json!({"expression": "2 * (3 + 4) ^ 2 / sqrt(16)"})).unwrap(),
            json!({"value": 24.5})
        );
        assert_eq!(
            call("math.eval", json!({"expression": "x^2 + y", "variables": {"x": 3, "y": 1}})).unwrap(),
            json!({"value": 10.0})
        );
        let e = call("math.eval", json!({"expression": "1/0"})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.message(), "division by zero at character 2");
        let e = call("math.eval", json!({"expression": "pi", "variables": {"pi": 3}})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = call("math.eval", json!({"expression": "1", "variables": {"a b": 3}})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn convert_tool() {
        assert_eq!(
            call("math.convert", json!({"value": 100, "from": "C", "to": "F"})).unwrap(),
            json!({"value": 212.0, "unit": "F", "category": "temperature"})
        );
        let e = call("math.convert", json!({"value": 1, "from": "m", "to": "s"})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn random_tool() {
        let v = call("math.random", json!({})).unwrap();
        let x = v["values"][0].as_f64().unwrap();
        assert!((0.0..1.0).contains(&x));

        let v = call("math.random", json!({"kind": "integer", "min": 1, "max": 6, "count": 200})).unwrap();
        let ints: Vec<i64> = v["values"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        assert_eq!(ints.len(), 200);
        assert!(ints.iter().all(|i| (1..=6).contains(i)));
        assert!((1..=6).all(|k| ints.contains(&k)), "all faces appear in 200 rolls");

        let v = call("math.random", json!({"kind": "uuid", "count": 2})).unwrap();
        let a = v["values"][0].as_str().unwrap();
        let b = v["values"][1].as_str().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));

        for bad in [
            json!({"count": 0}),
            json!({"min": 2, "max": 1}),
            json!({"kind": "integer", "min": 0.5}),
            json!({"kind": "dice"}),
        ] {
            let e = call("math.random", bad.clone()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
    }
}
