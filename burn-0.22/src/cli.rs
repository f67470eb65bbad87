//! Command-line parsing shared by the examples (clap derive): `--help` prints the usage and
//! exits 0; a bad flag or value is one line naming it (`error: invalid value '0' for
//! '--tokens <N>': must be at least 1`) and exit status 2, never a panic. The value parsers
//! below check zero, negative, non-finite and too large values as the flag is read.

use clap::Parser;
use clap::error::ErrorKind;

/// Why a command line does not give a run: help to print (exit 0), or a one-line error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliExit {
    /// `--help`: the text to print.
    Help(String),
    /// A bad flag or value, in one line naming it.
    Error(String),
}

impl CliExit {
    /// Prints the help (exit 0) or `error: ...` (exit 2), and exits.
    pub fn exit(self) -> ! {
        match self {
            Self::Help(text) => {
                print!("{text}");
                std::process::exit(0)
            }
            Self::Error(line) => {
                eprintln!("error: {line}");
                std::process::exit(2)
            }
        }
    }
}

/// Parses `args` (starting with the program name) into `C`.
pub fn parse<C: Parser, I, T>(args: I) -> Result<C, CliExit>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    C::try_parse_from(args).map_err(clap_exit)
}

fn clap_exit(e: clap::Error) -> CliExit {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => CliExit::Help(e.render().to_string()),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            CliExit::Error(first.trim_start_matches("error: ").to_string())
        }
    }
}

/// Parses the process's arguments, or prints the help / the error and exits.
pub fn parse_or_exit<C: Parser>() -> C {
    parse(std::env::args_os()).unwrap_or_else(|exit| exit.exit())
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| "not a number".to_string())
}

/// An integer `>= 1`.
pub fn at_least_1(s: &str) -> Result<usize, String> {
    match number(s)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// A finite number `> 0`.
pub fn positive(s: &str) -> Result<f64, String> {
    let x: f64 = number(s)?;
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err("must be a finite number > 0".into())
    }
}

/// A device name this build can run (see [`crate::device_choice::available_devices`]).
pub fn device(s: &str) -> Result<String, String> {
    one_of(s, crate::device_choice::available_devices())
}

fn one_of(s: &str, names: Vec<&str>) -> Result<String, String> {
    if names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("not one of {}", names.join(", ")))
    }
}

/// Runs an example's main: an `Err` prints as `NAME: message` (exit status 1); a panic — on
/// any thread, a bug or a library's refusal — as one line `NAME: panicked at FILE:LINE:
/// message` (exit status 101) instead of Rust's note about backtraces. With `RUST_BACKTRACE`
/// set, panics print as Rust prints them.
pub fn run_main(name: &'static str, main: impl FnOnce() -> Result<(), String>) -> ! {
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let at = info
                .location()
                .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
            eprintln!("{name}: panicked{at}: {}", message.replace('\n', " "));
        }));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(main)) {
        Ok(Ok(())) => std::process::exit(0),
        Ok(Err(message)) => {
            eprintln!("{name}: {message}");
            std::process::exit(1)
        }
        Err(_) => std::process::exit(101),
    }
}
