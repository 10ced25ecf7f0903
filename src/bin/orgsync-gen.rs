//! `orgsync-gen OUT_DIR`: writes the man pages (`OUT_DIR/man/orgsync*.1`, one per subcommand)
//! and the bash, zsh and fish completions (`OUT_DIR/completions/`) from the same clap
//! definition the binary parses with, so they cannot drift. The Debian package ships them;
//! `.ci/run` runs this before `cargo deb`.

use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn generate(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    clap_mangen::generate_to(orgsync::cli::command(), &man)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = orgsync::cli::command();
        written.push(clap_complete::generate_to(
            shell,
            &mut cmd,
            "orgsync",
            &completions,
        )?);
    }
    written.sort();
    Ok(written)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: orgsync-gen OUT_DIR   (writes OUT_DIR/man/*.1 and OUT_DIR/completions/*)"
        );
        return ExitCode::from(2);
    };
    let out = PathBuf::from(out);
    match generate(&out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("orgsync-gen: cannot write into {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}
