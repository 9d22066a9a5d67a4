//! The `pktsample` command: parses arguments, runs, and reports an error once.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// `println!` that returns the error (a closed pipe, `| head`) instead of
/// panicking; `main` ends quietly on a broken pipe.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

mod analyze_cmd;
mod cli;
mod convert_cmd;
mod dataset_cmd;
mod draw;
mod parse;
mod sflow_cmd;
mod shared;

// Batches of decoded columns are large and short-lived: the system
// allocator hands each back to the kernel and faults it in again (0.2 s of
// system time per 20 M analysed rows); mimalloc keeps and reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The error and its causes on one line, each cause only when the message
/// does not already say it (library errors keep their I/O errors as sources
/// and name them in the message too).
fn one_line(err: &anyhow::Error) -> String {
    let mut s = String::new();
    for cause in err.chain() {
        let t = cause.to_string();
        if !s.contains(&t) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&t);
        }
    }
    s
}

fn broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A usage error on one line, as every other error: clap's message, its
/// tips and the possible values, without the usage block.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let parts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .map(|l| {
            let l = l.strip_prefix("error: ").unwrap_or(l);
            match l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                Some(inner) => format!("({inner})"),
                None => l.to_string(),
            }
        })
        .collect();
    format!("{}; see --help", parts.join(" "))
}

fn main() -> ExitCode {
    use clap::error::ErrorKind;
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("pktsample: {}", usage_line(&e));
            return ExitCode::from(2);
        }
    };
    match cli::run(args) {
        Ok(code) => code,
        // The reader of our output went away (`| head`): nothing to report.
        Err(err) if broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pktsample: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}
