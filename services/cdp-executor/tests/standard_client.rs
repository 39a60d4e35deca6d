//! Runs `standard_client.py` (beside this file): a client generated from `proto/` by
//! grpcio-tools (Python grpcio) pastes into a real page in a real headless Chromium through the
//! real `cdp-executor` binary and reads the paste back as the selection, then calls GetUrl,
//! ListTabs and Screenshot. Without the Python environment or Chromium the test skips (prints
//! why), or fails under `BROWSER_STREAM_REQUIRE_ALL=1`.

#[path = "support/chromium.rs"]
mod chromium;

use std::path::Path;

#[test]
fn a_client_generated_by_grpcio_tools_pastes_and_reads_the_selection() {
    if !chromium::available() {
        return;
    }
    let chromium = chromium::executable().expect("checked above");
    test_kit::standard_client::run_script(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standard_client.py"),
        &[
            "--bin".as_ref(),
            env!("CARGO_BIN_EXE_cdp-executor").as_ref(),
            "--chromium".as_ref(),
            chromium.as_os_str(),
        ],
    );
}
