//! report.html: written by every run, self-contained, drawn by a real
//! browser (headless Chromium, `AUTOML_CHROMIUM` or
//! `chromium-headless-shell` on PATH), and redrawn by `automl report`.

use std::path::Path;
use std::process::Command;

use crate::support::{automl, dataset, train, train_unsupervised};

/// Renders `page` in headless Chromium into `png`; returns the share of
/// pixels that are not white and the number of distinct colours.
fn screenshot(page: &Path, png: &Path) -> (f64, usize) {
    let chromium =
        std::env::var("AUTOML_CHROMIUM").unwrap_or_else(|_| "chromium-headless-shell".into());
    let out = Command::new(&chromium)
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,2400",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("{chromium} runs (scripts/test.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let mut colours = std::collections::BTreeSet::new();
    let mut ink = 0usize;
    for p in pixels[..info.buffer_size()].chunks_exact(channels) {
        if p[..3] != [255, 255, 255] {
            ink += 1;
        }
        colours.insert(p[..3].to_vec());
    }
    (
        ink as f64 / (info.width * info.height) as f64,
        colours.len(),
    )
}

/// The page's outline: its headings, the leaderboard's columns and rows,
/// and each figure's caption (the first text a chart draws); no times.
fn outline(html: &str) -> String {
    let mut out = Vec::new();
    for line in html.lines() {
        for tag in ["h1", "h2", "h3"] {
            if let Some(rest) = line.strip_prefix(&format!("<{tag}>")) {
                out.push(format!(
                    "{tag}: {}",
                    rest.trim_end_matches(&format!("</{tag}>"))
                ));
            }
        }
        if line.starts_with("<tr><th>") {
            out.push(format!(
                "columns: {}",
                line.replace("</th><th>", " | ")
                    .replace("<tr><th>", "")
                    .replace("</th></tr>", "")
            ));
        }
    }
    let rows = html.matches("<tr><td").count();
    out.push(format!("leaderboard rows: {rows}"));
    for figure in html.split("<figure>").skip(1) {
        let caption = figure
            .split("<text")
            .nth(1)
            .and_then(|t| t.split('>').nth(1))
            .map_or("", |t| t.split('<').next().unwrap_or("").trim());
        out.push(format!("figure: {caption}"));
    }
    out.join("\n")
}

#[test]
fn every_task_writes_a_self_contained_report_a_browser_draws() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        ("binary", "titanic.csv", "survived", None),
        ("multiclass", "iris.csv", "species", None),
        ("regression", "abalone.csv", "rings", None),
        ("cluster", "wine.csv", "cultivar", Some("cluster")),
        ("anomaly", "annthyroid.csv", "is_anomaly", Some("anomaly")),
    ];
    for (name, data, target, task) in runs {
        let out = dir.path().join(name);
        match task {
            None => train(&dataset(data), target, &out, 6, &[]),
            Some(task) => train_unsupervised(&dataset(data), task, target, &out, 4, &[]),
        }
        let page = out.join("report.html");
        let html = std::fs::read_to_string(&page).unwrap();
        for outside in ["<script", " src=", " href=", "@import", "url("] {
            assert!(
                !html.contains(outside),
                "{name}: the page reaches outside with {outside}"
            );
        }
        let (ink, colours) = screenshot(&page, &dir.path().join(format!("{name}.png")));
        assert!(
            ink > 0.02 && colours > 16,
            "{name}: a blank page? {ink} of pixels inked, {colours} colours"
        );
        insta::assert_snapshot!(format!("report_outline_{name}"), outline(&html));
    }
}

#[test]
fn automl_report_redraws_the_page_from_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&dataset("titanic.csv"), "survived", &out, 4, &[]);
    let page = out.join("report.html");
    let written = std::fs::read(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    automl()
        .arg("report")
        .arg(&out)
        .assert()
        .success()
        .stdout(format!("wrote {}\n", page.display()));
    assert_eq!(std::fs::read(&page).unwrap(), written, "the same page");
    // Not a run folder: a clear error, exit 3, nothing written.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    automl()
        .arg("report")
        .arg(&empty)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("leaderboard.json"));
    assert!(!empty.join("report.html").exists());
}
