//! The Kubernetes columns, the sections at rate 1, convert and enrich, and
//! bad snapshots.

use std::collections::BTreeMap;
use std::path::Path;

use super::common::*;
use super::trace::*;

#[test]
fn capture_fills_the_columns_row_by_row() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    let want = write_trace(&trace);
    let out = d.path().join("enriched.parquet");
    run_with(
        &[
            "capture",
            "--replay",
            s(&trace),
            "--sampling-rate",
            "1",
            "-o",
            s(&out),
        ],
        true,
    );
    let (batches, meta) = read_all(&out);
    let b = concat(&batches);
    assert_eq!(b.num_rows(), want.len());
    for (i, ((src, dst), _)) in want.iter().enumerate() {
        assert_eq!(side(&b, "src", i), owned(*src), "row {i} source");
        assert_eq!(side(&b, "dst", i), owned(*dst), "row {i} destination");
    }
    assert_eq!(meta.k8s_snapshots.len(), 2, "{:?}", meta.k8s_snapshots);
    assert!(
        meta.k8s_snapshots[0].contains("8 pods, 4 services, 2 nodes"),
        "{:?}",
        meta.k8s_snapshots
    );
    assert!(
        meta.k8s_snapshots[0].contains("1 other items skipped"),
        "{:?}",
        meta.k8s_snapshots
    );
}

#[test]
fn sections_at_rate_1_equal_the_trace_and_both_paths_agree() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    let want = write_trace(&trace);
    let (plain, enriched) = (
        d.path().join("plain.parquet"),
        d.path().join("enriched.parquet"),
    );
    let cap = |out: &Path, k8s: bool| {
        let a = [
            "capture",
            "--replay",
            s(&trace),
            "--sampling-rate",
            "1",
            "-o",
            s(out),
        ];
        run_with(&a, k8s);
    };
    cap(&plain, false);
    cap(&enriched, true);
    let by = "namespaces,workloads,namespace-pairs,workload-pairs,leaving";
    let analyze = |input: &Path, k8s: bool| -> serde_json::Value {
        let a = [
            "analyze",
            s(input),
            "--by",
            by,
            "--format",
            "json",
            "--top",
            "100",
        ];
        serde_json::from_str(&run_with(&a, k8s)).unwrap()
    };
    let from_columns = analyze(&enriched, false);
    let from_snapshots = analyze(&plain, true);
    let from_pcapng = analyze(&trace, true);
    let name = |r: &serde_json::Value| r["name"].as_str().unwrap().to_string();
    let pair = |r: &serde_json::Value| {
        format!(
            "{} -> {}",
            r["source"].as_str().unwrap(),
            r["destination"].as_str().unwrap()
        )
    };
    for r in [&from_columns, &from_snapshots, &from_pcapng] {
        assert_eq!(
            got(r, "source_workloads", name),
            counts(&want, |c| Some(workload_key(&c.0)))
        );
        assert_eq!(
            got(r, "destination_workloads", name),
            counts(&want, |c| Some(workload_key(&c.1)))
        );
        assert_eq!(
            got(r, "source_namespaces", name),
            counts(&want, |c| Some(namespace_key(&c.0)))
        );
        assert_eq!(
            got(r, "destination_namespaces", name),
            counts(&want, |c| Some(namespace_key(&c.1)))
        );
        // Remote: the source of inbound frames, the destination of outbound.
        let remote = got(r, "remote_workloads", name);
        let dir_of: Vec<u32> = groups()
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.dir, g.n))
            .collect();
        let mut want_remote: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((c, len), dir) in want.iter().zip(&dir_of) {
            let k = workload_key(if *dir == 1 { &c.0 } else { &c.1 });
            let e = want_remote.entry(k).or_default();
            e.0 += 1;
            e.1 += *len as u64;
        }
        assert_eq!(remote, want_remote);
        assert_eq!(
            got(r, "workload_pairs", pair),
            counts(&want, |c| Some(format!(
                "{} -> {}",
                workload_key(&c.0),
                workload_key(&c.1)
            )))
        );
        assert_eq!(
            got(r, "namespace_pairs", pair),
            counts(&want, |c| Some(format!(
                "{} -> {}",
                namespace_key(&c.0),
                namespace_key(&c.1)
            )))
        );
        assert_eq!(
            got(r, "leaving_workloads", name),
            counts(&want, |c| (c.1 == OUTSIDE).then(|| workload_key(&c.0)))
        );
        // Exact at rate 1: every interval is its estimate.
        for row in r["workload_pairs"].as_array().unwrap() {
            assert_eq!(row["packets"]["low"], row["packets"]["high"], "{row}");
        }
    }
    assert!(
        from_columns["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--asn-db")),
        "leaving without an ASN database says what it lacks"
    );
    assert_eq!(from_snapshots["k8s_snapshots"].as_array().unwrap().len(), 2);
    // The page draws both matrices from their own rows.
    let html = d.path().join("k8s.html");
    ok(&["analyze", s(&enriched), "--by", by, "--html", s(&html)]);
    let page = std::fs::read_to_string(&html).unwrap();
    for (id, noun) in [
        ("namespace-pairs", "namespaces"),
        ("workload-pairs", "workloads"),
    ] {
        assert!(page.contains(&format!("id=\"chart-{id}")), "{id}");
        assert!(page.contains(&format!("source {noun} (rows)")), "{id}");
    }
    assert!(page.contains("shop/deployment/frontend"));
}

#[test]
fn bad_snapshots_get_one_line_and_nothing_is_written() {
    let d = tmpdir();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let full = std::fs::read_to_string(fixture("k8s/cluster-2200.json")).unwrap();
    let truncated = write("truncated.json", &full[..full.len() / 2]);
    let foreign = write(
        "configmaps.json",
        r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"ConfigMap","metadata":{"name":"x"}}]}"#,
    );
    let deployment = write(
        "deployment.json",
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}"#,
    );
    let not_json = write("notes.txt", "pods: many\n");
    // Two Running pods holding one IP in snapshots of the same time.
    let clash = write(
        "clash.json",
        r#"{"kind":"PodList","items":[{"metadata":{"name":"other","namespace":"shop","uid":"u-other"},"status":{"phase":"Running","podIP":"198.51.100.10"}}]}"#,
    );
    let out = d.path().join("report.json");
    let cluster = fixture("k8s/cluster-2200.json");
    let cases: Vec<(Vec<&Path>, &str)> = vec![
        (vec![truncated.as_path()], "not JSON"),
        (vec![foreign.as_path()], "ConfigMap"),
        (vec![deployment.as_path()], "kind 'Deployment'"),
        (vec![not_json.as_path()], "neither a JSON object"),
        (
            vec![cluster.as_path(), clash.as_path()],
            "both Running with IP 198.51.100.10",
        ),
    ];
    for (files, want) in cases {
        let mut a = vec![
            "analyze".to_string(),
            fixture("mixed.pcapng").display().to_string(),
            "-o".into(),
            s(&out).into(),
        ];
        for f in &files {
            a.extend(["--k8s".to_string(), f.display().to_string()]);
        }
        a.extend(["--k8s-time".to_string(), T0.to_string()]);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let e = fails(&args);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        let named = files.iter().any(|f| e.contains(&f.display().to_string()));
        assert!(named && e.contains(want), "{files:?}: {e}");
        assert!(!out.exists(), "{files:?}: wrote {}", out.display());
    }
    let e = fails(&["analyze", s(&fixture("mixed.pcapng")), "--k8s-time", T0]);
    assert!(e.contains("--k8s-time"), "{e}");
}

/// convert and enrich fill the same columns from the same snapshots as
/// capture does.
#[test]
fn convert_and_enrich_fill_what_capture_fills() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    write_trace(&trace);
    let (plain, enriched) = (
        d.path().join("plain.parquet"),
        d.path().join("enriched.parquet"),
    );
    let base = ["capture", "--replay", s(&trace), "--sampling-rate", "1"];
    ok(&[&base[..], &["-o", s(&plain)]].concat());
    run_with(&[&base[..], &["-o", s(&enriched)]].concat(), true);
    let converted = d.path().join("converted.parquet");
    run_with(&["convert", s(&plain), "-o", s(&converted)], true);
    let part_dir = d.path().join("ds/date=2023-11-14/host=node-a");
    std::fs::create_dir_all(&part_dir).unwrap();
    let part = part_dir.join("part-0.parquet");
    std::fs::copy(&plain, &part).unwrap();
    let said = run_with(&["enrich", s(&d.path().join("ds"))], true);
    assert!(said.contains("enriched 1 parts"), "{said}");
    let want = concat(&read_all(&enriched).0);
    for got in [&converted, &part] {
        let (batches, meta) = read_all(got);
        let b = concat(&batches);
        assert_eq!(b.num_rows(), want.num_rows());
        for i in 0..b.num_rows() {
            for p in ["src", "dst"] {
                assert_eq!(
                    side(&b, p, i),
                    side(&want, p, i),
                    "{} row {i} {p}",
                    got.display()
                );
            }
        }
        assert_eq!(meta.k8s_snapshots.len(), 2, "{}", got.display());
    }
}
