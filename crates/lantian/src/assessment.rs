//! Running a month's assessment from the command line and the scheduler: the operation is
//! `lantian_app::assessment::rollup`.

use lantian_store::Store;

pub use lantian_app::assessment::RollupReport;

/// Computes `month` and publishes it as official (a new revision only if a figure changed) or
/// stores it as the provisional figures (see `lantian_app::assessment::rollup`).
pub async fn run(store: &Store, month: &str, official: bool) -> anyhow::Result<RollupReport> {
    Ok(lantian_app::assessment::rollup(store, month, official).await?)
}
