//! TaskInfo building per task ([`hydrogen::scheduler::launch::task_info`])
//! for the apps of `examples/` (the seed's test app and the full
//! enumeration of every field), with resources and ports carved by
//! placement from a simulator-shaped offer, plus the task id.
//!
//! `cargo bench --bench launch`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hydrogen::mesos::v1;
use hydrogen::scheduler::launch::{LaunchDefaults, LaunchRequest, new_task_id, task_info};
use hydrogen::scheduler::placement::{Demand, place};
use hydrogen::spec::parse_apps;
use hydrogen_tools::bench::fixtures::sim_offer;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("launch");
    group.sample_size(50);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(2));
    let defaults = LaunchDefaults::default();
    for file in ["test-app.json", "full-enumeration.json"] {
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let apps = parse_apps(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        for app in &apps {
            // An offer the app's filters accept: try the default agents.
            let none = HashMap::new();
            let demand = [Demand {
                app,
                wanted: 1,
                tasks_per_agent: &none,
            }];
            let found = (1..=8).find_map(|i| {
                let offer = sim_offer(i);
                let out = place(std::slice::from_ref(&offer), &demand, "*");
                out.placements.into_iter().next().map(|p| (offer, p))
            });
            let Some((offer, placed)) = found else {
                eprintln!(
                    "launch: {file}/{}: no default agent fits; skipped",
                    app.name
                );
                continue;
            };
            let framework_id = v1::FrameworkId {
                value: "bench-framework-0000".into(),
            };
            group.bench_function(format!("task_info/{}", app.name), |b| {
                b.iter(|| {
                    let request = LaunchRequest {
                        app,
                        app_version: 3,
                        instance: 7,
                        task_id: new_task_id(&app.name, 7),
                        agent_id: offer.agent_id.clone(),
                        framework_id: framework_id.clone(),
                        resources: placed.resources.clone(),
                        ports: placed.ports.clone(),
                    };
                    black_box(task_info(&request, &defaults).expect("buildable task"))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
