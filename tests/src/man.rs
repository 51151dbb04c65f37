//! Man pages and shell completions for the five tools, generated from their clap
//! definitions.
//!
//! Each tool's `cli` module exposes `command()` and `EXIT_STATUS`; a page is clap_mangen's
//! standard sections plus an EXIT STATUS section built from that table. `man/` holds the
//! rendered pages; `tests/tests/man.rs` fails when they drift, and `scripts/gen-man`
//! (the `gen-man` binary) rewrites them.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// One tool's page: its name, clap command and exit-status table.
pub struct Page {
    pub name: &'static str,
    pub command: clap::Command,
    pub exit_status: &'static [(u8, &'static str)],
}

/// The pages of every tool, in a stable order.
pub fn pages() -> Vec<Page> {
    vec![
        Page {
            name: "codex-spawn",
            command: codex_spawn::cli::command(),
            exit_status: codex_spawn::cli::EXIT_STATUS,
        },
        Page {
            name: "codex-session-id",
            command: codex_session_id::cli::command(),
            exit_status: codex_session_id::cli::EXIT_STATUS,
        },
        Page {
            name: "codex-meta",
            command: codex_meta::cli::command(),
            exit_status: codex_meta::cli::EXIT_STATUS,
        },
        Page {
            name: "codex-summarize",
            command: codex_summarize::cli::command(),
            exit_status: codex_summarize::cli::EXIT_STATUS,
        },
        Page {
            name: "codex-mcp",
            command: codex_mcp::cli::command(),
            exit_status: codex_mcp::cli::EXIT_STATUS,
        },
    ]
}

/// Every file of `man/`: each tool's page, and one page per subcommand (`codex-meta-set.1`),
/// as (file name, roff).
pub fn render_all() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for page in pages() {
        files.push((format!("{}.1", page.name), render(&page)));
        let cmd = page
            .command
            .clone()
            .name(page.name)
            .disable_help_subcommand(true);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{}-{}", page.name, sub.get_name());
            let sub = sub.clone().name(name.clone()).disable_help_subcommand(true);
            let mut out = Vec::new();
            render_sections(&Man::new(sub.clone()).manual("codex-tools"), &sub, &mut out);
            let mut roff = Roff::default();
            roff.control("SH", ["SEE ALSO"]);
            roff.text([roman(format!("{}(1), for the exit status", page.name))]);
            let _ = roff.to_writer(&mut out);
            files.push((format!("{name}.1"), tidy(out)));
        }
    }
    files
}

/// Every file of `completions/`: bash, zsh and fish completions of each tool, as
/// (file name, script).
pub fn render_completions() -> Vec<(String, Vec<u8>)> {
    use clap_complete::Shell;
    let mut files = Vec::new();
    for page in pages() {
        for (shell, file) in [
            (Shell::Bash, format!("{}.bash", page.name)),
            (Shell::Zsh, format!("_{}", page.name)),
            (Shell::Fish, format!("{}.fish", page.name)),
        ] {
            let mut cmd = page.command.clone().name(page.name);
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, page.name, &mut out);
            files.push((file, out));
        }
    }
    files
}

/// Render one tool's page as roff. Deterministic: no date, so a page changes only when
/// the CLI does.
pub fn render(page: &Page) -> Vec<u8> {
    let cmd = page
        .command
        .clone()
        .name(page.name)
        .disable_help_subcommand(true);
    let man = Man::new(cmd.clone()).manual("codex-tools");
    let mut out = Vec::new();
    render_sections(&man, &cmd, &mut out);
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in page.exit_status {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = pages()
        .iter()
        .filter(|p| p.name != page.name)
        .map(|p| format!("{}(1)", p.name))
        .collect();
    roff.text([roman(others.join(", "))]);
    let _ = roff.to_writer(&mut out);
    let _ = man.render_version_section(&mut out);
    tidy(out)
}

/// clap_mangen's standard sections, NOTES (the after-help text) included.
fn render_sections(man: &Man, cmd: &clap::Command, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    type Section = fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let sections: [Section; 4] = [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
    ];
    for section in sections {
        let _ = section(man, out);
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(out);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        let _ = man.render_subcommands_section(out);
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        let _ = man.render_extra_section(out);
    }
}

/// Each clap_mangen section repeats roff's quote-string preamble and calls the after-help
/// text EXTRA: keep the first preamble and call it NOTES.
fn tidy(roff: Vec<u8>) -> Vec<u8> {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let text = String::from_utf8_lossy(&roff).into_owned();
    let (head, rest) = match text.find(PREAMBLE) {
        Some(i) => text.split_at(i + PREAMBLE.len()),
        None => (text.as_str(), ""),
    };
    let rest = rest
        .replace(PREAMBLE, "")
        .replace(".SH EXTRA\n", ".SH NOTES\n");
    format!("{head}{rest}").into_bytes()
}
