//! `test_rules FILE...`: runs promtool-format rule unit tests with alertd's evaluator (the same
//! code `alertctl test rules` calls). Exit code 0 when all pass, 1 otherwise.

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: test_rules FILE...");
        std::process::exit(2);
    }
    let mut out = std::io::stdout();
    match evaluator::unittest::run_files(&files, &mut out) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
