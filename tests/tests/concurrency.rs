//! Many threads logging to one run and to its children at once.

use std::sync::Barrier;

use run_runtime::Store;

#[test]
fn eight_threads_on_one_run_and_its_children_lose_nothing() {
    const THREADS: usize = 8;
    const POINTS: i64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let parent = store.start_run("exp", "parent").unwrap();
    let children: Vec<_> = (0..THREADS)
        .map(|t| parent.child_run(&format!("child {t}")).unwrap())
        .collect();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for (t, child) in children.iter().enumerate() {
            let (parent, barrier) = (&parent, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..POINTS {
                    parent.log("shared", i).unwrap(); // one series, written by every thread
                    parent.log_step(&format!("thread{t}"), i, i).unwrap();
                    child.log("own", i).unwrap();
                    if i % 1000 == 0 {
                        parent.tag(&format!("progress{t}"), i).unwrap();
                        child.add_property(&format!("p{i}"), t).unwrap();
                    }
                }
                child.complete().unwrap();
            });
        }
    });
    parent.complete().unwrap();

    let data = store.read(parent.id()).unwrap();
    assert!(data.damage.is_empty());
    let shared = &data.metrics["shared"];
    assert_eq!(shared.len(), THREADS * POINTS as usize);
    // Every point of the shared series has its own step, 0..n.
    let mut steps: Vec<i64> = shared.iter().map(|p| p.step).collect();
    steps.sort_unstable();
    assert_eq!(steps, (0..(THREADS as i64 * POINTS)).collect::<Vec<_>>());
    for t in 0..THREADS {
        let series = &data.metrics[&format!("thread{t}")];
        let values: Vec<f64> = series.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            (0..POINTS).map(|i| i as f64).collect::<Vec<_>>(),
            "thread {t}"
        );
        assert_eq!(
            data.tags[&format!("progress{t}")],
            (POINTS - 1000).to_string()
        );
    }
    for (t, child) in children.iter().enumerate() {
        let c = store.read(child.id()).unwrap();
        let own: Vec<f64> = c.metrics["own"].iter().map(|p| p.value).collect();
        assert_eq!(
            own,
            (0..POINTS).map(|i| i as f64).collect::<Vec<_>>(),
            "child {t}"
        );
        assert_eq!(c.properties.len(), (POINTS / 1000) as usize);
        assert!(c.properties.values().all(|v| *v == t.to_string()));
        assert_eq!(c.meta.parent_id.as_deref(), Some(parent.id()));
    }
}
