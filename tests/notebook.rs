//! The example notebook (notebooks/example.ipynb) executed as a user would
//! run it, with nbclient: it loads a fixture's samples with polars and
//! DuckDB, reads the metadata with pyarrow, and asserts that its IPv6 share,
//! bytes per protocol (with intervals) and per-AS estimates equal
//! `pktsample analyze`'s. Its helper module has its own tests.

mod common;

use std::process::Command;

use common::{bin, need, python, root};

#[test]
fn the_example_notebook_runs_and_agrees_with_analyze() {
    let Some(py) = python() else {
        need(
            "the interop Python (pyarrow, DuckDB, polars, nbclient)",
            false,
        );
        return;
    };
    let nb = root().join("notebooks");
    // Committed without outputs.
    let text = std::fs::read_to_string(nb.join("example.ipynb")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for c in v["cells"].as_array().unwrap() {
        if c["cell_type"] == "code" {
            assert_eq!(c["outputs"], serde_json::json!([]), "outputs committed");
            assert!(c["execution_count"].is_null(), "outputs committed");
        }
    }
    let run = |args: &[&str]| {
        let o = Command::new(&py)
            .args(args)
            .current_dir(&nb)
            .env("PKTSAMPLE_BIN", bin())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = run(&["test_pktsample_nb.py"]);
    assert!(out.contains("4 passed"), "{out}");
    let out = run(&[
        "-c",
        "import nbformat, nbclient\n\
         nb = nbformat.read('example.ipynb', as_version=4)\n\
         nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': '.'}}).execute()\n\
         text = [o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.outputs]\n\
         print(''.join(text))",
    ]);
    assert!(out.contains("IPv6 share of bytes"), "{out}");
    assert!(out.contains("plotted"), "{out}");
}
