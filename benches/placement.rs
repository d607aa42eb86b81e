//! One placement cycle ([`hydrogen::scheduler::placement::place`]) on
//! simulator-shaped offers against the benchmark app mix (a third with
//! rack / zone / feature filters, half UNIQUE, a quarter with a host port):
//!
//! - `cycle_10k_offers_1k_apps`: the target shape, every app wanting 10
//!   tasks (10,000 placements), 10 tasks already running per app;
//! - `all_pending_10k_offers_1k_apps`: every app too big for any offer, so
//!   every demand visits every offer (the worst case);
//! - `scaling/{offers,apps,wanted,existing}/N`: one dimension doubled at a
//!   time from 2,500 offers × 250 apps × 10 wanted × 10 existing tasks.
//!
//! `cargo bench --bench placement`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hydrogen::bench::fixtures::{mixed_app, sim_offers, spread_tasks};
use hydrogen::mesos::v1;
use hydrogen::scheduler::placement::{Demand, place};
use hydrogen::spec::App;

struct Scenario {
    offers: Vec<v1::Offer>,
    apps: Vec<App>,
    existing: Vec<HashMap<String, u32>>,
    wanted: u32,
}

impl Scenario {
    fn new(offers: usize, apps: usize, wanted: u32, existing: usize) -> Self {
        let apps: Vec<App> = (0..apps).map(|i| mixed_app(i, wanted)).collect();
        let existing = (0..apps.len())
            .map(|i| spread_tasks(existing, offers, i * 7))
            .collect();
        Self {
            offers: sim_offers(offers),
            apps,
            existing,
            wanted,
        }
    }

    fn demands(&self) -> Vec<Demand<'_>> {
        self.apps
            .iter()
            .zip(&self.existing)
            .map(|(app, tasks)| Demand {
                app,
                wanted: self.wanted,
                tasks_per_agent: tasks,
            })
            .collect()
    }

    fn run(&self) -> usize {
        let demands = self.demands();
        place(&self.offers, &demands, "*").placements.len()
    }
}

fn quick<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    group
}

fn bench(c: &mut Criterion) {
    let target = Scenario::new(10_000, 1_000, 10, 10);
    let placed = target.run();
    eprintln!("placement: target cycle places {placed} tasks");
    let mut group = quick(c, "placement");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("cycle_10k_offers_1k_apps", |b| {
        b.iter(|| black_box(target.run()))
    });
    let mut huge = Scenario::new(10_000, 1_000, 1, 0);
    for app in &mut huge.apps {
        app.resources.cpu = 64.0;
    }
    group.bench_function("all_pending_10k_offers_1k_apps", |b| {
        b.iter(|| black_box(huge.run()))
    });
    group.finish();

    let mut group = quick(c, "placement/scaling");
    for offers in [2_500, 5_000, 10_000] {
        let s = Scenario::new(offers, 250, 10, 10);
        group.bench_with_input(BenchmarkId::new("offers", offers), &s, |b, s| {
            b.iter(|| black_box(s.run()))
        });
    }
    for apps in [250, 500, 1_000] {
        let s = Scenario::new(2_500, apps, 10, 10);
        group.bench_with_input(BenchmarkId::new("apps", apps), &s, |b, s| {
            b.iter(|| black_box(s.run()))
        });
    }
    for wanted in [10, 20, 40] {
        let s = Scenario::new(2_500, 250, wanted, 10);
        group.bench_with_input(BenchmarkId::new("wanted", wanted), &s, |b, s| {
            b.iter(|| black_box(s.run()))
        });
    }
    for existing in [10, 20, 40] {
        let s = Scenario::new(2_500, 250, 10, existing);
        group.bench_with_input(BenchmarkId::new("existing", existing), &s, |b, s| {
            b.iter(|| black_box(s.run()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
