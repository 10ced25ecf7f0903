//! Standard output and error, for people and for pipes.
//!
//! * A closed pipe (`orgsync users list | head -1`) ends the output quietly: the first failed
//!   write marks standard output closed, later writes are dropped, and the command finishes its
//!   work and exits with its own code (`print!` would panic with exit 101).
//! * Colour only on a terminal and never with `NO_COLOR` (or `TERM=dumb`): everything is written
//!   through `anstream`, which strips styles when the stream is not a colour terminal.
//! * Every line goes through [`crate::text::escape`]: provider-controlled text cannot carry a
//!   control character to the terminal, and a line printed with [`line`](fn@line) is one line.

use anstyle::{AnsiColor, Style};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Green: additions and successful runs.
pub const GOOD: Style = AnsiColor::Green.on_default();
/// Red: removals, failures and refusals.
pub const BAD: Style = AnsiColor::Red.on_default();
/// Yellow: changes in place, holds.
pub const NOTE: Style = AnsiColor::Yellow.on_default();
/// Bold: headings.
pub const HEADING: Style = Style::new().bold();

/// True once a write to standard output failed (its reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn write_stdout(bytes: &[u8]) {
    if stdout_closed() {
        return;
    }
    let mut out = anstream::stdout().lock();
    if out.write_all(bytes).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Flushes standard output at the end of a command; a closed pipe is not an error.
pub fn flush() {
    if !stdout_closed() && anstream::stdout().lock().flush().is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

fn styled(style: Style, text: &str) -> String {
    if style == Style::new() {
        text.to_string()
    } else {
        format!("{style}{text}{style:#}")
    }
}

/// Prints `text` as exactly one line: every control character in it, a newline included, is
/// escaped.
pub fn line(text: &str) {
    line_styled(Style::new(), text);
}

/// [`line`](fn@line) in a colour (dropped off a terminal and with `NO_COLOR`).
pub fn line_styled(style: Style, text: &str) {
    let mut s = styled(style, &crate::text::escape(text));
    s.push('\n');
    write_stdout(s.as_bytes());
}

/// Asks a question on standard output without ending the line.
pub fn prompt(text: &str) {
    write_stdout(crate::text::escape(text).as_bytes());
    flush();
}

/// Prints multi-line text whose parts escaped their own fields (a table, a plan, JSON): each
/// line is escaped again, so a control character that slipped through still cannot reach the
/// terminal.
pub fn block(text: &str) {
    let mut s = String::with_capacity(text.len());
    for l in text.lines() {
        s.push_str(&crate::text::escape(l));
        s.push('\n');
    }
    write_stdout(s.as_bytes());
}

/// Writes text built with this module's styles as it is (the styles are stripped off a
/// terminal and with `NO_COLOR`); whoever built it escaped its provider text line by line.
pub fn raw(text: &str) {
    write_stdout(text.as_bytes());
}

/// The colour of a plan line: `+` green, `-` red, `~` yellow.
pub fn change_style(line: &str) -> Style {
    let t = line.trim_start();
    if t.starts_with("+ ") {
        GOOD
    } else if t.starts_with("- ") || t.contains("ABORTED") {
        BAD
    } else if t.starts_with("~ ") || t.starts_with("? ") {
        NOTE
    } else {
        Style::new()
    }
}

/// Prints a plan (its `Display`), each change line in its colour.
pub fn plan(text: &str) {
    for l in text.lines() {
        line_styled(change_style(l), l);
    }
}

/// Writes to standard error, line by line, each escaped; a closed standard error is ignored.
pub fn error(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    for l in text.lines() {
        s.push_str(&crate::text::escape(l));
        s.push('\n');
    }
    let _ = anstream::stderr().lock().write_all(s.as_bytes());
}

/// Whether a stream gets colour: a terminal, and neither `NO_COLOR` nor `TERM=dumb`.
pub fn colour_on(stream: &impl anstream::stream::RawStream) -> bool {
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

/// Rows as a table under a header, columns aligned two spaces apart, no borders. Every cell
/// is escaped ([`crate::text::escape`]): a cell is provider text more often than not, and a
/// control character in it must neither reach the terminal nor break the row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| crate::text::escape(h).into_owned()));
    for row in rows {
        t.add_row(row.iter().map(|c| crate::text::escape(c).into_owned()));
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
