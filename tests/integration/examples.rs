//! Every JSON example users are shown must be accepted as shown: each
//! `examples/*.json` file (apps, or a simulator cluster), each ```json block
//! of the README, and each inline `curl -d'...'` body of the README.

use std::path::{Path, PathBuf};

use hydrogen::spec::{parse_app, parse_apps};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A simulator cluster file is an object with `agents`; anything else shown
/// as an example is apps: an array (POST) or one object (PUT).
fn check_example(what: &str, text: &str) {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}\n{text}"));
    if value.get("agents").is_some() {
        let agents = hydrogen_sim::cluster::parse_cluster(text)
            .unwrap_or_else(|e| panic!("{what}: not a valid cluster: {e}"));
        assert!(!agents.is_empty(), "{what}: a cluster without agents");
    } else if value.is_array() {
        let apps =
            parse_apps(text.as_bytes()).unwrap_or_else(|e| panic!("{what}: not valid apps: {e}"));
        assert!(!apps.is_empty(), "{what}");
    } else {
        parse_app(text.as_bytes()).unwrap_or_else(|e| panic!("{what}: not a valid app: {e}"));
    }
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_example_file_is_accepted() {
    let files = example_files();
    // The two files the original Hydrogen's README gave, and the cluster.
    for expected in ["test-app.json", "full-enumeration.json", "sim-cluster.json"] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "examples/{expected} is missing"
        );
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable example");
        check_example(&name(&file), &text);
    }
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The bodies of ```json fences.
fn json_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.trim_start() == "```json" => current = Some(String::new()),
            Some(_) if line.trim_start().starts_with("```") => {
                blocks.extend(current.take());
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "README: a ```json block is not closed");
    blocks
}

#[test]
fn every_readme_json_block_is_accepted() {
    let blocks = json_blocks(&readme());
    assert!(!blocks.is_empty(), "the README shows JSON examples");
    for (i, block) in blocks.iter().enumerate() {
        check_example(&format!("README ```json block {i}"), block);
    }
}

/// `curl ... -d'{...}'` lines of the README: POST and PUT bodies are apps,
/// the others (DELETE's `{"name": ...}`) must at least be JSON.
#[test]
fn every_readme_curl_body_is_accepted() {
    let readme = readme();
    let mut seen = 0;
    for line in readme
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
    {
        let Some(start) = line.find("-d'") else {
            continue;
        };
        let rest = &line[start + 3..];
        let end = rest
            .find('\'')
            .unwrap_or_else(|| panic!("README: unterminated -d'...' in {line}"));
        let body = &rest[..end];
        seen += 1;
        if line.contains("-X PUT") {
            parse_app(body.as_bytes()).unwrap_or_else(|e| panic!("README: {line}: {e}"));
        } else if line.contains("-X POST") {
            parse_apps(body.as_bytes()).unwrap_or_else(|e| panic!("README: {line}: {e}"));
        } else {
            serde_json::from_str::<Value>(body)
                .unwrap_or_else(|e| panic!("README: {line}: not JSON: {e}"));
        }
    }
    assert!(seen >= 2, "the README's PUT and DELETE lines carry bodies");
}

/// The tour's first lines are the ones `dev_cli` and `api_rest` run against
/// the real server: they must stay in the README exactly as tested.
#[test]
fn the_readme_tour_shows_the_tested_curl_lines() {
    let readme = readme();
    for line in [
        "curl -X POST localhost:8080/v1/api/app -d@examples/test-app.json",
        "curl -X GET 'localhost:8080/v1/api/app?name=test-app'",
        "curl -X GET localhost:8080/v1/api/app/all",
        "curl -X DELETE localhost:8080/v1/api/app -d'{\"name\": \"test-app\"}'",
    ] {
        assert!(
            readme.lines().any(|l| l.trim_start().starts_with(line)),
            "README lost the tested tour line: {line}"
        );
    }
}
