//! The file layout both conformance suites share (holo-nhrp's and
//! holo-ike's, tests as data in Holo's way): a directory of numbered steps,
//! `NN-input.json` and `NN-output.json`, step 00 the start (an output
//! only). Test code; here so that both read the layout the same way.

use std::path::{Path, PathBuf};

/// The NN-input.json files of `dir`, in step order. Panics (the test's
/// failure report) on a file that does not follow the layout, an output
/// without its input, two inputs with one number, or an input for step 00.
pub fn step_files(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut steps = vec![];
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((number, kind)) = name.split_once('-') else {
            panic!("{}: not NN-input.json or NN-output.json", path.display());
        };
        let number: u32 = number
            .parse()
            .unwrap_or_else(|_| panic!("{}: the name must start with a number", path.display()));
        match kind {
            "input.json" => steps.push((number, path)),
            "output.json" => {
                let input = dir.join(format!("{number:02}-input.json"));
                assert!(
                    number == 0 || input.exists(),
                    "{}: no matching {}",
                    path.display(),
                    input.display()
                );
            }
            _ => panic!("{}: not NN-input.json or NN-output.json", path.display()),
        }
    }
    steps.sort();
    assert!(
        steps.windows(2).all(|w| w[0].0 != w[1].0),
        "{}: two inputs with the same step number",
        dir.display()
    );
    assert!(
        steps.iter().all(|(n, _)| *n > 0),
        "{}: step 00 is the start and has no input",
        dir.display()
    );
    steps
}

/// The names of the directories in `dir` (one per scenario), sorted.
pub fn directories(dir: &Path) -> Vec<String> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
