//! One placement cycle ([`hydrogen::scheduler::placement::place`]) on
//! simulator-shaped offers against the benchmark app mix (a third with
//! rack / zone / feature filters, half UNIQUE, a quarter with a host port):
//!
//! - `cycle_10k_offers_1k_apps`: the target shape, every app wanting 10
//!   tasks (10,000 placements), 10 tasks already running per app;
//! - `all_pending_10k_offers_1k_apps`: every app too big for any offer, so
//!   every demand visits every offer (the worst case);
//! - `scaling/{offers,apps,placements,running}/N`: one dimension doubled
//!   at a time around the target shape (10,000 offers × 1,000 apps ×
//!   10,000 placements × 10,000 running tasks): offers 2,500 to 20,000,
//!   apps 250 to 2,000, tasks to place 5,000 to 20,000 (5 to 20 per app),
//!   tasks already running 0 to 20,000 (0 to 20 per app).
//!
//! Every sample is a whole cycle, so the groups use flat sampling (ten
//! cycles at least, not criterion's 55 of a linear ramp) and the whole
//! benchmark stays near two minutes on a busy machine.
//!
//! Times are the CPU time of the benchmark thread (Linux
//! `/proc/thread-self/schedstat`; wall time elsewhere): the target is
//! "under 50 ms on one core", and on a shared machine wall time mostly
//! measures the other processes.
//!
//! `cargo bench --bench placement`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hydrogen::mesos::v1;
use hydrogen::scheduler::placement::{Demand, place};
use hydrogen::spec::App;
use hydrogen_tools::bench::fixtures::{mixed_app, sim_offers, spread_tasks};

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

/// CPU time of the calling thread, in nanoseconds, where Linux tells it.
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Criterion measurement: thread CPU time, or wall time without `/proc`.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = (Option<u64>, Instant);
    type Value = f64;

    fn start(&self) -> Self::Intermediate {
        (thread_cpu_nanos(), Instant::now())
    }

    fn end(&self, (cpu, wall): Self::Intermediate) -> f64 {
        match (cpu, thread_cpu_nanos()) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64,
            _ => wall.elapsed().as_nanos() as f64,
        }
    }

    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Formats nanoseconds in the largest unit under the typical value.
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = if typical >= 1e9 {
            (1e9, "s")
        } else if typical >= 1e6 {
            (1e6, "ms")
        } else if typical >= 1e3 {
            (1e3, "µs")
        } else {
            (1.0, "ns")
        };
        for v in values.iter_mut() {
            *v /= divisor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        // Not used by these benchmarks; per second of CPU time.
        let (n, unit) = match throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (*n as f64, "B/s"),
            Throughput::Elements(n) => (*n as f64, "elem/s"),
            Throughput::Bits(n) => (*n as f64, "bit/s"),
        };
        for v in values.iter_mut() {
            *v = n * 1e9 / *v;
        }
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn quick<'c>(c: &'c mut Criterion<CpuTime>, name: &str) -> criterion::BenchmarkGroup<'c, CpuTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    group
}

fn bench(c: &mut Criterion<CpuTime>) {
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
    drop((target, huge));

    let mut group = quick(c, "placement/scaling");
    // (dimension, its value in the id, offers, apps, wanted and running
    // per app); each scenario is built when its turn comes, as they hold
    // tens of megabytes of offers each.
    let mut points: Vec<(&str, usize, usize, usize, u32, usize)> = Vec::new();
    for offers in [2_500, 5_000, 10_000, 20_000] {
        points.push(("offers", offers, offers, 1_000, 10, 10));
    }
    for apps in [250, 500, 1_000, 2_000] {
        points.push(("apps", apps, 10_000, apps, 10, 10));
    }
    for wanted in [5, 10, 20] {
        points.push((
            "placements",
            1_000 * wanted as usize,
            10_000,
            1_000,
            wanted,
            10,
        ));
    }
    for running in [0, 10, 20] {
        points.push(("running", 1_000 * running, 10_000, 1_000, 10, running));
    }
    for (dimension, n, offers, apps, wanted, running) in points {
        let s = Scenario::new(offers, apps, wanted, running);
        group.bench_with_input(BenchmarkId::new(dimension, n), &s, |b, s| {
            b.iter(|| black_box(s.run()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench
}
criterion_main!(benches);
