//! Fuzzing the configuration loader (`Config::load`, the path `orgsync` itself takes): arbitrary
//! bytes (non-UTF-8 included), arbitrary text, and structure-aware mutations of the shipped
//! example configuration (lines deleted, duplicated, swapped or cut; values replaced with
//! hostile ones: extremes, wrong types, bad cron, bad zones, bad URLs, control characters).
//! Each input must give a configuration or errors that name the file, and a line:column that is
//! inside the file when there is one; never a panic. The inputs are counted and printed.
//! Bounded: about 3,000 inputs, a few seconds.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

use orgsync::config::Config;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

const EXAMPLE: &str = include_str!("../config/orgsync.example.toml");

const HOSTILE: &[&str] = &[
    "\"\"",
    "-1",
    "0",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "1e309",
    "nan",
    "inf",
    "true",
    "[]",
    "{}",
    "[[]]",
    "\"\\u0000\"",
    "\"\\u001b]0;owned\\u0007\"",
    "\"line\\nforged\"",
    "\"../../../../etc/shadow\"",
    "\"http://[::1\"",
    "\"http://example.com/\"",
    "\"sqlite://\"",
    "\"postgres://\"",
    "\"postgres://u:p@[::1]:99999/db\"",
    "\"127.0.0.1:99999\"",
    "\"0 0 31 2 *\"",
    "\"* * * * * * * *\"",
    "\"@reboot\"",
    "\"60 * * * *\"",
    "\"Mars/Olympus_Mons\"",
    "\"*[\"",
    "\"{a,{b,{c\"",
    "1979-05-27T07:32:00Z",
    "'''\nmulti\nline'''",
    "\"💥\\u202e\"",
];

/// Where a valid file's errors point must be inside it.
fn check(text: &str, result: Result<Config, Vec<orgsync::config::ConfigError>>, file: &Path) {
    let Err(errors) = result else {
        return;
    };
    assert!(!errors.is_empty(), "an error without a message");
    let lines = text.lines().count().max(1);
    for e in errors {
        let shown = e.to_string();
        assert!(
            shown.starts_with(&file.display().to_string()),
            "the error names the file: {shown}"
        );
        assert!(!e.message.trim().is_empty(), "an empty message: {shown}");
        if let Some((line, column)) = e.location {
            assert!(
                line >= 1 && line <= lines + 1 && column >= 1,
                "{line}:{column} is outside a {lines}-line file: {shown}"
            );
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Value(usize, usize),
    Insert(usize, String),
    Cut(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(l, v)| Edit::Value(l, v)),
        1 => (any::<usize>(), ".{0,24}").prop_map(|(at, s)| Edit::Insert(at, s)),
        1 => any::<usize>().prop_map(Edit::Cut),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::Value(i, v) => {
                // The n-th `key = value` line gets a hostile value.
                let assignments: Vec<usize> = (0..n)
                    .filter(|&k| !lines[k].trim_start().starts_with('#') && lines[k].contains('='))
                    .collect();
                if let Some(&k) = assignments.get(i % assignments.len().max(1)) {
                    let key = lines[k].split('=').next().unwrap_or("").to_string();
                    lines[k] = format!("{key}= {}", HOSTILE[v % HOSTILE.len()]);
                }
            }
            Edit::Insert(i, s) => {
                let line = &mut lines[i % n];
                let at = line
                    .char_indices()
                    .map(|(p, _)| p)
                    .nth(i % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(at, s);
            }
            Edit::Cut(i) => lines.truncate(i % n + 1),
        }
    }
    lines.join("\n")
}

fn run(cases: u32, strategy: impl Strategy<Value = Vec<u8>>, what: &str) -> u32 {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("fuzz.toml");
    let count = AtomicU32::new(0);
    let accepted = AtomicU32::new(0);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&strategy, |bytes| {
        count.fetch_add(1, Ordering::Relaxed);
        std::fs::write(&file, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let loaded = Config::load(&file);
        if loaded.is_ok() {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        let text = String::from_utf8_lossy(&bytes);
        check(&text, loaded, &file);
        // The in-memory parser too, with the text as it is.
        check(&text, Config::parse(&text, &file), &file);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
    let n = count.load(Ordering::Relaxed);
    eprintln!(
        "config loader, {what}: {n} inputs, {} accepted, the rest refused with located errors, 0 panics",
        accepted.load(Ordering::Relaxed)
    );
    n
}

#[test]
fn the_example_is_valid_before_it_is_mutated() {
    Config::parse(EXAMPLE, Path::new("orgsync.example.toml")).expect("the example parses");
}

#[test]
fn arbitrary_bytes_give_a_config_or_located_errors() {
    let n = run(
        1000,
        prop::collection::vec(any::<u8>(), 0..600),
        "arbitrary bytes",
    );
    assert_eq!(n, 1000);
}

#[test]
fn arbitrary_toml_like_text_gives_a_config_or_located_errors() {
    // Text made of TOML's own punctuation and keywords, so it gets past the first character.
    let n = run(
        1000,
        "([\\[\\]{}=\"'#.,\n a-z0-9_:-]|directory|workspace|url|schedule|http|true){0,80}"
            .prop_map(String::into_bytes),
        "TOML-like text",
    );
    assert_eq!(n, 1000);
}

#[test]
fn mutations_of_the_example_give_a_config_or_located_errors() {
    let n = run(
        1500,
        prop::collection::vec(edit(), 1..5).prop_map(|edits| apply(EXAMPLE, &edits).into_bytes()),
        "mutations of the example",
    );
    assert_eq!(n, 1500);
}
