//! Unit conversion: length, mass, temperature, time and data sizes.

use toolhost_sdk::ToolError;

/// A unit: `base = value * scale + offset` in its category's base unit.
struct Unit {
    symbol: &'static str,
    category: &'static str,
    scale: f64,
    offset: f64,
    aliases: &'static [&'static str],
}

const fn unit(
    symbol: &'static str,
    category: &'static str,
    scale: f64,
    aliases: &'static [&'static str],
) -> Unit {
    Unit { symbol, category, scale, offset: 0.0, aliases }
}

const KIB: f64 = 1024.0;

/// Base units: metre, kilogram, kelvin, second, byte.
const UNITS: &[Unit] = &[
    // length
    unit("nm", "length", 1e-9, &["nanometer", "nanometre", "nanometers", "nanometres"]),
    unit("um", "length", 1e-6, &["µm", "micrometer", "micrometre", "micron", "microns"]),
    unit("mm", "length", 1e-3, &["millimeter", "millimetre", "millimeters", "millimetres"]),
    unit("cm", "length", 1e-2, &["centimeter", "centimetre", "centimeters", "centimetres"]),
    unit("m", "length", 1.0, &["meter", "metre", "meters", "metres"]),
    unit("km", "length", 1e3, &["kilometer", "kilometre", "kilometers", "kilometres"]),
    unit("in", "length", 0.0254, &["inch", "inches", "\""]),
    unit("ft", "length", 0.3048, &["foot", "feet", "'"]),
    unit("yd", "length", 0.9144, &["yard", "yards"]),
    unit("mi", "length", 1609.344, &["mile", "miles"]),
    unit("nmi", "length", 1852.0, &["nautical mile", "nautical miles"]),
    // mass
    unit("mg", "mass", 1e-6, &["milligram", "milligrams"]),
    unit("g", "mass", 1e-3, &["gram", "grams"]),
    unit("kg", "mass", 1.0, &["kilogram", "kilograms", "kilo", "kilos"]),
    unit("t", "mass", 1e3, &["tonne", "tonnes", "metric ton", "metric tons"]),
    unit("oz", "mass", 0.028_349_523_125, &["ounce", "ounces"]),
    unit("lb", "mass", 0.453_592_37, &["lbs", "pound", "pounds"]),
    unit("st", "mass", 6.350_293_18, &["stone", "stones"]),
    // temperature (base: kelvin)
    Unit {
        symbol: "C",
        category: "temperature",
        scale: 1.0,
        offset: 273.15,
        aliases: &["°c", "celsius", "degc"],
    },
    Unit {
        symbol: "F",
        category: "temperature",
        scale: 5.0 / 9.0,
        offset: 273.15 - 32.0 * 5.0 / 9.0,
        aliases: &["°f", "fahrenheit", "degf"],
    },
    unit("K", "temperature", 1.0, &["kelvin", "kelvins"]),
    // time
    unit("ns", "time", 1e-9, &["nanosecond", "nanoseconds"]),
    unit("us", "time", 1e-6, &["µs", "microsecond", "microseconds"]),
    unit("ms", "time", 1e-3, &["millisecond", "milliseconds"]),
    unit("s", "time", 1.0, &["sec", "secs", "second", "seconds"]),
    unit("min", "time", 60.0, &["mins", "minute", "minutes"]),
    unit("h", "time", 3600.0, &["hr", "hrs", "hour", "hours"]),
    unit("d", "time", 86_400.0, &["day", "days"]),
    unit("wk", "time", 604_800.0, &["week", "weeks"]),
    // data sizes (base: byte; decimal and binary prefixes)
    unit("bit", "data", 0.125, &["bits"]),
    unit("B", "data", 1.0, &["byte", "bytes"]),
    unit("kB", "data", 1e3, &["kilobyte", "kilobytes"]),
    unit("MB", "data", 1e6, &["megabyte", "megabytes"]),
    unit("GB", "data", 1e9, &["gigabyte", "gigabytes"]),
    unit("TB", "data", 1e12, &["terabyte", "terabytes"]),
    unit("PB", "data", 1e15, &["petabyte", "petabytes"]),
    unit("KiB", "data", KIB, &["kibibyte", "kibibytes"]),
    unit("MiB", "data", KIB * KIB, &["mebibyte", "mebibytes"]),
    unit("GiB", "data", KIB * KIB * KIB, &["gibibyte", "gibibytes"]),
    unit("TiB", "data", KIB * KIB * KIB * KIB, &["tebibyte", "tebibytes"]),
    unit("PiB", "data", KIB * KIB * KIB * KIB * KIB, &["pebibyte", "pebibytes"]),
    unit("kbit", "data", 125.0, &["kilobit", "kilobits"]),
    unit("Mbit", "data", 125e3, &["megabit", "megabits"]),
    unit("Gbit", "data", 125e6, &["gigabit", "gigabits"]),
];

/// Finds a unit by symbol (exact), then by symbol or alias (case-insensitive).
fn find(name: &str) -> Result<&'static Unit, ToolError> {
    let name = name.trim();
    if let Some(u) = UNITS.iter().find(|u| u.symbol == name) {
        return Ok(u);
    }
    let lower = name.to_lowercase();
    UNITS.iter().find(|u| u.symbol.to_lowercase() == lower || u.aliases.contains(&lower.as_str())).ok_or_else(
        || {
            ToolError::invalid_input(format!(
                "unknown unit `{name}`; known units: {}",
                UNITS.iter().map(|u| u.symbol).collect::<Vec<_>>().join(", ")
            ))
        },
    )
}

/// Result of a conversion.
#[derive(Debug)]
pub struct Converted {
    /// The converted value (12 significant digits).
    pub value: f64,
    /// Canonical symbol of the target unit.
    pub unit: &'static str,
    /// The category of both units.
    pub category: &'static str,
}

/// Converts `value` from unit `from` to unit `to`.
pub fn convert(value: f64, from: &str, to: &str) -> Result<Converted, ToolError> {
    if !value.is_finite() {
        return Err(ToolError::invalid_input("`value` must be a finite number"));
    }
    let (f, t) = (find(from)?, find(to)?);
    if f.category != t.category {
        return Err(ToolError::invalid_input(format!(
            "cannot convert {} (`{}`) to {} (`{}`)",
            f.category, f.symbol, t.category, t.symbol
        )));
    }
    let base = value * f.scale + f.offset;
    if f.category == "temperature" && base < -1e-9 {
        return Err(ToolError::invalid_input(format!("{value} {} is below absolute zero", f.symbol)));
    }
    let out = (base - t.offset) / t.scale;
    Ok(Converted { value: round_sig(out, 12), unit: t.symbol, category: t.category })
}

/// Rounds to `digits` significant digits (hides binary floating-point noise).
fn round_sig(x: f64, digits: usize) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{:.*e}", digits - 1, x).parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: f64, from: &str, to: &str) -> f64 {
        convert(v, from, to).unwrap().value
    }

    #[test]
    fn conversions() {
        assert_eq!(c(1.0, "ft", "m"), 0.3048);
        assert_eq!(c(5.0, "km", "mi"), 3.10685596119);
        assert_eq!(c(1.0, "lb", "g"), 453.59237);
        assert_eq!(c(100.0, "C", "F"), 212.0);
        assert_eq!(c(-40.0, "Fahrenheit", "celsius"), -40.0);
        assert_eq!(c(0.0, "K", "C"), -273.15);
        assert_eq!(c(1.0, "GiB", "MB"), 1073.741824);
        assert_eq!(c(8.0, "bit", "B"), 1.0);
        assert_eq!(c(100.0, "Mbit", "MB"), 12.5);
        assert_eq!(c(90.0, "minutes", "h"), 1.5);
        assert_eq!(c(1.0, "kb", "bit"), 8000.0);
        assert_eq!(c(1.0, "kbit", "bit"), 1000.0);
        assert_eq!(c(1.0, "KB", "B"), 1000.0);
    }

    #[test]
    fn errors() {
        let e = convert(1.0, "m", "kg").unwrap_err();
        assert_eq!(e.message(), "cannot convert length (`m`) to mass (`kg`)");
        let e = convert(1.0, "furlong", "m").unwrap_err();
        assert!(e.message().starts_with("unknown unit `furlong`"));
        assert!(convert(-300.0, "C", "K").is_err());
    }
}
