//! The charts run the images the `Dockerfile` builds: each workload's
//! image is named after a stage whose entrypoint is a binary of the
//! workspace that the build compiles, running as the chart's user.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{CHARTS, containers, pod_spec, render, workloads};

/// A final stage of the Dockerfile.
#[derive(Debug, Default)]
struct Stage {
    copied: Vec<String>,
    user: Option<String>,
    entrypoint: Vec<String>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The stages by name, and the packages the build stage compiles.
fn dockerfile() -> (BTreeMap<String, Stage>, Vec<String>) {
    let mut stages = BTreeMap::new();
    let mut packages = Vec::new();
    let mut current: Option<String> = None;
    for line in read("Dockerfile").lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["FROM", _, "AS", name] => {
                current = Some((*name).to_owned());
                stages.insert((*name).to_owned(), Stage::default());
            }
            ["COPY", "--from=build", from, _] => {
                let stage = stages.get_mut(current.as_deref().unwrap()).unwrap();
                stage.copied.push((*from).to_owned());
            }
            ["USER", user] => {
                stages.get_mut(current.as_deref().unwrap()).unwrap().user =
                    Some((*user).to_owned());
            }
            ["ENTRYPOINT", ..] => {
                let json = line.trim_start_matches("ENTRYPOINT").trim();
                stages
                    .get_mut(current.as_deref().unwrap())
                    .unwrap()
                    .entrypoint = serde_json::from_str(json).unwrap();
            }
            _ => {}
        }
        if line.contains("cargo build") {
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                if word == "-p" {
                    packages.push(words.next().unwrap().to_owned());
                }
            }
        }
    }
    (stages, packages)
}

/// The binaries a package's manifest declares.
fn binaries(manifest: &str) -> Vec<String> {
    let manifest: toml::Value = toml::from_str(&read(manifest)).unwrap();
    manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|bin| bin.get("name")?.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_chart_image_is_a_dockerfile_stage_running_a_workspace_binary_as_the_charts_user() {
    let (stages, packages) = dockerfile();
    let manifests = [
        ("quartermaster", "Cargo.toml"),
        ("operator", "operator/Cargo.toml"),
        ("gateway", "gateway/Cargo.toml"),
    ];
    let built: Vec<String> = manifests
        .iter()
        .filter(|(package, _)| packages.iter().any(|p| p == package))
        .flat_map(|(_, manifest)| binaries(manifest))
        .collect();
    let mut seen = 0;
    for chart in CHARTS {
        let objects = render(chart, &["-f", &crate::all_on(chart)]);
        for workload in workloads(&objects) {
            let user = &pod_spec(workload)["securityContext"]["runAsUser"];
            for container in containers(workload) {
                seen += 1;
                let image = container["image"].as_str().unwrap();
                let repository = image.split(':').next().unwrap();
                let stage_name = repository.rsplit('/').next().unwrap();
                let stage = stages
                    .get(stage_name)
                    .unwrap_or_else(|| panic!("{chart}: no Dockerfile stage builds {image}"));
                let [binary] = stage.entrypoint.as_slice() else {
                    panic!("{stage_name}: the entrypoint is the binary alone: {stage:?}")
                };
                let name = binary.rsplit('/').next().unwrap();
                assert!(
                    built.iter().any(|b| b == name),
                    "{name} is not built: {built:?}"
                );
                assert!(
                    stage
                        .copied
                        .iter()
                        .any(|c| c.ends_with(&format!("/{name}"))),
                    "{stage_name} does not copy {name}: {stage:?}"
                );
                assert_eq!(
                    stage.user.as_deref(),
                    Some(format!("{user}:{user}").as_str()),
                    "{chart}: the image runs as the chart's runAsUser"
                );
                let args = container["args"].as_array().unwrap();
                assert!(
                    !args.is_empty() && args[0].as_str() != Some(binary.as_str()),
                    "{chart}: the chart passes arguments only: {args:?}"
                );
            }
        }
    }
    assert!(
        seen >= 4,
        "the API, the operator, the collector and the gateway"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_and_node_modules() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for needed in ["target/", "**/node_modules/", ".git/"] {
        assert!(
            ignored.iter().any(|i| i == needed),
            "{needed} in .dockerignore"
        );
    }
}
