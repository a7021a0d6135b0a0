//! Every file under `scenarios/` is one test: it runs, its expectations must hold, and its
//! transcript must match the snapshot of the same path under `snapshots/`.

fn scenario(path: &std::path::Path) -> datatest_stable::Result<()> {
    kmlab_tests::check_scenario(path);
    Ok(())
}

datatest_stable::harness! {
    { test = scenario, root = "../scenarios", pattern = r"\.toml$" },
}
